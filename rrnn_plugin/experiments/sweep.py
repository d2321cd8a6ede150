"""Running a sweep spec with Optuna as the bookkeeper, so that it resumes and can be shared.

Why Optuna: its RDB storage is a transactional record of trials (SQLite by default, any SQLAlchemy
URL to share one sweep between machines), with heartbeats to detect dead workers, and its
multi-objective samplers drive the second mode.  Each trial is an ordinary `allennlp train` run
(runs.py) with its own serialization dir under the sweep dir.

Grid mode (the paper's protocol, `spec.grid_points`): study `<name>:grid`, directions
(maximize validation accuracy, minimize transitions).  Every point becomes one trial carrying the
point as user attrs (`key`, `kind`, `dataset`, `point`, `seed`, ...) plus the results.  A worker
walks the points in order and skips those with a COMPLETE trial (never re-run) or a live RUNNING
one (another worker's).  To claim a point it creates a RUNNING trial with the point's key; if it
then sees an older live claim of the same key it backs off (lowest trial number wins).  Claims
are kept alive by a heartbeat; a claim whose worker died (same host and its pid gone, or no
heartbeat for `GRACE_S`) is failed and the point is free again.  Serialization dirs are
deterministic, so a run that finished but was never recorded is adopted, not re-run, and an
interrupted one restarts cleanly.

Multi-objective mode (`spec.multi_objective`): study `<name>:moo:<dataset>`, Optuna's sampler
(TPE by default) proposes lambda and the training hyperparameters; trials run until `n_trials`
are complete.  A trial whose worker died is re-enqueued with the same parameters.
"""
import json
import math
import os
import socket
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, Trial, TrialState

from rrnn_plugin.experiments.lambda_search import LambdaSearch
from rrnn_plugin.experiments.runs import (
    RunFailed, RunResult, is_finished, read_run_result, seed_overrides, train, training_seconds,
)
from rrnn_plugin.experiments.search import config_runner, run_search
from rrnn_plugin.experiments.spec import (
    BASELINE, LEARNED, SEARCH, TUNE, Point, SweepSpec, grid_points, target_name,
)

HEARTBEAT_S = 30
GRACE_S = 180  # a RUNNING trial without a heartbeat for this long belongs to a dead worker
POLL_S = 30  # how often a worker with nothing to claim checks on other workers' claims
DIRECTIONS = ["maximize", "minimize"]  # validation accuracy, transitions
_HOST = socket.gethostname()


def default_storage(sweep_dir: str) -> str:
    return "sqlite:///" + os.path.join(os.path.abspath(sweep_dir), "sweep.db")


def grid_study_name(spec_name: str) -> str:
    return f"{spec_name}:grid"


def moo_study_name(spec_name: str, dataset: str) -> str:
    return f"{spec_name}:moo:{dataset}"


