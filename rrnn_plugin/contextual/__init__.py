"""Frozen contextual (BERT-style) features as the encoder's input (docs/method.md §5).

Importing this package registers:
* readers `blitzer_reviews_wordpieces`, `tsv_sentiment_wordpieces` (one WordPiece per step),
* token indexer `contextual_wordpieces` (tokens -> the model's WordPiece ids, any step unit),
* token embedder `contextual_features` (cached sum-of-layers features; the model is loaded only
  for documents the cache does not have),
* trainer callback `precompute_contextual_features` (fill the cache before the first epoch).

It also gives the environment variables of the BERT configs their defaults ("" = the config's
default), since jsonnet cannot test whether an ext var exists: `RRNN_BERT_MODEL` (model folder;
"" = the packaged MiniLM-L6) and `RRNN_BERT_DIM` (its hidden size; "" = 384, MiniLM's).
The feature cache location is `RRNN_FEATURE_CACHE` (read in Python; default ~/.cache/rrnn_plugin/features).
"""
import os

os.environ.setdefault("RRNN_BERT_MODEL", "")
os.environ.setdefault("RRNN_BERT_DIM", "")

from rrnn_plugin.contextual.transformer import (  # noqa: E402
    CHUNKINGS,
    ModelInfo,
    TransformerFeaturizer,
    chunk_spans,
    default_model_path,
    load_tokenizer,
    split_into_wordpieces,
)
from rrnn_plugin.contextual.feature_cache import (  # noqa: E402
    CACHE_ENV,
    FeatureCache,
    default_cache_root,
    document_key,
)
from rrnn_plugin.contextual.wordpiece_indexer import ContextualWordpieceIndexer  # noqa: E402
from rrnn_plugin.contextual.wordpiece_readers import (  # noqa: E402
    BlitzerWordpieceReader,
    TsvWordpieceReader,
    WordpieceStepsMixin,
)
from rrnn_plugin.contextual.feature_embedder import FEATURE_FORMAT_VERSION, ContextualFeatureEmbedder  # noqa: E402
from rrnn_plugin.contextual.precompute_callback import PrecomputeContextualFeatures  # noqa: E402

__all__ = [
    "BlitzerWordpieceReader",
    "CACHE_ENV",
    "CHUNKINGS",
    "ContextualFeatureEmbedder",
    "ContextualWordpieceIndexer",
    "FEATURE_FORMAT_VERSION",
    "FeatureCache",
    "ModelInfo",
    "PrecomputeContextualFeatures",
    "TransformerFeaturizer",
    "TsvWordpieceReader",
    "WordpieceStepsMixin",
    "chunk_spans",
    "default_cache_root",
    "default_model_path",
    "document_key",
    "load_tokenizer",
    "split_into_wordpieces",
]
