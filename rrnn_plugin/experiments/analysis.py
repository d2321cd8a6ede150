"""Cross-validated Figure-3 points, their confidence intervals, paired tests and the targets.

Works from the report's rows (one per run, with `fold`) and the prediction store (which documents
each run got right).  A point's accuracy is the mean over its documents of the share of seeds that
got each right (every document is tested once per seed across the folds); its 95% CI is over
documents (stats.accuracy_interval).  Runs without stored predictions fall back to a t-interval
over runs, and say so.

Comparisons are made on the documents both points were tested on: learned vs every baseline and
every reference model of the same panel, McNemar / sign-flip over documents plus a paired t-test
over folds (stats.py).
"""
import math
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from rrnn_plugin.experiments import stats
from rrnn_plugin.experiments.stats import mean_std
from rrnn_plugin.experiments.predictions import REFERENCE_PREFIX, PredictionStore, fold_accuracies, panel_key

MIX_DATASETS = ("mix",)


@dataclass
class CvPoint:
    input: str
    dataset: str
    kind: str  # baseline / learned / reference
    point: str
    runs: int
    folds: int
    seeds: int
    accuracy: float  # mean test accuracy (fraction)
    half_width: float  # 95% CI half-width (fraction)
    documents: int  # documents behind the interval (0: interval over runs)
    transitions: Tuple[float, float] = (math.nan, math.nan)  # mean, std over runs
    validation: Tuple[float, float] = (math.nan, math.nan)
    lambda_: Optional[float] = None
    found: bool = True
    tuning_trials: List[Any] = field(default_factory=list)
    duration_s: float = math.nan

    @property
    def panel(self) -> str:
        return panel_key(self.input, self.dataset)

    @property
    def ci_limit(self) -> float:
        """The issue's target half-width: 2 points on a single domain, 1 on the mix."""
        return 0.01 if self.dataset in MIX_DATASETS else 0.02


@dataclass
class Comparison:
    first: CvPoint
    second: CvPoint
    result: stats.PairedResult


def cv_points(rows: Sequence[Dict[str, Any]], store: PredictionStore) -> List[CvPoint]:
    """One CvPoint per (input, dataset, point) of the cross-validated grid rows, then the
    reference models of every panel in the store."""
    groups: "OrderedDict[Tuple[str, str, str], List[Dict[str, Any]]]" = OrderedDict()
    for row in rows:
        if row.get("mode", "grid") == "grid" and row.get("fold") is not None and row.get("kind") in ("baseline", "learned"):
            groups.setdefault((str(row.get("input") or ""), str(row["dataset"]), str(row["point"])), []).append(row)
    points = []
    for (input_label, dataset, name), group in groups.items():
        ids, values = store.accuracies(panel_key(input_label, dataset), name)
        if len(ids):
            accuracy, half = stats.accuracy_interval(values)
        else:
            accuracy, half = stats.t_interval([r.get("test_accuracy") for r in group])
        lambdas = [r.get("lambda") for r in group if isinstance(r.get("lambda"), (int, float))]
        points.append(CvPoint(
            input=input_label, dataset=dataset, kind=group[0]["kind"], point=name, runs=len(group),
            folds=len({r["fold"] for r in group}), seeds=len({r["seed"] for r in group}),
            accuracy=accuracy, half_width=half, documents=len(ids),
            transitions=mean_std([r.get("transitions") for r in group]),
            validation=mean_std([r.get("validation_accuracy") for r in group]),
            lambda_=lambdas[0] if lambdas else None, found=all(r.get("found") is not False for r in group),
            tuning_trials=sorted({r.get("tuning_trial") for r in group if r.get("tuning_trial") is not None}),
            duration_s=mean_std([r.get("duration_s") for r in group])[0],
        ))
    points.sort(key=_point_order)
    panels = list(OrderedDict.fromkeys(p.panel for p in points))
    for panel in panels:
        input_label, dataset = panel.split("|", 1)
        names = sorted({r.rsplit("/seed_", 1)[0] for r in store.runs(panel) if r.startswith(REFERENCE_PREFIX)})
        for name in names:
            ids, values = store.accuracies(panel, name)
            accuracy, half = stats.accuracy_interval(values)
            folds = {store.fold_of(panel, i) for i in ids}
            points.append(CvPoint(input_label, dataset, "reference", name, runs=len(folds), folds=len(folds), seeds=1,
                                  accuracy=accuracy, half_width=half, documents=len(ids)))
    return points


def _point_order(point: CvPoint) -> Tuple:
    """Inputs and datasets alphabetically (the mix last), baselines by name, learned points from the
    weakest regularization: the same order whether the rows come from a sweep or a CSV."""
    suffix = point.point.split("_", 1)[-1]
    number = float(suffix) if suffix.replace(".", "", 1).isdigit() else math.inf
    kind = {"baseline": 0, "learned": 1}.get(point.kind, 2)
    return (point.input, point.dataset in MIX_DATASETS, point.dataset, kind,
            -number if kind == 1 else number, point.point)


