"""Trials (experiments/trial.py, runs.train): a forked or fresh child trains, keeps every test
prediction, gives the same result either way, and dies with the worker that started it."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rrnn_plugin.dataset_readers import BlitzerReviewsReader
from rrnn_plugin.experiments.runs import LOG_SUFFIX, RunFailed, train
from rrnn_plugin.experiments.trial import PREDICTIONS_FILE, read_predictions

FIXTURES = Path(os.environ["RRNN_FIXTURES"])
CONFIG = str(FIXTURES / "rational_classifier.jsonnet")
FOLD = {"evaluate_on_test": True, "dataset_reader.folds": 4, "dataset_reader.fold": 1, "test_data_path": str(FIXTURES / "blitzer/kitchen#test"),
        "random_seed": 3, "numpy_seed": 3, "pytorch_seed": 3}


def test_a_trial_keeps_every_test_prediction(tmp_path):
    result = train(CONFIG, str(tmp_path / "run"), FOLD, threads=1)
    rows = read_predictions(str(tmp_path / "run"))
    reader = BlitzerReviewsReader(split_fractions=(0.6, 0.2, 0.2), folds=4, fold=1)
    assert [r["id"] for r in rows] == reader.example_ids(FIXTURES / "blitzer/kitchen#test")
    labels = {r.review_id: r.label for r in reader.reviews(FIXTURES / "blitzer/kitchen#test")}
    assert all(r["gold"] == labels[r["id"]] for r in rows)
    assert all(r["predicted"] in ("positive", "negative") and 0.5 <= float(r["probability"]) <= 1 for r in rows)
    correct = sum(r["gold"] == r["predicted"] for r in rows)
    assert correct / len(rows) == pytest.approx(result.test_accuracy)  # the metric AllenNLP computed


def test_forked_and_fresh_children_train_the_same_model(tmp_path, monkeypatch):
    forked = train(CONFIG, str(tmp_path / "forked"), FOLD, threads=1)
    monkeypatch.setenv("RRNN_TRIAL_START", "subprocess")
    fresh = train(CONFIG, str(tmp_path / "fresh"), FOLD, threads=1)
    assert "trial (subprocess)" in (tmp_path / ("fresh" + LOG_SUFFIX)).read_text()
    assert "trial (fork)" in (tmp_path / ("forked" + LOG_SUFFIX)).read_text()
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("forked", "fresh")]
    for key in ("best_validation_accuracy", "test_accuracy", "test_loss", "best_validation_loss"):
        assert metrics[0][key] == metrics[1][key], key
    assert read_predictions(str(tmp_path / "forked")) == read_predictions(str(tmp_path / "fresh"))
    assert forked.test_accuracy == fresh.test_accuracy


def test_a_run_stopped_before_its_predictions_only_writes_them(tmp_path):
    """metrics.json is written before the predictions: a trial stopped in between must not count
    as done without them, nor train again (the reviews it would test are the same)."""
    run = tmp_path / "run"
    first = train(CONFIG, str(run), FOLD, threads=1)
    expected = read_predictions(str(run))
    (run / PREDICTIONS_FILE).unlink()
    trained = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()}
    again = train(CONFIG, str(run), FOLD, threads=1)
    assert read_predictions(str(run)) == expected
    assert again.test_accuracy == first.test_accuracy and again.duration_s is not None
    assert {name: (run / name).stat().st_mtime_ns for name in trained} == trained  # nothing retrained


def test_a_run_stopped_while_archiving_trains_again(tmp_path):
    """AllenNLP writes metrics.json before model.tar.gz: without a whole archive there is nothing to
    predict with, so the run is cleared and trained again rather than failing on every retry."""
    run = tmp_path / "run"
    first = train(CONFIG, str(run), FOLD, threads=1)
    expected = read_predictions(str(run))
    (run / PREDICTIONS_FILE).unlink()
    archive = run / "model.tar.gz"
    archive.write_bytes(archive.read_bytes()[:1000])  # cut short
    again = train(CONFIG, str(run), FOLD, threads=1)
    assert read_predictions(str(run)) == expected and again.test_accuracy == first.test_accuracy  # same seeds


def test_a_failing_trial_raises_with_its_log(tmp_path):
    with pytest.raises(RunFailed, match="exited with 1") as info:
        train(CONFIG, str(tmp_path / "bad"), {**FOLD, "dataset_reader.fold": 9}, threads=1)
    assert "fold must be an integer in 0 .. 3" in str(info.value)
    assert not (tmp_path / "bad" / PREDICTIONS_FILE).exists()


WORKER = """
import sys
from rrnn_plugin.experiments.runs import train
train(sys.argv[1], sys.argv[2], {"trainer.num_epochs": 100000, "trainer.patience": None})
"""


def test_a_killed_worker_takes_its_trial_with_it(tmp_path):
    run_dir = tmp_path / "long"
    worker = subprocess.Popen([sys.executable, "-c", WORKER, CONFIG, str(run_dir)])
    log = Path(str(run_dir) + LOG_SUFFIX)
    child = None
    deadline = time.time() + 60
    while child is None and time.time() < deadline:
        time.sleep(0.2)
        if log.exists():
            lines = [l for l in log.read_text().splitlines() if l.startswith("# child pid ")]
            child = int(lines[0].split()[-1]) if lines else None
    assert child is not None, "the trial never started"
    while not list(run_dir.glob("metrics_epoch_*.json")) and time.time() < deadline:
        time.sleep(0.2)  # training is under way
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child), "the trial outlived its worker"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (dead, not yet reaped by init) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
