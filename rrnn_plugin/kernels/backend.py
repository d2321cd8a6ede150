"""Which implementation of the recurrence runs: a compiled kernel or the vectorized PyTorch path.

Precedence: the encoder's `backend` argument ("cpp" or "torch") > the RRNN_BACKEND environment
variable (read when the argument is "auto", the default) > automatic choice.  Automatic means the
compiled kernel for the tensors' device (C++ on CPU, CUDA on GPU) when it imports and supports the
inputs, else the PyTorch path.  A kernel that was expected but does not import gives ONE warning
per process and device type; forcing "cpp" without a usable kernel is an error instead.
The choice made is logged once at INFO level (it appears in `allennlp train` logs), and
`python -m rrnn_plugin.kernels` prints what would run.
"""
import logging
import os
import warnings
from types import ModuleType
from typing import Optional, Sequence, Set, Tuple

import torch

from rrnn_plugin.kernels import _loader
from rrnn_plugin.kernels.function import unsupported_reason

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "cpp", "torch")
ENV_VAR = "RRNN_BACKEND"
REBUILD_HINT = (
    "rebuild with `pip install --no-deps --no-build-isolation -e .` (or `python setup.py build_ext --inplace`)"
)

_warned: Set[str] = set()
_logged: Set[Tuple[str, str]] = set()


class KernelFallbackWarning(UserWarning):
    """The compiled kernel could not be loaded; the (slower) PyTorch path runs instead."""


def check_backend(name: str, source: str = "backend") -> str:
    if name not in BACKENDS:
        raise ValueError(f"{source} must be one of {list(BACKENDS)}, got {name!r}")
    return name


def requested(backend: str = "auto") -> str:
    """The encoder's setting, with RRNN_BACKEND deciding when that setting is "auto"."""
    check_backend(backend)
    if backend != "auto":
        return backend
    from_env = os.environ.get(ENV_VAR, "").strip().lower()
    return check_backend(from_env, f"environment variable {ENV_VAR}") if from_env else "auto"


def select(
    backend: str,
    tensors: Sequence[torch.Tensor],
    mask: Optional[torch.Tensor],
    semiring: str,
    entry: str = "forward",
) -> Optional[ModuleType]:
    """The compiled module to run `tensors` on, or None for the PyTorch path.

    `entry` is the module function the caller needs: "forward" (grid recurrence, every kernel) or
    "layer_forward" (the fused layer, CPU only).  A kernel without that entry gives None silently:
    the caller then takes its grid route, which applies the rules above again.
    """
    choice = requested(backend)
    device_type = tensors[0].device.type
    if choice == "torch":
        _log_once(device_type, "torch", "PyTorch path (forced)")
        return None
    module, load_error = _loader.load(device_type)
    unsupported = unsupported_reason(tensors, mask, semiring)
    if module is not None and not hasattr(module, entry):
        return None
    if choice == "cpp":
        if module is None:
            raise RuntimeError(f"backend 'cpp' was requested but the {device_type} kernel is unavailable "
                               f"({load_error}); {REBUILD_HINT}, or use backend 'auto' or 'torch'")
        if unsupported is not None:
            raise RuntimeError(f"backend 'cpp' was requested but the kernel cannot take these inputs: {unsupported}")
    elif module is None:
        _warn_once(device_type, load_error)
        return None
    elif unsupported is not None:
        return None  # e.g. half precision: the PyTorch path handles it, nothing is broken
    _log_once(device_type, "cpp", f"compiled kernel {module.__file__}")
    return module


def describe(device_type: str = "cpu", backend: str = "auto") -> str:
    """One line: what a recurrence on `device_type` would run, and why."""
    choice = requested(backend)
    module, load_error = _loader.load(device_type)
    if choice == "torch":
        return f"{device_type}: PyTorch path (forced by {'RRNN_BACKEND' if backend == 'auto' else 'config'})"
    if module is None:
        verdict = "ERROR, forced 'cpp' but" if choice == "cpp" else "PyTorch path (fallback):"
        return f"{device_type}: {verdict} kernel unavailable ({load_error})"
    return f"{device_type}: compiled kernel ({module.__file__})"


def reset() -> None:
    """Forget imports, warnings and log lines (tests)."""
    _loader.reset()
    _warned.clear()
    _logged.clear()


def _warn_once(device_type: str, load_error: Optional[str]) -> None:
    if device_type in _warned or torch.compiler.is_compiling():
        return
    _warned.add(device_type)
    warnings.warn(
        f"rrnn_plugin: the compiled {device_type} kernel for the WFSA recurrence is unavailable ({load_error}); "
        f"using the slower PyTorch path. To fix, {REBUILD_HINT}; to silence, set {ENV_VAR}=torch.",
        KernelFallbackWarning,
        stacklevel=4,
    )


def _log_once(device_type: str, choice: str, what: str) -> None:
    if torch.compiler.is_compiling():  # logging breaks a torch.compile graph; eager calls log it
        return
    if (device_type, choice) not in _logged:
        _logged.add((device_type, choice))
        logger.info("WFSA recurrence on %s: %s", device_type, what)
