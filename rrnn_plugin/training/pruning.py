"""Pruning a group-lasso-trained model down to its learned structure (docs/method.md §3).

Pure functions, usable without a trainer (tests call them directly):

* `kept_prefix_lengths` is the rule: WFSA k keeps the longest prefix of its states whose group
  norms are all > eps.  A state after a removed one is unreachable, so it goes too, however large
  its own norm.  A WFSA that keeps nothing is removed.  The rule applies to every (encoder, layer,
  direction) of the model on its own; the norms are all read before anything is removed.
* `structure_report` says what pruning would do to a model (sizes before/after, norms, and how the
  config changes).
* `apply_structure` rebuilds the model's WFSA encoders and everything that reads their outputs
  (surgery.py) in place, with exactly the surviving weights: rows of `state_params`, the next
  layer's input columns, the reader's input columns.  In place, because the trainer, the
  `allennlp train` loop and the final test evaluation all hold references to the same model
  object (see `prune_and_finetune`).
* `prune_classifier` is the side-effect-free version: a pruned copy plus its report.

Everything pruned (no state above eps) is allowed: the encoder outputs zero features and a
classifier keeps only its bias, predicting the same distribution for every input.
"""
import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Sequence, Tuple, Union

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.models import BasicClassifier, Model

from rrnn_plugin.modules.rational_rnn import RationalRnnLayers, Structure, surviving_features
from rrnn_plugin.training.surgery import check_runnable, config_key, drop_inputs, feature_chain

Kept = Dict[str, Structure]  # encoder attribute -> kept lengths per layer, direction, WFSA

# What structure learning writes into its serialization dir (prune_and_finetune) and what the
# visualization reads back: this module owns the name, as it owns the report written there.
STRUCTURE_FILE = "learned_structure.json"


def kept_prefix_lengths(state_norms: Sequence[Sequence[float]], eps: float) -> List[int]:
    """Per WFSA (norms of its states in order): how many leading states have norm > eps."""
    kept = []
    for norms in state_norms:
        m = 0
        while m < len(norms) and norms[m] > eps:
            m += 1
        kept.append(m)
    return kept


@dataclass
class EncoderStructure:
    """One WFSA encoder of the model: lengths before, kept prefix lengths, state norms — each
    indexed [layer][direction][WFSA] (norms one level deeper, per state)."""

    attribute: str
    before: Structure
    kept: Structure
    state_norms: List[List[List[List[float]]]]

    @property
    def transitions_before(self) -> int:
        return sum(sum(d) for layer in self.before for d in layer)

    @property
    def transitions_after(self) -> int:
        return sum(sum(d) for layer in self.kept for d in layer)

    @property
    def wfsas_before(self) -> int:
        return sum(len(d) for layer in self.before for d in layer)

    @property
    def wfsas_after(self) -> int:
        return sum(sum(m > 0 for m in d) for layer in self.kept for d in layer)

    @property
    def after(self) -> Structure:
        return [[[m for m in d if m > 0] for d in layer] for layer in self.kept]

    def to_json(self) -> Dict[str, Any]:
        layers = []
        for l, (before, kept, norms) in enumerate(zip(self.before, self.kept, self.state_norms)):
            for d, (b, k, n) in enumerate(zip(before, kept, norms)):
                layers.append({
                    "layer": l, "direction": ("forward", "backward")[d], "wfsa_lengths_before": b,
                    "kept_lengths": k, "wfsa_lengths_after": [m for m in k if m > 0],
                    "transitions_before": sum(b), "transitions_after": sum(k), "state_norms": n,
                })
        return {"encoder": config_key(self.attribute), "transitions_before": self.transitions_before,
                "transitions_after": self.transitions_after, "wfsas_before": self.wfsas_before,
                "wfsas_after": self.wfsas_after, "layers": layers}


