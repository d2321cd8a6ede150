"""Where a model's WFSA encoders are, what reads their outputs, and how to shrink each reader.

Pruning a WFSA removes one output feature of its encoder, so whatever reads that output must drop
the matching input feature: the next WFSA layer (inside `RationalRnnLayers.pruned`), a stock
Seq2Vec pooler, a feedforward, the classification or tag-projection layer.  A model is a *chain*
of attribute names along which features flow; supported chains:

* `basic_classifier` / `rational_classifier`: [`_seq2seq_encoder`], `_seq2vec_encoder`,
  [`_feedforward`], `_classification_layer`;
* `simple_tagger`: `encoder`, `tag_projection_layer`.

`drop_inputs` knows the stock readers: `Linear`, `TimeDistributed(Linear)`, `FeedForward` (its
first layer), `boe` (its output shrinks the same way, so the drop travels on) and `cnn` (its
convolutions' input channels).  Anything else gets a `ConfigurationError` naming it.  Modules are
deep-copied and edited, never re-initialized, so surgery consumes no random numbers.
"""
import copy
from typing import Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.models import BasicClassifier, Model, SimpleTagger
from allennlp.modules import FeedForward, TimeDistributed
from allennlp.modules.seq2vec_encoders import BagOfEmbeddingsEncoder, CnnEncoder

from rrnn_plugin.modules.rational_rnn import RationalRnnLayers


def feature_chain(model: Model) -> List[str]:
    """Attribute names of `model`, in the order features flow from the first encoder to the output."""
    if isinstance(model, BasicClassifier):
        names = ["_seq2seq_encoder", "_seq2vec_encoder", "_feedforward", "_classification_layer"]
    elif isinstance(model, SimpleTagger):
        names = ["encoder", "tag_projection_layer"]
    else:
        raise ConfigurationError(
            f"pruning supports basic_classifier, rational_classifier and simple_tagger models, "
            f"got {type(model).__name__}"
        )
    chain = [name for name in names if getattr(model, name, None) is not None]
    if not any(isinstance(getattr(model, name), RationalRnnLayers) for name in chain):
        raise ConfigurationError(
            f"pruning needs a `rational_rnn` encoder in the model; {type(model).__name__} has "
            + ", ".join(f"{name}: {type(getattr(model, name)).__name__}" for name in chain)
        )
    return chain


def config_key(attribute: str) -> str:
    """`_seq2vec_encoder` -> `seq2vec_encoder`: the model config key that builds an attribute."""
    return attribute.lstrip("_")


def drop_inputs(module: torch.nn.Module, keep: List[int]) -> Tuple[torch.nn.Module, Optional[List[int]], Dict]:
    """A copy of `module` that reads only input features `keep`.

    Returns (new module, output features that survive — None if the output is unchanged,
    config updates that rebuild the new shape).
    """
    index = torch.tensor(keep, dtype=torch.long)
    if isinstance(module, torch.nn.Linear):
        new = copy.deepcopy(module)
        _slice_parameter(new, "weight", 1, index)
        new.in_features = len(keep)
        return new, None, {}
    if isinstance(module, TimeDistributed):
        inner, out, updates = drop_inputs(module._module, keep)
        new = copy.deepcopy(module)
        new._module = inner
        return new, out, updates
    if isinstance(module, FeedForward):
        new = copy.deepcopy(module)
        new._linear_layers[0] = drop_inputs(module._linear_layers[0], keep)[0]
        new.input_dim = len(keep)
        return new, None, {"input_dim": len(keep)}
    if isinstance(module, BagOfEmbeddingsEncoder):
        new = copy.deepcopy(module)
        new._embedding_dim = len(keep)
        return new, list(keep), {"embedding_dim": len(keep)}
    if isinstance(module, CnnEncoder):
        new = copy.deepcopy(module)
        for i in range(len(new._convolution_layers)):
            conv = getattr(new, f"conv_layer_{i}")
            _slice_parameter(conv, "weight", 1, index)
            conv.in_channels = len(keep)
        new._convolution_layers = [getattr(new, f"conv_layer_{i}") for i in range(len(new._convolution_layers))]
        new._embedding_dim = len(keep)
        return new, None, {"embedding_dim": len(keep)}
    raise ConfigurationError(
        f"pruning removed WFSAs whose outputs a {type(module).__name__} reads; dropping its inputs "
        "is supported for Linear, FeedForward, boe, cnn and rational_rnn"
    )


def check_runnable(replacements: Dict[str, torch.nn.Module]) -> None:
    """Refuse a pruned model that AllenNLP cannot run (checked when pruning is applied, not when
    it is only reported, so that structure epochs may pass through such a state)."""
    for name, module in replacements.items():
        if isinstance(module, TimeDistributed) and getattr(module._module, "in_features", 1) == 0:
            raise ConfigurationError(
                f"pruning removes every WFSA that {name} reads, and AllenNLP's TimeDistributed "
                "cannot run on 0 features: use a smaller group-lasso alpha or eps"
            )


def _slice_parameter(module: torch.nn.Module, name: str, dim: int, index: torch.Tensor) -> None:
    old = getattr(module, name)
    with torch.no_grad():
        value = old.index_select(dim, index.to(old.device)).clone()
    setattr(module, name, torch.nn.Parameter(value, requires_grad=old.requires_grad))
