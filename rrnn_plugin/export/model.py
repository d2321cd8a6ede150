"""A trained classifier without AllenNLP: the network, its vocabulary and its tokenizer (torch only).

`rrnn-export` (rrnn_plugin/export/archive.py) writes a folder that this module reads back:

    config.json        format version, labels, tokenizer settings, the encoder's structure, sizes
    vocabulary.txt     one word per line; line i is token id i (0 = padding, 1 = unknown)
    model.safetensors  the weights: embedding rows of that vocabulary, WFSA layers, classifier
    program.pt2        the same network as a torch.export program on token ids (optional)

`load(DIR).predict(["great knife"])` gives what `allennlp predict` gives on the archive: the label,
the class probabilities, how many words the model knows, and the flags of the `sentiment`
predictor.  Everything here imports without AllenNLP (tests/test_export.py checks it).
"""
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from rrnn_plugin.export.checks import check_config, check_probabilities, check_weights, read_vocabulary
from rrnn_plugin.export.errors import ExportError
from rrnn_plugin.kernels import denormals
from rrnn_plugin.modules import RationalRnnLayers
from rrnn_plugin.text_cleaning import document_tokens

FORMAT_VERSION = 1
MICRO_BATCH = 16  # documents per network call, sorted by length (bench/inference.py)
PADDING_INDEX, UNKNOWN_INDEX = 0, 1


class SentimentNetwork(torch.nn.Module):
    """Token ids (batch, time; 0 = padding) -> class probabilities (batch, labels).

    The inference graph of `rational_classifier`: embedding, the Seq2Vec `rational_rnn` (h(T) of
    the top layer), the linear classifier, softmax.  Dropout is off at inference, so it is absent.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, encoder: Dict[str, Any], num_labels: int) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embedding_dim, padding_idx=PADDING_INDEX)
        self.encoder = RationalRnnLayers(input_dim=embedding_dim, **encoder)
        self.classifier = torch.nn.Linear(self.encoder.get_output_dim(), num_labels)
        self.requires_grad_(False)
        self.eval()

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        mask = token_ids != PADDING_INDEX
        features = self.encoder(self.embedding(token_ids), mask)
        return torch.softmax(self.classifier(features), dim=-1)


class ExportedModel:
    """An exported classifier: `predict(texts)` -> one result dict per text."""

    def __init__(self, config: Dict[str, Any], vocabulary: List[str], network: SentimentNetwork) -> None:
        self.config = config
        self.vocabulary = vocabulary
        self.index = {word: i for i, word in enumerate(vocabulary)}
        self.labels: List[str] = list(config["labels"])
        self.network = network
        self._tokenizer = config["tokenizer"]

    def tokens(self, text: str) -> List[str]:
        """The words the model reads (as the archived dataset reader makes them)."""
        return self._words(text)[0]

    def token_ids(self, texts: Sequence[str]) -> torch.Tensor:
        """(batch, longest) token ids, padded with 0."""
        return _padded([self._ids(self.tokens(t)) for t in texts])

    def _ids(self, words: List[str]) -> List[int]:
        lower = self._tokenizer["lowercase_ids"]
        return [self.index.get(w.lower() if lower else w, UNKNOWN_INDEX) for w in words]

    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        """(len(texts), labels).  Documents run in groups of similar length (`MICRO_BATCH`), so
        that a batch of short and long reviews does not spend most of its time on padding."""
        return self._probabilities([self._ids(self.tokens(t)) for t in texts])

    def _probabilities(self, rows: List[List[int]]) -> torch.Tensor:
        denormals.ensure()
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        result = torch.empty(len(rows), len(self.labels))
        with torch.inference_mode():
            for start in range(0, len(order), MICRO_BATCH):
                group = order[start : start + MICRO_BATCH]
                ids = _padded([rows[i] for i in group]).to(self.network.embedding.weight.device)
                result[group] = self.network(ids).float().cpu()
        return result

    def predict(self, texts: Union[str, Sequence[str]], batch_size: int = 64) -> List[Dict[str, Any]]:
        """Label, probabilities per label, `known_words` (and `no_known_words` when there is
        none: the label is then only the model's prior) and `truncated` when `max_tokens` cut it."""
        if isinstance(texts, str):
            texts = [texts]
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"predict: text {i} is a {type(text).__name__}, not a string")
        results: List[Dict[str, Any]] = []
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            words = [self._words(text) for text in chunk]
            rows = [self._ids(w) for w, _ in words]
            for (_, cut), row, probs in zip(words, rows, self._probabilities(rows).tolist()):
                results.append(self._result(row, cut, probs))
        return results

    def _words(self, text: str):
        """(the model's tokens of `text`, whether `max_tokens` cut it)."""
        settings = self._tokenizer
        words, length = document_tokens(text, settings["lowercase"], settings["clean"],
                                        settings["add_boundary_tokens"], settings["max_tokens"])
        return words, settings["max_tokens"] is not None and length > settings["max_tokens"]

    def _result(self, ids: List[int], cut: bool, probs: List[float]) -> Dict[str, Any]:
        check_probabilities(probs)  # a label is never picked from NaN
        best = max(range(len(probs)), key=probs.__getitem__)
        result: Dict[str, Any] = {"label": self.labels[best], "probs": dict(zip(self.labels, probs))}
        boundary = self._tokenizer["add_boundary_tokens"]
        words = ids[1:-1] if boundary else ids
        result["known_words"] = sum(i > UNKNOWN_INDEX for i in words)
        if result["known_words"] == 0:
            result["no_known_words"] = True
        if cut:
            result["truncated"] = True
        return result


