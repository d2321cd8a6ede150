"""Figures of the report: Figure 3 (accuracy vs transitions) and the multi-objective Pareto front.

Matplotlib with the Agg backend (no display); every function writes one PNG.
"""
import math
from collections import OrderedDict
from typing import Any, Dict, Sequence

def plot_figure3(summaries: Sequence[Any], path: str) -> None:
    """The paper's Figure 3: test accuracy vs transitions, one panel per dataset, baselines solid,
    learned (group lasso) dashed, mean ± std error bars in both directions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(OrderedDict.fromkeys(s.dataset for s in summaries))
    fig, axes = plt.subplots(1, max(1, len(datasets)), figsize=(4.2 * max(1, len(datasets)), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for kind, style, color, label in (("baseline", "-", "tab:blue", "baselines"),
                                          ("learned", "--", "tab:red", "learned (group lasso)")):
            points = sorted((s for s in summaries if s.dataset == dataset and s.kind == kind),
                            key=lambda s: s.transitions[0])
            if not points:
                continue
            ax.errorbar(
                [s.transitions[0] for s in points], [100 * s.test_accuracy[0] for s in points],
                xerr=[s.transitions[1] for s in points], yerr=[100 * s.test_accuracy[1] for s in points],
                linestyle=style, marker="o", color=color, capsize=3, label=label,
            )
            for s in points:  # which baseline / target each point is
                ax.annotate(s.point.split("_", 1)[-1], (s.transitions[0], 100 * s.test_accuracy[0]),
                            textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
        _style(ax, dataset, "test accuracy (%)")
    _save(fig, path)


def plot_pareto(rows: Sequence[Dict[str, Any]], path: str) -> None:
    """All multi-objective trials and their Pareto front (validation accuracy vs transitions)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rrnn_plugin.experiments.report import pareto_front

    datasets = list(OrderedDict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        mine = [r for r in rows if r["dataset"] == dataset]
        front = pareto_front(mine)
        ax.scatter([r["transitions"] for r in mine], [100 * r["validation_accuracy"] for r in mine],
                   color="0.6", s=14, label="trials")
        ax.step([r["transitions"] for r in front], [100 * r["validation_accuracy"] for r in front],
                where="post", color="tab:red", marker="o", label="Pareto front")
        _style(ax, f"{dataset}: multi-objective search", "validation accuracy (%)")
    _save(fig, path)


def _style(ax, title: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel("number of transitions")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _save(fig, path: str) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)




REFERENCE_STYLES = {  # line style and color of each reference model's horizontal line
    "reference:tfidf_lr": (":", "black"),
    "reference:pooled_glove_lr": ("-.", "0.45"),
    "reference:pooled_features_lr": ("--", "tab:purple"),
}


def _partial(points: Sequence[Any]) -> str:
    """' — partial (2-3 of 5 folds)' when some curve point has fewer folds than the panel's
    reference lines (computed on every fold), else ''."""
    folds = [p.folds for p in points if p.kind != "reference"]
    full = max([p.folds for p in points if p.kind == "reference"] + folds, default=0)
    if not folds or min(folds) >= full:
        return ""
    low, high = min(folds), max(folds)
    return f" — partial ({low}{'' if low == high else f'-{high}'} of {full} folds)"


def plot_cv_figure3(points: Sequence[Any], path: str, reference_labels: Dict[str, str]) -> None:
    """Cross-validated Figure 3: one row of panels per input, one panel per dataset; baselines
    solid, learned dashed, y error bars = 95% CI over documents, x error bars = std of the
    transitions over runs; reference models as horizontal lines with their CI as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inputs = list(OrderedDict.fromkeys(p.input for p in points))
    datasets = list(OrderedDict.fromkeys(p.dataset for p in points))
    fig, axes = plt.subplots(len(inputs), len(datasets), figsize=(4.2 * len(datasets), 3.7 * len(inputs)),
                             squeeze=False)
    for row, input_label in enumerate(inputs):
        for col, dataset in enumerate(datasets):
            ax = axes[row][col]
            mine = [p for p in points if p.input == input_label and p.dataset == dataset]
            if not any(p.kind != "reference" for p in mine):  # a sweep that has not reached this panel
                ax.set_title(f"{dataset} ({input_label})" if input_label else dataset)
                ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes, color="0.5")
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            for kind, style, color, label in (("baseline", "-", "tab:blue", "baselines"),
                                              ("learned", "--", "tab:red", "learned (group lasso)")):
                curve = sorted((p for p in mine if p.kind == kind), key=lambda p: p.transitions[0])
                if not curve:
                    continue
                ax.errorbar([p.transitions[0] for p in curve], [100 * p.accuracy for p in curve],
                            xerr=[p.transitions[1] for p in curve], yerr=[100 * p.half_width for p in curve],
                            linestyle=style, marker="o", color=color, capsize=3, label=label)
                for p in curve:
                    ax.annotate(p.point.split("_", 1)[-1], (p.transitions[0], 100 * p.accuracy),
                                textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
            for p in (p for p in mine if p.kind == "reference"):
                style, color = REFERENCE_STYLES.get(p.point, ("-.", "tab:green"))
                ax.axhline(100 * p.accuracy, linestyle=style, color=color, linewidth=1.2,
                           label=reference_labels.get(p.point, p.point))
                ax.annotate(f"{100 * p.accuracy:.1f}", (1.0, 100 * p.accuracy), xycoords=("axes fraction", "data"),
                            xytext=(2, 0), textcoords="offset points", fontsize=7, color=color, va="center")
                if not math.isnan(p.half_width):
                    ax.axhspan(100 * (p.accuracy - p.half_width), 100 * (p.accuracy + p.half_width),
                               color=color, alpha=0.06, linewidth=0)
            ax.set_title((f"{dataset} ({input_label})" if input_label else dataset) + _partial(mine))
            ax.set_xlabel("number of transitions")
            ax.set_ylabel("test accuracy (%), 95% CI")
            ax.grid(alpha=0.3)
    handles: Dict[str, Any] = {}
    for ax in axes.flat:  # one legend for the figure: every kind of line once
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.06 / len(inputs), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
