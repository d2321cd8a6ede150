"""`rational_rnn`: a layer of weighted finite-state automata as a Seq2Vec encoder (method.md §1).

Each output unit is one linear-chain WFSA; WFSAs in one layer may have different lengths.  All
input-dependent terms are one matrix multiply over the whole batch; only the cheap elementwise
recurrence runs over time.

All parameters live in ONE tensor with one row per *state*, so that the group-lasso group of a state
(everything that enters it, method.md §2) is exactly one row, whatever regularizer applies it:
`state_params[s] = [w_s (input_dim), v_s (input_dim), b_s]` for the flat state index s that runs over
WFSA 0's states, then WFSA 1's, and so on.
"""
import math
from typing import Dict, List, Optional, Sequence, Union

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.modules.seq2vec_encoders import Seq2VecEncoder

from rrnn_plugin.modules.recurrence import BACKENDS, layer_state_scores
from rrnn_plugin.modules.semirings import SEMIRINGS, get_semiring


def row_group_norms(matrix: torch.Tensor) -> torch.Tensor:
    """L2 norm of every row: the group norms of group lasso, for pruning, metrics and penalty alike.

    `vector_norm`'s gradient at an all-zero row is 0 (a valid subgradient), not NaN.
    """
    return torch.linalg.vector_norm(matrix, dim=1)


def expand_wfsa_lengths(wfsa_lengths: Union[Dict[str, int], Sequence[int]]) -> List[int]:
    """`{"1": 6, "4": 2}` -> `[1]*6 + [4]*2`; a list is taken as given (one length per WFSA)."""
    if isinstance(wfsa_lengths, dict):
        lengths: List[int] = []
        for key in sorted(wfsa_lengths, key=lambda k: int(k)):
            count = wfsa_lengths[key]
            if int(count) < 0:
                raise ConfigurationError(f"wfsa_lengths: count for length {key} is negative: {count}")
            lengths.extend([int(key)] * int(count))
    else:
        lengths = [int(n) for n in wfsa_lengths]
    if any(n < 1 for n in lengths):
        raise ConfigurationError(f"wfsa_lengths: every WFSA needs at least one transition, got {lengths}")
    return lengths


