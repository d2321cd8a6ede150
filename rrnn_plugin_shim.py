"""Start-up hook that lets the `allennlp` command start without torchvision.

AllenNLP 2.10.1 imports `torchvision` at module level in `allennlp.data.image_loader`, and
`allennlp.data` imports that module, so every `allennlp` command needs *some* `torchvision`
module before any plugin is loaded.  PyPI's torchvision is a CUDA build that does not load next
to the CPU torch 2.13.0 we use, and a matching real one costs 5.5 GB.  Our plugin uses none of
AllenNLP's vision code, so we install (through `rrnn_plugin_shim.pth`, read by Python at start-up)
a meta-path finder placed *last* on `sys.meta_path`: it is consulted only when no real
torchvision is installed, and then provides a placeholder module whose attributes raise a clear
error.  A real torchvision, if present, always wins.

This module must stay tiny and import nothing heavy: it runs in every Python start-up of the venv.
"""
import importlib.abc
import importlib.machinery
import sys
import types

_MESSAGE = (
    "torchvision is not installed in this environment; rrnn_plugin provides a placeholder so "
    "that AllenNLP starts, but AllenNLP's vision modules need the real package "
    "(e.g. `pip install torch==2.14.1 torchvision==0.29.1`)."
)


class _PlaceholderModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"torchvision.{name}: {_MESSAGE}")


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        module = _PlaceholderModule(spec.name)
        module.__rrnn_placeholder__ = True
        return module

    def exec_module(self, module) -> None:
        pass


class TorchvisionFallbackFinder(importlib.abc.MetaPathFinder):
    """Provides a placeholder top-level `torchvision` only when no real one is found."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            # A package, so that `import torchvision.ops.boxes` (done at import time by AllenNLP's
            # vision modules) succeeds; any attribute use then raises the clear error above.
            return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=True)
        return None


def install() -> None:
    if not any(isinstance(f, TorchvisionFallbackFinder) for f in sys.meta_path):
        sys.meta_path.append(TorchvisionFallbackFinder())


def write_pth(site_dir: str) -> str:
    """Write `rrnn_plugin_shim.pth` into `site_dir` (used for editable installs)."""
    import os

    path = os.path.join(site_dir, "rrnn_plugin_shim.pth")
    with open(path, "w") as f:
        f.write(PTH_LINE)
    return path


PTH_LINE = "import rrnn_plugin_shim; rrnn_plugin_shim.install()\n"

if __name__ == "__main__":
    import sysconfig

    print(write_pth(sysconfig.get_paths()["purelib"]))
