"""Finds the compiled kernels (built ahead of time by setup.py) and remembers why one is missing.

Imported lazily, on the first recurrence that could use them, and once per process: the result is
cached so that a failed import costs (and warns) once.  Anything that goes wrong while importing
(not built, built against another torch, missing symbols) means "not available", never an error
at this point; `backend="cpp"` turns it into one (see backend.py).
"""
import importlib
from types import ModuleType
from typing import Dict, Optional, Tuple

# compiled module per device type; names must match setup.py
MODULES = {"cpu": "rrnn_plugin.kernels._wfsa_cpu", "cuda": "rrnn_plugin.kernels._wfsa_cuda"}
KERNEL_VERSION = 2  # = RRNN_KERNEL_VERSION in csrc/version.h

_cache: Dict[str, Tuple[Optional[ModuleType], Optional[str]]] = {}


def load(device_type: str) -> Tuple[Optional[ModuleType], Optional[str]]:
    """(module, None) if the kernel for `device_type` imports, else (None, reason)."""
    if device_type not in _cache:
        name = MODULES.get(device_type)
        if name is None:
            _cache[device_type] = (None, f"no kernel for device type {device_type!r}")
        else:
            try:
                module = importlib.import_module(name)
            except Exception as error:  # ImportError, OSError (bad .so), undefined symbols, ...
                _cache[device_type] = (None, f"{type(error).__name__}: {error}")
            else:
                version = getattr(module, "KERNEL_VERSION", None)
                if version != KERNEL_VERSION:
                    _cache[device_type] = (None, f"{module.__file__} is stale (interface version {version}, "
                                                 f"expected {KERNEL_VERSION})")
                else:
                    _cache[device_type] = (module, None)
    return _cache[device_type]


def reset() -> None:
    """Forget cached import results (tests simulate a failed import with this)."""
    _cache.clear()
