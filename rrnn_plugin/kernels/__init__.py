"""Compiled kernels for the WFSA recurrence, and the choice between them and the PyTorch path.

- `csrc/`: the C++ CPU kernel and the CUDA kernel (built ahead of time by setup.py), sharing the
  per-step arithmetic in `csrc/wfsa_step.h`.  On CPU the encoder uses the "fused layer": the
  kernel takes the input projection and forms the transition weights itself (~1.1-1.2x the cost
  of the projection alone).
- `function.py`: the kernels as differentiable functions.
- `backend.py`: which implementation runs (encoder `backend`, env RRNN_BACKEND, automatic).
- `denormals.py`: flushing denormal floats in every torch thread, which otherwise slow long
  backward passes 3x.

`python -m rrnn_plugin.kernels` prints which implementation runs on this machine.
"""
from rrnn_plugin.kernels.backend import BACKENDS, KernelFallbackWarning, describe, select
from rrnn_plugin.kernels.function import kernel_recurrence

__all__ = ["BACKENDS", "KernelFallbackWarning", "describe", "kernel_recurrence", "select"]
