"""The WFSA recurrence, vectorized over batch, WFSAs and states (docs/method.md §1).

    c_j(t) = f_j(t) ⊗ c_j(t-1)  ⊕  u_j(t) ⊗ c_{j-1}(t-1),     c_0 ≡ one,  c_j(0) = zero

Inputs are already laid out on a (WFSA, state) grid; states beyond a WFSA's length carry u = zero,
so they stay at zero and never contribute.  Masked (padding) steps carry the state unchanged, so
the final state is the state after the last real token whatever the padding side.

Two implementations with one contract: a compiled kernel (rrnn_plugin/kernels: C++ on CPU, CUDA
on GPU; ~the cost of the input projection) and the PyTorch path below (no build needed, the
fallback; a loop over time, or on a GPU for long documents its chunked form, chunked.py).  `wfsa_recurrence` picks one (rrnn_plugin/kernels/backend.py explains how).
`layer_recurrence` is what a layer calls with its input projection: on CPU the kernel takes the
projection itself, so the transition weights are formed inside the kernel too (the fused layer).
"""
import os
from typing import List, Optional, Tuple

import torch

from rrnn_plugin.kernels import backend as kernel_backend
from rrnn_plugin.kernels import denormals
from rrnn_plugin.kernels.function import kernel_layer, kernel_recurrence
from rrnn_plugin.modules.chunked import chunked_recurrence
from rrnn_plugin.modules.semirings import Semiring, get_semiring

BACKENDS = kernel_backend.BACKENDS


def wfsa_recurrence(
    u: torch.Tensor,
    f: torch.Tensor,
    mask: Optional[torch.Tensor],
    semiring: Semiring,
    return_all: bool = False,
    backend: str = "auto",
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """
    u, f: (batch, time, num_wfsas, max_states); mask: (batch, time) bool or None.
    backend: "auto" (compiled kernel if available, RRNN_BACKEND may override), "cpp" or "torch".

    Returns the final state scores (batch, num_wfsas, max_states) and, if `return_all`,
    the scores after every step (batch, time, num_wfsas, max_states).
    """
    if u.device.type == "cpu":
        denormals.ensure()
    module = kernel_backend.select(backend, [u, f], mask, semiring.name)
    if module is not None:
        return kernel_recurrence(u, f, mask, semiring.name, return_all)
    return torch_recurrence(u, f, mask, semiring, return_all)


def grid_weights(
    projection: torch.Tensor, semiring: Semiring, grid_index: torch.Tensor, num_wfsas: int, max_length: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """A layer's projection (batch, time, 2N: every state's w·x, then every state's v·x + b) ->
    the transition weights (u, f) on the (WFSA, state) grid, (batch, time, num_wfsas, max_length).
    Grid cells beyond a WFSA's length hold u = semiring zero, so they never carry a path."""
    batch, steps, width = projection.shape
    num_states = width // 2
    u, f = semiring.weights(projection[..., :num_states], projection[..., num_states:])
    grid_size = num_wfsas * max_length
    if grid_size != num_states:  # mixed lengths: scatter onto the grid
        u = u.new_full((batch, steps, grid_size), semiring.zero).index_copy(-1, grid_index, u)
        f = f.new_zeros((batch, steps, grid_size)).index_copy(-1, grid_index, f)
    shape = (batch, steps, num_wfsas, max_length)
    return u.reshape(shape), f.reshape(shape)


def layer_recurrence(
    projection: torch.Tensor,
    lengths: List[int],
    grid_index: torch.Tensor,
    mask: Optional[torch.Tensor],
    semiring: Semiring,
    return_all: bool = False,
    backend: str = "auto",
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The state scores of a layer of WFSAs of `lengths` from its projection (see `grid_weights`):
    what `WfsaLayer` calls, once per forward.  On CPU the compiled kernel takes the projection
    itself and forms the transition weights inside (the fused layer); otherwise the weights are put
    on the grid and `wfsa_recurrence` runs."""
    max_length = max(lengths, default=1)
    module = kernel_backend.select(backend, [projection], mask, semiring.name, entry="layer_forward")
    if module is None or not lengths:
        u, f = grid_weights(projection, semiring, grid_index, len(lengths), max_length)
        return wfsa_recurrence(u, f, mask, semiring, return_all=return_all, backend=backend)
    return kernel_layer(projection, lengths, max_length, mask, semiring.name, semiring.zero, return_all)


TORCH_METHOD_VAR = "RRNN_TORCH_RECURRENCE"  # loop | chunked: overrides the automatic choice
CHUNKED_MIN_STEPS = 256  # on a GPU, the chunked form from this length on (provisional: make gpu-check)


def torch_method(u: torch.Tensor) -> str:
    """"loop" or "chunked" (chunked.py) for the PyTorch path: chunked only on a GPU for long
    documents, where the loop's per-step launches dominate; on a CPU the loop is 1.6-7x faster
    (S + 1 times less arithmetic)."""
    forced = os.environ.get(TORCH_METHOD_VAR, "").strip().lower()
    if forced in ("loop", "chunked"):
        return forced
    if forced:
        raise ValueError(f"{TORCH_METHOD_VAR} must be 'loop' or 'chunked', got {forced!r}")
    return "chunked" if u.device.type == "cuda" and u.shape[1] >= CHUNKED_MIN_STEPS else "loop"


def torch_recurrence(
    u: torch.Tensor,
    f: torch.Tensor,
    mask: Optional[torch.Tensor],
    semiring: Semiring,
    return_all: bool = False,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The PyTorch path: a loop over time of whole-batch elementwise ops, or its chunked form
    (`torch_method`).

    Per-step tensors are split once with `unbind` (indexing inside the loop makes backward
    O(T^2), docs/method.md §7).
    """
    if torch_method(u) == "chunked":
        return chunked_recurrence(u, f, mask, semiring, return_all)
    batch, steps, num_wfsas, num_states = u.shape
    c = u.new_full((batch, num_wfsas, num_states), semiring.zero)
    start = u.new_full((batch, num_wfsas, 1), semiring.one)
    masks = mask.unsqueeze(-1).unsqueeze(-1).unbind(1) if mask is not None else None
    history = []
    for t, (u_t, f_t) in enumerate(zip(u.unbind(1), f.unbind(1))):
        previous = torch.cat([start, c[:, :, :-1]], dim=-1)
        new_c = semiring.plus(semiring.times(f_t, c), semiring.times(u_t, previous))
        c = new_c if masks is None else torch.where(masks[t], new_c, c)
        if return_all:
            history.append(c)
    if not return_all:
        return c, None
    return c, torch.stack(history, dim=1) if history else u.new_full(u.shape, semiring.zero)
