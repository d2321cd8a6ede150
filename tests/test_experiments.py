"""Experiment drivers: the lambda search logic, its resumable runner, the Optuna sweep and the report.

Most tests drive the code with fake training (a function of lambda), so they are fast; one test
runs a real two-run sweep on the fixture configs through `allennlp train` subprocesses.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rrnn_plugin.experiments.lambda_search import FOUND, GAVE_UP, LambdaSearch, run_fake_search
from rrnn_plugin.experiments.report import read_csv, summarize, write_report
from rrnn_plugin.experiments.runs import RunResult, read_run_result
from rrnn_plugin.experiments.search import CHOSEN_FILE, LOG_FILE, read_log, run_search
from rrnn_plugin.experiments.spec import SweepSpec, grid_points
from rrnn_plugin.experiments.trial import PREDICTIONS_FILE

FIXTURES = Path(os.environ["RRNN_FIXTURES"])
ROOT = Path(__file__).resolve().parents[1]


def smooth(lam: float) -> float:
    """A plausible lambda -> transitions curve: 96 at lambda 0, decreasing."""
    return round(96 / (1 + lam / 1e-4))


# ----- the search logic -------------------------------------------------------------------------
def test_search_converges_from_the_papers_start():
    decision, history = run_fake_search(LambdaSearch(target=20, tolerance=10, start=8e-6), smooth)
    assert decision.status == FOUND
    assert abs(history[decision.chosen][1] - 20) <= 10
    assert decision.chosen == len(history) - 1  # stops at the first hit
    assert all(abs(t - 20) > 10 for _, t in history[:-1])


def test_search_respects_a_tight_tolerance():
    search = LambdaSearch(target=40, tolerance=1, start=1e-3)
    decision, history = run_fake_search(search, smooth)
    assert decision.status == FOUND and abs(history[-1][1] - 40) <= 1
    assert len(history) > 3  # needed the damped steps


def test_first_steps_and_rate_damping():
    # too many transitions below lambda 3, too few above: the search must bracket and damp
    search = LambdaSearch(target=50, tolerance=1, start=1.0)
    step = lambda lam: 100 if lam < 3 else 0  # noqa: E731
    history = []
    for _ in range(5):
        decision = search.decide(history)
        history.append((decision.next_lambda, step(decision.next_lambda)))
    lambdas = [lam for lam, _ in history]
    # 1 -> 2 -> 4 (x2, x2); overshoot: rate 1.5, 4/1.5; overshoot: rate 1.25, x1.25
    expected = [1.0, 2.0, 4.0, 4.0 / 1.5, 4.0 / 1.5 * 1.25]
    assert lambdas == pytest.approx(expected)
    assert search.decide(history).rate == pytest.approx(1.125)  # the 5th try overshot again


def test_search_gives_up_after_25_tries():
    search = LambdaSearch(target=50, tolerance=1, start=1.0)
    decision, history = run_fake_search(search, lambda lam: 100 if lam < 3 else 0)
    assert decision.status == GAVE_UP and len(history) == 25
    assert "25 tries" in decision.reason
    assert history[decision.chosen][1] in (0, 100)  # the closest try is still reported


@pytest.mark.parametrize("transitions, bound", [(0, "1e-09"), (96, "100")])
def test_search_gives_up_outside_the_lambda_range(transitions, bound):
    search = LambdaSearch(target=20, tolerance=10, start=8e-6)
    decision, history = run_fake_search(search, lambda lam: transitions)
    assert decision.status == GAVE_UP and "outside" in decision.reason
    assert all(1e-9 <= lam <= 1e2 for lam, _ in history)
    assert len(history) < 25


@pytest.mark.parametrize("settings", [{"start": float("nan")}, {"start": -1.0}, {"max_tries": 0},
                                      {"target": float("inf")}, {"tolerance": -1.0}])
def test_search_settings_that_cannot_search_are_refused(settings):
    with pytest.raises(ValueError, match="lambda search: " + next(iter(settings))):
        LambdaSearch(**{"target": 20, "tolerance": 10, "start": 8e-6, **settings})


def test_rrnn_search_with_settings_that_cannot_search_exits_1(tmp_path):
    command = [sys.executable, "-m", "allennlp", "rrnn-search", str(FIXTURES / "structure_learning.jsonnet"),
               "--target-transitions", "5", "-s", str(tmp_path / "s"), "--start-lambda", "nan",
               "--include-package", "rrnn_plugin"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "start must be a positive finite number" in result.stderr
    assert not (tmp_path / "s").exists()


def test_a_log_from_other_settings_is_refused():
    with pytest.raises(ValueError, match="proposes"):
        LambdaSearch(target=20, start=1e-4).decide([(8e-6, 90)])


# ----- the resumable search runner --------------------------------------------------------------
class FakeRunner:
    """Training stand-in: lambda -> RunResult by `smooth`; can be told to die at a given try."""

    def __init__(self, die_at=None):
        self.calls = []
        self.die_at = die_at

    def __call__(self, lam, serialization_dir):
        assert not os.path.exists(serialization_dir), "an unfinished try must be cleared first"
        if self.die_at is not None and len(self.calls) == self.die_at:
            os.makedirs(serialization_dir)  # an interrupted run leaves a partial dir
            raise KeyboardInterrupt
        self.calls.append(lam)
        os.makedirs(serialization_dir)
        return RunResult(serialization_dir, transitions=smooth(lam), validation_accuracy=0.8,
                         test_accuracy=0.75, structure_transitions=smooth(lam))


def test_resuming_a_search_replays_the_log(tmp_path):
    search = LambdaSearch(target=20, tolerance=5, start=8e-6)
    first = FakeRunner(die_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_search(search, str(tmp_path), first, progress=lambda _: None)
    assert len(read_log(str(tmp_path))) == 2 and (tmp_path / "try_02").is_dir()

    second = FakeRunner()
    outcome = run_search(search, str(tmp_path), second, progress=lambda _: None)
    _, reference = run_fake_search(search, smooth)
    assert first.calls == [lam for lam, _ in reference[:2]]
    assert second.calls == [lam for lam, _ in reference[2:]]  # nothing re-run
    assert outcome.found and outcome.tries == len(reference)
    chosen = json.loads((tmp_path / CHOSEN_FILE).read_text())
    assert chosen["lambda"] == pytest.approx(reference[-1][0]) and chosen["found"] is True
    assert [e["try"] for e in read_log(str(tmp_path))] == list(range(len(reference)))

    third = FakeRunner()  # a finished search only reports
    assert run_search(search, str(tmp_path), third, progress=lambda _: None).lambda_ == outcome.lambda_
    assert third.calls == []


def test_a_logged_out_try_without_its_predictions_is_completed_not_just_read(tmp_path):
    """A try killed after metrics.json, before its log line and its test predictions, is adopted
    (not trained again) and its runner is asked for the predictions on the same folder."""
    search = LambdaSearch(target=20, tolerance=100, start=8e-6)
    completed = []

    def runner(lam, serialization_dir):
        os.makedirs(serialization_dir, exist_ok=True)
        metrics = Path(serialization_dir, "metrics.json")
        if metrics.exists():
            completed.append(serialization_dir)
        metrics.write_text(json.dumps({"structure_lambda": lam, "structure_transitions_after": smooth(lam),
                                       "best_validation_accuracy": 0.8}))
        Path(serialization_dir, "config.json").write_text(json.dumps({"test_data_path": "kitchen#test"}))
        Path(serialization_dir, PREDICTIONS_FILE).write_text("id\tgold\tpredicted\tprobability\n")
        return read_run_result(serialization_dir)

    run_search(search, str(tmp_path), runner, progress=lambda _: None)
    (tmp_path / "try_00" / PREDICTIONS_FILE).unlink()
    for name in (LOG_FILE, CHOSEN_FILE):
        (tmp_path / name).unlink()  # killed before the log line was written
    outcome = run_search(search, str(tmp_path), runner, progress=lambda _: None)
    assert completed == [str(tmp_path / "try_00")] and outcome.tries == 1
    assert (tmp_path / "try_00" / PREDICTIONS_FILE).exists()


# ----- the sweep ---------------------------------------------------------------------------------
def fixture_spec(name: str) -> SweepSpec:
    """Two trials, one training run: a one-try search (huge tolerance) and the learned point,
    which is that try.  Baseline runs take the same `train` path (see the fake-run tests)."""
    return SweepSpec.from_json({
        "name": name,
        "datasets": ["kitchen"],
        "seeds": [0],
        "baselines": [],
        "targets": [5],
        "tolerance": 100,
        "start_lambda": 0.5,
        "structure_config": str(FIXTURES / "structure_learning.jsonnet"),
        "structure_overrides": {"trainer.callbacks.0.finetune_epochs": 1, "trainer.num_epochs": 2},
    })


def test_spec_points_are_ordered_for_partial_results():
    spec = SweepSpec.from_json({"name": "x", "datasets": ["kitchen"], "seeds": [0, 1], "baselines": [1, "mix"],
                                "targets": [80, 20]})
    keys = [p.key for p in grid_points(spec)]
    assert keys == [
        "kitchen/search_80/seed_0", "kitchen/search_20/seed_0",
        "kitchen/baseline_1/seed_0", "kitchen/baseline_mix/seed_0",
        "kitchen/learned_80/seed_0", "kitchen/learned_20/seed_0",
        "kitchen/baseline_1/seed_1", "kitchen/baseline_mix/seed_1",
        "kitchen/learned_80/seed_1", "kitchen/learned_20/seed_1",
    ]


def test_folds_and_tuning_points():
    spec = SweepSpec.from_json({"name": "x", "datasets": ["kitchen"], "seeds": [0], "baselines": [1],
                                "targets": [20], "folds": 3, "tuning": {"trials": 2}})
    keys = [p.key for p in grid_points(spec)]
    assert keys == [
        "kitchen/tune_baseline_1/trial_0", "kitchen/tune_baseline_1/trial_1", "kitchen/tune_baseline_1/trial_2",
        "kitchen/search_20/fold_0/seed_0",
        "kitchen/tune_learned_20/trial_1", "kitchen/tune_learned_20/trial_2",
        "kitchen/baseline_1/fold_0/seed_0", "kitchen/learned_20/fold_0/seed_0",
        "kitchen/baseline_1/fold_1/seed_0", "kitchen/learned_20/fold_1/seed_0",
        "kitchen/baseline_1/fold_2/seed_0", "kitchen/learned_20/fold_2/seed_0",
    ]
    tuning = spec.tuning
    assert tuning.sample("kitchen", "baseline_1", 0) == {}
    first = tuning.sample("kitchen", "baseline_1", 1)
    assert first == tuning.sample("kitchen", "baseline_1", 1)  # the same draw in every worker
    assert first != tuning.sample("kitchen", "baseline_1", 2) != tuning.sample("dvd", "baseline_1", 2)
    for name, bounds in tuning.space.items():
        assert bounds["low"] <= first[name] <= bounds["high"]
    with pytest.raises(ValueError, match="folds"):
        SweepSpec.from_json({"name": "x", "datasets": ["kitchen"], "folds": 1})


def test_sweep_end_to_end_and_resume(tmp_path):
    """A real `allennlp train` run (fixture structure-learning config) through the whole sweep."""
    from rrnn_plugin.experiments.report import collect_rows
    from rrnn_plugin.experiments.sweep import Sweep, default_storage

    lines = []
    sweep = Sweep(fixture_spec("e2e"), str(tmp_path), progress=lines.append)
    assert sweep.run_grid() == 2, lines
    assert (tmp_path / "sweep.db").exists()
    metrics = tmp_path / "search/kitchen/target_5/try_00/metrics.json"
    assert metrics.exists()
    assert any(line.startswith("[sweep 2/2] kitchen/learned_5/seed_0: test acc") for line in lines), lines
    header = (tmp_path / "search/kitchen/target_5/try_00.log").read_text().splitlines()[2]
    assert "RRNN_LAMBDA" in header and "0.5" in header

    rows, plan = collect_rows(default_storage(str(tmp_path)))
    assert [r["point"] for r in rows] == ["learned_5"] and plan["seeds"] == {"kitchen": 1}
    # what the report needs to rebuild a panel's inputs (commands/report.py, _contextual_panels)
    assert plan["inputs"] == {"": {"config": "training_configs/{dataset}/baseline_{baseline}.jsonnet", "env": {},
                                   "overrides": {}, "baseline": None}}
    assert rows[0]["serialization_dir"].endswith("try_00") and rows[0]["lambda"] == 0.5
    assert rows[0]["transitions"] == json.loads(metrics.read_text())["structure_transitions_after"]

    mtime = os.path.getmtime(metrics)
    again = Sweep(fixture_spec("e2e"), str(tmp_path), progress=lines.append)
    assert again.run_grid() == 0  # everything is complete: nothing re-run
    assert os.path.getmtime(metrics) == mtime


def fake_train(calls):
    """`runs.train` stand-in: writes a metrics.json like a real run's and reads it back."""

    def train(config, serialization_dir, overrides=None, env=None, threads=None):
        if os.path.isfile(os.path.join(serialization_dir, "metrics.json")):
            return read_run_result(serialization_dir)  # a finished run is read, as runs.train does
        calls.append(serialization_dir)
        lam = float((env or {}).get("RRNN_LAMBDA", 0))
        metrics = {"best_validation_accuracy": 0.8, "test_accuracy": 0.79, "test_transitions": 24,
                   "training_duration": "0:00:07.500000"}
        if lam:
            metrics.update(test_transitions=smooth(lam), structure_transitions_after=smooth(lam), structure_lambda=lam)
        os.makedirs(serialization_dir)
        Path(serialization_dir, "metrics.json").write_text(json.dumps(metrics))
        return read_run_result(serialization_dir)

    return train


