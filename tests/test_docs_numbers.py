"""Numbers quoted in the docs that come from committed results files must match those files
(bench/results.json, bench/protocol_results.json, docs/results.csv)."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SPEED = (ROOT / "docs" / "speed.md").read_text()
BENCH = json.loads((ROOT / "bench" / "results.json").read_text())


def cell(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def fmt(value: float) -> str:
    """The docs' rounding: 3 significant figures, at most 1 decimal above 10."""
    return f"{value:.1f}" if value >= 10 else f"{value:.2g}" if value < 1 else f"{value:.1f}"


def test_speed_table_matches_bench_results():
    rows = [line for line in SPEED.splitlines() if re.match(r"\| \d+ × 4 \| \d+ \|", line)]
    assert len(rows) == len(BENCH["micro"]) == 5
    for line, micro in zip(rows, BENCH["micro"]):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == f"{micro['wfsas']} × {micro['states']}" and cells[1] == str(micro["T"])
        for column, name in zip(cells[2:6], ("projection", "cpp", "torch", "lstm")):
            fwd, fwdbwd = (float(x) for x in column.split(" / "))
            assert fwd == pytest.approx(micro["ms"][name]["fwd"], rel=0.06, abs=0.06), (line, name)
            assert fwdbwd == pytest.approx(micro["ms"][name]["fwdbwd"], rel=0.06, abs=0.06), (line, name)
        ratios = micro["ratios"]
        for column, key in zip(cells[6:9], ("cpp_vs_floor_fwdbwd", "lstm_vs_cpp_fwdbwd", "torch_vs_cpp_fwdbwd")):
            assert float(column.strip("*")) == pytest.approx(ratios[key], abs=0.051), (line, key)


def test_speed_text_numbers_match_bench_results():
    slowdown = BENCH["denormals"]["slowdown_without_flush"]["cpp"]
    assert f"{slowdown:.2f}× slower at T = 1024" in SPEED
    epoch = BENCH["end_to_end"]["train_epoch_s"]
    assert f"{epoch['cpp']:.2f} s per epoch with the kernel, {epoch['torch']:.2f} s with the PyTorch path" in SPEED
    inference = BENCH["end_to_end"]["inference"]
    per_s = [v["docs_per_s_encoder"] / 1000 for v in inference.values()]
    assert f"{per_s[0]:.1f}k" in SPEED and f"{per_s[1]:.1f}k" in SPEED
    pruned = BENCH["pruned_inference"]
    assert f"{pruned['fixed_ms']:.2f} ms + {1000 * pruned['ms_per_transition']:.0f} µs per transition" in SPEED


def test_protocol_bench_numbers_in_the_docs_match_its_results():
    path = ROOT / "bench" / "protocol_results.json"
    if not path.exists():
        pytest.skip("bench/protocol_results.json not committed yet (make bench-protocol)")
    results = json.loads(path.read_text())
    text = (ROOT / "docs" / "speed.md").read_text()
    ratio = results["trial_overhead"]["summary"]["fork"]["median_ratio"]
    assert f"{ratio:.2f}" in text
    assert f"{results['features']['median_ratio']:.2f}" in text


def test_deploy_page_numbers_match_the_inference_bench():
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    readme = (ROOT / "README.md").read_text()
    inference = json.loads((ROOT / "bench" / "inference_results.json").read_text())
    unseen = json.loads((ROOT / "bench" / "unseen_words_results.json").read_text())
    for row in inference["rows"]:
        docs_per_s = f"{row['docs_per_s']:,.0f}"
        assert f"| {docs_per_s} | {row['single_p50_ms']:.2f} |" in deploy, (row["model"], row["path"])
    speedup = f"{inference['targets']['speedup']:.1f}x"
    assert speedup in deploy and speedup in readme
    for row in unseen["rows"]:
        if row["test"].startswith("electronics"):
            assert f"{row['accuracy_training_vocab']:.2f} -> {row['accuracy_with_vectors']:.2f}" in deploy
            assert f"p = {row['mcnemar_p']:.2f}" in deploy
    small, large = unseen["rows"][0]["package_mb"]
    assert f"{small:.2f} MB" in deploy and f"{large:.2f} MB" in deploy
