"""The WFSA recurrence, vectorized over batch, WFSAs and states (method.md §1).

    c_j(t) = f_j(t) ⊗ c_j(t-1)  ⊕  u_j(t) ⊗ c_{j-1}(t-1),     c_0 ≡ one,  c_j(0) = zero

Inputs are already laid out on a (WFSA, state) grid; states beyond a WFSA's length carry u = zero,
so they stay at zero and never contribute.  The time loop is the only sequential part.  Per-step
tensors are split once with `unbind` (indexing inside the loop makes backward O(T^2), method.md §7).
Masked (padding) steps carry the state unchanged, so the final state is the state after the last
real token whatever the padding side.
"""
from typing import Optional, Tuple

import torch

from rrnn_plugin.modules.semirings import Semiring


def wfsa_recurrence(
    u: torch.Tensor,
    f: torch.Tensor,
    mask: Optional[torch.Tensor],
    semiring: Semiring,
    return_all: bool = False,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """
    u, f: (batch, time, num_wfsas, max_states); mask: (batch, time) bool or None.

    Returns the final state scores (batch, num_wfsas, max_states) and, if `return_all`,
    the scores after every step (batch, time, num_wfsas, max_states).
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
    return c, (torch.stack(history, dim=1) if return_all else None)