def test_resumed_sweep_skips_finished_trials_and_reclaims_dead_claims(tmp_path, monkeypatch):
    import optuna

    from rrnn_plugin.experiments import claims
    from rrnn_plugin.experiments import sweep as sweep_module

    calls = []
    monkeypatch.setattr(sweep_module, "train", fake_train(calls))
    monkeypatch.setattr("rrnn_plugin.experiments.search.train", fake_train(calls))
    spec = SweepSpec.from_json({"name": "fake", "datasets": ["kitchen"], "seeds": [0, 1], "baselines": ["1", "2"],
                                "targets": [20], "tolerance": 5, "start_lambda": 8e-6})
    total = len(grid_points(spec))  # 2 baselines x 2 seeds + search + 2 learned = 7
    sweep = sweep_module.Sweep(spec, str(tmp_path), progress=lambda _: None)
    assert sweep.run_grid(max_trials=3) == 3
    first_calls = len(calls)

    # a worker on this host died while holding a claim: its point must be run again
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    study = sweep.study("fake:grid")
    orphan = study.ask()
    for key, value in {"key": "kitchen/baseline_1/seed_1", "host": claims.HOST, "pid": dead.pid}.items():
        orphan.set_user_attr(key, value)

    assert sweep_module.Sweep(spec, str(tmp_path), progress=lambda _: None).run_grid() == total - 3
    dirs = calls[first_calls:]
    assert len(dirs) == len(set(dirs)) and not set(dirs) & set(calls[:first_calls])  # nothing twice
    complete = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.user_attrs["key"] for t in complete) == sorted(p.key for p in grid_points(spec))
    assert study.get_trials()[orphan.number].state == optuna.trial.TrialState.FAIL
    # learned seed 0 is the search's chosen try, learned seed 1 reuses its lambda
    learned = {t.user_attrs["seed"]: t.user_attrs for t in complete if t.user_attrs["kind"] == "learned"}
    chosen_try = Path(learned[0]["serialization_dir"])
    assert chosen_try.parent.name == "target_20" and chosen_try.name.startswith("try_")
    assert learned[1]["lambda"] == learned[0]["lambda"]
    assert sweep_module.Sweep(spec, str(tmp_path), progress=lambda _: None).run_grid() == 0