def open_storage(url: str, attempts: int = 5) -> RDBStorage:
    """Optuna's storage at `url`.  Workers started together on an empty database race to create
    Optuna's tables (PostgreSQL then refuses all but one); the losers wait and open it again."""
    import sqlalchemy

    for attempt in range(attempts):
        try:
            return RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=_requeue_if_sampled,
            )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(1.0 + attempt)


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
        if "spec" not in study.user_attrs:
            study.set_user_attr("spec", self.spec.to_json())
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
            _fail_dead_trials(study)
            done, live = _grid_state(study)
            claimed = None
            waiting = 0  # points this worker could run once another worker's search finishes
            for index, point in enumerate(points):
                if point.key in done or point.key in failed_here or point.key in live:
                    continue
                needs = [key for key in self._dependencies(point) if key not in done]
                if needs:
                    waiting += any(key in live for key in needs)
                    continue
                trial = _claim(study, point.key, _point_attrs(point))
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
            with _heartbeat(self.storage, trial):
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
        except BaseException:  # Ctrl-C: free the point now rather than after GRACE_S
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
            f"[sweep {index + 1}/{total}] {point.key}: {_describe(attrs)} ({time.time() - start:.0f} s)"
        )
        return True

    def _overrides(self, kind: str, seed: int, fold: Optional[int] = None) -> Dict[str, Any]:
        extra = self.spec.baseline_overrides if kind == BASELINE else self.spec.structure_overrides
        folds = {} if fold is None else {"dataset_reader.folds": self.spec.folds, "dataset_reader.fold": fold}
        return {**self.spec.overrides, **extra, **folds, **seed_overrides(seed)}

    def _train(self, config: str, run_dir: str, overrides: Dict[str, Any], lam: Optional[float] = None) -> RunResult:
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

    def _baseline_config(self, point: Point) -> str:
        return self.spec.baseline_config.format(dataset=point.dataset, baseline=point.baseline)

    def _is_tuning_run(self, point: Point) -> bool:
        """The (first fold, first seed) run of a tuned point is its winning tuning trial's run."""
        return point.seed == self.spec.seeds[0] and point.fold == self._first_fold

    def _run_baseline(self, point: Point, done: Dict[str, FrozenTrial]) -> Dict[str, Any]:
        settings = self._tuned(point, done)
        if settings is not None and self._is_tuning_run(point) and is_finished(settings["serialization_dir"]):
            result = read_run_result(settings["serialization_dir"])
        else:  # (also when the winning trial's folder is gone: adopted from another machine or session)
            overrides = {**self._overrides(BASELINE, point.seed, point.fold), **_params(settings)}
            result = self._train(self._baseline_config(point), self._run_dir(point), overrides)
        return {**_result_attrs(result), **_tuning_attrs(settings)}

    def _search_dir(self, dataset: str, target: float) -> str:
        return os.path.join(self.sweep_dir, "search", dataset, f"target_{target_name(target)}")

    def _run_search(self, point: Point) -> Dict[str, Any]:
        search = LambdaSearch(
            target=point.target, tolerance=self.spec.tolerance, start=self.spec.start_for(point.target),
            max_tries=self.spec.max_tries,
        )
        config = self.spec.structure_config.format(dataset=point.dataset)
        runner = config_runner(config, self._overrides(SEARCH, point.seed, point.fold), threads=self.threads,
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
        overrides = {**self._overrides(kind, point.seed, point.fold), **params}
        try:
            result = self._train(config, self._run_dir(point), overrides, lam)
            attrs = _result_attrs(result)
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
        if self._is_tuning_run(point) and is_finished(reuse):
            # this very run exists already: the search's chosen try, or the winning tuning trial
            result = read_run_result(reuse)
        else:  # (also when that run's folder is gone: adopted from another machine or session)
            config = self.spec.structure_config.format(dataset=point.dataset)
            overrides = {**self._overrides(LEARNED, point.seed, point.fold), **_params(settings)}
            result = self._train(config, self._run_dir(point), overrides, lam)
        attrs = _result_attrs(result)
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
        done, _ = _grid_state(study)
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
                if key in done or key not in keys:
                    continue
                trial = study.ask()
                for name, value in {**attrs, "adopted_from": os.path.basename(path)}.items():
                    trial.set_user_attr(name, value)
                study.tell(trial, values)
                adopted += 1
        return adopted

    # ----- multi-objective ------------------------------------------------------------------
    def run_multi_objective(self, max_trials: Optional[int] = None) -> int:
        moo = self.spec.multi_objective
        if moo is None:
            return 0
        ran = 0
        for dataset in moo.datasets:
            study = self.study(moo_study_name(self.spec.name, dataset))
            consecutive_failures = 0
            while (max_trials is None or ran < max_trials) and consecutive_failures < 3:
                _fail_dead_trials(study)
                trials = study.get_trials(deepcopy=False)
                complete = sum(t.state == TrialState.COMPLETE for t in trials)
                running = sum(t.state == TrialState.RUNNING for t in trials)
                if complete + running >= moo.n_trials:
                    self.progress(f"[moo] {dataset}: {complete}/{moo.n_trials} trials complete")
                    break
                # a sampler seeded by the history: reproducible alone, different per concurrent ask
                study.sampler = _sampler(moo.sampler, moo.seed * 100003 + len(trials))
                trial = study.ask()
                trial.set_user_attr("host", _HOST)
                trial.set_user_attr("pid", os.getpid())
                trial.set_user_attr("dataset", dataset)
                params = {name: _suggest(trial, name, bounds) for name, bounds in moo.space.items()}
                run_dir = os.path.join(self.sweep_dir, "moo", dataset, f"trial_{trial.number:03d}")
                start = time.time()
                try:
                    with _heartbeat(self.storage, trial):
                        result = self._run_moo_trial(dataset, params, run_dir)
                except (RunFailed, ValueError, OSError) as error:
                    trial.set_user_attr("error", str(error)[-2000:])
                    study.tell(trial, state=TrialState.FAIL)
                    self.progress(f"[moo] {dataset} trial {trial.number}: FAILED ({error})")
                    consecutive_failures += 1
                    self.failed_points.add(f"{dataset}/moo/trial_{trial.number}")
                    ran += 1
                    continue
                except BaseException:  # Ctrl-C: run these parameters again next time
                    study.tell(trial, state=TrialState.FAIL)
                    _requeue_if_sampled(study, study.get_trials(deepcopy=False)[trial.number])
                    raise
                consecutive_failures = 0
                attrs = _result_attrs(result)
                for key, value in attrs.items():
                    trial.set_user_attr(key, value)
                study.tell(trial, [attrs["validation_accuracy"], attrs["transitions"]])
                ran += 1
                shown = ", ".join(f"{k.split('.')[-1]}={v:.3g}" for k, v in params.items())
                self.progress(
                    f"[moo] {dataset} trial {trial.number} ({complete + 1}/{moo.n_trials}): {shown} -> "
                    f"{_describe(attrs)} ({time.time() - start:.0f} s)"
                )
        return ran

    def _run_moo_trial(self, dataset: str, params: Dict[str, float], run_dir: str) -> RunResult:
        moo = self.spec.multi_objective
        overrides = self._overrides(LEARNED, moo.seed)
        overrides.update({k: v for k, v in params.items() if k != "lambda"})
        config = self.spec.structure_config.format(dataset=dataset)
        return self._train(config, run_dir, overrides, params.get("lambda"))


# ----- helpers ----------------------------------------------------------------------------------
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


def _result_attrs(result: RunResult) -> Dict[str, Any]:
    attrs = result.to_json()
    if attrs["validation_accuracy"] is None or attrs["transitions"] is None:
        raise ValueError(f"{result.serialization_dir}/metrics.json lacks validation accuracy or transitions")
    return attrs


def _describe(attrs: Dict[str, Any]) -> str:
    test = attrs.get("test_accuracy")
    text = (f"test acc {'?' if test is None else format(test, '.4f')}, val acc "
            f"{attrs['validation_accuracy']:.4f}, {attrs['transitions']:g} transitions")
    if attrs.get("lambda") is not None:
        text += f", lambda {attrs['lambda']:.4g}"
    return text


def _grid_state(study: optuna.Study) -> Tuple[Dict[str, FrozenTrial], Dict[str, FrozenTrial]]:
    """Points with a COMPLETE trial, and points with a RUNNING (claimed) trial."""
    done: Dict[str, FrozenTrial] = {}
    live: Dict[str, FrozenTrial] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
        key = trial.user_attrs.get("key")
        if key is None:
            continue
        if trial.state == TrialState.COMPLETE:
            done.setdefault(key, trial)
        elif key not in live or trial.number < live[key].number:
            live[key] = trial
    return done, live


def _claim(study: optuna.Study, key: str, attrs: Dict[str, Any]) -> Optional[Trial]:
    """Create a RUNNING trial for `key`; None if an older claim of the same key is alive."""
    trial = study.ask()
    for name, value in {"key": key, "host": _HOST, "pid": os.getpid(), **attrs}.items():
        trial.set_user_attr(name, value)
    study._storage.record_heartbeat(trial._trial_id)
    time.sleep(0.1)  # let a concurrent claimer's attrs land before comparing
    done, live = _grid_state(study)
    if key in done or live.get(key, trial).number < trial.number:
        trial.set_user_attr("duplicate_claim", True)
        study.tell(trial, state=TrialState.FAIL)
        return None
    return trial


def _fail_dead_trials(study: optuna.Study) -> None:
    """Fail RUNNING trials whose worker is gone: on this host with a dead pid (at once), or
    anywhere without a heartbeat for GRACE_S (Optuna's fail_stale_trials)."""
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") == _HOST and isinstance(pid, int) and not _alive(pid):
            try:
                if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    _requeue_if_sampled(study, trial)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass
    optuna.storages.fail_stale_trials(study)


def _requeue_if_sampled(study: optuna.Study, trial: FrozenTrial) -> None:
    """A multi-objective trial whose worker died is tried again with the same parameters."""
    if ":moo:" in study.study_name and trial.params:
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _heartbeat(storage: RDBStorage, trial: Trial) -> Iterator[None]:
    """Record the trial's heartbeat every HEARTBEAT_S seconds while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                storage.record_heartbeat(trial._trial_id)
            except Exception:  # a busy database: try again next beat
                pass
            stop.wait(HEARTBEAT_S)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r} (tpe, nsga2, random)")


def _suggest(trial: Trial, name: str, bounds: Dict[str, Any]) -> float:
    return trial.suggest_float(name, float(bounds["low"]), float(bounds["high"]), log=bool(bounds.get("log", False)))


def trial_rows(study: optuna.Study) -> List[Dict[str, Any]]:
    """COMPLETE trials as flat dicts (user attrs + params), for the report."""
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        row = {"trial": trial.number, **trial.user_attrs, **{f"param:{k}": v for k, v in trial.params.items()}}
        rows.append(row)
    return rows

