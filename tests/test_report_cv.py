"""The cross-validated report: predictions store, points with CIs, paired tests, reference models,
targets, and `rrnn-report` rebuilding it all from a committed CSV + predictions file."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rrnn_plugin.experiments.analysis import ci_target, curve_target, cv_points, panel_comparisons, reference_target
from rrnn_plugin.experiments.predictions import PredictionStore, panel_key, run_key
from rrnn_plugin.experiments.references import add_references, reference_outcomes
from rrnn_plugin.experiments.report import PREDICTIONS_FILE, read_csv, write_report

FIXTURES = Path(os.environ["RRNN_FIXTURES"])
PANEL = panel_key("GloVe 50d", "kitchen")
IDS = [f"kitchen/{label}/{i}" for label in ("negative", "positive") for i in range(200)]  # 400 documents
FOLD = {doc_id: k % 2 for k, doc_id in enumerate(IDS)}  # 2 folds


def outcomes(right: int) -> dict:
    """The first `right` documents right, the rest wrong."""
    return {doc_id: int(k < right) for k, doc_id in enumerate(IDS)}


def fixture_store() -> PredictionStore:
    """baseline_1 (24 transitions): 300 of 400 right with both seeds.  learned_20 (~18
    transitions): the same 300 plus 40 more with seed 0 and 30 more with seed 1.  baseline_4
    (96 transitions): 335 right."""
    store = PredictionStore()
    for seed in (0, 1):
        store.add(PANEL, run_key("baseline_1", seed), outcomes(300), FOLD)
        store.add(PANEL, run_key("baseline_4", seed), outcomes(335), FOLD)
    store.add(PANEL, run_key("learned_20", 0), outcomes(340), FOLD)
    store.add(PANEL, run_key("learned_20", 1), outcomes(330), FOLD)
    store.add(PANEL, run_key("reference:tfidf_lr", 0), outcomes(350), FOLD)
    return store


def fixture_rows() -> list:
    rows = []
    for point, kind, transitions in (("baseline_1", "baseline", 24), ("baseline_4", "baseline", 96),
                                     ("learned_20", "learned", 18)):
        for seed in (0, 1):
            for fold in (0, 1):
                rows.append({"mode": "grid", "input": "GloVe 50d", "dataset": "kitchen", "kind": kind,
                             "point": point, "fold": fold, "seed": seed, "transitions": transitions + seed,
                             "validation_accuracy": 0.8, "test_accuracy": 0.8,
                             "lambda": 1e-3 if kind == "learned" else None, "tuning_trial": 2,
                             "hyperparameters": {"trainer.optimizer.lr": 0.02}})
    return rows


def test_store_round_trip_and_seed_averages(tmp_path):
    store = fixture_store()
    ids, values = store.accuracies(PANEL, "learned_20")
    assert len(ids) == 400 and values.sum() == pytest.approx((340 + 330) / 2)
    store.save(str(tmp_path / "p.json"))
    again = PredictionStore.load(str(tmp_path / "p.json"))
    assert again.to_json() == store.to_json()
    assert again.fold_of(PANEL, "kitchen/positive/1") == FOLD["kitchen/positive/1"]
    with pytest.raises(ValueError, match="predicted twice"):
        store.add(PANEL, run_key("baseline_1", 0), {"kitchen/negative/0": 1}, {})
    with pytest.raises(ValueError, match="tested in fold"):
        store.add(PANEL, run_key("baseline_1", 5), {"kitchen/negative/0": 1}, {"kitchen/negative/0": 1})
    runs = again.runs(PANEL)
    assert again.drop_references() == 1  # what --recompute-references does to a loaded file
    assert again.runs(PANEL) == [r for r in runs if not r.startswith("reference:")] != runs


def test_points_comparisons_and_targets():
    store = fixture_store()
    points = {p.point: p for p in cv_points(fixture_rows(), store)}
    assert set(points) == {"baseline_1", "baseline_4", "learned_20", "reference:tfidf_lr"}
    learned = points["learned_20"]
    assert (learned.runs, learned.folds, learned.seeds, learned.documents) == (4, 2, 2, 400)
    assert learned.accuracy == pytest.approx(335 / 400)
    assert 0.03 < learned.half_width < 0.04  # 400 documents at 84%
    assert learned.transitions[0] == pytest.approx(18.5)

    comparisons = panel_comparisons(store, list(points.values()))[PANEL]
    verdicts = {c.second.point: c.result for c in comparisons}
    # vs baseline_1: 35 more right on average, never worse -> clearly better (sign-flip, 2 seeds)
    assert verdicts["baseline_1"].test == "sign-flip" and verdicts["baseline_1"].verdict == "better"
    assert verdicts["baseline_1"].difference == pytest.approx(35 / 400)
    # vs baseline_4 (335 right each seed) the seed averages are equal: no difference
    assert verdicts["baseline_4"].verdict == "no difference"
    assert verdicts["reference:tfidf_lr"].verdict == "worse"
    assert verdicts["baseline_1"].fold_p_value is not None

    curve = curve_target(list(points.values()), {PANEL: comparisons})[PANEL]
    assert curve["met"] is False  # better than baseline_1 but not than baseline_4
    assert (curve["better"], curve["no difference"]) == (1, 1)
    assert ci_target(list(points.values()))[PANEL][2] is False  # 400 documents: wider than 2 points
    best, reference, met = reference_target(list(points.values()))[PANEL]
    assert best.point == "learned_20" and not met  # 83.75 vs 87.5


def test_reference_models_on_fixture_folds(tmp_path):
    glove = tmp_path / "glove.txt"
    rng = np.random.RandomState(0)
    words = ["great", "love", "bad", "broke", "pan", "the", "it", "is", "and", "a"]
    glove.write_text("".join(f"{w} {' '.join(f'{x:.3f}' for x in rng.randn(4))}\n" for w in words))
    results = reference_outcomes(str(FIXTURES / "blitzer"), "kitchen", folds=2, glove_file=str(glove))
    assert set(results) == {"tfidf_lr", "pooled_glove_lr"}
    for right, fold_of in results.values():
        assert len(right) == 19 and set(right.values()) <= {0, 1}  # 20 reviews minus the duplicate
        assert set(fold_of.values()) == {0, 1}
    store = PredictionStore()
    panels = {panel_key("x", "kitchen"): ("kitchen", 2)}
    assert add_references(store, panels, str(FIXTURES / "blitzer"), str(glove)) == [panel_key("x", "kitchen")]
    assert add_references(store, panels, str(FIXTURES / "blitzer"), str(glove)) == []  # already there
    assert store.runs(panel_key("x", "kitchen")) == ["reference:pooled_glove_lr/seed_0", "reference:tfidf_lr/seed_0"]


def test_report_from_a_csv_with_folds(tmp_path):
    rows = fixture_rows()
    out = tmp_path / "docs"
    paths = write_report(rows, str(out), title="CV", store=fixture_store())
    markdown = Path(paths["markdown"]).read_text()
    assert "## Cross-validated accuracy vs. transitions" in markdown and "## Paired tests" in markdown
    assert "| GloVe 50d | kitchen | learned_20 | 4 (2 × 2) | 18.5 ± 0.6 | 83.8 [" in markdown
    assert "TF-IDF uni+bigram LR" in markdown and "**better**" in markdown and "**worse**" in markdown
    assert "## Targets" in markdown and "met on 0 of 1 panels" in markdown
    assert "tested on part of their panel" not in markdown  # every run covers all 400 documents
    assert Path(paths["figure3"]).read_bytes()[:4] == b"\x89PNG"
    assert json.loads(Path(paths["predictions"]).read_text())["panels"][PANEL]["runs"]["learned_20/seed_0"].count("1") == 340
    with open(paths["csv"]) as handle:
        header = next(csv.reader(handle))
    assert {"input", "fold", "tuning_trial", "hyperparameters"} <= set(header)

    # the command rebuilds the same report from the committed CSV and predictions file alone
    rebuilt = tmp_path / "rebuilt"
    command = [sys.executable, "-m", "allennlp", "rrnn-report", paths["csv"], "-o", str(rebuilt), "--title", "CV",
               "--references", "no", "--include-package", "rrnn_plugin"]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "RRNN_DATA_DIR": ""})
    assert (rebuilt / "results.md").read_text() == markdown
    assert read_csv(str(rebuilt / "results.csv")) == read_csv(paths["csv"])


def test_a_run_without_some_predictions_is_named_in_the_report(tmp_path):
    """A point whose seed lacks a fold's predictions rests on fewer reviews: the report says so."""
    store = fixture_store()
    store.drop_run(PANEL, run_key("learned_20", 1))
    store.add(PANEL, run_key("learned_20", 1), {i: o for i, o in outcomes(330).items() if FOLD[i] == 0}, FOLD)
    assert store.partial_runs() == [(PANEL, "learned_20/seed_1", 200, 400)]
    ids, _ = store.accuracies(PANEL, "learned_20")
    assert len(ids) == 200  # the point now rests on the documents both seeds were tested on
    markdown = Path(write_report(fixture_rows(), str(tmp_path), store=store)["markdown"]).read_text()
    assert "## Runs tested on part of their panel" in markdown
    assert "- GloVe 50d: kitchen learned_20/seed_1: 200 of 400 reviews" in markdown

    store.drop_run(PANEL, run_key("learned_20", 1))  # a run with no predictions at all (its folder gone)
    markdown = Path(write_report(fixture_rows(), str(tmp_path), store=store)["markdown"]).read_text()
    assert "- GloVe 50d: kitchen learned_20/seed_1: 0 of 400 reviews" in markdown