def test_folds_and_tuning_choose_and_reuse_settings(tmp_path, monkeypatch):
    """Tuning trials on the first fold pick each point's settings by validation accuracy; the
    winning trial is that point's first-fold run, the other folds are new runs with its settings."""
    import optuna

    from rrnn_plugin.experiments import sweep as sweep_module
    from rrnn_plugin.experiments.runs import RunFailed

    calls = []

    def train(config, serialization_dir, overrides=None, env=None, threads=None):
        if os.path.isfile(os.path.join(serialization_dir, "metrics.json")):
            return read_run_result(serialization_dir)  # a finished run is read, as runs.train does
        overrides = dict(overrides or {})
        calls.append((serialization_dir, overrides))
        assert (env or {}).get("RRNN_BERT_DIM") == "32"  # the spec's environment reaches every run
        lr = overrides.get("trainer.optimizer.lr", 0.03)
        if lr > 0.05:  # some sampled settings diverge after an epoch
            os.makedirs(serialization_dir)
            Path(serialization_dir, "metrics_epoch_0.json").write_text("{}")
            raise RunFailed("diverged")
        lam = float((env or {}).get("RRNN_LAMBDA", 0))
        metrics = {"best_validation_accuracy": 0.7 + lr, "test_accuracy": 0.75, "test_transitions": 24}
        if lam:
            metrics.update(test_transitions=smooth(lam), structure_transitions_after=smooth(lam), structure_lambda=lam)
        os.makedirs(serialization_dir)
        Path(serialization_dir, "metrics.json").write_text(json.dumps(metrics))
        return read_run_result(serialization_dir)

    monkeypatch.setattr(sweep_module, "train", train)
    monkeypatch.setattr("rrnn_plugin.experiments.search.train", train)
    spec = SweepSpec.from_json({"name": "tuned", "datasets": ["kitchen"], "seeds": [0], "baselines": ["1"],
                                "targets": [20], "tolerance": 5, "start_lambda": 4e-4, "folds": 2,
                                "env": {"RRNN_BERT_DIM": "32"},
                                "tuning": {"trials": 3, "space": {"trainer.optimizer.lr": {"low": 0.01, "high": 0.08}}}})
    sampled = {t: spec.tuning.sample("kitchen", "baseline_1", t)["trainer.optimizer.lr"] for t in (1, 2, 3)}
    sweep = sweep_module.Sweep(spec, str(tmp_path), progress=lambda _: None)
    assert sweep.run_grid() == len(grid_points(spec))
    complete = {t.user_attrs["key"]: t.user_attrs for t in sweep.study("tuned:grid").get_trials()
                if t.state == optuna.trial.TrialState.COMPLETE}
    assert len(complete) == len(grid_points(spec))

    trainable = {t: lr for t, lr in sampled.items() if lr <= 0.05}
    assert len(trainable) < 3  # the check below covers a failed trial
    best = max(trainable, key=trainable.get) if max(trainable.values()) > 0.03 else 0
    fold0, fold1 = complete["kitchen/baseline_1/fold_0/seed_0"], complete["kitchen/baseline_1/fold_1/seed_0"]
    assert fold0["tuning_trial"] == fold1["tuning_trial"] == best
    assert fold0["serialization_dir"].endswith(f"tuning/kitchen/baseline_1/trial_{best}")  # reused, not re-run
    fold1_call = next(o for d, o in calls if d.endswith("trials/kitchen/baseline_1/fold_1/seed_0"))
    assert fold1_call["dataset_reader.fold"] == 1 and fold1_call["dataset_reader.folds"] == 2
    assert fold1_call.get("trainer.optimizer.lr", 0.03) == ({0: 0.03, **sampled}[best])
    assert not any(d.endswith("fold_0/seed_0") for d, _ in calls)  # both first-fold runs were reused
    # learned: every tuning trial uses the searched lambda; trial 0 is the search's try
    learned = complete["kitchen/learned_20/fold_1/seed_0"]
    assert learned["lambda"] == complete["kitchen/search_20/fold_0/seed_0"]["lambda"]
    search_calls = [o for d, o in calls if "/search/" in d]
    assert all(o["dataset_reader.fold"] == 0 for o in search_calls)


