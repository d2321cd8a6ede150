"""The WFSA recurrence with about 2·sqrt(T) sequential steps instead of T (issue 17, item 4).

The per-step loop of `recurrence.torch_recurrence` launches a few small operations per token: on a
GPU, at long T and small batch x WFSAs, that is latency, not arithmetic.  The recurrence is linear
in the semiring (docs/method.md §1):

    c(t) = M(t) ⊗ c(t-1) ⊕ b(t),   M(t) = diag(f(t)) + subdiag(u_1..S-1(t)),   b(t) = u_0(t) ⊗ one e_0

so, as in the chunked scans of linear RNNs and state-space models, time is cut into chunks of L
steps and

1. inside every chunk, all chunks at once, the recurrence runs from S + 1 starting points: each
   unit vector e_i without the input (giving the columns of the chunk's transfer P(t)) and the zero
   state with the input (giving d(t)), so that for any state `start` at the chunk's start
   c(t) = P(t) ⊗ start ⊕ d(t)  -- L sequential steps, S + 1 times the arithmetic;
2. chunk by chunk, the state at each chunk's start follows from the previous one -- T / L steps;
3. every step's state is P(t) ⊗ start_of_its_chunk ⊕ d(t), all at once.

With L ≈ sqrt(T) that is ~2·sqrt(T) sequential steps (128 at T = 4096).  Padding steps (mask off)
become identity steps (f = one, u = zero), which carry the state exactly as the loop does.  The
result equals the loop's up to floating-point summation order; gradients come from autograd.
"""
import math
from typing import Optional, Tuple

import torch

from rrnn_plugin.modules.semirings import Semiring


def chunk_length(steps: int) -> int:
    """L ≈ sqrt(T), a power of two, at least 4."""
    return max(4, 2 ** round(math.log2(max(1.0, math.sqrt(steps)))))


def chunked_recurrence(
    u: torch.Tensor,
    f: torch.Tensor,
    mask: Optional[torch.Tensor],
    semiring: Semiring,
    return_all: bool = False,
    length: Optional[int] = None,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Same contract as `recurrence.torch_recurrence`: u, f (batch, time, wfsas, states)."""
    batch, steps, wfsas, states = u.shape
    if steps == 0:
        final = u.new_full((batch, wfsas, states), semiring.zero)
        return final, (u.new_full(u.shape, semiring.zero) if return_all else None)
    if mask is not None:  # padding = identity steps
        keep = mask.to(torch.bool)[:, :, None, None]
        u = torch.where(keep, u, torch.full_like(u, semiring.zero))
        f = torch.where(keep, f, torch.full_like(f, semiring.one))
    size = length or chunk_length(steps)
    chunks = -(-steps // size)
    pad = chunks * size - steps
    if pad:
        u = torch.cat([u, u.new_full((batch, pad, wfsas, states), semiring.zero)], dim=1)
        f = torch.cat([f, f.new_full((batch, pad, wfsas, states), semiring.one)], dim=1)
    # (batch, chunks, L, wfsas, 1, states): the column axis (S + 1 starting points) broadcasts
    u = u.view(batch, chunks, size, wfsas, 1, states)
    f = f.view(batch, chunks, size, wfsas, 1, states)
    # (batch, chunks, L or 1, wfsas, S + 1, states): only each chunk's last step unless every step is wanted
    transfer = _inside_chunks(u, f, semiring, states, keep_every_step=return_all)
    starts = _chunk_starts(transfer[:, :, -1], semiring)  # (batch, chunks, wfsas, states)
    if not return_all:
        final = _apply(transfer[:, -1, -1], starts[:, -1], semiring)
        return final, None
    every = _apply(transfer, starts[:, :, None], semiring)  # (batch, chunks, L, wfsas, states)
    every = every.reshape(batch, chunks * size, wfsas, states)[:, :steps]
    return every[:, -1], every


def _inside_chunks(u: torch.Tensor, f: torch.Tensor, semiring: Semiring, states: int,
                   keep_every_step: bool) -> torch.Tensor:
    """Every chunk from the S + 1 starting points at once: columns 0..S-1 start at e_i with no
    input (c_{-1} = zero), column S starts at zero with the input (c_{-1} = one)."""
    batch, chunks, size, wfsas = u.shape[:4]
    eye = torch.full((states + 1, states), semiring.zero, dtype=u.dtype, device=u.device)
    eye[torch.arange(states), torch.arange(states)] = semiring.one
    c = eye.expand(batch, chunks, wfsas, states + 1, states)
    start = torch.full((states + 1, 1), semiring.zero, dtype=u.dtype, device=u.device)
    start[states] = semiring.one
    start = start.expand(batch, chunks, wfsas, states + 1, 1)
    history = []
    for u_t, f_t in zip(u.unbind(2), f.unbind(2)):  # L steps
        previous = torch.cat([start, c[..., :-1]], dim=-1)
        c = semiring.plus(semiring.times(f_t, c), semiring.times(u_t, previous))
        if keep_every_step:
            history.append(c)
    return torch.stack(history, dim=2) if keep_every_step else c.unsqueeze(2)


def _apply(transfer: torch.Tensor, start: torch.Tensor, semiring: Semiring) -> torch.Tensor:
    """P ⊗ start ⊕ d for transfer (..., S + 1, S) = [columns of P; d] and start (..., S)."""
    columns, offset = transfer[..., :-1, :], transfer[..., -1, :]
    through = semiring.sum_states(semiring.times(columns, start.unsqueeze(-1)).transpose(-1, -2))
    return semiring.plus(through, offset)


def _chunk_starts(ends: torch.Tensor, semiring: Semiring) -> torch.Tensor:
    """The state at the start of every chunk, from each chunk's end transfer (batch, chunks,
    wfsas, S + 1, S): T / L sequential steps from c(0) = zero."""
    state = torch.full_like(ends[:, 0, :, -1, :], semiring.zero)
    starts = []
    for end in ends.unbind(1):
        starts.append(state)
        state = _apply(end, state, semiring)
    return torch.stack(starts, dim=1)