def test_report_on_nothing_fails(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("mode,dataset,kind,point\n")
    result = subprocess.run([sys.executable, "-m", "allennlp", "rrnn-report", str(empty), "--include-package",
                             "rrnn_plugin"], capture_output=True, text=True)
    assert result.returncode != 0 and "nothing to report" in result.stderr


def report(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "allennlp", "rrnn-report", *map(str, args), "--include-package",
                           "rrnn_plugin"], capture_output=True, text=True)


def test_the_report_writes_nothing_into_databases_it_cannot_find(tmp_path):
    typo = tmp_path / "typo.db"
    result = report("--storage", f"sqlite:///{typo}", "-o", tmp_path / "out")
    assert result.returncode != 0 and "does not exist" in result.stderr and not typo.exists()
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "sweep.db").write_bytes(b"")
    result = report(tmp_path / "sweep", "-o", tmp_path / "out")
    assert result.returncode != 0 and "is empty" in result.stderr
    assert (tmp_path / "sweep" / "sweep.db").stat().st_size == 0


def test_a_non_finite_number_in_a_results_csv_is_refused_naming_the_line(tmp_path):
    rows = tmp_path / "results.csv"
    rows.write_text("mode,dataset,kind,point,seed,transitions,validation_accuracy,test_accuracy\n"
                    "grid,kitchen,baseline,baseline_1,0,24,0.8,0.8\n"
                    "grid,kitchen,baseline,baseline_1,1,24,nan,0.8\n")
    result = report(rows, "-o", tmp_path / "out")
    assert result.returncode != 0 and "results.csv, line 3: validation_accuracy is nan" in result.stderr


def test_a_panel_with_fewer_folds_than_its_reference_lines_is_marked_partial():
    from types import SimpleNamespace

    from rrnn_plugin.experiments.figures import _partial

    point = lambda kind, folds: SimpleNamespace(kind=kind, folds=folds)  # noqa: E731
    assert _partial([point("reference", 5), point("baseline", 5), point("learned", 5)]) == ""
    assert _partial([point("reference", 5), point("baseline", 3), point("learned", 4)]) == " — partial (3-4 of 5 folds)"
    assert _partial([point("reference", 5), point("learned", 2)]) == " — partial (2 of 5 folds)"
