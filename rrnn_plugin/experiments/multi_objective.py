"""The sweep's second mode: Optuna's sampler proposes lambda and training hyperparameters.

`spec.multi_objective` names the datasets, the search space, the sampler (TPE by default) and the
number of trials.  Each dataset gets the study `<name>:moo:<dataset>` with the grid's two
objectives (maximize validation accuracy, minimize transitions), so its Pareto front is the
accuracy-vs-size trade-off the sampler found.  Trials run until `n_trials` are complete; a trial
whose worker died is enqueued again with the same parameters (claims.requeue_if_sampled).  The
trials share the grid's storage, worker bookkeeping and training (sweep.Sweep).
"""
import os
import time
from typing import Any, Dict, Optional

import optuna
from optuna.trial import Trial, TrialState

from rrnn_plugin.experiments.claims import HOST, fail_dead_trials, heartbeat, requeue_if_sampled
from rrnn_plugin.experiments.runs import RunFailed, RunResult
from rrnn_plugin.experiments.spec import LEARNED
from rrnn_plugin.experiments.sweep import Sweep, describe, result_attrs


def moo_study_name(spec_name: str, dataset: str) -> str:
    return f"{spec_name}:moo:{dataset}"


def run_multi_objective(sweep: Sweep, max_trials: Optional[int] = None) -> int:
    """Run sampled trials on each dataset of the spec until `n_trials` are complete there (or
    `max_trials` ran in this call, or three failed in a row); return how many ran."""
    moo = sweep.spec.multi_objective
    if moo is None:
        return 0
    ran = 0
    for dataset in moo.datasets:
        study = sweep.study(moo_study_name(sweep.spec.name, dataset))
        consecutive_failures = 0
        while (max_trials is None or ran < max_trials) and consecutive_failures < 3:
            fail_dead_trials(study)
            trials = study.get_trials(deepcopy=False)
            complete = sum(t.state == TrialState.COMPLETE for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            if complete + running >= moo.n_trials:
                sweep.progress(f"[moo] {dataset}: {complete}/{moo.n_trials} trials complete")
                break
            # a sampler seeded by the history: reproducible alone, different per concurrent ask
            study.sampler = _sampler(moo.sampler, moo.seed * 100003 + len(trials))
            trial = study.ask()
            trial.set_user_attr("host", HOST)
            trial.set_user_attr("pid", os.getpid())
            trial.set_user_attr("dataset", dataset)
            params = {name: _suggest(trial, name, bounds) for name, bounds in moo.space.items()}
            run_dir = os.path.join(sweep.sweep_dir, "moo", dataset, f"trial_{trial.number:03d}")
            start = time.time()
            try:
                with heartbeat(sweep.storage, trial):
                    result = _run_moo_trial(sweep, dataset, params, run_dir)
            except (RunFailed, ValueError, OSError) as error:
                trial.set_user_attr("error", str(error)[-2000:])
                study.tell(trial, state=TrialState.FAIL)
                sweep.progress(f"[moo] {dataset} trial {trial.number}: FAILED ({error})")
                consecutive_failures += 1
                sweep.failed_points.add(f"{dataset}/moo/trial_{trial.number}")
                ran += 1
                continue
            except BaseException:  # Ctrl-C: run these parameters again next time
                study.tell(trial, state=TrialState.FAIL)
                requeue_if_sampled(study, study.get_trials(deepcopy=False)[trial.number])
                raise
            consecutive_failures = 0
            attrs = result_attrs(result)
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            study.tell(trial, [attrs["validation_accuracy"], attrs["transitions"]])
            ran += 1
            shown = ", ".join(f"{k.split('.')[-1]}={v:.3g}" for k, v in params.items())
            sweep.progress(
                f"[moo] {dataset} trial {trial.number} ({complete + 1}/{moo.n_trials}): {shown} -> "
                f"{describe(attrs)} ({time.time() - start:.0f} s)"
            )
    return ran


def _run_moo_trial(sweep: Sweep, dataset: str, params: Dict[str, float], run_dir: str) -> RunResult:
    moo = sweep.spec.multi_objective
    overrides = sweep.run_overrides(LEARNED, moo.seed)
    overrides.update({k: v for k, v in params.items() if k != "lambda"})
    config = sweep.spec.structure_config.format(dataset=dataset)
    return sweep.train_run(config, run_dir, overrides, params.get("lambda"))


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
