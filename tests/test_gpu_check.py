"""`make gpu-check`'s script (bench/gpu_check.py) on the CPU with small sizes: every path it takes on
a GPU (correctness against the PyTorch path and the CPU kernel, gradcheck, the speed table, the
training epoch, the report) runs here, where no GPU is lent, so the one GPU run is not its first."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rrnn_plugin.kernels import _loader

ROOT = Path(__file__).parents[1]
_SPEC = importlib.util.spec_from_file_location("bench_gpu_check", ROOT / "bench" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(gpu_check)


def _row(steps, batch=32, loop_vs_chunked=None, floor=1.2, lstm=1.5):
    row = {"T": steps, "B": batch, "kernel_vs_floor_fwdbwd": floor, "lstm_vs_kernel_fwdbwd": lstm}
    if loop_vs_chunked is not None:
        row["loop_vs_chunked_fwdbwd"] = loop_vs_chunked
    return row


def test_chunked_from_is_the_first_length_from_which_chunked_always_wins():
    rows = [_row(256, 32, 1.3), _row(256, 256, 0.8), _row(1024, 32, 2.0), _row(1024, 256, 1.1), _row(4096, 32, 3.0)]
    assert gpu_check.chunked_from(rows) == 1024
    rows.append(_row(4096, 256, 0.9))  # losing at the longest length: no threshold holds
    assert gpu_check.chunked_from(rows) is None
    assert gpu_check.chunked_from([_row(256)]) is None  # neither PyTorch form timed


def test_targets_are_not_judged_on_shapes_that_do_not_test_them():
    assert all(v.startswith("not measured") for v in gpu_check.targets([_row(1024)], gpu_check.torch.device("cpu")).values())
    assert gpu_check.targets([_row(256, floor=9.0)])["floor"].startswith("not measured")
    assert gpu_check.targets([_row(1024, floor=1.4), _row(4096, floor=1.5)])["floor"] == "met"
    assert gpu_check.targets([_row(1024, floor=1.6)])["floor"] == "not met"
    assert gpu_check.targets([_row(256, lstm=1.1), _row(1024, lstm=0.9)])["lstm"] == "not met"


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
    assert results["targets"]["floor"].startswith("not measured") and results["chunked_from"] is None  # no GPU
    report = (tmp_path / "gpu_results.md").read_text()
    assert "## Speed" in report and "CHUNKED_MIN_STEPS" in report
