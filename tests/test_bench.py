"""The benchmark's arithmetic and report (the timings themselves belong to `make bench`, not tests)."""
import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("bench_kernels", Path(__file__).parents[1] / "bench" / "kernels.py")
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)


def test_line_fit_recovers_a_line():
    fixed, slope = bench._line_fit([(96.0, 4.0 + 96 * 0.05), (20.0, 4.0 + 1.0), (4.0, 4.2)])
    assert slope == pytest.approx(0.05, abs=2e-3) and fixed == pytest.approx(4.0, abs=0.1)
    assert bench._line_fit([(0.0, 1.0), (2.0, 5.0)]) == pytest.approx((1.0, 2.0))


def test_pruned_inference_report_and_target():
    ms = {"96": 4.0, "48": 2.4, "20": 1.4, "8": 0.8, "4": 0.8}
    fixed, slope = bench._line_fit([(float(n), t) for n, t in ms.items()])
    meta = {"command": "bench", "machine": "test", "torch": "2", "threads": 1, "date": "today", "load_before": 0,
            "load_after": 0, "kernel": "none", "flush_denormals": True, "clock": "wall", "seconds": 1}
    results = {"meta": meta, "micro": [], "pruned_inference": {
        "T": 256, "ms": ms, "transitions": {n: int(n) for n in ms}, "ratio": ms["20"] / ms["96"],
        "fixed_ms": fixed, "ms_per_transition": slope, "model_part_ratio": (ms["20"] - fixed) / (ms["96"] - fixed),
    }}
    results["targets"] = bench.check_targets(results)
    text = bench.to_markdown(results)
    assert "Why not proportional" in text and f"{fixed:.2f} ms + {slope * 1000:.1f} us per transition" in text
    [check] = [c for c in results["targets"] if "pruned encoder" in c["target"]]
    assert check["value"] == 0.35 and not check["met"]  # 1.4 / 4.0 > 1.25 x 20/96


def test_targets_say_what_a_kernel_at_the_floor_would_reach():
    row = {"wfsas": 24, "states": 4, "T": 256,
           "ratios": {"cpp_vs_floor_fwdbwd": 1.2, "lstm_vs_cpp_fwdbwd": 2.5, "torch_vs_cpp_fwdbwd": 4.2}}
    checks = {c["target"].split(",")[0]: c for c in bench.check_targets({"micro": [row]})}
    lstm, torch_path = checks[">= 3.0x faster than LSTM(24)"], checks[">= 4.0x the PyTorch path"]
    assert (lstm["met"], lstm["at_floor"]) == (False, 3.0)  # 2.5 x 1.2: LSTM time / floor
    assert (torch_path["met"], torch_path["at_floor"]) == (True, 5.04)