def test_multi_objective_mode_runs_sampled_trials(tmp_path, monkeypatch):
    from rrnn_plugin.experiments import sweep as sweep_module
    from rrnn_plugin.experiments.multi_objective import run_multi_objective
    from rrnn_plugin.experiments.report import collect_rows

    calls = []
    monkeypatch.setattr(sweep_module, "train", fake_train(calls))
    spec = SweepSpec.from_json({"name": "moo", "datasets": ["kitchen"], "baselines": [], "targets": [],
                                "multi_objective": {"n_trials": 4, "space": {
                                    "lambda": {"low": 1e-5, "high": 1e-3, "log": True},
                                    "trainer.optimizer.lr": {"low": 0.01, "high": 0.1}}}})
    assert run_multi_objective(sweep_module.Sweep(spec, str(tmp_path), progress=lambda _: None)) == 4
    assert run_multi_objective(sweep_module.Sweep(spec, str(tmp_path), progress=lambda _: None)) == 0
    rows, _ = collect_rows(sweep_module.default_storage(str(tmp_path)))
    assert len(rows) == 4 and all(1e-5 <= r["param:lambda"] <= 1e-3 for r in rows)
    paths = write_report(rows, str(tmp_path / "report"))
    assert os.path.getsize(paths["pareto"]) > 0 and "Pareto front" in Path(paths["markdown"]).read_text()


