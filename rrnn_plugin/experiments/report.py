"""Results of a sweep: `results.csv`, a markdown table, Figure 3 and the Pareto front.

The CSV (one row per finished run) is the interchange format: `collect_rows` reads it out of the
sweep's Optuna storage, and everything else (`summarize`, `markdown_report`, the figures) works
from rows alone, so a report can also be rebuilt from a CSV without the database.  Cross-validated
sweeps (rows with a `fold`) add `results_predictions.json` (predictions.py: which test documents
each run got right), from which the CIs and paired tests are computed (analysis.py, cv_tables.py).
"""
import csv
import json
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from rrnn_plugin.experiments.stats import mean_std

COLUMNS = [
    "mode", "input", "dataset", "kind", "point", "target", "fold", "seed", "lambda", "found", "transitions",
    "wfsas", "validation_accuracy", "test_accuracy", "trainable_parameters", "duration_s", "training_s", "tuning_trial",
    "hyperparameters", "serialization_dir", "trial",
]
PREDICTIONS_FILE = "results_predictions.json"
PARAM_PREFIX = "param:"


# ----- collecting ---------------------------------------------------------------------------------
def collect_rows(storage_url: str) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Rows of every COMPLETE baseline/learned/multi-objective trial in the storage, and the
    planned protocol ({"seeds": {dataset: n}, "points": {dataset: [point names]}}) from the grid
    specs stored with the studies."""
    import optuna

    from rrnn_plugin.experiments.runs import training_seconds
    from rrnn_plugin.experiments.spec import SweepSpec, grid_points, BASELINE, LEARNED
    from rrnn_plugin.experiments.sweep import trial_rows

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows: List[Dict[str, Any]] = []
    plan: Dict[str, Any] = {"seeds": {}, "points": {}, "folds": {}, "inputs": {}}
    for name in optuna.study.get_all_study_names(storage=storage_url):
        study = optuna.load_study(study_name=name, storage=storage_url)
        input_label = ""
        if name.endswith(":grid"):
            spec_json = study.user_attrs.get("spec")
            if spec_json:
                spec = SweepSpec.from_json({k: v for k, v in spec_json.items() if v is not None})
                input_label = spec.input
                plan["inputs"][input_label] = {"config": spec.baseline_config, "env": dict(spec.env),
                                               "overrides": {**spec.overrides, **spec.baseline_overrides},
                                               "baseline": spec.baselines[0] if spec.baselines else None}
                for dataset in spec.datasets:
                    plan["seeds"][dataset] = len(spec.seeds)
                    if spec.folds:
                        plan["folds"][dataset] = spec.folds
                for point in grid_points(spec):
                    if point.kind in (BASELINE, LEARNED):
                        names = plan["points"].setdefault(point.dataset, [])
                        if point.name not in names:
                            names.append(point.name)
            for row in trial_rows(study):
                if row.get("kind") in (BASELINE, LEARNED):
                    rows.append({"mode": "grid", "input": input_label, **row, "training_s": training_seconds(row)})
        elif ":moo:" in name:
            for row in trial_rows(study):
                rows.append({"mode": "moo", "kind": "moo", "point": f"moo_{row['trial']}", **row})
    return rows, plan


def merge_plans(plans: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """One plan from several sweeps' plans (a report over several sweep dirs)."""
    merged: Dict[str, Any] = {"seeds": {}, "points": {}, "folds": {}, "inputs": {}}
    for plan in plans:
        merged["seeds"].update(plan.get("seeds") or {})
        merged["inputs"].update(plan.get("inputs") or {})
        merged["folds"].update(plan.get("folds") or {})
        for dataset, names in (plan.get("points") or {}).items():
            mine = merged["points"].setdefault(dataset, [])
            mine.extend(n for n in names if n not in mine)
    return merged


def write_csv(rows: Sequence[Dict[str, Any]], path: str) -> None:
    params = sorted({k for row in rows for k in row if k.startswith(PARAM_PREFIX)})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS + params, extrasaction="ignore")
        writer.writeheader()
        for row in sorted(rows, key=_row_order):
            writer.writerow({k: _cell(row.get(k)) for k in COLUMNS + params})


def read_csv(path: str) -> List[Dict[str, Any]]:
    """The rows of a results CSV; ValueError naming the line for a NaN or infinite number (the
    report writes none; shown, it would read as "no data", and summed, it spreads)."""
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            parsed = {k: _parse(v) for k, v in row.items()}
            bad = [k for k, v in parsed.items() if isinstance(v, float) and not math.isfinite(v)]
            if bad:
                raise ValueError(f"{path}, line {reader.line_num}: {bad[0]} is {parsed[bad[0]]}, not a finite number")
            rows.append(parsed)
    return rows


