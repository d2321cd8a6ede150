#!/usr/bin/env bash
# make gpu-check [GPU_PYTHON=python3]: build the kernels for a Python whose torch is a CUDA build,
# then run bench/gpu_check.py with it (arguments after the first go to gpu_check.py).
#   bench/gpu_check.sh                  # .venv-cuda (make cuda-build: torch 2.14.1+cu130)
#   bench/gpu_check.sh python3          # a machine's own CUDA torch (the lent H200s: torch 2.11+cu130)
#   bench/gpu_check.sh PY --device cpu --quick   # a dry run without a GPU
# Builds outside the checkout (a fresh temporary folder), so the checkout's own CPU kernel, built
# for .venv's torch, is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-}"
shift || true
if [ -z "$python" ]; then
    make cuda-build
    exec .venv-cuda/bin/python bench/gpu_check.py "$@"
fi
nvcc_path="$(command -v nvcc)" || { echo "gpu_check.sh: nvcc not found"; exit 1; }
cuda_home="$(cd "$(dirname "$nvcc_path")/.." && pwd)"
[ -d "$cuda_home/cuda/lib64" ] && cuda_home="$cuda_home/cuda"
build="$(mktemp -d /tmp/rrnn-gpu-build.XXXXXX)"
arch="$("$python" -c 'import torch; c = torch.cuda.get_device_capability() if torch.cuda.is_available() else (9, 0); print(f"{c[0]}.{c[1]}")')"
echo "gpu_check.sh: building the kernels for $("$python" -c 'import torch; print(torch.__version__)') (sm ${arch}) in $build"
CUDA_HOME="$cuda_home" TORCH_CUDA_ARCH_LIST="$arch" MAX_JOBS="${MAX_JOBS:-8}" \
    "$python" setup.py -q build --build-base "$build" >"$build/build.log" 2>&1 || { tail -40 "$build/build.log"; exit 1; }
grep -q "not built" "$build/build.log" && { grep -B20 "not built" "$build/build.log" | tail -40; exit 1; }
export PYTHONPATH="$(ls -d "$build"/lib.*)"
exec "$python" bench/gpu_check.py "$@"
