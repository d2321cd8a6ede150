"""Pruning a group-lasso-trained classifier down to its learned structure (method.md §3).

Pure functions, usable without a trainer (tests call them directly):

* `kept_prefix_lengths` is the rule: WFSA k keeps the longest prefix of its states whose group
  norms are all > eps.  A state after a removed one is unreachable, so it goes too, however large
  its own norm.  A WFSA that keeps nothing is removed.
* `structure_report` says what pruning would do to a model (sizes before/after, norms).
* `apply_structure` rebuilds a classifier's encoder and classification layer in place with exactly
  the surviving rows of `state_params` and exactly the surviving columns of the linear layer.
  In place, because the trainer, the `allennlp train` loop and the final test evaluation all hold
  references to the same model object (see `prune_and_finetune`).
* `prune_classifier` is the side-effect-free version: a pruned copy plus its report.

Everything pruned (no state above eps): the encoder has no WFSA, outputs a (batch, 0) vector, and
the classification layer becomes `Linear(0, num_labels)`, i.e. bias only: the model still predicts,
the same (learned-bias) distribution for every input.
"""
import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.models import Model

from rrnn_plugin.modules.rational_rnn import RationalRnnEncoder


def kept_prefix_lengths(state_norms: Sequence[Sequence[float]], eps: float) -> List[int]:
    """Per WFSA (norms of its states in order): how many leading states have norm > eps."""
    kept = []
    for norms in state_norms:
        m = 0
        while m < len(norms) and norms[m] > eps:
            m += 1
        kept.append(m)
    return kept


def _encoder(model: Model) -> RationalRnnEncoder:
    encoder = getattr(model, "_seq2vec_encoder", None)
    if not isinstance(encoder, RationalRnnEncoder):
        raise ConfigurationError(
            f"pruning needs a classifier whose seq2vec_encoder is `rational_rnn`, got {type(encoder)}"
        )
    if getattr(model, "_feedforward", None) is not None:
        raise ConfigurationError("pruning a classifier with a feedforward layer is not supported")
    return encoder


@dataclass
class StructureReport:
    """What pruning at `eps` does (or did) to a model.  Sizes count main-path transitions
    (the paper's measure) and parameters."""

    eps: float
    wfsa_lengths_before: List[int]
    kept_lengths: List[int]  # one per original WFSA; 0 = removed
    state_norms: List[List[float]]  # one list per original WFSA
    encoder_parameters_before: int
    encoder_parameters_after: int
    classifier_parameters_before: int
    classifier_parameters_after: int
    trainable_parameters_before: int
    trainable_parameters_after: int
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def wfsa_lengths_after(self) -> List[int]:
        return [m for m in self.kept_lengths if m > 0]

    @property
    def kept_wfsas(self) -> List[int]:
        return [k for k, m in enumerate(self.kept_lengths) if m > 0]

    @property
    def transitions_before(self) -> int:
        return sum(self.wfsa_lengths_before)

    @property
    def transitions_after(self) -> int:
        return sum(self.kept_lengths)

    def to_json(self) -> Dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        data.update(
            transitions_before=self.transitions_before,
            transitions_after=self.transitions_after,
            wfsas_before=len(self.wfsa_lengths_before),
            wfsas_after=len(self.kept_wfsas),
            wfsa_lengths_after=self.wfsa_lengths_after,
            kept_wfsas=self.kept_wfsas,
        )
        data.update(extra)
        return data


def structure_report(model: Model, eps: float) -> StructureReport:
    """What `prune_classifier(model, eps)` would keep; the model is not changed."""
    encoder = _encoder(model)
    layer: torch.nn.Linear = model._classification_layer
    norms = encoder.state_norms()
    kept = kept_prefix_lengths(norms, eps)
    row_size = 2 * encoder.get_input_dim() + 1
    bias = layer.out_features if layer.bias is not None else 0
    encoder_after = sum(kept) * row_size
    classifier_after = sum(m > 0 for m in kept) * layer.out_features + bias
    removed_trainable = 0
    if encoder.state_params.requires_grad:
        removed_trainable += encoder.state_params.numel() - encoder_after
    if layer.weight.requires_grad:
        removed_trainable += layer.weight.numel() + bias - classifier_after
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return StructureReport(
        eps=eps,
        wfsa_lengths_before=encoder.wfsa_lengths,
        kept_lengths=kept,
        state_norms=norms,
        encoder_parameters_before=encoder.state_params.numel(),
        encoder_parameters_after=encoder_after,
        classifier_parameters_before=layer.weight.numel() + bias,
        classifier_parameters_after=classifier_after,
        trainable_parameters_before=trainable,
        trainable_parameters_after=trainable - removed_trainable,
    )


def apply_structure(model: Model, kept_lengths: Sequence[int]) -> None:
    """Shrink `model` in place: keep the first `kept_lengths[k]` states of WFSA k, drop the WFSAs
    that keep none together with their columns of the classification layer."""
    encoder = _encoder(model)
    kept_wfsas = [k for k, m in enumerate(kept_lengths) if m > 0]
    new_encoder = encoder.keep_prefixes(kept_lengths)
    layer: torch.nn.Linear = model._classification_layer
    new_layer = torch.nn.Linear(len(kept_wfsas), layer.out_features, bias=layer.bias is not None)
    new_layer = new_layer.to(layer.weight).train(layer.training)
    columns = torch.tensor(kept_wfsas, dtype=torch.long, device=layer.weight.device)
    with torch.no_grad():
        new_layer.weight.copy_(layer.weight.index_select(1, columns))
        if layer.bias is not None:
            new_layer.bias.copy_(layer.bias)
    new_layer.weight.requires_grad_(layer.weight.requires_grad)
    if layer.bias is not None:
        new_layer.bias.requires_grad_(layer.bias.requires_grad)
    model._seq2vec_encoder = new_encoder
    model._classification_layer = new_layer
    model._classifier_input_dim = len(kept_wfsas)


def prune_classifier(model: Model, eps: float = 0.1) -> Tuple[Model, StructureReport]:
    """A pruned copy of `model` (method.md §3) and the report; `model` itself is not changed.

    The copy keeps the model's regularizer configuration; dropping it for finetuning is the
    caller's decision (`prune_and_finetune` does).
    """
    report = structure_report(model, eps)
    pruned = copy.deepcopy(model)
    apply_structure(pruned, report.kept_lengths)
    return pruned, report


def pruned_config(
    config: Dict[str, Any], wfsa_lengths: Sequence[int], callback_type: str = "prune_and_finetune"
) -> Dict[str, Any]:
    """An experiment config (as a dict) that rebuilds the pruned model: the encoder gets the
    explicit list of kept lengths, and the structure-learning parts (the model's regularizer and
    the `callback_type` trainer callback) are removed, so `allennlp evaluate`, `predict` and
    `train` (e.g. with a `from_archive` model) see a plain classifier."""
    config = copy.deepcopy(config)
    model = config.get("model", {})
    if "seq2vec_encoder" not in model:
        raise ConfigurationError("the config has no model.seq2vec_encoder to rewrite")
    model["seq2vec_encoder"]["wfsa_lengths"] = [int(n) for n in wfsa_lengths]
    model.pop("regularizer", None)
    trainer = config.get("trainer", {})
    callbacks = [
        cb for cb in trainer.get("callbacks", [])
        if not (isinstance(cb, dict) and cb.get("type") == callback_type)
    ]
    if callbacks:
        trainer["callbacks"] = callbacks
    else:
        trainer.pop("callbacks", None)
    return config