def compare(store: PredictionStore, first: CvPoint, second: CvPoint) -> Optional[Comparison]:
    """Paired test of two points of one panel on their common documents (None without predictions)."""
    ids_a, values_a = store.accuracies(first.panel, first.point)
    ids_b, values_b = store.accuracies(second.panel, second.point)
    common = sorted(set(ids_a) & set(ids_b))
    if not common:
        return None
    index_a = {i: k for k, i in enumerate(ids_a)}
    index_b = {i: k for k, i in enumerate(ids_b)}
    a = np.array([values_a[index_a[i]] for i in common])
    b = np.array([values_b[index_b[i]] for i in common])
    result = stats.paired_test(a, b)
    folds_a = fold_accuracies(store, first.panel, common, a)
    folds_b = fold_accuracies(store, first.panel, common, b)
    shared = sorted(set(folds_a) & set(folds_b))
    if len(shared) >= 2:
        result.fold_p_value = stats.fold_t_test([folds_a[f] for f in shared], [folds_b[f] for f in shared])
    return Comparison(first, second, result)


def panel_comparisons(store: PredictionStore, points: Sequence[CvPoint]) -> Dict[str, List[Comparison]]:
    """Per panel: every learned point vs every baseline and every reference model."""
    by_panel: Dict[str, List[CvPoint]] = defaultdict(list)
    for point in points:
        by_panel[point.panel].append(point)
    comparisons: Dict[str, List[Comparison]] = OrderedDict()
    for panel, members in by_panel.items():
        learned = [p for p in members if p.kind == "learned"]
        others = [p for p in members if p.kind in ("baseline", "reference")]
        found = [compare(store, l, o) for l in learned for o in others]
        comparisons[panel] = [c for c in found if c is not None]
    return comparisons


# ----- the targets -------------------------------------------------------------------------
def ci_target(points: Sequence[CvPoint]) -> Dict[str, Tuple[float, float, bool]]:
    """Per panel: (largest CI half-width, the limit, met) over its baseline and learned points."""
    result = OrderedDict()
    for point in points:
        if point.kind == "reference":
            continue
        widest, limit, _ = result.get(point.panel, (0.0, point.ci_limit, True))
        widest = max(widest, point.half_width if not math.isnan(point.half_width) else math.inf)
        result[point.panel] = (widest, limit, widest <= limit)
    return result


def reference_target(points: Sequence[CvPoint], reference: str = "reference:tfidf_lr",
                     max_transitions: float = 40.0, margin: float = 0.01) -> Dict[str, Optional[Tuple[CvPoint, CvPoint, bool]]]:
    """Per panel: (best learned point with <= max_transitions mean transitions, the reference,
    met = within `margin` of the reference or better); None where either is missing."""
    result: Dict[str, Optional[Tuple[CvPoint, CvPoint, bool]]] = OrderedDict()
    for panel in OrderedDict.fromkeys(p.panel for p in points):
        learned = [p for p in points if p.panel == panel and p.kind == "learned" and p.transitions[0] <= max_transitions]
        references = [p for p in points if p.panel == panel and p.point == reference]
        if not learned or not references:
            result[panel] = None
            continue
        best = max(learned, key=lambda p: p.accuracy)
        result[panel] = (best, references[0], best.accuracy >= references[0].accuracy - margin)
    return result


def curve_target(points: Sequence[CvPoint], comparisons: Dict[str, List[Comparison]]) -> Dict[str, Dict[str, Any]]:
    """Per panel: is some learned point significantly more accurate than every baseline with at
    least as many transitions (its "dominated" baselines)?  Also the pairs better/worse/equal."""
    result = OrderedDict()
    for panel, pairs in comparisons.items():
        baseline_pairs = [c for c in pairs if c.second.kind == "baseline"]
        winners = []
        for learned in OrderedDict.fromkeys(c.first.point for c in baseline_pairs):
            mine = [c for c in baseline_pairs if c.first.point == learned
                    and c.second.transitions[0] >= c.first.transitions[0]]
            if mine and all(c.result.verdict == "better" for c in mine):
                winners.append((learned, [c.second.point for c in mine]))
        verdicts = [c.result.verdict for c in baseline_pairs
                    if c.second.transitions[0] >= c.first.transitions[0]]
        result[panel] = {
            "met": bool(winners), "winners": winners,
            "better": verdicts.count("better"), "worse": verdicts.count("worse"),
            "no difference": verdicts.count("no difference"),
        }
    return result


def run_times(rows: Sequence[Dict[str, Any]]) -> Dict[Tuple[str, str], Dict[str, float]]:
    """Per (input, dataset): median wall time of a trial as the sweep measured it (fork, training,
    test evaluation, archive, predictions), median training time (AllenNLP's training_duration in
    the run's metrics.json, the rows' `training_s`) and the median ratio of the two.  Rows that reused another run's folder
    (their wall time is that run's training time) are left out."""
    per: Dict[Tuple[str, str], List[Tuple[float, float]]] = defaultdict(list)
    for row in rows:
        wall, training = row.get("duration_s"), row.get("training_s")
        if row.get("fold") is None or not isinstance(wall, (int, float)) or not isinstance(training, (int, float)):
            continue
        if training and abs(wall - training) > 0.05:
            per[(str(row.get("input") or ""), str(row["dataset"]))].append((float(wall), float(training)))
    return {key: {"runs": len(pairs), "wall_s": float(np.median([w for w, _ in pairs])),
                  "training_s": float(np.median([t for _, t in pairs])),
                  "ratio": float(np.median([w / t for w, t in pairs]))}
            for key, pairs in per.items()}
