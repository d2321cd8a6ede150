"""A clean, warm process that forks training trials (`runs.train`'s default way to start one).

Why not fork the sweep worker itself: a process that has run torch code has started OpenMP's
thread pool, and a child forked from it can hang in its first parallel operation.  The zygote is
started once per worker (`serve` in a new interpreter), imports allennlp, torch and
the plugin, parses the data files a trial will read, and never computes anything with torch; each
trial is a fork of it, so a trial pays neither the imports (~5 s) nor the parsing, and still starts
from a clean state that dies with it.

Protocol: one JSON request per line on stdin ({"config", "serialization_dir", "overrides", "env",
"threads", "log_path"}), one JSON reply per line on stdout ({"code": exit code of the trial}).
Lifetimes: the zygote dies with its worker and a trial with its zygote (PR_SET_PDEATHSIG), so
killing a worker, even with SIGKILL, stops its running trial.
"""
import gc
import json
import os
import subprocess
import sys
from typing import Any, Dict, Mapping, Optional

# ----- the worker's side ------------------------------------------------------------------------


class Zygote:
    """Client of one zygote process (started on first use, restarted if it died)."""

    def __init__(self) -> None:
        self._process: Optional[subprocess.Popen] = None

    def run(self, config: str, serialization_dir: str, overrides: Optional[Mapping[str, Any]],
            env: Optional[Mapping[str, str]], threads: Optional[int], log_path: str) -> int:
        """Run one trial in a fresh fork of the zygote; return its exit code."""
        request = {"config": config, "serialization_dir": serialization_dir, "overrides": dict(overrides or {}),
                   "env": dict(env or {}), "threads": threads, "log_path": log_path}
        process = self._started()
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            reply = process.stdout.readline()
        except BaseException:  # Ctrl-C, or a broken pipe: stop the zygote and with it the trial
            self.close(kill=True)
            raise
        if not reply:  # the zygote died (killed, out of memory): report, start a new one next time
            self.close(kill=True)
            return -1
        return int(json.loads(reply)["code"])

    def _started(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-c", f"from rrnn_plugin.experiments.zygote import serve; serve({os.getpid()})"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            )
        return self._process

    def close(self, kill: bool = False) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if kill:
            process.kill()
        else:
            process.stdin.close()
        process.wait()


# ----- the zygote's side ------------------------------------------------------------------------
def die_with(parent: int) -> None:
    """Linux: SIGKILL this process when its parent dies."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def warm(config: str, overrides: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """Parse the config's data files here, so every forked trial finds them parsed
    (review_files.read_review_file remembers them).  Best effort: the trial reports problems."""
    try:
        from rrnn_plugin.dataset_readers.blitzer import load_reviews
        from rrnn_plugin.experiments.trial import data_dirs

        for folder in dict.fromkeys(data_dirs(config, overrides, env)):
            load_reviews(folder)
    except Exception:  # noqa: BLE001 - not ours to report: the trial itself will fail clearly
        pass


def child(request: Dict[str, Any], parent: int) -> None:
    """The trial: output to its log, its environment and threads, train; never returns."""
    code = 1
    try:
        die_with(parent)
        fd = os.open(request["log_path"], os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        sys.stdin = open(os.devnull)
        print(f"# child pid {os.getpid()}", flush=True)
        os.environ.update(request["env"])
        if request["threads"]:
            import torch

            threads = int(request["threads"])
            os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
            torch.set_num_threads(threads)
        from rrnn_plugin.experiments.trial import run_trial

        run_trial(request["config"], request["serialization_dir"], request["overrides"])
        code = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        flush_feature_caches()  # os._exit skips atexit, where the feature cache writes its last part
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def flush_feature_caches() -> None:
    cache_module = sys.modules.get("rrnn_plugin.contextual.feature_cache")
    if cache_module is not None:
        try:
            cache_module._flush_open_caches()
        except Exception:  # noqa: BLE001 - features not written are recomputed next time
            import traceback

            traceback.print_exc()


def serve(worker: int) -> None:
    die_with(worker)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # HF tokenizers and fork
    import allennlp.commands.train  # noqa: F401  (what every trial needs, imported once)
    import torch._dynamo  # noqa: F401  (torch.optim's first optimizer imports it: ~1 s per trial otherwise)

    import rrnn_plugin  # noqa: F401
    import rrnn_plugin.experiments.trial  # noqa: F401

    replies = sys.stdout
    sys.stdout = sys.stderr  # nothing but replies may reach the worker's pipe
    for line in sys.stdin:
        request = json.loads(line)
        warm(request["config"], request["overrides"], request["env"])
        # Everything here (imports, parsed data) leaves the collector's sight: a trial's garbage
        # collections scan only its own objects (reading a dataset took 2.5x longer without this),
        # and the pages stay shared with the zygote (copy-on-write).
        gc.freeze()
        sys.stderr.flush()
        me = os.getpid()
        pid = os.fork()
        if pid == 0:
            child(request, me)
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()

