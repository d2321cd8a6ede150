"""Which worker runs which trial: claims, heartbeats and dead workers, on Optuna's RDB storage.

Several sweep workers (one machine or many, one storage URL) walk the same grid.  To run a point a
worker claims it: a RUNNING trial carrying the point's key, its host and its pid.  If an older live
claim of the same key exists the newer one backs off (lowest trial number wins), so no point runs
twice.  A claim is kept alive by a heartbeat thread; a claim whose worker died (same host and its
pid gone, at once; or no heartbeat for GRACE_S, anywhere) is failed, and the point is free again.
A sampled multi-objective trial whose worker died is enqueued again with the same parameters.
"""
import os
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional, Tuple

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, Trial, TrialState

HEARTBEAT_S = 30
GRACE_S = 180  # a RUNNING trial without a heartbeat for this long belongs to a dead worker
HOST = socket.gethostname()


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
                heartbeat_stale_trial_callback=requeue_if_sampled,
            )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(1.0 + attempt)


def grid_state(study: optuna.Study) -> Tuple[Dict[str, FrozenTrial], Dict[str, FrozenTrial]]:
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


def claim(study: optuna.Study, key: str, attrs: Dict[str, Any]) -> Optional[Trial]:
    """Create a RUNNING trial for `key`; None if an older claim of the same key is alive."""
    trial = study.ask()
    for name, value in {"key": key, "host": HOST, "pid": os.getpid(), **attrs}.items():
        trial.set_user_attr(name, value)
    study._storage.record_heartbeat(trial._trial_id)
    time.sleep(0.1)  # let a concurrent claimer's attrs land before comparing
    done, live = grid_state(study)
    if key in done or live.get(key, trial).number < trial.number:
        trial.set_user_attr("duplicate_claim", True)
        study.tell(trial, state=TrialState.FAIL)
        return None
    return trial


def fail_dead_trials(study: optuna.Study) -> None:
    """Fail RUNNING trials whose worker is gone: on this host with a dead pid (at once), or
    anywhere without a heartbeat for GRACE_S (Optuna's fail_stale_trials)."""
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") == HOST and isinstance(pid, int) and not alive(pid):
            try:
                if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    requeue_if_sampled(study, trial)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass
    optuna.storages.fail_stale_trials(study)


def requeue_if_sampled(study: optuna.Study, trial: FrozenTrial) -> None:
    """A multi-objective trial whose worker died is tried again with the same parameters."""
    if ":moo:" in study.study_name and trial.params:
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


def alive(pid: int) -> bool:
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
def heartbeat(storage: RDBStorage, trial: Trial) -> Iterator[None]:
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
