"""The compiled kernels (C++ on CPU, CUDA on GPU) as differentiable functions.

- `kernel_recurrence`: the contract of `wfsa_recurrence`, on u and f laid out on the (WFSA,
  state) grid.  Both compiled modules expose `forward(u, f, mask, semiring, save_states,
  flush_denormals) -> (final, states)` and `backward(u, f, mask, states, grad_final, grad_states,
  semiring, flush_denormals) -> (grad_u, grad_f)` (see csrc/).
- `kernel_layer` (CPU module only): the encoder's projection in, the same results out; see the
  note above `_layout`.

`states` holds c(t) for every step: the backward needs c(t-1) (the plus-times step cannot be
inverted stably), and `return_all` returns it as is.  For max semirings the backward recomputes
each step's argmax from `states` rather than storing it.
"""
from functools import lru_cache
from types import ModuleType
from typing import List, Optional, Sequence, Tuple

import torch
from torch.autograd.function import once_differentiable

from rrnn_plugin.kernels import denormals

SEMIRING_CODES = {"plus_times": 0, "max_times": 1, "max_plus": 2}  # = rrnn::SemiringCode
DTYPES = (torch.float32, torch.float64)


def unsupported_reason(
    tensors: Sequence[torch.Tensor], mask: Optional[torch.Tensor], semiring: str
) -> Optional[str]:
    """Why the kernels cannot take these inputs (None if they can)."""
    if semiring not in SEMIRING_CODES:
        return f"semiring {semiring!r} has no kernel"
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) != 1 or not dtypes <= set(DTYPES):
        return f"dtypes {sorted(map(str, dtypes))} (kernels take float32 or float64, one for all inputs)"
    devices = {t.device for t in tensors} | ({mask.device} if mask is not None else set())
    if len(devices) != 1:
        return "inputs on different devices"
    return None


class _KernelRecurrence(torch.autograd.Function):
    """Used only when a gradient is needed; inference calls the module directly."""

    @staticmethod
    def forward(ctx, u, f, mask, code: int, return_all: bool, flush: bool, module: ModuleType):
        final, states = module.forward(u, f, mask, code, True, flush)
        ctx.module, ctx.code, ctx.flush = module, code, flush
        ctx.save_for_backward(u, f, mask, states)
        ctx.set_materialize_grads(False)  # an unused output's gradient stays None, not zeros
        if return_all:
            return final, states
        return final

    @staticmethod
    @once_differentiable  # the C++ backward is not itself differentiable: say so if asked
    def backward(ctx, grad_final, grad_states=None):
        u, f, mask, states = ctx.saved_tensors
        grad_final = grad_final.contiguous() if grad_final is not None else None
        grad_states = grad_states.contiguous() if grad_states is not None else None
        grad_u, grad_f = ctx.module.backward(u, f, mask, states, grad_final, grad_states, ctx.code, ctx.flush)
        return (
            grad_u if ctx.needs_input_grad[0] else None,
            grad_f if ctx.needs_input_grad[1] else None,
            None, None, None, None, None,
        )


def kernel_recurrence(
    module: ModuleType,
    u: torch.Tensor,
    f: torch.Tensor,
    mask: Optional[torch.Tensor],
    semiring: str,
    return_all: bool = False,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Same contract as `rrnn_plugin.modules.recurrence.wfsa_recurrence`, on a compiled module."""
    code = SEMIRING_CODES[semiring]
    u, f = u.contiguous(), f.contiguous()
    if mask is not None:
        mask = mask.to(dtype=torch.bool).contiguous()
    flush = denormals.enabled()
    if torch.is_grad_enabled() and (u.requires_grad or f.requires_grad):
        out = _KernelRecurrence.apply(u, f, mask, code, return_all, flush, module)
        return (out[0], out[1]) if return_all else (out, None)
    final, states = module.forward(u, f, mask, code, return_all, flush)
    return final, (states if return_all else None)


# ----- fused layer (CPU module only): projection -> u, f -> recurrence ------------------------------
# The encoder's elementwise work around the recurrence (sigmoid, (1 - f), scattering onto the grid,
# and all their backward passes) costs more than the recurrence itself; doing it inside the kernel
# is what brings the encoder to about the cost of its input projection (docs/method.md §7).


@lru_cache(maxsize=64)
def _layout(lengths: Tuple[int, ...], width: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(offsets (K + 1,), grid position k * width + j of every flat state) for these lengths."""
    offsets: List[int] = [0]
    for n in lengths:
        offsets.append(offsets[-1] + n)
    grid = [k * width + j for k, n in enumerate(lengths) for j in range(n)]
    return torch.tensor(offsets, dtype=torch.long), torch.tensor(grid, dtype=torch.long)


class _KernelLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, projection, offsets, mask, code: int, width: int, return_all: bool, flush: bool, module):
        final, states = module.layer_forward(projection, offsets, mask, code, width, True, flush)
        ctx.module, ctx.code, ctx.width, ctx.flush = module, code, width, flush
        ctx.save_for_backward(projection, offsets, mask, states)
        ctx.set_materialize_grads(False)
        if return_all:
            return final, states
        return final

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_final, grad_states=None):
        projection, offsets, mask, states = ctx.saved_tensors
        grad_final = grad_final.contiguous() if grad_final is not None else None
        grad_states = grad_states.contiguous() if grad_states is not None else None
        grad_projection = ctx.module.layer_backward(
            projection, offsets, mask, states, grad_final, grad_states, ctx.code, ctx.width, ctx.flush
        )
        return grad_projection, None, None, None, None, None, None, None


def kernel_layer(
    module: ModuleType,
    projection: torch.Tensor,
    lengths: Sequence[int],
    width: int,
    mask: Optional[torch.Tensor],
    semiring: str,
    zero: float,
    return_all: bool = False,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """projection (B, T, 2N): [w.x for the N states, v.x + b for the N states], states in flat order.

    Returns what `wfsa_recurrence` returns for the same layer: final scores on the (WFSA, state)
    grid of width `width`, and with `return_all` every step's scores on that grid.
    """
    code = SEMIRING_CODES[semiring]
    offsets, grid_index = _layout(tuple(int(n) for n in lengths), int(width))
    projection = projection.contiguous()
    if mask is not None:
        mask = mask.to(dtype=torch.bool).contiguous()
    flush = denormals.enabled()
    if torch.is_grad_enabled() and projection.requires_grad:
        out = _KernelLayer.apply(projection, offsets, mask, code, width, return_all, flush, module)
        final, states = (out[0], out[1]) if return_all else (out, None)
    else:
        final, states = module.layer_forward(projection, offsets, mask, code, width, return_all, flush)
    if not return_all:
        return final, None
    batch, steps, _ = states.shape
    grid = states.new_full((batch, steps, len(lengths) * width), zero).index_copy(-1, grid_index, states)
    return final, grid.view(batch, steps, len(lengths), width)
