"""One training run in a child process, and what the experiments read back from it.

Every experiment point is an ordinary training run with its own serialization dir, so any run can
be inspected, evaluated or archived with the usual AllenNLP tools.  A child process (rather than
calling `train_model` in the sweep worker itself) keeps runs independent: a crash, a leaked thread
or a registry side effect of one run cannot affect the next.  By default the child is forked from
a warm zygote process (zygote.py), so imports and data parsing are paid once per worker, not once
per run.

`read_run_result` is the one place that knows the metric keys written by `rational_classifier`
(`test_*`, `best_validation_*`) and by the `prune_and_finetune` callback (`structure_*`,
`finetune_*`, rrnn_plugin/training/prune_and_finetune.py).
"""
import atexit
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, Optional

from rrnn_plugin.archives import archive_intact
from rrnn_plugin.experiments.trial import predictions_missing
from rrnn_plugin.experiments.zygote import Zygote, die_with

LOG_SUFFIX = ".log"  # the run's stdout/stderr go next to its serialization dir


@dataclass
class RunResult:
    """The numbers an experiment needs from one finished run."""

    serialization_dir: str
    transitions: Optional[float]  # of the final model (pruned, for structure learning)
    validation_accuracy: Optional[float]  # best validation accuracy of the final model
    test_accuracy: Optional[float]
    wfsas: Optional[float] = None
    trainable_parameters: Optional[float] = None
    structure_lambda: Optional[float] = None  # structure learning only
    structure_transitions: Optional[float] = None  # pruned transitions right after phase 1
    structure_validation_accuracy: Optional[float] = None  # best phase-1 epoch, before pruning
    duration_s: Optional[float] = None

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


class RunFailed(RuntimeError):
    pass


def is_finished(serialization_dir: str) -> bool:
    """AllenNLP writes metrics.json last, after the test evaluation: its presence means done."""
    return os.path.isfile(os.path.join(serialization_dir, "metrics.json"))


def read_run_result(serialization_dir: str) -> RunResult:
    """Parse metrics.json of a finished run (baseline or structure learning)."""
    with open(os.path.join(serialization_dir, "metrics.json")) as f:
        metrics = json.load(f)

    def number(*keys: str) -> Optional[float]:
        for key in keys:
            value = metrics.get(key)
            if isinstance(value, (int, float)):
                if not math.isfinite(value):  # json reads NaN/Infinity; Optuna would refuse it, and
                    # the sweep claimed the point again and again (a probe saw 1,786 loops)
                    raise ValueError(f"{serialization_dir}/metrics.json: {key} is {value}, not a finite number (the "
                                     "run diverged, or the file is corrupt); delete that folder to train it again")
                return float(value)
        return None

    structure_transitions = number("structure_transitions_after")
    lam = metrics.get("structure_lambda")
    return RunResult(
        serialization_dir=serialization_dir,
        # the final model's size; for structure learning it equals the pruned size
        transitions=number("test_transitions", "best_validation_transitions", "structure_transitions_after"),
        validation_accuracy=number("best_validation_accuracy", "finetune_best_validation_accuracy"),
        test_accuracy=number("test_accuracy"),
        wfsas=number("test_wfsas", "best_validation_wfsas", "structure_wfsas_after"),
        trainable_parameters=number("test_trainable_parameters", "best_validation_trainable_parameters"),
        structure_lambda=float(lam) if isinstance(lam, (int, float)) else None,
        structure_transitions=structure_transitions,
        structure_validation_accuracy=number("structure_best_validation_accuracy"),
        duration_s=_seconds(metrics.get("training_duration")),
    )