# ----- the report --------------------------------------------------------------------------------
def test_report_of_a_sweep_on_a_shared_database(tmp_path, monkeypatch):
    """`rrnn-report DIR --storage URL`: the sweep's record is the database, DIR holds no sweep.db."""
    from rrnn_plugin.experiments import sweep as sweep_module

    monkeypatch.setattr(sweep_module, "train", fake_train([]))
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    spec = SweepSpec.from_json({"name": "shared", "datasets": ["kitchen"], "seeds": [0], "baselines": ["1"],
                                "targets": []})
    assert sweep_module.Sweep(spec, str(tmp_path / "runs"), storage=url, progress=lambda _: None).run_grid() == 1
    assert not (tmp_path / "runs" / "sweep.db").exists()
    command = [sys.executable, "-m", "allennlp", "rrnn-report", str(tmp_path / "runs"), "--storage", url,
               "--include-package", "rrnn_plugin"]
    subprocess.run(command, check=True, capture_output=True)
    assert "| kitchen | baseline_1 |" in (tmp_path / "runs" / "results.md").read_text()
    # a database named twice, or both as a dir's own sweep.db and as --storage, is read once
    twice = command[:5] + ["--storage", url, "--storage", url, "--include-package", "rrnn_plugin"]
    subprocess.run(twice, check=True, capture_output=True)
    assert len(read_csv(str(tmp_path / "runs" / "results.csv"))) == 1
    own = tmp_path / "own"
    assert sweep_module.Sweep(spec, str(own), progress=lambda _: None).run_grid() == 1
    both = command[:4] + [str(own), "--storage", sweep_module.default_storage(str(own)),
                          "--include-package", "rrnn_plugin"]
    subprocess.run(both, check=True, capture_output=True)
    assert len(read_csv(str(own / "results.csv"))) == 1
    alone = subprocess.run(command[:4] + ["--include-package", "rrnn_plugin"], capture_output=True, text=True)
    assert alone.returncode != 0 and "give sweep dirs, results CSVs or --storage URL" in alone.stderr
    no_db = subprocess.run(command[:5] + ["--include-package", "rrnn_plugin"], capture_output=True, text=True)
    assert no_db.returncode != 0 and "sweep.db not found" in no_db.stderr


