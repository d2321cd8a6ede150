"""Running the lambda search (`LambdaSearch`) with real structure-learning runs, resumably.

Layout of a search dir:

    DIR/try_00/ try_00.log, try_01/ ...   one `allennlp train` run per try (RRNN_LAMBDA set)
    DIR/search_log.jsonl                  one line per finished try
    DIR/chosen_lambda.json                the outcome, written when the search stops

The log is the source of truth: on restart its tries are replayed through `LambdaSearch.decide`
(not re-run), a try dir without a log line is an interrupted run and restarts cleanly — unless it
finished and only the log line is missing, in which case its result is adopted.
"""
import json
import logging
import os
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional

from rrnn_plugin.experiments.lambda_search import FOUND, RUN, LambdaSearch
from rrnn_plugin.experiments.runs import RunResult, clear_run, read_run_result, train
from rrnn_plugin.experiments.trial import predictions_missing

logger = logging.getLogger(__name__)

LOG_FILE = "search_log.jsonl"
CHOSEN_FILE = "chosen_lambda.json"


@dataclass
class SearchOutcome:
    found: bool
    lambda_: Optional[float]
    transitions: Optional[float]
    validation_accuracy: Optional[float]
    test_accuracy: Optional[float]
    try_dir: Optional[str]  # the chosen try: a full structure-learning + finetuning run
    tries: int
    reason: str

    def to_json(self) -> Dict[str, Any]:
        data = asdict(self)
        data["lambda"] = data.pop("lambda_")
        return data


# A runner trains one try: (lambda, serialization_dir) -> RunResult.  Tests pass a fake.
TryRunner = Callable[[float, str], RunResult]


def config_runner(
    config: str, overrides: Optional[Mapping[str, Any]] = None, threads: Optional[int] = None,
    env: Optional[Mapping[str, str]] = None,
) -> TryRunner:
    """Tries are full runs of `config` with the environment variable RRNN_LAMBDA set (and `env`)."""

    def run(lam: float, serialization_dir: str) -> RunResult:
        return train(config, serialization_dir, overrides, env={**(env or {}), "RRNN_LAMBDA": repr(lam)},
                     threads=threads)

    return run


def read_log(search_dir: str) -> List[Dict[str, Any]]:
    path = os.path.join(search_dir, LOG_FILE)
    if not os.path.exists(path):
        return []
    entries = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut by a crash: that try reruns
                    logger.warning("%s: ignoring a truncated line", path)
                    break
    return entries


def run_search(
    search: LambdaSearch,
    search_dir: str,
    runner: TryRunner,
    progress: Callable[[str], None] = print,
) -> SearchOutcome:
    """Run (or resume) the search in `search_dir` until it stops; write chosen_lambda.json."""
    os.makedirs(search_dir, exist_ok=True)
    entries = read_log(search_dir)
    if entries:
        progress(f"[search] resuming {search_dir}: replaying {len(entries)} logged tries")
    while True:
        decision = search.decide([(e["lambda"], e["transitions"]) for e in entries])
        if decision.status != RUN:
            break
        index = len(entries)
        try_dir = os.path.join(search_dir, f"try_{index:02d}")
        result = _adopt(try_dir, decision.next_lambda)
        if result is None:
            clear_run(try_dir)  # an interrupted (or foreign) try restarts cleanly
            result = runner(decision.next_lambda, try_dir)
        elif predictions_missing(try_dir):
            result = runner(decision.next_lambda, try_dir)  # stopped before its test predictions: writes them
        # the size pruning gave right after structure learning (= the final model's size)
        transitions = result.structure_transitions if result.structure_transitions is not None else result.transitions
        entry = {
            "try": index,
            "lambda": decision.next_lambda,
            "transitions": transitions,
            "validation_accuracy": result.validation_accuracy,
            "test_accuracy": result.test_accuracy,
            "structure_validation_accuracy": result.structure_validation_accuracy,
            "rate": decision.rate,
            "target": search.target,
            "serialization_dir": try_dir,
            "duration_s": result.duration_s,
        }
        if transitions is None:
            raise ValueError(f"{try_dir}/metrics.json has no transitions: is it a structure-learning config?")
        _append(os.path.join(search_dir, LOG_FILE), entry)
        entries.append(entry)
        progress(
            f"[search] target {search.target:g}±{search.tolerance:g} try {index:2d}: lambda={entry['lambda']:.4g} "
            f"-> {entry['transitions']:g} transitions, validation accuracy {_fmt(entry['validation_accuracy'])}"
            f" ({_fmt(result.duration_s, '.0f')} s)"
        )
    chosen = entries[decision.chosen] if decision.chosen is not None else {}
    outcome = SearchOutcome(
        found=decision.status == FOUND,
        lambda_=chosen.get("lambda"),
        transitions=chosen.get("transitions"),
        validation_accuracy=chosen.get("validation_accuracy"),
        test_accuracy=chosen.get("test_accuracy"),
        try_dir=chosen.get("serialization_dir"),
        tries=len(entries),
        reason=decision.reason,
    )
    record = outcome.to_json()
    record.update(target=search.target, tolerance=search.tolerance, start_lambda=search.start)
    _write_json(os.path.join(search_dir, CHOSEN_FILE), record)
    progress(
        f"[search] {'found' if outcome.found else 'gave up'} after {outcome.tries} tries: "
        f"lambda={_fmt(outcome.lambda_, '.4g')} ({decision.reason})"
    )
    return outcome


def _adopt(try_dir: str, lam: float) -> Optional[RunResult]:
    """A try that finished but was not logged (killed in between): use it if its lambda matches."""
    if not os.path.isfile(os.path.join(try_dir, "metrics.json")):
        return None
    result = read_run_result(try_dir)
    if result.structure_lambda is not None and abs(result.structure_lambda - lam) <= 1e-9 * abs(lam):
        return result
    return None


def _append(path: str, entry: Dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _write_json(path: str, data: Any) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=2)
    os.replace(path + ".tmp", path)


def _fmt(value: Optional[float], spec: str = ".4f") -> str:
    return "?" if value is None else format(value, spec)
