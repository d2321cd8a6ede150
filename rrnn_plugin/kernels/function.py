"""The compiled kernels (C++ on CPU, CUDA on GPU) as differentiable functions, through the
registered operators of `ops.py` (torch.ops.rrnn.*: traceable by torch.compile and torch.export).

- `kernel_recurrence`: the contract of `wfsa_recurrence`, on u and f laid out on the (WFSA,
  state) grid.  Both compiled modules (which `ops.py` registers as operators) expose `forward(u, f, mask, semiring, save_states,
  flush_denormals) -> (final, states)` and `backward(u, f, mask, states, grad_final, grad_states,
  semiring, flush_denormals) -> (grad_u, grad_f)` (see csrc/).
- `kernel_layer` (CPU module only): the encoder's projection in, the same results out; see the
  note above `_layout`.

`states` holds c(t) for every step: the backward needs c(t-1) (the plus-times step cannot be
inverted stably), and `return_all` returns it as is.  For max semirings the backward recomputes
each step's argmax from `states` rather than storing it.
"""
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple

import torch

from rrnn_plugin.kernels import denormals, ops  # noqa: F401  (ops registers torch.ops.rrnn.*)

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


def kernel_recurrence(
    u: torch.Tensor,
    f: torch.Tensor,
    mask: Optional[torch.Tensor],
    semiring: str,
    return_all: bool = False,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Same contract as `rrnn_plugin.modules.recurrence.wfsa_recurrence`, on the compiled kernel of
    the inputs' device (the caller checked with `backend.select` that it exists and takes them)."""
    code = SEMIRING_CODES[semiring]
    u, f = u.contiguous(), f.contiguous()
    if mask is not None:
        mask = mask.to(dtype=torch.bool).contiguous()
    recorded = torch.is_grad_enabled() and (u.requires_grad or f.requires_grad)
    final, states = torch.ops.rrnn.recurrence(u, f, mask, code, return_all or recorded, denormals.enabled())
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


def kernel_layer(
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
    layout = _layout.__wrapped__ if torch.compiler.is_compiling() else _layout  # dynamo skips lru_cache
    offsets, grid_index = layout(tuple(int(n) for n in lengths), int(width))
    projection = projection.contiguous()
    if mask is not None:
        mask = mask.to(dtype=torch.bool).contiguous()
    recorded = torch.is_grad_enabled() and projection.requires_grad
    final, states = torch.ops.rrnn.layer(projection, offsets, mask, code, width, return_all or recorded,
                                         denormals.enabled())
    if not return_all:
        return final, None
    batch, steps, _ = states.shape
    grid = states.new_full((batch, steps, len(lengths) * width), zero).index_copy(-1, grid_index, states)
    return final, grid.view(batch, steps, len(lengths), width)