@dataclass
class StructureReport:
    """What pruning at `eps` does (or did) to a model.  Sizes count main-path transitions
    (the paper's measure) and parameters; "classifier" parameters are those of the modules that
    read the encoders' outputs (pooler, feedforward, output layer)."""

    eps: float
    encoders: List[EncoderStructure]
    encoder_parameters_before: int
    encoder_parameters_after: int
    classifier_parameters_before: int
    classifier_parameters_after: int
    trainable_parameters_before: int
    trainable_parameters_after: int
    config_updates: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def kept(self) -> Kept:
        return {e.attribute: e.kept for e in self.encoders}

    @property
    def transitions_before(self) -> int:
        return sum(e.transitions_before for e in self.encoders)

    @property
    def transitions_after(self) -> int:
        return sum(e.transitions_after for e in self.encoders)

    @property
    def wfsas_before(self) -> int:
        return sum(e.wfsas_before for e in self.encoders)

    @property
    def wfsas_after(self) -> int:
        return sum(e.wfsas_after for e in self.encoders)

    # the paper's setting (one encoder, one layer, one direction) in flat lists
    @property
    def is_single_layer(self) -> bool:
        return len(self.encoders) == 1 and len(self.encoders[0].before) == 1 and len(self.encoders[0].before[0]) == 1

    def _single(self, name: str) -> List:
        if not self.is_single_layer:
            raise ValueError(f"{name} is defined for one single-layer unidirectional encoder; use .encoders")
        return getattr(self.encoders[0], name)[0][0]

    @property
    def wfsa_lengths_before(self) -> List[int]:
        return self._single("before")

    @property
    def kept_lengths(self) -> List[int]:
        return self._single("kept")

    @property
    def state_norms(self) -> List[List[float]]:
        return self._single("state_norms")

    @property
    def wfsa_lengths_after(self) -> List[int]:
        return [m for m in self.kept_lengths if m > 0]

    @property
    def kept_wfsas(self) -> List[int]:
        return [k for k, m in enumerate(self.kept_lengths) if m > 0]

    def to_json(self) -> Dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("encoders", "extra", "config_updates")}
        data.update(
            transitions_before=self.transitions_before,
            transitions_after=self.transitions_after,
            wfsas_before=self.wfsas_before,
            wfsas_after=self.wfsas_after,
        )
        if self.is_single_layer:
            data.update(
                wfsa_lengths_before=self.wfsa_lengths_before,
                kept_lengths=self.kept_lengths,
                state_norms=self.state_norms,
                wfsa_lengths_after=self.wfsa_lengths_after,
                kept_wfsas=self.kept_wfsas,
            )
        data["encoders"] = [e.to_json() for e in self.encoders]
        data.update(self.extra)
        return data


def as_kept(model: Model, kept: Union[Kept, Sequence[int]]) -> Kept:
    """Also accepts a flat list (one kept length per WFSA) for a single-layer encoder, as the
    checkpoints of earlier versions stored it."""
    if isinstance(kept, dict):
        return kept
    return {next(iter(_encoders(model))): [[[int(m) for m in kept]]]}


def _plan(model: Model, kept: Kept) -> Tuple[Dict[str, torch.nn.Module], Dict[str, Dict[str, Any]]]:
    """The pruned replacement of every module along the feature chain, and config updates."""
    replacements: Dict[str, torch.nn.Module] = {}
    updates: Dict[str, Dict[str, Any]] = {}
    features = None  # input features of the next module that survive (None: all of them)
    with torch.random.fork_rng(devices=[]):  # building modules must not move the training's RNG
        for name in feature_chain(model):
            module = getattr(model, name)
            if isinstance(module, RationalRnnLayers):
                if name not in kept:
                    raise ValueError(f"no kept lengths given for the encoder {name}")
                new = module.pruned(kept[name], kept_inputs=features)
                features = surviving_features(kept[name][-1])
                updates[config_key(name)] = new.config()
            elif features is not None:
                new, features, update = drop_inputs(module, features)
                if update:
                    updates[config_key(name)] = update
            else:
                continue
            replacements[name] = new
    return replacements, updates


def _encoders(model: Model) -> Dict[str, RationalRnnLayers]:
    return {n: getattr(model, n) for n in feature_chain(model) if isinstance(getattr(model, n), RationalRnnLayers)}