# ----- summarizing --------------------------------------------------------------------------------
@dataclass
class PointSummary:
    dataset: str
    kind: str  # baseline / learned
    point: str
    n: int
    transitions: Tuple[float, float]  # mean, std
    test_accuracy: Tuple[float, float]
    validation_accuracy: Tuple[float, float]
    lambda_: Optional[float]
    planned: Optional[int] = None
    found: bool = True  # False: the lambda search gave up and its closest try was used
    duration_s: float = math.nan  # mean wall time of one run

    @property
    def complete(self) -> bool:
        return self.planned is None or self.n >= self.planned


def summarize(
    rows: Sequence[Dict[str, Any]], planned_seeds: Union[None, int, Dict[str, int]] = None
) -> List[PointSummary]:
    """Mean ± sample std (ddof 1; 0 for one run) per (dataset, point) of the grid rows.
    `planned_seeds` (one number, or one per dataset) marks points with fewer runs incomplete."""
    groups: "OrderedDict[Tuple[str, str], List[Dict[str, Any]]]" = OrderedDict()
    for row in sorted((r for r in rows if r.get("mode", "grid") == "grid" and r.get("fold") is None), key=_row_order):
        groups.setdefault((row["dataset"], row["point"]), []).append(row)
    summaries = []
    for (dataset, point), group in groups.items():
        lambdas = [r.get("lambda") for r in group if isinstance(r.get("lambda"), (int, float))]
        summaries.append(
            PointSummary(
                dataset=dataset, kind=group[0]["kind"], point=point, n=len(group),
                transitions=mean_std([r["transitions"] for r in group]),
                test_accuracy=mean_std([r["test_accuracy"] for r in group]),
                validation_accuracy=mean_std([r["validation_accuracy"] for r in group]),
                lambda_=lambdas[0] if lambdas else None,
                planned=planned_seeds.get(dataset) if isinstance(planned_seeds, dict) else planned_seeds,
                found=all(r.get("found") is not False for r in group),
                duration_s=mean_std([r.get("duration_s") for r in group])[0],
            )
        )
    return summaries


