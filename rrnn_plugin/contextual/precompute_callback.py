"""`precompute_contextual_features` trainer callback: fill the feature cache before training.

Without it the features would still be computed, batch by batch, during the first epoch; with it
they are computed up front for the training and validation data, batched across documents, with a
progress bar and a rate in the log, and the first epoch is as fast as every later one.  When the
cache already has everything (any later run) it only checks, which takes about a second.
"""
import logging
from typing import Iterable, List

from allennlp.data.fields import TextField
from allennlp.modules.text_field_embedders import BasicTextFieldEmbedder
from allennlp.training.callbacks import TrainerCallback

from rrnn_plugin.contextual.feature_embedder import ContextualFeatureEmbedder
from rrnn_plugin.contextual.wordpiece_indexer import ContextualWordpieceIndexer

logger = logging.getLogger(__name__)


def contextual_embedders(model) -> List:
    """(indexer name, embedder) for every `contextual_features` embedder of the model."""
    found = []
    for module in model.modules():
        if isinstance(module, BasicTextFieldEmbedder):
            for name, embedder in module._token_embedders.items():
                if isinstance(embedder, ContextualFeatureEmbedder):
                    found.append((name, embedder))
    return found


def document_wordpieces(instances: Iterable, indexer_name: str, vocab) -> List[List[int]]:
    """The WordPiece ids (without [CLS]/[SEP]) of every `contextual_wordpieces`-indexed text."""
    documents = []
    for instance in instances:
        for field in instance.fields.values():
            if not isinstance(field, TextField) or field.token_indexers is None:
                continue
            if not isinstance(field.token_indexers.get(indexer_name), ContextualWordpieceIndexer):
                continue
            if field._indexed_tokens is None:
                field.index(vocab)
            documents.append(field._indexed_tokens[indexer_name]["wordpiece_ids"][1:-1])
    return documents


@TrainerCallback.register("precompute_contextual_features")
class PrecomputeContextualFeatures(TrainerCallback):
    """Computes and caches the contextual features of the training and validation data at the
    start of training (see the module docstring).  No parameters."""

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary=is_primary, **kwargs)
        loaders = [trainer.data_loader, getattr(trainer, "_validation_data_loader", None)]
        for name, embedder in contextual_embedders(trainer.model):
            documents: List[List[int]] = []
            for loader in loaders:
                if loader is not None:
                    documents.extend(document_wordpieces(loader.iter_instances(), name, trainer.model.vocab))
            embedder.precompute(documents, progress=is_primary)

    def on_end(self, trainer, metrics=None, epoch=None, is_primary: bool = True, **kwargs) -> None:
        for _, embedder in contextual_embedders(trainer.model):
            embedder.cache.flush()