def _padded(rows: List[List[int]]) -> torch.Tensor:
    ids = torch.zeros((len(rows), max((len(r) for r in rows), default=0) or 1), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return ids


def read_config(folder: Path) -> Dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise ExportError(f"{folder} is not an exported model: it has no config.json (made by rrnn-export)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(config, dict) or config.get("format") != "rrnn_plugin-export":
        raise ExportError(f"{path}: not an rrnn_plugin export config (no \"format\": \"rrnn_plugin-export\")")
    if config.get("version") != FORMAT_VERSION:
        raise ExportError(f"{path}: export format version {config.get('version')!r}; this code reads "
                          f"version {FORMAT_VERSION}")
    return config


def load(folder: Union[str, Path], device: Optional[str] = None) -> ExportedModel:
    """The exported model in `folder` (what `allennlp rrnn-export ARCHIVE -o DIR` wrote)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = read_config(folder)
    check_config(folder / "config.json", config)
    vocabulary = read_vocabulary(folder / "vocabulary.txt", config["vocab_size"])
    try:
        network = SentimentNetwork(config["vocab_size"], config["embedding_dim"], config["encoder"],
                                   len(config["labels"]))
    except (TypeError, ValueError) as error:
        raise ExportError(f"{folder / 'config.json'}: 'encoder' does not build an encoder ({error})") from error
    weights = folder / "model.safetensors"
    try:
        state = load_file(str(weights))
    except Exception as error:  # safetensors' own errors, OSError: the path is what the user needs
        raise ExportError(f"{weights}: cannot read the weights ({type(error).__name__}: {error})") from error
    check_weights(weights, state)
    try:
        missing, unexpected = network.load_state_dict(state, strict=False)
    except RuntimeError as error:  # a shape that does not fit config.json
        raise ExportError(f"{weights} does not fit config.json: {' '.join(str(error).split())}") from error
    if missing or unexpected:
        raise ExportError(f"{weights} does not fit config.json: missing {missing}, unexpected {unexpected}")
    if device is not None:
        network.to(device)
    return ExportedModel(config, vocabulary, network)


def load_program(folder: Union[str, Path]) -> torch.export.ExportedProgram:
    """The torch.export program of an export (token ids -> probabilities); it calls the registered
    `torch.ops.rrnn.*` operators, which importing rrnn_plugin.kernels (done here) registers."""
    import rrnn_plugin.kernels  # noqa: F401

    path = Path(folder) / "program.pt2"
    if not path.is_file():
        raise ExportError(f"{folder} has no program.pt2 (exported with --no-program?)")
    return torch.export.load(str(path))
