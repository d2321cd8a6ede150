"""Flushing denormal floats to zero, so that long documents do not slow the backward pass.

Backward gradients shrink like products of self-loop weights f < 1 and enter the float32
denormal range ~100-200 steps back; arithmetic on denormals is 10-100x slower on x86 (docs/method.md
section 7).  Measured here (B=32, T=256, one thread): encoder fwd+bwd 58 ms unflushed, 20 ms
flushed.  Most of that time is NOT in the recurrence but in the projection's weight-gradient GEMM
(it multiplies those tiny gradients with the inputs), which runs on torch's OpenMP threads, and
the flush mode is a per-THREAD CPU setting.  So flushing has to reach every one of them:

- `ensure()` (called by every recurrence) turns flushing on for the calling thread and its whole
  OpenMP team through the C++ module's `set_flush_denormals`, once per thread and thread count;
  without the C++ module it falls back to `torch.set_flush_denormal` (calling thread only);
- the C++ kernel additionally sets it inside its own parallel region, per task.

It changes results only below 1.2e-38 (float32) / 2.2e-308 (float64), far under float32
rounding of anything that matters.  It is a process-wide setting of torch's threads from the
first recurrence on, like `torch.set_flush_denormal(True)` would be if it reached all threads.
`RRNN_FLUSH_DENORMALS=0` (or `set_enabled(False)`) turns it off, e.g. to measure what it buys.
"""
import os
import threading
from typing import Optional, Set, Tuple

import torch

from rrnn_plugin.kernels import _loader

ENV_VAR = "RRNN_FLUSH_DENORMALS"
_override: Optional[bool] = None
_applied: Set[Tuple[int, int, bool]] = set()  # (thread id, torch threads, on)


def enabled() -> bool:
    """Whether the recurrences flush denormals (default: yes)."""
    if _override is not None:
        return _override
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "false", "no", "off")


def set_enabled(flag: Optional[bool]) -> None:
    """Force flushing on or off for this process; None goes back to the environment variable."""
    global _override
    _override = flag


def thread_flushes() -> bool:
    """Whether the calling thread flushes denormals now (torch has a setter but no getter)."""
    tiny = torch.full((1,), 1e-30, dtype=torch.float32) * 1e-9  # 1e-39: a float32 denormal
    return tiny.item() == 0.0


def ensure() -> None:
    """Apply the current setting to this thread and its OpenMP team (cheap when already done).

    "Off" is applied only where this module turned flushing on before, so a caller's own
    `torch.set_flush_denormal(True)` is never undone.  Skipped while torch.compile/export traces:
    the first eager call (or the caller) sets the thread up.
    """
    if torch.compiler.is_compiling():  # a per-thread side effect, not part of a traced graph
        return
    on = enabled()
    thread = threading.get_ident()
    key = (thread, torch.get_num_threads(), on)
    if key in _applied:
        return
    if not on and not any(t == thread and was_on for t, _, was_on in _applied):
        return
    module, _ = _loader.load("cpu")
    if module is not None and hasattr(module, "set_flush_denormals"):
        module.set_flush_denormals(on)
    else:
        torch.set_flush_denormal(on)
    _applied.difference_update({k for k in _applied if k[0] == thread})
    _applied.add(key)


def forget() -> None:
    """Make the next `ensure()` apply the setting again (tests)."""
    _applied.clear()