def markdown_table(summaries: Sequence[PointSummary]) -> str:
    lines = [
        "| dataset | point | runs | transitions | test accuracy (%) | validation accuracy (%) | lambda | s/run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        runs = f"{s.n}" if s.planned is None else f"{s.n}/{s.planned}" + ("" if s.complete else " (incomplete)")
        lines.append(
            f"| {s.dataset} | {s.point} | {runs} | {_pm(s.transitions, 1, 1)} | {_pm(s.test_accuracy, 100, 1)} "
            f"| {_pm(s.validation_accuracy, 100, 1)} | {_lambda_cell(s)} "
            f"| {'' if math.isnan(s.duration_s) else format(s.duration_s, '.0f')} |"
        )
    return "\n".join(lines)


def _lambda_cell(summary: PointSummary) -> str:
    if summary.lambda_ is None:
        return ""
    return format(summary.lambda_, ".3g") + ("" if summary.found else " (search gave up: closest try)")


def pareto_front(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Rows not dominated in (max validation accuracy, min transitions), by transitions."""
    front = []
    for row in rows:
        dominated = any(
            other["validation_accuracy"] >= row["validation_accuracy"]
            and other["transitions"] <= row["transitions"]
            and (other["validation_accuracy"] > row["validation_accuracy"] or other["transitions"] < row["transitions"])
            for other in rows
        )
        if not dominated:
            front.append(row)
    return sorted(front, key=lambda r: (r["transitions"], -r["validation_accuracy"]))


def pareto_table(front: Sequence[Dict[str, Any]]) -> str:
    params = sorted({k for row in front for k in row if k.startswith(PARAM_PREFIX)})
    header = ["dataset", "point", "transitions", "validation accuracy (%)", "test accuracy (%)"]
    header += [p[len(PARAM_PREFIX):] for p in params]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in front:
        cells = [str(row.get("dataset")), str(row.get("point", row.get("trial"))), f"{row['transitions']:g}",
                 f"{100 * row['validation_accuracy']:.1f}", _percent(row.get("test_accuracy"))]
        cells += [_num(row.get(p)) for p in params]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----- the whole report ---------------------------------------------------------------------------
def write_report(rows: Sequence[Dict[str, Any]], output_dir: str, plan: Optional[Dict[str, Any]] = None,
                 title: str = "Results", figures_dir: Optional[str] = None, notes: str = "",
                 store: Optional[Any] = None) -> Dict[str, str]:
    """Write results.csv, results.md to `output_dir` and figure3.png (and pareto.png) to
    `figures_dir` (default: `output_dir`); `notes` (markdown) goes under the title.  Cross-validated
    rows get the CI / paired-test report, from `store` (a PredictionStore; default: gathered from
    the rows' run folders) saved as results_predictions.json.  Return the paths written."""
    from rrnn_plugin.experiments import figures
    from rrnn_plugin.experiments.analysis import cv_points, panel_comparisons
    from rrnn_plugin.experiments.cv_tables import cv_markdown, partial_runs_note
    from rrnn_plugin.experiments.predictions import gather
    from rrnn_plugin.experiments.references import REFERENCES

    figures_dir = figures_dir or output_dir
    os.makedirs(output_dir, exist_ok=True)
    os.makedirs(figures_dir, exist_ok=True)
    plan = plan or {}
    paths = {"csv": os.path.join(output_dir, "results.csv"), "markdown": os.path.join(output_dir, "results.md")}
    write_csv(rows, paths["csv"])
    summaries = summarize(rows, plan.get("seeds"))
    cv_rows = [r for r in rows if r.get("mode", "grid") == "grid" and r.get("fold") is not None]
    grid_rows = [r for r in rows if r.get("mode", "grid") == "grid" and r.get("fold") is None]
    moo_rows = [r for r in rows if r.get("mode") == "moo"]

    def link(path: str) -> str:
        return os.path.relpath(path, output_dir)

    parts = [f"# {title}", ""]
    if notes.strip():
        parts += [notes.strip(), ""]
    if cv_rows:
        store = store if store is not None else gather(cv_rows)
        paths["predictions"] = os.path.join(output_dir, PREDICTIONS_FILE)
        store.save(paths["predictions"])
        labels = {f"reference:{name}": label for name, label in REFERENCES.items()}
        points = cv_points(cv_rows, store)
        paths["figure3"] = os.path.join(figures_dir, "figure3.png")
        figures.plot_cv_figure3(points, paths["figure3"], labels)
        parts += cv_markdown(points, panel_comparisons(store, points), labels, link(paths["figure3"]), cv_rows)
        parts += partial_runs_note(store, cv_rows)
    if grid_rows:
        name = "figure3_plain_split.png" if cv_rows else "figure3.png"
        paths["figure3_plain" if cv_rows else "figure3"] = figure = os.path.join(figures_dir, name)
        figures.plot_figure3(summaries, figure)
        parts += ["## Accuracy vs. transitions (Figure 3)" + (", plain split" if cv_rows else ""), "",
                  "Mean ± std over seeds (sample std; 0 for a single run).", "",
                  markdown_table(summaries), ""]
        missing = _missing_points(summaries, plan)
        if missing:
            parts += ["Not run yet: " + ", ".join(missing) + ".", ""]
        parts += [f"![Figure 3]({link(figure)})", ""]
    if moo_rows:
        paths["pareto"] = os.path.join(figures_dir, "pareto.png")
        figures.plot_pareto(moo_rows, paths["pareto"])
        parts += ["## Multi-objective search: Pareto front", ""]
        for dataset in OrderedDict.fromkeys(r["dataset"] for r in moo_rows):
            mine = [r for r in moo_rows if r["dataset"] == dataset]
            parts += [f"{dataset}: {len(mine)} trials, {len(pareto_front(mine))} on the front.", "",
                      pareto_table(pareto_front(mine)), ""]
        parts += [f"![Pareto front]({link(paths['pareto'])})", ""]
    with open(paths["markdown"], "w") as f:
        f.write("\n".join(parts))
    return paths


def _missing_points(summaries: Sequence[PointSummary], plan: Dict[str, Any]) -> List[str]:
    have = {(s.dataset, s.point) for s in summaries}
    return [f"{d}/{p}" for d, names in plan.get("points", {}).items() for p in names if (d, p) not in have]


def _row_order(row: Dict[str, Any]) -> Tuple:
    point = str(row.get("point", ""))
    kind_rank = 0 if point.startswith("baseline") else 1
    suffix = point.split("_", 1)[-1]
    try:
        number = -float(suffix) if kind_rank else float(suffix)  # learned: weakest lambda first
    except ValueError:
        number = math.inf
    return (str(row.get("mode", "grid")), str(row.get("dataset", "")), kind_rank, number,
            _num_or(row.get("seed"), 0), _num_or(row.get("trial"), 0))


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _pm(value: Tuple[float, float], scale: float, digits: int) -> str:
    mean, std = value
    if math.isnan(mean):
        return "–"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def _percent(value: Any) -> str:
    return "" if not isinstance(value, (int, float)) else f"{100 * value:.1f}"


def _num(value: Any) -> str:
    return "" if not isinstance(value, (int, float)) else f"{value:.3g}"


def _num_or(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) else default


def _parse(text: Optional[str]) -> Any:
    """CSV cells back to numbers/bools where they look like them."""
    if text is None or text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
