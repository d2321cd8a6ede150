"""`make gpu-check`'s script (bench/gpu_check.py) on the CPU with small sizes: every path it takes on
a GPU (correctness against the PyTorch path and the CPU kernel, gradcheck, the speed table, the
training epoch, the report) runs here, where no GPU is lent, so the one GPU run is not its first."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rrnn_plugin.kernels import _loader

ROOT = Path(__file__).parents[1]


@pytest.mark.skipif(_loader.load("cpu")[0] is None, reason="the CPU kernel is not built")
def test_gpu_check_runs_every_path_on_the_cpu(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--output", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "gpu_results.json").read_text())
    checks = results["correctness"]
    assert len(checks) == 3 * 2 * 2 * 2 + 3 + 1 and all(c["ok"] for c in checks)
    assert {c["semiring"] for c in checks if "gradcheck" in c["check"]} == {"plus_times", "max_times", "max_plus"}
    assert all({"projection", "kernel", "torch", "chunked", "lstm"} <= set(row["ms"]) for row in results["speed"])
    assert results["epoch"]["epoch_s"] > 0
    assert "## Speed" in (tmp_path / "gpu_results.md").read_text()