def train(
    config: str,
    serialization_dir: str,
    overrides: Optional[Mapping[str, Any]] = None,
    env: Optional[Mapping[str, str]] = None,
    threads: Optional[int] = None,
) -> RunResult:
    """Train `config` into `serialization_dir` in a child process (trial.py); return its result.

    A finished dir is read, not re-run (one stopped between training and writing its test
    predictions only writes them).  An unfinished one (an interrupted run) is removed and the
    run starts from scratch: runs are minutes long, and a clean restart cannot mix two runs.
    Output goes to `serialization_dir + ".log"`.  Raises RunFailed on a non-zero exit.
    """
    finished = is_finished(serialization_dir)
    if finished and not predictions_missing(serialization_dir):
        return read_run_result(serialization_dir)
    if finished and not archive_intact(serialization_dir):
        finished = False  # stopped while writing its archive (after metrics.json): train it again
    if not finished:
        clear_run(serialization_dir)
    os.makedirs(os.path.dirname(os.path.abspath(serialization_dir)), exist_ok=True)
    log_path = serialization_dir + LOG_SUFFIX
    method = start_method()
    start = time.time()
    with open(log_path, "a" if finished else "w") as log:
        if finished:
            log.write(f"# trial ({method}): the test predictions of {serialization_dir}, from its archive and config.json\n")
        else:
            log.write(f"# trial ({method}): {config} -> {serialization_dir}\n# overrides: "
                      f"{json.dumps(dict(overrides or {}))}\n# env: {dict(env or {})}\n")
    if method == "fork":
        code = _ZYGOTE.run(config, serialization_dir, overrides, env, threads, log_path)
    else:
        code = _subprocess(config, serialization_dir, overrides, env, threads, log_path)
    if code != 0 or not is_finished(serialization_dir):
        raise RunFailed(
            f"trial {config} -> {serialization_dir} exited with {code}; last lines of "
            f"{log_path}:\n{tail(log_path)}"
        )
    result = read_run_result(serialization_dir)
    if not finished:  # (a run that only wrote its predictions keeps the time read from its folder)
        result.duration_s = round(time.time() - start, 1)  # wall time incl. start-up and test evaluation
    return result


def start_method() -> str:
    """"fork" (a fork of this worker's warm zygote) unless RRNN_TRIAL_START=subprocess or no fork."""
    wanted = os.environ.get("RRNN_TRIAL_START", "fork")
    if wanted not in ("fork", "subprocess"):
        raise ValueError(f"RRNN_TRIAL_START must be 'fork' or 'subprocess', got {wanted!r}")
    return "fork" if wanted == "fork" and hasattr(os, "fork") else "subprocess"


def _subprocess(config, serialization_dir, overrides, env, threads, log_path) -> int:
    command = [sys.executable, "-m", "rrnn_plugin.experiments.trial", config, serialization_dir,
               json.dumps(dict(overrides or {}))]
    child_env = dict(os.environ)
    child_env.update(env or {})
    if threads:
        child_env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    parent = os.getpid()
    with open(log_path, "a") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=child_env,
                                   preexec_fn=lambda: die_with(parent))  # it dies with this worker
        try:
            return process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise


_ZYGOTE = Zygote()  # this worker's trial starter (zygote.py)
atexit.register(_ZYGOTE.close)


def clear_run(serialization_dir: str) -> None:
    """Remove an unfinished run's dir and log so that it can restart cleanly."""
    if os.path.isdir(serialization_dir):
        shutil.rmtree(serialization_dir)
    if os.path.exists(serialization_dir + LOG_SUFFIX):
        os.remove(serialization_dir + LOG_SUFFIX)


def seed_overrides(seed: int) -> Dict[str, int]:
    """AllenNLP's three seeds, all set to `seed`."""
    return {"random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            content: List[str] = f.read().splitlines()
    except OSError:
        return "(no log)"
    # tqdm progress bars are one huge line; keep the ends of lines short
    return "\n".join(line[-300:] for line in content[-lines:])


def _seconds(duration: Any) -> Optional[float]:
    """AllenNLP's "H:MM:SS.ffffff" training_duration in seconds."""
    if not isinstance(duration, str):
        return None
    try:
        hours, minutes, seconds = duration.split(":")
        return round(int(hours) * 3600 + int(minutes) * 60 + float(seconds), 1)
    except ValueError:
        return None


def training_seconds(row: Dict[str, Any]) -> Optional[float]:
    """AllenNLP's training time of the row's run (its metrics.json) when the folder is there, else
    the `training_s` the row carries (an adopted trial: `Sweep.export_state` records it)."""
    folder = row.get("serialization_dir")
    if not folder or not os.path.isfile(os.path.join(str(folder), "metrics.json")):
        return row.get("training_s")
    try:
        return read_run_result(str(folder)).duration_s
    except ValueError:  # a non-finite metric in that file: its point failed, the report still runs
        return row.get("training_s")