def _count(modules, trainable_only: bool = False) -> int:
    return sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad or not trainable_only)


def encoder_structures(model: Model, eps: float) -> List[EncoderStructure]:
    """What pruning at `eps` keeps of each WFSA encoder (norms only: no module is built)."""
    encoders = []
    for name, encoder in _encoders(model).items():
        norms = encoder.layer_state_norms()
        kept = [[kept_prefix_lengths(n, eps) for n in layer] for layer in norms]
        encoders.append(EncoderStructure(name, encoder.structure, kept, norms))
    return encoders


def structure_report(model: Model, eps: float) -> StructureReport:
    """What `prune_classifier(model, eps)` would keep, with sizes and config changes (it builds
    the pruned modules to count them); the model is not changed."""
    encoders = encoder_structures(model, eps)
    kept = {e.attribute: e.kept for e in encoders}
    replacements, updates = _plan(model, kept)
    old = {name: getattr(model, name) for name in replacements}
    is_encoder = {name: isinstance(m, RationalRnnLayers) for name, m in old.items()}
    trainable = _count([model], trainable_only=True)
    removed = _count(old.values(), True) - _count(replacements.values(), True)
    return StructureReport(
        eps=eps,
        encoders=encoders,
        encoder_parameters_before=_count(m for n, m in old.items() if is_encoder[n]),
        encoder_parameters_after=_count(m for n, m in replacements.items() if is_encoder[n]),
        classifier_parameters_before=_count(m for n, m in old.items() if not is_encoder[n]),
        classifier_parameters_after=_count(m for n, m in replacements.items() if not is_encoder[n]),
        trainable_parameters_before=trainable,
        trainable_parameters_after=trainable - removed,
        config_updates=updates,
    )


def apply_structure(model: Model, kept: Union[Kept, Sequence[int]]) -> None:
    """Shrink `model` in place to `kept` (see `structure_report(...).kept`)."""
    replacements, _ = _plan(model, as_kept(model, kept))
    check_runnable(replacements)
    for name, module in replacements.items():
        setattr(model, name, module)
    if isinstance(model, BasicClassifier):
        model._classifier_input_dim = model._classification_layer.in_features


def prune_classifier(model: Model, eps: float = 0.1) -> Tuple[Model, StructureReport]:
    """A pruned copy of `model` (docs/method.md §3) and the report; `model` itself is not changed.

    The copy keeps the model's regularizer configuration; dropping it for finetuning is the
    caller's decision (`prune_and_finetune` does).
    """
    report = structure_report(model, eps)
    pruned = copy.deepcopy(model)
    apply_structure(pruned, report.kept)
    return pruned, report


def pruned_config(
    config: Dict[str, Any], report: StructureReport, callback_type: str = "prune_and_finetune"
) -> Dict[str, Any]:
    """An experiment config (as a dict) that rebuilds the pruned model: the encoders get their
    explicit kept lengths, their readers their new input sizes, and the structure-learning parts
    (the model's regularizer and the `callback_type` trainer callback) are removed, so
    `allennlp evaluate`, `predict` and `train` (e.g. with a `from_archive` model) see a plain model."""
    return rewrite_config(config, report.config_updates, callback_type)


def rewrite_config(
    config: Dict[str, Any], updates: Dict[str, Dict[str, Any]], callback_type: str = "prune_and_finetune"
) -> Dict[str, Any]:
    """`pruned_config` from the config updates alone (what a checkpoint stores)."""
    config = copy.deepcopy(config)
    model = config.get("model", {})
    for key, update in updates.items():
        if not isinstance(model.get(key), dict):
            raise ConfigurationError(f"the config has no model.{key} to rewrite for the pruned model")
        if {"wfsa_lengths", "layer_wfsa_lengths"} & set(update):  # the encoder's shape: one of the two
            model[key].pop("wfsa_lengths", None)
            model[key].pop("layer_wfsa_lengths", None)
        model[key].update(copy.deepcopy(update))
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
