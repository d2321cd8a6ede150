"""Reference line for a panel whose models read contextual features: logistic regression on the
mean and max of those very features.

A user who has frozen MPNet (or any BERT-style) features at hand would first try pooling them and a
linear classifier; the rational RNN is only worth its training if it beats that.  TF-IDF LR and
pooled-GloVe LR (references.py) do not answer this question for a contextual panel, so this line
is computed from the panel's own training config: its dataset reader (the same WordPieces, the same
folds) and its `contextual_features` embedder (the same cache, layers, normalization), so that the
step vectors pooled here are exactly those the panel's models read.  Features come from the cache
that the sweep filled; documents missing from it are computed, as in training.

Every document is embedded and pooled once per dataset (each fold only selects rows), then, per
fold, the features are standardized on the training part and C is chosen on validation, as for the
other references.
"""
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

logger = logging.getLogger(__name__)

_BATCH = 32
Outcomes = Dict[str, int]


@dataclass(frozen=True)
class ContextualInput:
    """What a panel's models read: their training config, with the sweep's environment (jsonnet
    ext vars, RRNN_FEATURE_CACHE) and its config overrides (the spec's `overrides`)."""

    config: str
    env: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)


def _fold_params(source: ContextualInput, folds: int, fold: int):
    from rrnn_plugin.experiments.trial import load_params

    overrides = {**source.overrides, "dataset_reader.folds": folds, "dataset_reader.fold": fold}
    return load_params(source.config, overrides, source.env)


def contextual_embedder_params(source: ContextualInput) -> Optional[dict]:
    """The config's `contextual_features` token embedder (as a dict), or None when it has none."""
    params = _fold_params(source, 2, 0).as_dict(quiet=True)
    embedders = ((params.get("model") or {}).get("text_field_embedder") or {}).get("token_embedders") or {}
    found = [spec for spec in embedders.values() if isinstance(spec, dict) and spec.get("type") == "contextual_features"]
    return found[0] if len(found) == 1 else None


def _reader(source: ContextualInput, folds: int, fold: int):
    from allennlp.data import DatasetReader

    return DatasetReader.from_params(_fold_params(source, folds, fold).pop("dataset_reader"))


def _embedder(source: ContextualInput):
    """The config's embedder, its cache opened under the sweep's environment (RRNN_FEATURE_CACHE)."""
    from allennlp.common import Params
    from allennlp.modules import TokenEmbedder

    from rrnn_plugin.experiments.trial import environment

    spec = contextual_embedder_params(source)
    if spec is None:
        raise ValueError(f"{source.config}: no single contextual_features embedder under model.text_field_embedder")
    with environment(source.env):
        embedder = TokenEmbedder.from_params(Params({**spec, "memory_mb": 0}))  # each document is read once
        embedder.cache  # noqa: B018  (opens the cache folder now, while the environment is the sweep's)
    return embedder


def pooled_documents(source: ContextualInput, data_dir: str, dataset: str, folds: int) -> Dict[str, np.ndarray]:
    """Document id -> [mean, max] over the steps of the vectors the config's embedder gives it,
    for every document of `dataset` (the three parts of fold 0 hold each one once)."""
    import torch
    from allennlp.data import Batch, Vocabulary
    from allennlp.nn.util import get_text_field_mask

    embedder = _embedder(source)
    reader = _reader(source, folds, 0)
    vocabulary = Vocabulary()
    pooled: Dict[str, np.ndarray] = {}
    for part in ("train", "validation", "test"):
        path = f"{os.path.join(data_dir, dataset)}#{part}"
        instances = list(reader.read(path))
        ids = reader.example_ids(path)
        # the features ignore the AllenNLP vocabulary; only the label field needs its names indexed
        vocabulary.add_tokens_to_namespace(sorted({i["label"].label for i in instances if "label" in i.fields}), "labels")
        order = sorted(range(len(instances)), key=lambda i: len(instances[i]["tokens"]))
        with torch.no_grad():
            for start in range(0, len(order), _BATCH):
                chosen = order[start:start + _BATCH]
                batch = Batch([instances[i] for i in chosen])
                batch.index_instances(vocabulary)
                tokens = batch.as_tensor_dict()["tokens"]
                steps = embedder(**tokens["tokens"])
                mask = get_text_field_mask(tokens).unsqueeze(-1)
                mean = (steps * mask).sum(1) / mask.sum(1).clamp(min=1)
                peak = steps.masked_fill(~mask, float("-inf")).max(1).values
                for row, i in enumerate(chosen):
                    pooled[ids[i]] = torch.cat([mean[row], peak[row]]).numpy()
    embedder.cache.flush()  # features it had to compute are kept for the next report or run
    logger.info("pooled the features of %d %s documents (%d not in the cache %s, computed)", len(pooled), dataset,
                embedder.stats["computed_documents"], embedder.cache.folder)
    return pooled


def fold_parts(source: ContextualInput, data_dir: str, dataset: str, folds: int,
               fold: int) -> Dict[str, Tuple[List[str], List[str]]]:
    """{part: (document ids, labels)} of one fold, as the config's reader splits it."""
    reader = _reader(source, folds, fold)
    parts = {}
    for part in ("train", "validation", "test"):
        reviews = reader.reviews(f"{os.path.join(data_dir, dataset)}#{part}")
        parts[part] = ([r.review_id for r in reviews], [r.label for r in reviews])
    return parts


def pooled_features_outcomes(source: ContextualInput, data_dir: str, dataset: str,
                             folds: int) -> Tuple[Outcomes, Dict[str, int]]:
    """(document id -> right/wrong, document id -> fold) of pooled-features LR over all folds."""
    from rrnn_plugin.experiments.references import record_fold, standardized_fit_predict

    pooled = pooled_documents(source, data_dir, dataset, folds)
    result: Tuple[Outcomes, Dict[str, int]] = ({}, {})
    for fold in range(folds):
        parts = fold_parts(source, data_dir, dataset, folds, fold)
        x = {part: np.stack([pooled[i] for i in ids]) for part, (ids, _) in parts.items()}
        predicted = standardized_fit_predict(x, {part: labels for part, (_, labels) in parts.items()})
        ids, gold = parts["test"]
        record_fold(result, fold, ids, gold, predicted)
        logger.info("pooled features LR on %s fold %d: %.3f", dataset, fold, np.mean(np.asarray(gold) == predicted))
    return result
