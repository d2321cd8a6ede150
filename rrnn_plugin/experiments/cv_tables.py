"""Markdown of the cross-validated report: the points with CIs, the paired tests, the targets."""
import math
from typing import Any, Dict, List, Sequence

from rrnn_plugin.experiments.analysis import (
    Comparison, CvPoint, ci_target, curve_target, reference_target, run_times,
)
from rrnn_plugin.experiments.predictions import panel_key, run_key


def _pct(value: float, digits: int = 1) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.{digits}f}"


def _pm(value, digits: int = 1, scale: float = 1.0) -> str:
    mean, std = value
    if math.isnan(mean):
        return ""
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def _p(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def point_table(points: Sequence[CvPoint], labels: Dict[str, str]) -> str:
    lines = [
        "| input | dataset | point | runs (folds × seeds) | transitions | test accuracy (%) [95% CI] | ± | "
        "validation (%) | lambda | tuned trial |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        accuracy = _pct(p.accuracy)
        if not math.isnan(p.half_width):
            accuracy += f" [{_pct(p.accuracy - p.half_width)}, {_pct(p.accuracy + p.half_width)}]"
        if p.documents == 0 and p.kind != "reference":
            accuracy += " (t over runs)"
        runs = f"{p.runs} ({p.folds} × {p.seeds})"
        lam = "" if p.lambda_ is None else format(p.lambda_, ".3g") + ("" if p.found else " (closest)")
        name = labels.get(p.point, p.point)
        lines.append(
            f"| {p.input} | {p.dataset} | {name} | {runs} | {_pm(p.transitions, 1)} | {accuracy} | "
            f"{_pct(p.half_width)} | {_pm(p.validation, 1, 100)} | {lam} | "
            f"{', '.join(str(t) for t in p.tuning_trials)} |"
        )
    return "\n".join(lines)


def comparison_table(comparisons: Sequence[Comparison], labels: Dict[str, str]) -> str:
    lines = [
        "| learned | vs | transitions | Δ accuracy (points) [95% CI] | test, p (documents) | p (folds, paired t) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        r = c.result
        other = labels.get(c.second.point, c.second.point)
        transitions = f"{c.first.transitions[0]:.0f} vs " + (
            "–" if math.isnan(c.second.transitions[0]) else f"{c.second.transitions[0]:.0f}")
        lines.append(
            f"| {c.first.point} | {other} | {transitions} | {100 * r.difference:+.1f} "
            f"[{100 * (r.difference - r.half_width):+.1f}, {100 * (r.difference + r.half_width):+.1f}] | "
            f"{r.test}, {_p(r.p_value)} (n={r.n}) | {_p(r.fold_p_value)} | **{r.verdict}** |"
        )
    return "\n".join(lines)


def targets_section(points: Sequence[CvPoint], comparisons: Dict[str, List[Comparison]],
                    labels: Dict[str, str]) -> List[str]:
    """The three targets the results were planned against (narrow intervals, level with TF-IDF LR
    given strong inputs, learned above baselines), evaluated on these results: met / not met, with
    the numbers."""
    parts = ["## Targets", ""]
    widths = ci_target(points)
    if widths:
        met = sum(m for _, _, m in widths.values())
        parts += [f"1. **95% CI half-width ≤ 2 points per domain, ≤ 1 on the mix**: met on {met} of "
                  f"{len(widths)} panels.", ""]
        parts += [f"   - {panel.replace('|', ': ')}: widest {100 * w:.2f} points (limit {100 * limit:.0f}) — "
                  f"{'met' if ok else 'not met'}" for panel, (w, limit, ok) in widths.items()]
        parts.append("")
    near = reference_target(points)
    if near:
        parts += ["2. **Best learned model of ≤ 40 transitions within 1 point of "
                  f"{labels.get('reference:tfidf_lr', 'TF-IDF LR')}, or better**:", ""]
        for panel, entry in near.items():
            if entry is None:
                parts.append(f"   - {panel.replace('|', ': ')}: no learned point of ≤ 40 transitions, or no reference")
                continue
            best, ref, ok = entry
            parts.append(f"   - {panel.replace('|', ': ')}: {best.point} ({best.transitions[0]:.0f} transitions) "
                         f"{_pct(best.accuracy)} vs {_pct(ref.accuracy)} ({100 * (best.accuracy - ref.accuracy):+.1f}) — "
                         f"{'met' if ok else 'not met'}")
        parts.append("")
    curve = curve_target(points, comparisons)
    if curve:
        met = sum(v["met"] for v in curve.values())
        parts += ["3. **Learned curve significantly above (p < 0.05) the baselines with the same or more "
                  f"transitions**: on {met} of {len(curve)} panels some learned point is significantly better "
                  "than every baseline with at least as many transitions.", ""]
        for panel, v in curve.items():
            winners = "; ".join(f"{name} beats {', '.join(beaten)}" for name, beaten in v["winners"]) or "none"
            parts.append(f"   - {panel.replace('|', ': ')}: {'met' if v['met'] else 'not met'} ({winners}); "
                         f"pairs with a baseline of ≥ the learned size: {v['better']} better, {v['worse']} worse, "
                         f"{v['no difference']} no difference")
        parts.append("")
    return parts


def run_time_table(rows: Sequence[Dict[str, Any]]) -> List[str]:
    times = run_times(rows)
    if not times:
        return []
    lines = ["## Run times", "",
             "Per trial as the sweep ran it (workers sharing the machine's 2 cores with other jobs): wall time from "
             "the fork to the last file written, AllenNLP's training time, and their ratio (medians).", "",
             "| input | dataset | trials | wall (s) | training (s) | wall / training |", "|---|---|---|---|---|---|"]
    for (input_label, dataset), t in sorted(times.items()):
        lines.append(f"| {input_label} | {dataset} | {t['runs']} | {t['wall_s']:.0f} | {t['training_s']:.0f} | "
                     f"{t['ratio']:.2f} |")
    return lines + [""]


def cv_markdown(points: Sequence[CvPoint], comparisons: Dict[str, List[Comparison]], labels: Dict[str, str],
                figure_link: str, rows: Sequence[Dict[str, Any]] = ()) -> List[str]:
    parts = ["## Cross-validated accuracy vs. transitions (Figure 3)", "",
             "Test accuracy over every document of the dataset (each tested once per seed across the folds); "
             "95% CI over documents (normal approximation); transitions and validation accuracy: mean ± "
             "sample std over runs.  Reference models: the same folds, C chosen on validation.", "",
             point_table(points, labels), "", f"![Figure 3]({figure_link})", ""]
    parts += targets_section(points, comparisons, labels)
    parts += ["## Paired tests", "",
              "Each learned point against every baseline and reference model of its panel, on the documents "
              "both were tested on: Δ = learned − other.  One seed: McNemar's exact test; several seeds: "
              "the paired sign-flip test on per-document accuracies (normal approximation); p (folds): "
              "paired t-test over the per-fold accuracies.  p-values are not corrected for the number of "
              "comparisons.", ""]
    for panel, pairs in comparisons.items():
        if pairs:
            parts += [f"### {panel.replace('|', ': ')}", "", comparison_table(pairs, labels), ""]
    return parts + run_time_table(rows)


def partial_runs_note(store: Any, rows: Sequence[Dict[str, Any]] = ()) -> List[str]:
    """A section naming the runs tested on only part of their panel (PredictionStore.partial_runs;
    `rows`: the cross-validated rows, whose runs should all be there), so that a point resting on
    fewer reviews than its panel has cannot pass unnoticed."""
    expected = {(panel_key(str(r.get("input") or ""), str(r["dataset"])), run_key(r["point"], r["seed"])) for r in rows}
    partial = store.partial_runs(expected)
    if not partial:
        return []
    lines = ["## Runs tested on part of their panel", "",
             "Their points and paired tests use only the reviews every seed of the point was tested on "
             "(a fold not run yet, or a run folder without its test predictions):", ""]
    lines += [f"- {panel.replace('|', ': ')} {run}: {tested} of {total} reviews" for panel, run, tested, total in partial]
    return lines + [""]