def test_report_from_a_csv(tmp_path):
    header = "mode,dataset,kind,point,target,seed,lambda,found,transitions,validation_accuracy,test_accuracy"
    rows = [
        "grid,kitchen,baseline,baseline_1,,0,,,24,0.78,0.80",
        "grid,kitchen,baseline,baseline_1,,1,,,24,0.76,0.84",
        "grid,kitchen,baseline,baseline_4,,0,,,96,0.80,0.82",
        "grid,kitchen,learned,learned_20,20,0,0.001,True,18,0.79,0.83",
        "grid,kitchen,learned,learned_20,20,1,0.001,True,22,0.77,0.85",
        "grid,kitchen,learned,learned_60,60,0,1e-5,False,75,0.79,0.80",
        "grid,books,baseline,baseline_1,,0,,,24,0.70,0.71",
        "moo,kitchen,moo,moo_0,,0,,,30,0.81,0.80",
        "moo,kitchen,moo,moo_1,,0,,,60,0.80,0.82",
    ]
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("\n".join([header] + rows) + "\n")
    loaded = read_csv(str(csv_path))
    paths = write_report(loaded, str(tmp_path / "out"), plan={"seeds": 2, "points": {
        "kitchen": ["baseline_1", "baseline_4", "learned_20", "learned_40"]}},
        figures_dir=str(tmp_path / "out/figures"), notes="Protocol notes.")
    for key in ("csv", "markdown", "figure3", "pareto"):
        assert os.path.getsize(paths[key]) > 0
    assert Path(paths["figure3"]).read_bytes()[:4] == b"\x89PNG"
    markdown = Path(paths["markdown"]).read_text()
    assert "Protocol notes." in markdown and "(figures/figure3.png)" in markdown
    grid_part, pareto_part = markdown.split("## Multi-objective")
    table = [line for line in grid_part.splitlines() if line.startswith("| kitchen") or line.startswith("| books")]
    assert len(table) == 5  # one row per grid point
    assert "(search gave up" in next(line for line in table if "learned_60" in line)
    learned = next(line for line in table if "learned_20" in line)
    assert "20.0 ± 2.8" in learned and "84.0 ± 1.4" in learned and "2/2" in learned
    assert "1/2 (incomplete)" in next(line for line in table if "baseline_4" in line)
    assert "kitchen/learned_40" in markdown  # planned, not run
    assert "| kitchen | moo_0 | 30 | 81.0 | 80.0 |" in pareto_part  # moo_1 (60, 80.0%) is dominated
    assert "moo_1" not in markdown
    assert len(read_csv(paths["csv"])) == len(rows)
    summaries = {(s.dataset, s.point): s for s in summarize(loaded)}
    assert math.isclose(summaries["kitchen", "baseline_1"].test_accuracy[0], 0.82)
    assert math.isclose(summaries["kitchen", "baseline_1"].test_accuracy[1], math.sqrt(0.0008))


