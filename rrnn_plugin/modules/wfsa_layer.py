"""`WfsaLayer`: one layer of weighted finite-state automata, one direction (docs/method.md §1).

Each output unit is one linear-chain WFSA; WFSAs in one layer may have different lengths.  All
input-dependent terms are one matrix multiply over the whole batch; only the cheap elementwise
recurrence runs over time.  This is the one implementation behind both registered encoders
(`rational_rnn` as a Seq2Vec and as a Seq2Seq encoder, see rational_rnn.py), which stack these
layers and run them in either direction.

All parameters live in ONE tensor with one row per *state*, so that the group-lasso group of a state
(everything that enters it, docs/method.md §2) is exactly one row, whatever regularizer applies it:
`state_params[s] = [w_s (input_dim), v_s (input_dim), b_s]` for the flat state index s that runs over
WFSA 0's states, then WFSA 1's, and so on.
"""
import math
from typing import Dict, List, Optional, Sequence, Union

import torch
from rrnn_plugin.kernels import denormals
from rrnn_plugin.modules.errors import ConfigurationError
from rrnn_plugin.modules.recurrence import BACKENDS, grid_weights, layer_recurrence
from rrnn_plugin.modules.semirings import SEMIRINGS, get_semiring


def row_group_norms(matrix: torch.Tensor) -> torch.Tensor:
    """L2 norm of every row: the group norms of group lasso, for pruning, metrics and penalty alike.

    `vector_norm`'s gradient at an all-zero row is 0 (a valid subgradient), not NaN.
    """
    return torch.linalg.vector_norm(matrix, dim=1)


def expand_wfsa_lengths(wfsa_lengths: Union[Dict[str, int], Sequence[int]]) -> List[int]:
    """`{"1": 6, "4": 2}` -> `[1]*6 + [4]*2`; a list is taken as given (one length per WFSA)."""
    try:
        if isinstance(wfsa_lengths, dict):
            lengths: List[int] = []
            for key in sorted(wfsa_lengths, key=lambda k: int(k)):
                count = wfsa_lengths[key]
                if int(count) < 0:
                    raise ConfigurationError(f"wfsa_lengths: count for length {key} is negative: {count}")
                lengths.extend([int(key)] * int(count))
        else:
            lengths = [int(n) for n in wfsa_lengths]
    except (TypeError, ValueError) as error:
        raise ConfigurationError(
            f"wfsa_lengths must map lengths to counts ({{\"1\": 6, \"4\": 2}}) or list lengths ([1, 4]), "
            f"got {wfsa_lengths!r} ({error})"
        ) from None
    if any(n < 1 for n in lengths):
        raise ConfigurationError(f"wfsa_lengths: every WFSA needs at least one transition, got {lengths}")
    return lengths


