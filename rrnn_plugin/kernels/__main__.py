"""`python -m rrnn_plugin.kernels [--check]`: which WFSA recurrence implementation runs here.

Prints one line per device type (CUDA only where torch sees a GPU), the RRNN_BACKEND setting and
the denormal setting.  `--check` exits with status 1 when the CPU kernel is unavailable, for
scripts that want to insist on it.
"""
import argparse
import os
import sys

import torch

from rrnn_plugin.kernels import _loader, backend, denormals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the CPU kernel is unavailable")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda or 'none'}), "
          f"RRNN_BACKEND={os.environ.get(backend.ENV_VAR, '') or '(unset: auto)'}, "
          f"flush denormals: {'on' if denormals.enabled() else 'off'}")
    device_types = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device_type in device_types:
        print("  " + backend.describe(device_type))
    cpu_module, _ = _loader.load("cpu")
    return 1 if args.check and cpu_module is None else 0


if __name__ == "__main__":
    sys.exit(main())
