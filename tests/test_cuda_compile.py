"""Compile-only checks of the CUDA kernel with nvcc (issue 17): no GPU needed.

1. The device code (csrc/wfsa_cuda_kernels.cuh, which needs no ATen) with every kernel
   instantiated for every semiring and dtype: runs wherever nvcc is on PATH, as on this project's
   machines and CI, so a CUDA syntax or template error cannot land unseen.  A deliberately broken
   copy must fail, so the check is known to catch errors.
2. The whole translation unit wfsa_cuda.cu against the headers of a CUDA build of torch, where
   `make cuda-build` has made `.venv-cuda/` (skipped otherwise, saying so).
"""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
CSRC = ROOT / "rrnn_plugin" / "kernels" / "csrc"
NVCC = shutil.which("nvcc")
CUDA_VENV_PYTHON = ROOT / ".venv-cuda" / "bin" / "python"
ARCH = "sm_90"  # one architecture is enough for a compile check (H100/H200 class)

needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH (CUDA toolkit not installed)")


def _nvcc(source: Path, out: Path, csrc: Path = CSRC) -> subprocess.CompletedProcess:
    command = [NVCC, "-std=c++17", f"-arch={ARCH}", "-c", str(source), "-o", str(out), f"-I{csrc}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@needs_nvcc
def test_device_code_compiles_for_every_semiring_and_dtype(tmp_path):
    done = _nvcc(ROOT / "tests" / "cuda" / "instantiate_kernels.cu", tmp_path / "kernels.o")
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "kernels.o").stat().st_size > 0


@needs_nvcc
def test_the_check_catches_a_broken_kernel(tmp_path):
    broken = tmp_path / "csrc"
    shutil.copytree(CSRC, broken)
    header = broken / "wfsa_cuda_kernels.cuh"
    header.write_text(header.read_text().replace("step_forward<SR>(", "step_forward<SR, int, float>(", 1))
    source = tmp_path / "instantiate.cu"
    source.write_text((ROOT / "tests" / "cuda" / "instantiate_kernels.cu").read_text())
    done = _nvcc(source, tmp_path / "x.o", csrc=broken)
    assert done.returncode != 0 and "error" in done.stderr


def _cuda_torch_includes():
    if not CUDA_VENV_PYTHON.exists():
        return None
    probe = "from torch.utils.cpp_extension import include_paths; print('\\n'.join(include_paths(device_type='cuda')))"
    done = subprocess.run([str(CUDA_VENV_PYTHON), "-c", probe], capture_output=True, text=True, timeout=300)
    return done.stdout.split() if done.returncode == 0 else None


@needs_nvcc
def test_whole_cuda_translation_unit_compiles_against_cuda_torch(tmp_path):
    includes = _cuda_torch_includes()
    if includes is None:
        pytest.skip("no CUDA build of torch: run `make cuda-build` to make .venv-cuda/")
    command = [NVCC, "-std=c++20", f"-arch={ARCH}", "-c", str(CSRC / "wfsa_cuda.cu"), "-o", str(tmp_path / "cuda.o"),
               f"-I{CSRC}", *[f"-I{path}" for path in includes], "-DTORCH_EXTENSION_NAME=_wfsa_cuda",
               "--expt-relaxed-constexpr", "-D_GLIBCXX_USE_CXX11_ABI=1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
