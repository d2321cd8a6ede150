"""Several workers on one sweep through a real PostgreSQL server (`rrnn-sweep --storage URL`).

The test starts Debian's PostgreSQL (`make postgres` installs it) on a free loopback port with a
temporary data directory, runs two sweep worker processes against it (training replaced by a
sleep that writes a run's metrics), kills one with SIGKILL in the middle of a trial, and checks
that every grid point ends exactly once: recorded as COMPLETE once, its run finished once, none
lost.  Skipped, saying why, where PostgreSQL is not installed.
"""
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
pytestmark = pytest.mark.skipif(
    not PG_BIN or not os.path.exists(os.path.join(PG_BIN[-1], "initdb")),
    reason="PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): run `make postgres`",
)

WORKER = r'''
import json, os, sys, time
from pathlib import Path
from rrnn_plugin.experiments import sweep as sweep_module
from rrnn_plugin.experiments.runs import read_run_result
from rrnn_plugin.experiments.spec import SweepSpec

url, sweep_dir, ledger = sys.argv[1:4]

def train(config, serialization_dir, overrides=None, env=None, threads=None):
    with open(ledger, "a") as f:
        f.write(f"start {os.getpid()} {serialization_dir}\n")
    time.sleep(float(os.environ["TRIAL_SECONDS"]))
    os.makedirs(serialization_dir, exist_ok=True)
    Path(serialization_dir, "metrics.json").write_text(json.dumps(
        {"best_validation_accuracy": 0.8, "test_accuracy": 0.8, "test_transitions": 24}))
    with open(ledger, "a") as f:
        f.write(f"done {os.getpid()} {serialization_dir}\n")
    return read_run_result(serialization_dir)

sweep_module.train = train
spec = SweepSpec.from_json(json.loads(sys.argv[4]))
sweep_module.Sweep(spec, sweep_dir, storage=url, progress=lambda line: print(line, flush=True)).run_grid()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(command, **kwargs):
    """Run a server command; as root, as the `postgres` user (initdb refuses root)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--"] + command
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


@pytest.fixture
def postgres_url():
    bin_dir = PG_BIN[-1]
    # its own folder under the system temp dir: pytest's are private to root, and the server runs
    # as `postgres` when the tests run as root
    root = Path(tempfile.mkdtemp(prefix="rrnn-postgres-"))
    data, sockets = root / "data", root / "sockets"
    data.mkdir()
    sockets.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for folder in (root, data, sockets):
            os.chown(folder, user.pw_uid, user.pw_gid)
    try:
        _as_postgres([f"{bin_dir}/initdb", "-D", str(data), "-A", "trust", "-U", "rrnn"])
        port = _free_port()
        _as_postgres([f"{bin_dir}/pg_ctl", "-D", str(data), "-w", "-l", str(root / "server.log"), "start", "-o",
                      f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1"])
        try:
            yield f"postgresql+psycopg2://rrnn@127.0.0.1:{port}/postgres"
        finally:
            _as_postgres([f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


SPEC = {"name": "pg", "datasets": ["kitchen"], "seeds": [0, 1], "baselines": ["1", "2", "3"], "targets": [], "folds": 2}


def test_two_workers_on_postgres_one_killed_mid_trial(postgres_url, tmp_path):
    import optuna

    from rrnn_plugin.experiments.spec import SweepSpec, grid_points

    sweep_dir, ledger = tmp_path / "sweep", tmp_path / "ledger.txt"
    ledger.touch()
    command = [sys.executable, "-c", WORKER, postgres_url, str(sweep_dir), str(ledger), json.dumps(SPEC)]
    # the victim's trials are long, so that it is surely inside one when it is killed
    victim = subprocess.Popen(command, env={**os.environ, "TRIAL_SECONDS": "60"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    survivor = subprocess.Popen(command, env={**os.environ, "TRIAL_SECONDS": "0.2"},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180

    def events():
        return [line.split() for line in ledger.read_text().splitlines() if len(line.split()) == 3]

    while not any(kind == "start" and int(pid) == victim.pid for kind, pid, _ in events()):
        assert time.time() < deadline and victim.poll() is None, "the victim never started a trial"
        time.sleep(0.1)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()  # reaped: its pid is gone, so its claim is seen as dead at once
    output, _ = survivor.communicate(timeout=max(10.0, deadline - time.time()))
    assert survivor.returncode == 0, output

    keys = sorted(p.key for p in grid_points(SweepSpec.from_json(SPEC)))
    study = optuna.load_study(study_name="pg:grid", storage=postgres_url)
    complete = sorted(t.user_attrs["key"] for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE)
    assert complete == keys  # every point recorded exactly once, none lost
    done = [run for kind, _, run in events() if kind == "done"]
    assert len(done) == len(set(done)) == len(keys)  # every run finished exactly once
    killed = [run for kind, pid, run in events() if kind == "start" and int(pid) == victim.pid]
    assert len(killed) == 1  # the one trial the victim was in when it died ...
    assert ["done", str(survivor.pid), killed[0]] in events()  # ... was taken over and finished
    assert not any(pid == str(victim.pid) for kind, pid, _ in events() if kind == "done")
    failed = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.FAIL]
    # a claim that lost a race to the other worker is failed at once as a duplicate (either
    # worker, any number of times under load); apart from those, only the victim's live claim
    dead = [t.user_attrs["pid"] for t in failed if not t.user_attrs.get("duplicate_claim")]
    assert dead == [victim.pid]  # its claim, failed as dead and freed
