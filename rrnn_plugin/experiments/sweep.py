"""Running a sweep spec with Optuna as the bookkeeper, so that it resumes and can be shared.

Why Optuna: its RDB storage is a transactional record of trials (SQLite by default, any SQLAlchemy
URL to share one sweep between machines), with heartbeats to detect dead workers, and its
multi-objective samplers drive the second mode.  Each trial is an ordinary `allennlp train` run
(runs.py) with its own serialization dir under the sweep dir.

Grid mode (the paper's protocol, `spec.grid_points`; this module): study `<name>:grid`,
directions (maximize validation accuracy, minimize transitions).  Every point becomes one trial
carrying the point as user attrs (`key`, `kind`, `dataset`, `point`, `seed`, ...) plus the
results.  A worker walks the points in order and skips those with a COMPLETE trial (never re-run)
or a live claim (another worker's RUNNING trial; claims.py says how claims, heartbeats and dead
workers work).  Serialization dirs are deterministic, so a run that finished but was never
recorded is adopted, not re-run, and an interrupted one restarts cleanly.

Multi-objective mode (`spec.multi_objective`): multi_objective.py.
"""
import json
import math
import os
import time
import warnings
from typing import Any, Callable, Dict, List, Optional

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from rrnn_plugin.experiments.claims import claim, fail_dead_trials, grid_state, heartbeat, open_storage
from rrnn_plugin.experiments.lambda_search import LambdaSearch
from rrnn_plugin.experiments.runs import (
    RunFailed, RunResult, is_finished, seed_overrides, train, training_seconds,
)
from rrnn_plugin.experiments.search import config_runner, run_search
from rrnn_plugin.experiments.spec import (
    BASELINE, LEARNED, SEARCH, TUNE, Point, SweepSpec, grid_points, target_name,
)
from rrnn_plugin.experiments.spec_checks import SpecError, is_finite_number

POLL_S = 30  # how often a worker with nothing to claim checks on other workers' claims
DIRECTIONS = ["maximize", "minimize"]  # validation accuracy, transitions


def default_storage(sweep_dir: str) -> str:
    return "sqlite:///" + os.path.join(os.path.abspath(sweep_dir), "sweep.db")


def grid_study_name(spec_name: str) -> str:
    return f"{spec_name}:grid"


