"""The WFSA recurrence, vectorized over batch, WFSAs and states (docs/method.md §1).

    c_j(t) = f_j(t) ⊗ c_j(t-1)  ⊕  u_j(t) ⊗ c_{j-1}(t-1),     c_0 ≡ one,  c_j(0) = zero

Inputs are already laid out on a (WFSA, state) grid; states beyond a WFSA's length carry u = zero,
so they stay at zero and never contribute.  Masked (padding) steps carry the state unchanged, so
the final state is the state after the last real token whatever the padding side.

Two implementations with one contract: a compiled kernel (rrnn_plugin/kernels: C++ on CPU, CUDA
on GPU; ~the cost of the input projection) and the PyTorch path below (no build needed, the
fallback).  `wfsa_recurrence` picks one (rrnn_plugin/kernels/backend.py explains how).
`layer_state_scores` is what the encoder calls: on CPU it hands the kernel the input projection
itself, so the transition weights are formed inside the kernel too (the fused layer).
"""
from typing import Optional, Tuple

import torch

from rrnn_plugin.kernels import backend as kernel_backend
from rrnn_plugin.kernels import denormals
from rrnn_plugin.kernels.function import kernel_layer, kernel_recurrence
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
        return kernel_recurrence(module, u, f, mask, semiring.name, return_all)
    return torch_recurrence(u, f, mask, semiring, return_all)


def layer_state_scores(
    encoder,
    tokens: torch.Tensor,
    mask: Optional[torch.Tensor],
    return_all: bool = False,
    backend: str = "auto",
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """`wfsa_recurrence(*encoder.transition_weights(tokens), ...)`, the same results, faster.

    Uses only the encoder's public API (`main_weights`, `loop_weights`, `loop_bias`,
    `wfsa_lengths`, `semiring`, `transition_weights`), so the parameter layout stays the
    encoder's business.  Without the fused kernel, this is exactly the grid route.
    """
    semiring = get_semiring(encoder.semiring)
    if tokens.device.type == "cpu":
        denormals.ensure()  # before the projection: its backward GEMM is where denormals cost most
    params = [tokens, encoder.main_weights]
    module = kernel_backend.select(backend, params, mask, semiring.name, entry="layer_forward")
    lengths = encoder.wfsa_lengths
    if module is None or not lengths:
        u, f = encoder.transition_weights(tokens)
        return wfsa_recurrence(u, f, mask, semiring, return_all=return_all, backend=backend)
    main, loop = encoder.main_weights, encoder.loop_weights
    weight = torch.cat([main, loop], dim=0)  # (2N, D): all w.x, then all v.x + b
    bias = torch.cat([torch.zeros_like(encoder.loop_bias), encoder.loop_bias])
    projection = torch.nn.functional.linear(tokens, weight, bias)
    return kernel_layer(module, projection, lengths, max(lengths), mask, semiring.name, semiring.zero, return_all)


def torch_recurrence(
    u: torch.Tensor,
    f: torch.Tensor,
    mask: Optional[torch.Tensor],
    semiring: Semiring,
    return_all: bool = False,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The PyTorch path: a loop over time of whole-batch elementwise ops.

    Per-step tensors are split once with `unbind` (indexing inside the loop makes backward
    O(T^2), docs/method.md §7).
    """
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