class WfsaLayer(torch.nn.Module):
    """One direction of one layer: token vectors (batch, time, input_dim) -> WFSA scores.

    `forward` returns h(T) after the last real token (batch, num_wfsas) or, with `all_steps`,
    h(t) after every token (batch, time, num_wfsas).  A layer with no WFSA (everything pruned)
    is allowed and outputs nothing.
    """

    def __init__(
        self,
        input_dim: int,
        wfsa_lengths: Sequence[int],
        semiring: str = "plus_times",
        backend: str = "auto",
    ) -> None:
        super().__init__()
        if semiring not in SEMIRINGS:
            raise ConfigurationError(f"semiring must be one of {sorted(SEMIRINGS)}, got {semiring!r}")
        if backend not in BACKENDS:
            raise ConfigurationError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
        self._backend = backend
        self._input_dim = int(input_dim)
        self._lengths = expand_wfsa_lengths(wfsa_lengths)
        self._semiring_name = semiring
        self._semiring = get_semiring(semiring)
        num_states = sum(self._lengths)
        self.state_params = torch.nn.Parameter(torch.empty(num_states, 2 * self._input_dim + 1))
        self._max_length = max(self._lengths, default=1)
        # Position of each flat state on the (WFSA, state) grid used by the recurrence.
        grid = [k * self._max_length + j for k, n in enumerate(self._lengths) for j in range(n)]
        self.register_buffer("_grid_index", torch.tensor(grid, dtype=torch.long), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ±sqrt(6 / (input_dim + num_wfsas)), biases 0, as in the original code."""
        bound = math.sqrt(6.0 / (self._input_dim + max(self.num_wfsas, 1)))
        with torch.no_grad():
            torch.nn.init.uniform_(self.state_params[:, :-1], -bound, bound)
            self.state_params[:, -1] = 0.0

    @property
    def main_weights(self) -> torch.Tensor:
        """w: (num_states, input_dim), main-path weights (a view of `state_params`)."""
        return self.state_params[:, : self._input_dim]

    @property
    def loop_weights(self) -> torch.Tensor:
        """v: (num_states, input_dim), self-loop weights (a view of `state_params`)."""
        return self.state_params[:, self._input_dim : 2 * self._input_dim]

    @property
    def loop_bias(self) -> torch.Tensor:
        """b: (num_states,), self-loop biases (a view of `state_params`)."""
        return self.state_params[:, -1]

    # ----- shape and size -------------------------------------------------------------------
    @property
    def wfsa_lengths(self) -> List[int]:
        return list(self._lengths)

    @property
    def semiring(self) -> str:
        return self._semiring_name

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def num_wfsas(self) -> int:
        return len(self._lengths)

    @property
    def num_transitions(self) -> int:
        """Main-path transitions: the paper's measure of model size (x-axis of its Figure 3)."""
        return sum(self._lengths)

    def get_input_dim(self) -> int:
        return self._input_dim

    def get_output_dim(self) -> int:
        return self.num_wfsas

    # ----- computation ----------------------------------------------------------------------
    def projection(self, tokens: torch.Tensor) -> torch.Tensor:
        """Every state's w·x and v·x + b in one matrix multiply: (batch, time, 2N), all w·x first."""
        weight = torch.cat([self.main_weights, self.loop_weights], dim=0)
        bias = torch.cat([torch.zeros_like(self.loop_bias), self.loop_bias])
        return torch.nn.functional.linear(tokens, weight, bias)

    def transition_weights(self, tokens: torch.Tensor):
        """Token vectors (batch, time, input_dim) -> (u, f) on the (WFSA, state) grid."""
        return grid_weights(self.projection(tokens), self._semiring, self._grid_index, self.num_wfsas,
                            self._max_length)

    def state_scores(self, tokens: torch.Tensor, mask: Optional[torch.Tensor], return_all: bool = False):
        """Scores of every (WFSA, state) after the last real token (and after every token)."""
        if tokens.device.type == "cpu":
            denormals.ensure()  # before the projection: its backward GEMM is where denormals cost most
        return layer_recurrence(self.projection(tokens), self._lengths, self._grid_index, mask, self._semiring,
                                return_all=return_all, backend=self._backend)

    def forward(
        self, tokens: torch.Tensor, mask: Optional[torch.Tensor] = None, all_steps: bool = False
    ) -> torch.Tensor:
        if self.num_wfsas == 0:
            shape = tokens.shape[:2] if all_steps else tokens.shape[:1]
            return tokens.new_zeros(*shape, 0)
        final_states, states = self.state_scores(tokens, mask, return_all=all_steps)
        scores = self._semiring.sum_states(states if all_steps else final_states)
        if self._semiring.zero == float("-inf"):
            # max-plus: before the first real token there is no path at all (-inf, the semiring's
            # zero); report 0 there.  Only that: a NaN or +inf from broken inputs must surface.
            scores = scores.masked_fill(scores == float("-inf"), 0.0)
        return scores

    # ----- structure (group lasso and pruning) ----------------------------------------------
    def state_group_norms(self) -> torch.Tensor:
        """||[w_s, v_s, b_s]||_2 for every flat state s (docs/method.md §2), differentiable."""
        return row_group_norms(self.state_params)

    def state_slices(self) -> List[slice]:
        """The flat state indices of each WFSA."""
        slices, start = [], 0
        for n in self._lengths:
            slices.append(slice(start, start + n))
            start += n
        return slices

    def state_norms(self) -> List[List[float]]:
        """Exact ||[w_s, v_s, b_s]||_2 of every state, grouped by WFSA (for pruning and reports).

        An all-zero group reports 0, so it is pruned even at threshold 0 (in plus-times such a
        state and every state after it score 0 anyway).
        """
        norms = self.state_group_norms().detach().tolist()
        return [norms[s] for s in self.state_slices()]

    def kept_state_params(self, kept_lengths: Sequence[int], kept_inputs: Optional[Sequence[int]] = None):
        """The rows of `state_params` of the first `kept_lengths[k]` states of each WFSA k and, if
        given, only the columns of input features `kept_inputs` (the surviving WFSAs of the layer
        below): the whole `state_params` of the pruned layer (detached).

        A row is a whole state (w, v and b together), so the main-path and self-loop weights of a
        shortened WFSA cannot get mixed up; dropping input feature i drops column i of both w and v.
        """
        kept = [int(m) for m in kept_lengths]
        if len(kept) != self.num_wfsas:
            raise ValueError(f"need one kept length per WFSA ({self.num_wfsas}), got {kept}")
        rows: List[int] = []
        for k, (states, n, m) in enumerate(zip(self.state_slices(), self._lengths, kept)):
            if not 0 <= m <= n:
                raise ValueError(f"WFSA {k} has {n} states, cannot keep {m}")
            rows.extend(range(states.start, states.start + m))
        inputs = list(range(self._input_dim)) if kept_inputs is None else [int(i) for i in kept_inputs]
        if any(not 0 <= i < self._input_dim for i in inputs):
            raise ValueError(f"kept_inputs must lie in [0, {self._input_dim}), got {inputs}")
        dim = self._input_dim
        columns = inputs + [dim + i for i in inputs] + [2 * dim]
        device = self.state_params.device
        with torch.no_grad():
            kept_rows = self.state_params.index_select(0, torch.tensor(rows, dtype=torch.long, device=device))
            return kept_rows.index_select(1, torch.tensor(columns, dtype=torch.long, device=device))

    def load_pruned(self, source: "WfsaLayer", kept_state_params: torch.Tensor) -> "WfsaLayer":
        """Fill this (freshly built, pruned-shape) layer with `source.kept_state_params(...)`,
        taking over source's device, dtype, `requires_grad` and train/eval mode."""
        self.to(device=source.state_params.device, dtype=source.state_params.dtype)
        with torch.no_grad():
            self.state_params.copy_(kept_state_params)
        self.state_params.requires_grad_(source.state_params.requires_grad)
        return self.train(source.training)

    def pruned(self, kept_lengths: Sequence[int], kept_inputs: Optional[Sequence[int]] = None) -> "WfsaLayer":
        """A new layer holding only what `kept_state_params` keeps; WFSAs with 0 kept states are
        dropped.  Semiring, backend, device, dtype, `requires_grad` and train/eval mode carry over."""
        params = self.kept_state_params(kept_lengths, kept_inputs)
        lengths = [int(m) for m in kept_lengths if int(m) > 0]
        input_dim = self._input_dim if kept_inputs is None else len(kept_inputs)
        with torch.random.fork_rng(devices=[]):  # its initial values are overwritten: keep the RNG
            layer = WfsaLayer(input_dim, lengths, self._semiring_name, self._backend)
        return layer.load_pruned(self, params)
