"""`contextual_wordpieces` token indexer: a document's tokens -> the WordPiece ids the model reads.

One time step per TextField token, whatever the tokens are:
* a token with `text_id` set is one WordPiece (the `*_wordpieces` readers make such tokens):
  the encoder then sees one WordPiece per step, as in the paper;
* any other token is a word: the model's tokenizer splits it, and the embedder pools its
  WordPieces into one vector (word-level steps, "mismatched" in AllenNLP's terms);
* `<s>` / `</s>` (the readers' boundary tokens) stand for the vectors of [CLS] / [SEP].

Output (what `contextual_features` takes): `wordpiece_ids` = [CLS] + the document's WordPieces +
[SEP] (always, whatever the steps; the embedder keys its cache on the part in between),
`wordpiece_mask`, `offsets` (inclusive [start, end] positions in `wordpiece_ids` of each step),
`mask` (one entry per step, the mask the encoder gets) and `token_ids` (each step's token in the
AllenNLP vocabulary, `namespace`: not used for the features, but `basic_classifier` returns them and
turns them back into the step tokens of its human-readable output).
"""
from typing import Dict, List, Optional

import torch
from allennlp.common.util import pad_sequence_to_length
from allennlp.data import Token, TokenIndexer, Vocabulary
from allennlp.data.token_indexers.token_indexer import IndexedTokenList

from rrnn_plugin.contextual.transformer import load_tokenizer, split_into_wordpieces
from rrnn_plugin.text_cleaning import END_SYMBOL, START_SYMBOL


@TokenIndexer.register("contextual_wordpieces")
class ContextualWordpieceIndexer(TokenIndexer):
    """
    # Parameters

    model_path : `str`, optional (default = `None`)
        Local HuggingFace model folder whose tokenizer to use; `None` = the packaged MiniLM-L6.
        Must be the same folder as the `contextual_features` embedder's.
    namespace : `str`, optional (default = `"tokens"`)
        Vocabulary namespace of the step tokens (for `token_ids` only).
    token_min_padding_length : `int`, optional (default = `0`)
        See `TokenIndexer`.
    """

    def __init__(
        self, model_path: Optional[str] = None, namespace: str = "tokens", token_min_padding_length: int = 0
    ) -> None:
        super().__init__(token_min_padding_length)
        self._model_path = model_path or None
        self._namespace = namespace

    @property
    def tokenizer(self):
        return load_tokenizer(self._model_path)

    def count_vocab_items(self, token: Token, counter: Dict[str, Dict[str, int]]) -> None:
        """Step tokens, for readable output only (the features use the model's own vocabulary)."""
        counter[self._namespace][token.text] += 1

    def tokens_to_indices(self, tokens: List[Token], vocabulary: Vocabulary) -> IndexedTokenList:
        tokenizer = self.tokenizer
        words = [t.text for t in tokens if t.text_id is None and t.text not in (START_SYMBOL, END_SYMBOL)]
        split = iter(split_into_wordpieces(tokenizer, words))
        inner: List[int] = []
        steps: List[List[int]] = []  # [start, end] in [CLS] + inner, or -1 / -2 for <s> / </s>
        for token in tokens:
            if token.text_id is not None:
                ids = [int(token.text_id)]
            elif token.text == START_SYMBOL:
                steps.append([-1, -1])
                continue
            elif token.text == END_SYMBOL:
                steps.append([-2, -2])
                continue
            else:
                ids = next(split)[1]
            steps.append([len(inner) + 1, len(inner) + len(ids)])  # +1: [CLS] comes first
            inner.extend(ids)
        n = len(inner)
        offsets = [[0, 0] if s[0] == -1 else [n + 1, n + 1] if s[0] == -2 else s for s in steps]
        return {
            "wordpiece_ids": [tokenizer.cls_token_id] + inner + [tokenizer.sep_token_id],
            "wordpiece_mask": [True] * (n + 2),
            "offsets": offsets,
            "mask": [True] * len(offsets),
            "token_ids": [vocabulary.get_token_index(t.text, self._namespace) for t in tokens],
        }

    def get_empty_token_list(self) -> IndexedTokenList:
        return {"wordpiece_ids": [], "wordpiece_mask": [], "offsets": [], "mask": [], "token_ids": []}

    def as_padded_tensor_dict(
        self, tokens: IndexedTokenList, padding_lengths: Dict[str, int]
    ) -> Dict[str, torch.Tensor]:
        pad_id = self.tokenizer.pad_token_id or 0
        return {
            "wordpiece_ids": torch.LongTensor(
                pad_sequence_to_length(tokens["wordpiece_ids"], padding_lengths["wordpiece_ids"], lambda: pad_id)
            ),
            "wordpiece_mask": torch.BoolTensor(
                pad_sequence_to_length(tokens["wordpiece_mask"], padding_lengths["wordpiece_mask"], lambda: False)
            ),
            "offsets": torch.LongTensor(
                pad_sequence_to_length(tokens["offsets"], padding_lengths["offsets"], lambda: [0, 0])
            ).view(-1, 2),
            "mask": torch.BoolTensor(pad_sequence_to_length(tokens["mask"], padding_lengths["mask"], lambda: False)),
            "token_ids": torch.LongTensor(pad_sequence_to_length(tokens["token_ids"], padding_lengths["token_ids"])),
        }