def test_an_interrupted_sweep_frees_its_point(tmp_path, monkeypatch):
    import optuna

    from rrnn_plugin.experiments import sweep as sweep_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    spec = SweepSpec.from_json({"name": "ctrl-c", "datasets": ["kitchen"], "seeds": [0], "baselines": ["1"],
                                "targets": []})
    monkeypatch.setattr(sweep_module, "train", interrupted)
    sweep = sweep_module.Sweep(spec, str(tmp_path), progress=lambda _: None)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_grid()
    study = sweep.study("ctrl-c:grid")
    assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.FAIL]

    calls = []
    monkeypatch.setattr(sweep_module, "train", fake_train(calls))
    assert sweep_module.Sweep(spec, str(tmp_path), progress=lambda _: None).run_grid() == 1
    assert len(calls) == 1


def _moved_sweep(monkeypatch):
    """A tuned, cross-validated one-dataset spec with training faked: (the calls list, the spec)."""
    from rrnn_plugin.experiments import sweep as sweep_module

    calls = []
    monkeypatch.setattr(sweep_module, "train", fake_train(calls))
    monkeypatch.setattr("rrnn_plugin.experiments.search.train", fake_train(calls))
    spec = SweepSpec.from_json({"name": "moved", "datasets": ["kitchen"], "seeds": [0], "baselines": ["1"],
                                "targets": [20], "tolerance": 5, "start_lambda": 4e-4, "folds": 2,
                                "tuning": {"trials": 1, "space": {"trainer.optimizer.lr": {"low": 0.01, "high": 0.04}}}})
    return calls, spec


def test_a_sweep_continues_from_an_exported_state_without_its_folders(tmp_path, monkeypatch):
    """Export the finished trials, lose the database and every run folder (a new session), adopt
    the export: the remaining points run, the finished ones do not."""
    import optuna

    from rrnn_plugin.experiments import sweep as sweep_module

    calls, spec = _moved_sweep(monkeypatch)
    points = grid_points(spec)
    first = sweep_module.Sweep(spec, str(tmp_path / "old"), progress=lambda _: None)
    assert first.run_grid(max_trials=4) == 4  # tune trials 0, 1, the search, the learned tuning trial
    state = tmp_path / "state.jsonl"
    assert first.export_state(str(state)) == 4

    calls.clear()
    import shutil

    shutil.rmtree(tmp_path / "old")  # the database and every run folder are gone
    moved = sweep_module.Sweep(spec, str(tmp_path / "new"), progress=lambda _: None)
    assert moved.adopt_state(str(state)) == 4 and moved.adopt_state(str(state)) == 0  # once only
    adopted = moved.study("moved:grid").get_trials()
    assert [t.user_attrs["training_s"] for t in adopted] == [7.5] * 4  # the report's run times survive the move
    assert moved.run_grid() == len(points) - 4
    study = moved.study("moved:grid")
    complete = sorted(t.user_attrs["key"] for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE)
    assert complete == sorted(p.key for p in points)
    assert not any("/tuning/" in c or "/search/" in c for c in calls)  # nothing finished ran again
    # the first fold's runs reused the winning trials' folders before; those are gone, so they trained
    assert any(c.endswith("baseline_1/fold_0/seed_0") for c in calls)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl, line 1: not a sweep-state entry"):
        moved.adopt_state(str(bad))