class Sweep:
    """One worker on one sweep.  Several may run at once on the same storage."""

    def __init__(
        self,
        spec: SweepSpec,
        sweep_dir: str,
        storage: Optional[str] = None,
        threads: Optional[int] = None,
        progress: Callable[[str], None] = print,
    ) -> None:
        self.spec = spec
        self.sweep_dir = sweep_dir
        os.makedirs(sweep_dir, exist_ok=True)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # heartbeats and fail_stale_trials are "experimental" and meant for Study.optimize; we use
        # them with ask/tell on purpose (see the module docstring)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        self.storage = open_storage(storage or default_storage(sweep_dir))
        self.threads = threads
        self.progress = progress
        self.failed_points: set = set()  # keys of grid points whose run failed in this worker

    def study(self, name: str, sampler: Optional[optuna.samplers.BaseSampler] = None) -> optuna.Study:
        study = optuna.create_study(
            storage=self.storage, study_name=name, directions=DIRECTIONS, load_if_exists=True, sampler=sampler
        )
        current, stored = self.spec.to_json(), study.user_attrs.get("spec")
        if stored is not None:
            changed = settings_changed(stored, current)
            if changed:
                raise SpecError(
                    f"the sweep {self.spec.name!r} in {self.sweep_dir} ran with other values of {changed} than this "
                    "spec gives: its finished runs would be mixed with runs of the new settings in one table.  "
                    "Restore those values, or give the changed spec another name or sweep dir")
        if stored is None or grid_grew(stored, current):  # the report plans the stored grid
            study.set_user_attr("spec", current)
        return study

    # ----- grid -----------------------------------------------------------------------------
    def run_grid(self, max_trials: Optional[int] = None, wait: bool = True) -> int:
        """Run grid points until none is left (or `max_trials` were run); return how many ran."""
        points = grid_points(self.spec)
        if not points:  # a spec for the multi-objective mode only
            return 0
        study = self.study(grid_study_name(self.spec.name))
        ran = 0
        failed_here = self.failed_points  # points that failed in this worker: not retried until restart
        while max_trials is None or ran < max_trials:
            fail_dead_trials(study)
            done, live = grid_state(study)
            claimed = None
            waiting = 0  # points this worker could run once another worker's search finishes
            for index, point in enumerate(points):
                if point.key in done or point.key in failed_here or point.key in live:
                    continue
                needs = [key for key in self._dependencies(point) if key not in done]
                if needs:
                    waiting += any(key in live for key in needs)
                    continue
                trial = claim(study, point.key, _point_attrs(point))
                if trial is None:
                    continue
                claimed = (index, point, trial)
                break
            if claimed is None:
                remaining = len([p for p in points if p.key not in done])
                if waiting and wait:
                    self.progress(f"[sweep] {waiting} points wait for searches or tuning trials run by other workers; "
                                  f"checking again in {POLL_S} s")
                    time.sleep(POLL_S)
                    continue
                self.progress(f"[sweep] grid: {len(points) - remaining}/{len(points)} points complete")
                break
            index, point, trial = claimed
            if not self._run_point(study, point, trial, index, len(points), done):
                failed_here.add(point.key)
            ran += 1
        return ran

    @property
    def _first_fold(self) -> Optional[int]:
        return None if self.spec.folds is None else 0

    def _search_key(self, point: Point) -> str:
        return Point(SEARCH, point.dataset, f"search_{target_name(point.target)}", self.spec.seeds[0],
                     target=point.target, fold=self._first_fold).key

    def _tuning_keys(self, point: Point) -> List[str]:
        """Keys of the tuning trials of `point`'s (dataset, name); none without tuning."""
        if self.spec.tuning is None:
            return []
        first = 1 if point.kind == LEARNED or point.name.startswith("learned_") else 0
        return [Point(TUNE, point.dataset, point.name, self.spec.seeds[0], fold=self._first_fold, trial=t).key
                for t in range(first, self.spec.tuning.trials + 1)]

    def _dependencies(self, point: Point) -> List[str]:
        """Keys that must be complete before `point` can run."""
        if point.kind == BASELINE:
            return self._tuning_keys(point)
        if point.kind == LEARNED:
            return [self._search_key(point)] + self._tuning_keys(point)
        if point.kind == TUNE and point.target is not None:
            return [self._search_key(point)]
        return []

    def _run_point(self, study: optuna.Study, point: Point, trial: Trial, index: int, total: int,
                   done: Dict[str, FrozenTrial]) -> bool:
        start = time.time()
        try:
            with heartbeat(self.storage, trial):
                if point.kind == BASELINE:
                    attrs = self._run_baseline(point, done)
                elif point.kind == SEARCH:
                    attrs = self._run_search(point)
                elif point.kind == TUNE:
                    attrs = self._run_tuning_trial(point, done)
                else:
                    attrs = self._run_learned(point, done)
        except (RunFailed, ValueError, OSError) as error:
            trial.set_user_attr("error", str(error)[-2000:])
            study.tell(trial, state=TrialState.FAIL)
            self.progress(f"[sweep {index + 1}/{total}] {point.key}: FAILED ({error})")
            return False
        except BaseException:  # Ctrl-C: free the point now rather than after claims.GRACE_S
            study.tell(trial, state=TrialState.FAIL)
            raise
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if attrs.get("failed"):  # a tuning trial whose settings do not train: an outcome, not a fault
            study.tell(trial, [-1.0, 1e9])
            self.progress(f"[sweep {index + 1}/{total}] {point.key}: these settings failed ({attrs['error'][-200:]})")
            return True
        study.tell(trial, [attrs["validation_accuracy"], attrs["transitions"]])
        self.progress(
            f"[sweep {index + 1}/{total}] {point.key}: {describe(attrs)} ({time.time() - start:.0f} s)"
        )
        return True

    def run_overrides(self, kind: str, seed: int, fold: Optional[int] = None) -> Dict[str, Any]:
        extra = self.spec.baseline_overrides if kind == BASELINE else self.spec.structure_overrides
        folds = {} if fold is None else {"dataset_reader.folds": self.spec.folds, "dataset_reader.fold": fold}
        return {**self.spec.overrides, **extra, **folds, **seed_overrides(seed)}

    def train_run(self, config: str, run_dir: str, overrides: Dict[str, Any], lam: Optional[float] = None) -> RunResult:
        """One run with the spec's environment (and the group-lasso strength, for structure learning)."""
        env = dict(self.spec.env)
        if lam is not None:
            env["RRNN_LAMBDA"] = repr(lam)
        return train(config, run_dir, overrides, env=env, threads=self.threads)

    def _run_dir(self, point: Point) -> str:
        if point.kind == TUNE:
            return os.path.join(self.sweep_dir, "tuning", point.dataset, point.name, f"trial_{point.trial}")
        fold = [] if point.fold is None else [f"fold_{point.fold}"]
        return os.path.join(self.sweep_dir, "trials", point.dataset, point.name, *fold, f"seed_{point.seed}")

    def _reusable(self, run_dir: Optional[str]) -> bool:
        """A recorded run folder (a search's chosen try, a winning tuning trial) is reused only when
        it is finished and inside this sweep dir: the record may come from an adopted state file
        (untrusted, and written for another sweep dir), and a reused folder may be completed or, if
        its archive is broken, cleared and trained again."""
        if not run_dir or not is_finished(run_dir):
            return False
        inside = os.path.realpath(self.sweep_dir) + os.sep
        return os.path.realpath(run_dir).startswith(inside)

    def _baseline_config(self, point: Point) -> str:
        return self.spec.baseline_config.format(dataset=point.dataset, baseline=point.baseline)

    def _is_tuning_run(self, point: Point) -> bool:
        """The (first fold, first seed) run of a tuned point is its winning tuning trial's run."""
        return point.seed == self.spec.seeds[0] and point.fold == self._first_fold

    def _run_baseline(self, point: Point, done: Dict[str, FrozenTrial]) -> Dict[str, Any]:
        settings = self._tuned(point, done)
        run_dir = self._run_dir(point)
        if settings is not None and self._is_tuning_run(point) and self._reusable(settings["serialization_dir"]):
            run_dir = settings["serialization_dir"]  # this very run exists: the winning tuning trial
        # (a new run also when the winning trial's folder is gone: adopted from another machine or
        # session; a reused run is only read, or writes its missing test predictions: runs.train)
        overrides = {**self.run_overrides(BASELINE, point.seed, point.fold), **_params(settings)}
        result = self.train_run(self._baseline_config(point), run_dir, overrides)
        return {**result_attrs(result), **_tuning_attrs(settings)}

    def _search_dir(self, dataset: str, target: float) -> str:
        return os.path.join(self.sweep_dir, "search", dataset, f"target_{target_name(target)}")

    def _run_search(self, point: Point) -> Dict[str, Any]:
        search = LambdaSearch(
            target=point.target, tolerance=self.spec.tolerance, start=self.spec.start_for(point.target),
            max_tries=self.spec.max_tries,
        )
        config = self.spec.structure_config.format(dataset=point.dataset)
        runner = config_runner(config, self.run_overrides(SEARCH, point.seed, point.fold), threads=self.threads,
                               env=self.spec.env)
        outcome = run_search(search, self._search_dir(point.dataset, point.target), runner, self.progress)
        if outcome.lambda_ is None:
            raise ValueError(f"search for {point.key} ran no try ({outcome.reason})")
        return {
            "lambda": outcome.lambda_, "found": outcome.found, "tries": outcome.tries,
            "transitions": outcome.transitions, "validation_accuracy": outcome.validation_accuracy,
            "test_accuracy": outcome.test_accuracy, "serialization_dir": outcome.try_dir,
            "reason": outcome.reason,
        }

    def _run_tuning_trial(self, point: Point, done: Dict[str, FrozenTrial]) -> Dict[str, Any]:
        params = self.spec.tuning.sample(point.dataset, point.name, point.trial)
        if point.target is None:
            kind, config, lam = BASELINE, self._baseline_config(point), None
        else:
            lam = done[self._search_key(point)].user_attrs["lambda"]
            kind, config = LEARNED, self.spec.structure_config.format(dataset=point.dataset)
        overrides = {**self.run_overrides(kind, point.seed, point.fold), **params}
        try:
            result = self.train_run(config, self._run_dir(point), overrides, lam)
            attrs = result_attrs(result)
        except (RunFailed, ValueError) as error:
            if not _trained(self._run_dir(point)):
                raise  # it never trained (a broken config, a missing file): a fault, retried next time
            # it trained and then failed (diverged to NaN, ...): an outcome of these settings
            attrs = {"failed": True, "error": str(error)[-2000:], "serialization_dir": self._run_dir(point)}
        return {**attrs, "tuning_trial": point.trial, "hyperparameters": params}

    def _tuned(self, point: Point, done: Dict[str, FrozenTrial]) -> Optional[Dict[str, Any]]:
        """The winning tuning trial of `point` ({"trial", "hyperparameters", "serialization_dir"}),
        or None without tuning.  Best validation accuracy (ties: the lower trial number); a learned
        point's trial must land within the tolerance of its target, else trial 0 (the search's)."""
        if self.spec.tuning is None:
            return None
        candidates = [done[key].user_attrs for key in self._tuning_keys(point)]
        if point.kind == LEARNED:
            search = done[self._search_key(point)].user_attrs
            default = {"tuning_trial": 0, "hyperparameters": {}, "serialization_dir": search["serialization_dir"],
                       "validation_accuracy": search["validation_accuracy"], "transitions": search["transitions"]}
            candidates = [default] + [c for c in candidates
                                      if abs(c.get("transitions", math.inf) - point.target) <= self.spec.tolerance]
        candidates = [c for c in candidates if not c.get("failed") and c.get("validation_accuracy") is not None]
        if not candidates:
            raise ValueError(f"every tuning trial of {point.label} failed")
        best = max(candidates, key=lambda c: (c["validation_accuracy"], -c["tuning_trial"]))
        return {"trial": best["tuning_trial"], "hyperparameters": dict(best.get("hyperparameters") or {}),
                "serialization_dir": best["serialization_dir"]}

    def _run_learned(self, point: Point, done: Dict[str, FrozenTrial]) -> Dict[str, Any]:
        search_trial = done[self._search_key(point)]
        lam = search_trial.user_attrs["lambda"]
        settings = self._tuned(point, done)
        reuse = settings["serialization_dir"] if settings else search_trial.user_attrs["serialization_dir"]
        run_dir = self._run_dir(point)
        if self._is_tuning_run(point) and self._reusable(reuse):
            run_dir = reuse  # this very run exists already: the search's chosen try, or the winning tuning trial
        # (as for baselines: a new run when that folder is gone; a reused one is read, or completed)
        config = self.spec.structure_config.format(dataset=point.dataset)
        overrides = {**self.run_overrides(LEARNED, point.seed, point.fold), **_params(settings)}
        result = self.train_run(config, run_dir, overrides, lam)
        attrs = result_attrs(result)
        attrs["lambda"] = lam
        attrs["found"] = search_trial.user_attrs.get("found")
        return {**attrs, **_tuning_attrs(settings)}

    # ----- carrying a sweep over to another machine or session ------------------------------
    def export_state(self, path: str) -> int:
        """Write every COMPLETE grid trial (its key, objective values and attributes) as JSON
        lines: a small text file to commit, from which `adopt_state` continues the sweep where
        the run folders and the database are gone.  Returns the number of trials written."""
        study = self.study(grid_study_name(self.spec.name))
        trials = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path + ".tmp", "w") as handle:
            for trial in trials:
                if trial.user_attrs.get("key"):
                    # the training time lives in the run folder, which the state outlives
                    attrs = {**trial.user_attrs, "training_s": training_seconds(trial.user_attrs)}
                    handle.write(json.dumps({"key": trial.user_attrs["key"], "values": trial.values,
                                             "attrs": attrs}, sort_keys=True) + "\n")
        os.replace(path + ".tmp", path)
        return len(trials)

    def adopt_state(self, path: str) -> int:
        """Record the trials of an `export_state` file that this sweep's storage lacks, as
        COMPLETE: they are not run again, and later points use their results (searched lambdas,
        tuning winners).  Runs that need a folder that is not here (the first fold's reuse of a
        tuning trial) train again with the same settings.  Returns how many were adopted."""
        study = self.study(grid_study_name(self.spec.name))
        done, _ = grid_state(study)
        keys = {p.key for p in grid_points(self.spec)}
        adopted = 0
        with open(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    key, values, attrs = entry["key"], entry["values"], entry["attrs"]
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise ValueError(f"{path}, line {number}: not a sweep-state entry ({error})") from None
                if not (isinstance(key, str) and isinstance(attrs, dict) and isinstance(values, list)
                        and len(values) == 2 and all(is_finite_number(v) for v in values)):
                    raise ValueError(f"{path}, line {number}: not a sweep-state entry (a key, two finite values and "
                                     f"an object of attributes), got values {values!r}")
                if key in done or key not in keys:
                    continue
                trial = study.ask()
                for name, value in {**attrs, "adopted_from": os.path.basename(path)}.items():
                    trial.set_user_attr(name, value)
                study.tell(trial, values)
                adopted += 1
        return adopted

# ----- helpers ----------------------------------------------------------------------------------
# What a finished run depends on: a resumed sweep may add seeds, datasets, baselines or targets, but
# not change these under the runs it has (SweepSpec keys; name, input and multi_objective are free).
RUN_SETTINGS = ("baseline_config", "structure_config", "overrides", "baseline_overrides", "structure_overrides",
                "tolerance", "start_lambda", "max_tries", "folds", "tuning", "env")


def grid_grew(stored: Dict[str, Any], current: Dict[str, Any]) -> bool:
    """Whether `current` adds seeds, datasets, baselines or targets to `stored` and drops none (a
    worker started with a smaller spec must not shrink the plan the report reads)."""
    keys = ("datasets", "seeds", "baselines", "targets")
    as_set = lambda spec, key: {str(v) for v in spec.get(key) or []}  # noqa: E731
    return (all(as_set(stored, k) <= as_set(current, k) for k in keys)
            and any(as_set(stored, k) != as_set(current, k) for k in keys))


def settings_changed(stored: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """The RUN_SETTINGS whose values differ between a study's stored spec and the current one
    (both normalized through SweepSpec, so 20 and 20.0, or a default left out, are the same)."""
    stored = SweepSpec.from_json({k: v for k, v in stored.items() if v is not None}).to_json()
    return [key for key in RUN_SETTINGS if stored.get(key) != current.get(key)]


def _point_attrs(point: Point) -> Dict[str, Any]:
    attrs = {"kind": point.kind, "dataset": point.dataset, "point": point.name, "seed": point.seed}
    for name in ("baseline", "target", "fold", "trial"):
        if getattr(point, name) is not None:
            attrs[name] = getattr(point, name)
    return attrs


def _trained(run_dir: str) -> bool:
    """Whether a run finished at least one epoch (AllenNLP writes metrics_epoch_N.json after each)."""
    return os.path.isdir(run_dir) and any(name.startswith("metrics_epoch_") for name in os.listdir(run_dir))


def _params(settings: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    return dict(settings["hyperparameters"]) if settings else {}


def _tuning_attrs(settings: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if settings is None:
        return {}
    return {"tuning_trial": settings["trial"], "hyperparameters": settings["hyperparameters"]}


def result_attrs(result: RunResult) -> Dict[str, Any]:
    attrs = result.to_json()
    if attrs["validation_accuracy"] is None or attrs["transitions"] is None:
        raise ValueError(f"{result.serialization_dir}/metrics.json lacks validation accuracy or transitions")
    return attrs


def describe(attrs: Dict[str, Any]) -> str:
    test = attrs.get("test_accuracy")
    text = (f"test acc {'?' if test is None else format(test, '.4f')}, val acc "
            f"{attrs['validation_accuracy']:.4f}, {attrs['transitions']:g} transitions")
    if attrs.get("lambda") is not None:
        text += f", lambda {attrs['lambda']:.4g}"
    return text


def trial_rows(study: optuna.Study) -> List[Dict[str, Any]]:
    """COMPLETE trials as flat dicts (user attrs + params), for the report."""
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        row = {"trial": trial.number, **trial.user_attrs, **{f"param:{k}": v for k, v in trial.params.items()}}
        rows.append(row)
    return rows

