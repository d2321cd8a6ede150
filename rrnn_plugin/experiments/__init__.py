"""Experiment drivers (docs/method.md §4-§5): the lambda search, the sweep over the paper's protocol
(Optuna-backed, resumable, shareable between machines) and the report with Figure 3.

Imported lazily by the `rrnn-search`, `rrnn-sweep` and `rrnn-report` subcommands, so that plain
`allennlp train` runs (every experiment trial is one) never pay for importing Optuna/matplotlib.
"""
from rrnn_plugin.experiments.lambda_search import FOUND, GAVE_UP, RUN, LambdaSearch, SearchDecision
from rrnn_plugin.experiments.runs import RunFailed, RunResult, read_run_result, train
from rrnn_plugin.experiments.search import SearchOutcome, config_runner, read_log, run_search
from rrnn_plugin.experiments.spec import MultiObjectiveSpec, Point, SweepSpec, grid_points

__all__ = [
    "FOUND", "GAVE_UP", "RUN", "LambdaSearch", "SearchDecision",
    "RunFailed", "RunResult", "read_run_result", "train",
    "SearchOutcome", "config_runner", "read_log", "run_search",
    "MultiObjectiveSpec", "Point", "SweepSpec", "grid_points",
]