@Seq2VecEncoder.register("rational_rnn")
class RationalRnnEncoder(Seq2VecEncoder):
    """
    # Parameters

    input_dim : `int`
        Size of the token vectors.
    wfsa_lengths : `Dict[str, int]` or `List[int]`
        Number of main-path transitions of each WFSA: `{"1": 6, "2": 6, "3": 6, "4": 6}` means six
        WFSAs of each length; a list gives each WFSA's length in order.  A WFSA of length 0 is not
        allowed; a layer with no WFSA at all (everything pruned) is, and outputs nothing.
    semiring : `str`, optional (default = `"plus_times"`)
        `plus_times` (the paper), `max_plus` or `max_times`.
    input_dropout : `float`, optional (default = `0.0`)
        Dropout on the token vectors before the projection (the paper's embedding dropout).
    backend : `str`, optional (default = `"auto"`)
        Implementation of the recurrence: `"auto"` (the compiled kernel when it is available,
        else the PyTorch path; the environment variable RRNN_BACKEND can force either), `"cpp"`
        or `"torch"` (see rrnn_plugin/kernels/backend.py).  Results are the same.
    """

    def __init__(
        self,
        input_dim: int,
        wfsa_lengths: Union[Dict[str, int], List[int]],
        semiring: str = "plus_times",
        input_dropout: float = 0.0,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        if semiring not in SEMIRINGS:
            raise ConfigurationError(f"semiring must be one of {sorted(SEMIRINGS)}, got {semiring!r}")
        if backend not in BACKENDS:
            raise ConfigurationError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
        self._backend = backend
        self._input_dim = input_dim
        self._lengths = expand_wfsa_lengths(wfsa_lengths)
        self._semiring_name = semiring
        self._semiring = get_semiring(semiring)
        self._dropout = torch.nn.Dropout(input_dropout) if input_dropout > 0 else None
        num_states = sum(self._lengths)
        self.state_params = torch.nn.Parameter(torch.empty(num_states, 2 * input_dim + 1))
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
    def input_dropout(self) -> float:
        return self._dropout.p if self._dropout is not None else 0.0

    @property
    def num_wfsas(self) -> int:
        return len(self._lengths)

    @property
    def num_transitions(self) -> int:
        """Main-path transitions: the paper's measure of model size (x-axis of its Figure 3)."""
        return sum(self._lengths)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def get_input_dim(self) -> int:
        return self._input_dim

    def get_output_dim(self) -> int:
        return self.num_wfsas

    # ----- computation ----------------------------------------------------------------------
    def transition_weights(self, tokens: torch.Tensor):
        """Token vectors (batch, time, input_dim) -> (u, f) on the (WFSA, state) grid.

        One matrix multiply for every WFSA and state; grid cells beyond a WFSA's length hold
        u = semiring zero so they never carry a path.
        """
        batch, steps, _ = tokens.shape
        num_states = self.state_params.shape[0]
        weight = self.state_params[:, :-1].reshape(2 * num_states, self._input_dim)  # rows w_0, v_0, w_1, ...
        bias = torch.stack([torch.zeros_like(self.loop_bias), self.loop_bias], dim=1).reshape(-1)
        projection = torch.nn.functional.linear(tokens, weight, bias)
        projection = projection.view(batch, steps, num_states, 2)
        u, f = self._semiring.weights(projection[..., 0], projection[..., 1])
        grid_size = self.num_wfsas * self._max_length
        if grid_size != num_states:  # mixed lengths: scatter onto the grid
            u = u.new_full((batch, steps, grid_size), self._semiring.zero).index_copy(-1, self._grid_index, u)
            f = f.new_zeros((batch, steps, grid_size)).index_copy(-1, self._grid_index, f)
        shape = (batch, steps, self.num_wfsas, self._max_length)
        return u.reshape(shape), f.reshape(shape)

    def state_scores(self, tokens: torch.Tensor, mask: Optional[torch.Tensor], return_all: bool = False):
        """Scores of every (WFSA, state) after the last real token (and after every token)."""
        if self._dropout is not None:
            tokens = self._dropout(tokens)
        return layer_state_scores(self, tokens, mask, return_all=return_all, backend=self._backend)

    def forward(self, tokens: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if mask is not None:
            mask = mask.bool()
        if self.num_wfsas == 0:
            return tokens.new_zeros(tokens.shape[0], 0)
        final_states, _ = self.state_scores(tokens, mask)
        scores = self._semiring.sum_states(final_states)
        # max-plus: a document with no real token has no path at all (-inf); report 0 instead.
        return torch.where(torch.isfinite(scores), scores, torch.zeros_like(scores))

    # ----- structure (group lasso and pruning) ----------------------------------------------
    def state_group_norms(self) -> torch.Tensor:
        """||[w_s, v_s, b_s]||_2 for every flat state s (method.md §2), differentiable."""
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

    def keep_prefixes(self, kept_lengths: Sequence[int]) -> "RationalRnnEncoder":
        """A new encoder holding only the first `kept_lengths[k]` states of each WFSA k.

        WFSAs with 0 kept states are dropped.  The surviving rows of `state_params` are copied
        as they are: a row is a whole state (w, v and b together), so the main-path and
        self-loop weights of a shortened WFSA cannot get mixed up.  Semiring, input dropout,
        backend, device, dtype, `requires_grad` and train/eval mode are carried over.
        """
        kept = [int(m) for m in kept_lengths]
        if len(kept) != self.num_wfsas:
            raise ValueError(f"need one kept length per WFSA ({self.num_wfsas}), got {kept}")
        rows: List[int] = []
        for k, (states, n, m) in enumerate(zip(self.state_slices(), self._lengths, kept)):
            if not 0 <= m <= n:
                raise ValueError(f"WFSA {k} has {n} states, cannot keep {m}")
            rows.extend(range(states.start, states.start + m))
        encoder = RationalRnnEncoder(
            self._input_dim,
            [m for m in kept if m > 0],
            semiring=self._semiring_name,
            input_dropout=self.input_dropout,
            backend=self._backend,
        ).to(device=self.state_params.device, dtype=self.state_params.dtype)
        index = torch.tensor(rows, dtype=torch.long, device=self.state_params.device)
        with torch.no_grad():
            encoder.state_params.copy_(self.state_params.index_select(0, index))
        encoder.state_params.requires_grad_(self.state_params.requires_grad)
        return encoder.train(self.training)
