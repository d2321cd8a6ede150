"""Finds the compiled kernels (built ahead of time by setup.py) and remembers why one is missing.

Imported once per process, when rrnn_plugin.kernels is imported (ops.py: torch.compile cannot trace
the file checks below): the result is cached so that a failed import costs (and warns) once.  Anything that goes wrong while importing
(not built, built against another torch, missing symbols) means "not available", never an error
at this point; `backend="cpp"` turns it into one (see backend.py).
"""
import importlib
import importlib.util
import os
import struct
import sys
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
            problem = _file_problem(name)
            if problem is not None:
                _cache[device_type] = (None, problem)
                return _cache[device_type]
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


def _file_problem(name: str) -> Optional[str]:
    """Why the compiled file of module `name` cannot be loaded safely, found without loading it.

    A truncated or overwritten shared library is not an ImportError: the dynamic loader maps it and
    the process dies with SIGBUS when it touches the missing pages.  So the ELF header is checked
    first: every loadable segment and the section table must lie inside the file.
    """
    if name in sys.modules:  # loaded already (or stubbed): the import below decides
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    if spec is None or not spec.origin or not spec.origin.endswith(".so"):
        return None  # not built: the import reports it
    path = spec.origin
    try:
        with open(path, "rb") as handle:
            data = handle.read(64)
            size = os.fstat(handle.fileno()).st_size
            if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
                return f"{path} is not a 64-bit little-endian ELF shared library"
            phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
            phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
            if shoff + shentsize * shnum > size or phoff + phentsize * phnum > size:
                return f"{path} is truncated ({size} bytes; its headers need more): rebuild it (make)"
            handle.seek(phoff)
            table = handle.read(phentsize * phnum)
            for k in range(phnum):
                p_type, _, p_offset = struct.unpack_from("<IIQ", table, k * phentsize)
                p_filesz = struct.unpack_from("<Q", table, k * phentsize + 0x20)[0]
                if p_type == 1 and p_offset + p_filesz > size:  # PT_LOAD beyond the end
                    return f"{path} is truncated ({size} bytes, a segment ends at {p_offset + p_filesz}): rebuild it (make)"
    except OSError as error:
        return f"{path}: {error}"
    return None


def reset() -> None:
    """Forget cached import results (tests simulate a failed import with this)."""
    _cache.clear()