def test_a_changed_spec_may_grow_the_grid_but_not_change_its_runs_settings(tmp_path, monkeypatch):
    from rrnn_plugin.experiments import sweep as sweep_module
    from rrnn_plugin.experiments.spec_checks import SpecError

    calls = []
    monkeypatch.setattr(sweep_module, "train", fake_train(calls))
    first = {"name": "grow", "datasets": ["kitchen"], "seeds": [0], "baselines": ["1"], "targets": [],
             "baseline_overrides": {"trainer.num_epochs": 1}}
    sweep_module.Sweep(SweepSpec.from_json(first), str(tmp_path), progress=lambda _: None).run_grid()
    changed = {**first, "baseline_overrides": {"trainer.num_epochs": 2}, "seeds": [0, 1]}
    with pytest.raises(SpecError, match=r"other values of \['baseline_overrides'\]"):
        sweep_module.Sweep(SweepSpec.from_json(changed), str(tmp_path), progress=lambda _: None).run_grid()
    assert len(calls) == 1
    grown = sweep_module.Sweep(SweepSpec.from_json({**first, "seeds": [0, 1]}), str(tmp_path), progress=lambda _: None)
    assert grown.run_grid() == 1 and len(calls) == 2  # the new seed only
    assert grown.study("grow:grid").user_attrs["spec"]["seeds"] == [0, 1]  # the report plans both seeds
    smaller = sweep_module.Sweep(SweepSpec.from_json(first), str(tmp_path), progress=lambda _: None)
    assert smaller.study("grow:grid").user_attrs["spec"]["seeds"] == [0, 1]  # a smaller worker does not shrink it


def test_a_non_finite_metric_fails_its_point_once_naming_the_file(tmp_path):
    """A finished run whose metrics.json holds NaN: Optuna refuses the value, and the sweep used to
    claim the same point again and again.  Now the point fails, with the file named, and the
    sweep ends."""
    import optuna

    from rrnn_plugin.experiments import sweep as sweep_module

    spec = SweepSpec.from_json({"name": "nan", "datasets": ["kitchen"], "seeds": [0], "baselines": ["1"], "targets": []})
    run = tmp_path / "trials" / "kitchen" / "baseline_1" / "seed_0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text('{"best_validation_accuracy": NaN, "test_accuracy": 0.8, "test_transitions": 24}')
    messages = []
    sweep = sweep_module.Sweep(spec, str(tmp_path), progress=messages.append)
    assert sweep.run_grid() == 1
    trials = sweep.study("nan:grid").get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL]
    assert "metrics.json: best_validation_accuracy is nan" in trials[0].user_attrs["error"]
    bad = tmp_path / "state.jsonl"
    bad.write_text(json.dumps({"key": "kitchen/baseline_1/seed_0", "values": [float("nan"), 24], "attrs": {}}) + "\n")
    with pytest.raises(ValueError, match="state.jsonl, line 1: not a sweep-state entry"):
        sweep_module.Sweep(spec, str(tmp_path / "other"), progress=messages.append).adopt_state(str(bad))


def test_an_adopted_state_never_reuses_folders_outside_the_new_sweep_dir(tmp_path, monkeypatch):
    """A state file records each run's folder; adopted into another sweep dir (or edited to point
    anywhere) those folders are not this sweep's: its runs train inside its own dir, and the old
    folders are neither read as its runs nor completed nor cleared."""
    from rrnn_plugin.experiments import sweep as sweep_module

    calls, spec = _moved_sweep(monkeypatch)
    first = sweep_module.Sweep(spec, str(tmp_path / "old"), progress=lambda _: None)
    assert first.run_grid(max_trials=4) == 4
    state = tmp_path / "state.jsonl"
    first.export_state(str(state))
    before = sorted(str(p) for p in (tmp_path / "old").rglob("*") if p.name != "sweep.db")
    calls.clear()
    moved = sweep_module.Sweep(spec, str(tmp_path / "new"), progress=lambda _: None)
    moved.adopt_state(str(state))
    moved.run_grid()
    assert calls and all(c.startswith(str(tmp_path / "new")) for c in calls)
    assert any(c.endswith("baseline_1/fold_0/seed_0") for c in calls)  # not the old winning trial's folder
    assert sorted(str(p) for p in (tmp_path / "old").rglob("*") if p.name != "sweep.db") == before


@pytest.mark.parametrize("path", sorted((ROOT / "sweep_specs").glob("*.json")), ids=lambda p: p.name)
def test_every_shipped_sweep_spec_loads_and_names_configs_that_exist(path):
    spec = SweepSpec.from_file(str(path))
    for dataset in spec.datasets:
        configs = [spec.structure_config.format(dataset=dataset)]
        configs += [spec.baseline_config.format(dataset=dataset, baseline=b) for b in spec.baselines]
        for config in configs:
            assert (ROOT / config).is_file(), f"{path.name}: {config}"
    if isinstance(spec.start_lambda, dict):
        assert {float(k) for k in spec.start_lambda} == {float(t) for t in spec.targets}
