"""`RationalRnnLayers`: layers of WFSAs, the framework-free encoder (docs/method.md §1).

This module needs torch only: an exported model runs it without AllenNLP.  The two registered
AllenNLP encoders `rational_rnn` (rrnn_plugin/encoders/) are this class plus the AllenNLP base
class; they differ only in what they return:

* Seq2Vec: the top layer's scores after the last real token, h(T) (batch, output_dim) — the
  paper's document feature, and what `RationalRnnLayers.forward` returns.
* Seq2Seq: the top layer's scores after every token, h(t) (batch, time, output_dim), zero at
  padding — for taggers, or for a stock Seq2Vec pooler.

Options shared by both:
* `bidirectional`: a second, independent set of WFSAs reads each sequence from its last real token
  to its first; its h(t) is the score of the suffix starting at t.  Outputs are concatenated
  [forward, backward].  In the Seq2Vec form the backward half is its score after the *first* token
  (after reading the whole sequence backwards).
* `num_layers`: layer l+1 reads layer l's h(t) (both directions concatenated), with `dropout`
  between layers (Peng et al. 2018 use 2 layers).

Every (layer, direction) keeps its parameters in its own `state_params` matrix, one row per state,
so `state_group_lasso` on '.*state_params' gives one group per (layer, direction, WFSA, state).
Parameter names: `layers.<layer>.<direction>.state_params` (direction 0 = forward, 1 = backward).
Archives written before stacking existed (a top-level `state_params`) still load.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch

from rrnn_plugin.modules.errors import ConfigurationError, NonFiniteInputError
from rrnn_plugin.modules.wfsa_layer import WfsaLayer, expand_wfsa_lengths

Structure = List[List[List[int]]]  # WFSA lengths per layer, per direction


class RationalRnnLayers(torch.nn.Module):
    """The shared body of both encoder forms.

    # Parameters

    input_dim : `int`
        Size of the token vectors.
    wfsa_lengths : `Dict[str, int]` or `List[int]`, optional
        Main-path transitions of each WFSA, the same for every layer and direction:
        `{"1": 6, "2": 6, "3": 6, "4": 6}` means six WFSAs of each length; a list gives each WFSA's
        length in order.  A WFSA of length 0 is not allowed.
    semiring : `str`, optional (default = `"plus_times"`)
        `plus_times` (the paper), `max_plus` or `max_times`.
    input_dropout : `float`, optional (default = `0.0`)
        Dropout on the token vectors before the first layer (the paper's embedding dropout).
    input_dropout_per_document : `bool`, optional (default = `False`)
        Draw one input dropout mask per document and reuse it at every token (variational or
        "locked" dropout, Gal & Ghahramani 2016) instead of one per token.  It needs 1/T of the
        random numbers: on 384-d contextual features elementwise dropout was the largest cost of a
        training epoch (docs/method.md); the BERT-setting configs use it.
    num_layers : `int`, optional (default = `1`)
        Stacked layers; layer l+1's input is layer l's output at every token.
    bidirectional : `bool`, optional (default = `False`)
        Add a backward set of WFSAs in every layer.
    dropout : `float`, optional (default = `0.0`)
        Dropout on each layer's output before the next layer (not after the top layer).
    layer_wfsa_lengths : `List[List[List[int]]]`, optional
        Explicit lengths per layer and direction, instead of `wfsa_lengths`; this is how a pruned
        model's config describes it (a direction may end up with no WFSA).  Its shape must agree
        with `num_layers` and `bidirectional`.
    backend : `str`, optional (default = `"auto"`)
        Implementation of the recurrence: `"auto"` (the compiled kernel when available, else the
        PyTorch path; RRNN_BACKEND can force either), `"cpp"` or `"torch"`.  Results are the same.
    """

    def __init__(
        self,
        input_dim: int,
        wfsa_lengths: Union[Dict[str, int], List[int]] = None,
        semiring: str = "plus_times",
        input_dropout: float = 0.0,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        layer_wfsa_lengths: Optional[Structure] = None,
        backend: str = "auto",
        input_dropout_per_document: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(input_dim, bool) or not isinstance(input_dim, int) or input_dim < 1:
            raise ConfigurationError(f"input_dim must be a positive integer (the embedding size), got {input_dim!r}")
        if num_layers < 1:
            raise ConfigurationError(f"num_layers must be at least 1, got {num_layers}")
        for key, value in (("input_dropout", input_dropout), ("dropout", dropout)):
            if not 0.0 <= value < 1.0:
                raise ConfigurationError(f"{key} must be in [0, 1), got {value}")
        structure = _structure(wfsa_lengths, layer_wfsa_lengths, num_layers, 2 if bidirectional else 1)
        self._input_dim = input_dim
        self._semiring_name = semiring
        self._bidirectional = bidirectional
        self._dropout_p = float(dropout)
        self._backend = backend
        self._input_dropout_per_document = bool(input_dropout_per_document)
        dropout_class = DocumentDropout if input_dropout_per_document else torch.nn.Dropout
        self._input_dropout = dropout_class(input_dropout) if input_dropout > 0 else None
        self._between = torch.nn.Dropout(dropout) if dropout > 0 and num_layers > 1 else None
        layers, layer_input = [], input_dim
        for lengths_per_direction in structure:
            directions = [WfsaLayer(layer_input, n, semiring, backend) for n in lengths_per_direction]
            layers.append(torch.nn.ModuleList(directions))
            layer_input = sum(len(n) for n in lengths_per_direction)
        self.layers = torch.nn.ModuleList(layers)
        self.register_load_state_dict_pre_hook(_rename_single_layer_keys)

    # ----- shape and size -------------------------------------------------------------------
    @property
    def structure(self) -> Structure:
        """WFSA lengths per layer and direction (what `layer_wfsa_lengths` would rebuild)."""
        return [[layer.wfsa_lengths for layer in directions] for directions in self.layers]

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def semiring(self) -> str:
        return self._semiring_name

    @property
    def input_dropout(self) -> float:
        return self._input_dropout.p if self._input_dropout is not None else 0.0

    def is_bidirectional(self) -> bool:
        return self._bidirectional

    def wfsa_layers(self) -> List[WfsaLayer]:
        """Every (layer, direction) in order: layer 0 forward, layer 0 backward, layer 1 ..."""
        return [layer for directions in self.layers for layer in directions]

    @property
    def num_wfsas(self) -> int:
        return sum(layer.num_wfsas for layer in self.wfsa_layers())

    @property
    def num_transitions(self) -> int:
        """Main-path transitions of all layers: the paper's measure of model size."""
        return sum(layer.num_transitions for layer in self.wfsa_layers())

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def get_input_dim(self) -> int:
        return self._input_dim

    def get_output_dim(self) -> int:
        return sum(layer.get_output_dim() for layer in self.layers[-1])

    # ----- the single-layer view (visualization, benchmarks, the paper's setting) ------------
    @property
    def single_layer(self) -> WfsaLayer:
        """The one `WfsaLayer` of a 1-layer unidirectional encoder (an error otherwise)."""
        if len(self.layers) != 1 or len(self.layers[0]) != 1:
            raise ConfigurationError(
                f"this needs a one-layer unidirectional rational_rnn, got {len(self.layers)} layer(s)"
                f"{', bidirectional' if self._bidirectional else ''}"
            )
        return self.layers[0][0]

    @property
    def state_params(self) -> torch.nn.Parameter:
        return self.single_layer.state_params

    @property
    def main_weights(self) -> torch.Tensor:
        return self.single_layer.main_weights

    @property
    def loop_weights(self) -> torch.Tensor:
        return self.single_layer.loop_weights

    @property
    def loop_bias(self) -> torch.Tensor:
        return self.single_layer.loop_bias

    @property
    def wfsa_lengths(self) -> List[int]:
        return self.single_layer.wfsa_lengths

    def transition_weights(self, tokens: torch.Tensor):
        return self.single_layer.transition_weights(tokens)

    def state_norms(self) -> List[List[float]]:
        return self.single_layer.state_norms()

    # ----- computation ----------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """h(T) after the last real token (batch, output_dim); the Seq2Seq encoder returns h(t)."""
        return self.encode(tokens, mask, all_steps=False)

    def encode(self, tokens: torch.Tensor, mask: Optional[torch.Tensor], all_steps: bool) -> torch.Tensor:
        """The top layer's h(T) (batch, output_dim) or, with `all_steps`, h(t) (batch, time,
        output_dim), zero at padding."""
        if mask is not None:
            mask = mask.bool()
        check_finite_input(tokens, mask)
        x = tokens if self._input_dropout is None else self._input_dropout(tokens)
        for depth, directions in enumerate(self.layers):
            top = depth == len(self.layers) - 1
            steps = all_steps or not top
            outputs = [
                _run(layer, x, mask, backward=direction == 1, all_steps=steps)
                for direction, layer in enumerate(directions)
            ]
            x = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
            if not top and self._between is not None:
                x = self._between(x)
        if all_steps and mask is not None:
            x = x * mask.unsqueeze(-1).to(x.dtype)
        return x

    # ----- structure (group lasso and pruning) ----------------------------------------------
    def state_group_norms(self) -> torch.Tensor:
        """Group norms of every state of every layer and direction (flat), differentiable."""
        norms = [layer.state_group_norms() for layer in self.wfsa_layers()]
        return torch.cat(norms) if norms else self.layers[0][0].state_params.new_zeros(0)

    def layer_state_norms(self) -> List[List[List[List[float]]]]:
        """state norms per layer, per direction, per WFSA (see `WfsaLayer.state_norms`)."""
        return [[layer.state_norms() for layer in directions] for directions in self.layers]

    def pruned(self, kept: Structure, kept_inputs: Optional[Sequence[int]] = None) -> "RationalRnnLayers":
        """A new encoder of the same form keeping the first `kept[l][d][k]` states of each WFSA.

        A WFSA that keeps nothing disappears, and so do the matching input columns of every
        direction of the layer above it; `kept_inputs` likewise selects input features of the
        first layer (a pruned layer below this encoder).  Weights are copied exactly.
        """
        if len(kept) != len(self.layers) or any(len(k) != len(d) for k, d in zip(kept, self.layers)):
            raise ValueError(f"kept lengths {kept} do not match the structure {self.structure}")
        blocks, inputs = [], kept_inputs
        for directions, kept_here in zip(self.layers, kept):
            blocks.extend(layer.kept_state_params(m, inputs) for layer, m in zip(directions, kept_here))
            inputs = surviving_features(kept_here)
        with torch.random.fork_rng(devices=[]):  # its initial values are replaced: keep the RNG
            encoder = type(self)(
                input_dim=self._input_dim if kept_inputs is None else len(kept_inputs),
                layer_wfsa_lengths=[[[m for m in d if m > 0] for d in layer] for layer in kept],
                semiring=self._semiring_name,
                input_dropout=self.input_dropout,
                input_dropout_per_document=self._input_dropout_per_document,
                num_layers=len(self.layers),
                bidirectional=self._bidirectional,
                dropout=self._dropout_p,
                backend=self._backend,
            )
        for new, old, params in zip(encoder.wfsa_layers(), self.wfsa_layers(), blocks):
            new.load_pruned(old, params)
        return encoder.train(self.training)

    def config(self) -> Dict:
        """The constructor arguments that rebuild this encoder's shape (for pruned configs)."""
        # a fully pruned encoder keeps the explicit form, which allows directions without WFSAs
        one = len(self.layers) == 1 and not self._bidirectional and self.num_wfsas > 0
        shape = {"wfsa_lengths": self.wfsa_lengths} if one else {"layer_wfsa_lengths": self.structure}
        return {"input_dim": self._input_dim, "num_layers": len(self.layers),
                "bidirectional": self._bidirectional, **shape}


def surviving_features(kept_per_direction: Sequence[Sequence[int]]) -> List[int]:
    """Output features (WFSAs, directions concatenated) that survive pruning to these lengths."""
    features, offset = [], 0
    for kept in kept_per_direction:
        features.extend(offset + k for k, m in enumerate(kept) if m > 0)
        offset += len(kept)
    return features


def _run(layer: WfsaLayer, x: torch.Tensor, mask: Optional[torch.Tensor], backward: bool, all_steps: bool):
    """One direction.  Backward = forward over the time-reversed batch: padding steps carry the
    state unchanged whatever their position, so reversing the padding side is harmless."""
    if not backward:
        return layer(x, mask, all_steps)
    h = layer(x.flip(1), mask.flip(1) if mask is not None else None, all_steps)
    return h.flip(1) if all_steps else h


def _structure(wfsa_lengths, layer_wfsa_lengths, num_layers: int, num_directions: int) -> Structure:
    if (wfsa_lengths is None) == (layer_wfsa_lengths is None):
        raise ConfigurationError("rational_rnn needs exactly one of wfsa_lengths and layer_wfsa_lengths")
    if wfsa_lengths is not None:
        lengths = expand_wfsa_lengths(wfsa_lengths)
        if not lengths:
            raise ConfigurationError(
                f"rational_rnn: wfsa_lengths {wfsa_lengths!r} gives no WFSA; an encoder needs at least one "
                "(e.g. {\"1\": 6, \"2\": 6})"
            )
        return [[list(lengths) for _ in range(num_directions)] for _ in range(num_layers)]
    structure = [[expand_wfsa_lengths(n) for n in layer] for layer in layer_wfsa_lengths]
    if len(structure) != num_layers or any(len(layer) != num_directions for layer in structure):
        raise ConfigurationError(
            f"layer_wfsa_lengths must list {num_layers} layer(s) of {num_directions} direction(s) "
            f"(num_layers={num_layers}, bidirectional={num_directions == 2}), got {layer_wfsa_lengths}"
        )
    return structure


def _rename_single_layer_keys(module, state_dict, prefix, *args) -> None:
    """Archives from before stacking existed stored the one layer's matrix as `state_params`."""
    old = prefix + "state_params"
    if old in state_dict and len(module.layers) == 1 and len(module.layers[0]) == 1:
        state_dict[prefix + "layers.0.0.state_params"] = state_dict.pop(old)


class DocumentDropout(torch.nn.Dropout):
    """Dropout of (batch, time, dim) inputs with one mask per document, shared by all its tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.empty((x.shape[0], 1, x.shape[-1]), dtype=x.dtype, device=x.device).bernoulli_(1 - self.p)
        return x * keep.div_(1 - self.p)


def check_finite_input(tokens: torch.Tensor, mask: Optional[torch.Tensor]) -> None:
    """Refuse NaN/inf in the real (unmasked) input positions, naming where the first one is.

    Without this a NaN in a feature file would spread through the recurrence into every weight
    while the run reports whatever the loss computation makes of it; failing here names the cause.
    """
    # A vector has a NaN/inf iff its sum does (finite features never overflow float32 here): one
    # reduction instead of a (batch, time, dim) boolean tensor, 10x cheaper on 384-d features.
    finite = torch.isfinite(tokens.sum(dim=-1))
    if mask is not None:
        finite = finite | ~mask
    if torch.compiler.is_compiling():  # no data-dependent branch in a traced graph: a traced assert
        torch._assert_async(finite.all(), "rational_rnn: input vectors contain NaN or infinite values")
        return
    if bool(finite.all()):
        return
    bad = (~finite).nonzero()
    batch, step = (int(v) for v in bad[0])
    raise NonFiniteInputError(
        f"rational_rnn: {len(bad)} input vectors contain NaN or infinite values (the first: batch item "
        f"{batch}, token {step}); the embeddings or contextual features feeding the encoder are broken "
        "(a corrupted pretrained or feature file, or, with trainable embeddings, training that diverged: "
        "try a smaller learning rate)"
    )
