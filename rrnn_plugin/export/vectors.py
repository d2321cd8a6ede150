"""Words the training data never had, read with their pretrained vector (issue 14, item 5).

The embeddings of these models are frozen pretrained vectors, so every word the vectors file knows
can be given its own vector at prediction time instead of the unknown token.  One function decides
which words and rows are added, for both paths that offer it: `rrnn-export --vectors`
(archive.py) and the `sentiment` predictor's `vectors` argument (`allennlp predict
--predictor-args '{"vectors": FILE}'`), so the two give the same probabilities.
"""
from typing import List, Sequence, Tuple

import torch


class VectorsMismatchError(ValueError):
    """A vectors file whose rows differ from the model's own rows for the same words."""


def vocabulary_extension(weight: torch.Tensor, vocabulary: Sequence[str], path: str) -> Tuple[List[str], torch.Tensor]:
    """(words of the file the vocabulary lacks, in file order; their vectors (n, dim)).

    The model's rows for words both know must be the file's (the embedding is frozen): a file that
    disagrees is not the one the model was trained with, and is refused."""
    from rrnn_plugin.commands.glove import load_glove

    words, matrix = load_glove(path)
    table = torch.from_numpy(matrix.astype("float32", copy=False))
    last = {word: i for i, word in enumerate(words)}  # a repeated word: its last vector, as AllenNLP reads it
    first = {}
    for word in words:
        first.setdefault(word, len(first))  # dicts keep insertion order: the order of first appearance
    order = [last[word] for word in first]
    words, table = list(first), table[order]
    if table.shape[1] != weight.shape[1]:
        raise VectorsMismatchError(f"{path}: {table.shape[1]}-d vectors, the model's embedding is {weight.shape[1]}-d")
    known = {word: i for i, word in enumerate(vocabulary)}
    shared = [(known[w], i) for i, w in enumerate(words) if known.get(w, 0) > 1]  # not padding or unknown
    if shared:
        ours, theirs = zip(*shared)
        gap = float((weight.detach().float()[list(ours)] - table[list(theirs)]).abs().max())
        if gap > 1e-5:
            raise VectorsMismatchError(f"{path}: its vectors differ from the model's embedding rows for the same "
                                       f"words (by up to {gap:.3g}); pass the file the model was trained with")
    new = [i for i, w in enumerate(words) if w not in known]
    return [words[i] for i in new], table[new]
