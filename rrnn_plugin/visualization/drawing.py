"""A picture of a rational RNN's structure, in the style of the paper's Figure 1.

One row per WFSA: the start state q0 and the states q1..qn as circles, main-path transitions as
arrows, a self-loop over every state.  Kept states are filled (double circles: every state is
final); pruned states and the transitions into them are grey and dashed.  For a pruned model two
panels show the structure before pruning (what group lasso switched off) and after (the smaller
model, WFSAs renumbered as in the pruned archive).  Group norms, when known, are written under the
states.  Drawn with matplotlib's object API (no pyplot, no global backend switch), PNG or SVG by
the file name's extension.
"""
import os
from typing import List, Optional, Tuple

from rrnn_plugin.visualization.structure import Structure, WfsaStructure

KEPT_FACE, KEPT_EDGE = "#cfe0f5", "#1f4e8c"
PRUNED_EDGE = "#b0b0b0"
START_FACE = "#f2f2f2"
RADIUS = 0.26
ROW_HEIGHT = 1.1
FORMATS = ("png", "svg", "pdf")


def draw_structure(
    structure: Structure, output_path: str, title: Optional[str] = None, dpi: int = 100
) -> str:
    """Draw `structure` to `output_path` (.png, .svg or .pdf); return the path."""
    extension = os.path.splitext(output_path)[1].lower().lstrip(".")
    if extension not in FORMATS:
        endings = ", ".join("." + f for f in FORMATS)
        raise ValueError(f"{output_path}: the picture must end in one of {endings}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels: List[Tuple[str, List[Tuple[str, WfsaStructure, bool]]]] = []
    if structure.pruned:
        before = [(f"WFSA {k}", w, True) for k, w in enumerate(structure.wfsas)]
        after = [
            (f"WFSA {i}" + (f" (was {k})" if i != k else ""), WfsaStructure(w.kept_length, w.kept_length,
             None if w.norms is None else w.norms[: w.kept_length]), False)
            for i, (k, w) in enumerate((k, structure.wfsas[k]) for k in structure.kept_wfsas)
        ]
        eps = f", eps = {structure.eps:g}" if structure.eps is not None else ""
        sizes = [(len(before), structure.transitions_before), (len(after), structure.transitions_after)]
        panels.append((f"before pruning: {sizes[0][0]} WFSAs, {sizes[0][1]} transitions{eps}", before))
        panels.append((f"after pruning: {sizes[1][0]} WFSAs, {sizes[1][1]} transitions", after))
    else:
        rows = [(f"WFSA {k}", w, False) for k, w in enumerate(structure.wfsas)]
        panels.append((f"{len(rows)} WFSAs, {structure.transitions_before} transitions", rows))

    widest = max([w.original_length for _, rows in panels for _, w, _ in rows] + [1])
    tallest = max([len(rows) for _, rows in panels] + [1])
    panel_width = 1.6 + 0.75 * (widest + 1)
    figure = Figure(figsize=(panel_width * len(panels), 0.9 + 0.5 * tallest * ROW_HEIGHT))
    FigureCanvasAgg(figure)
    for index, (caption, rows) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        _draw_panel(axes, rows, widest, tallest, caption)
    has_norms = any(w.norms for w in structure.wfsas)
    note = "numbers under states: group norms ||[w, v, b]||" if has_norms else ""
    if title or note:
        figure.suptitle("\n".join(t for t in (title, note) if t), fontsize=9 if title else 7)
    lines = sum(1 for t in (title, note) if t)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.2 * lines / figure.get_figheight()))  # room for the titles
    folder = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(folder, exist_ok=True)
    if extension == "png":
        _save_small_png(figure, output_path, dpi)
    else:
        from matplotlib import rc_context

        with rc_context({"svg.fonttype": "none"}):  # text stays text: a small, searchable SVG
            figure.savefig(output_path, dpi=dpi, format=extension)
    return output_path


def _save_small_png(figure, output_path: str, dpi: int) -> None:
    """A palette PNG (64 colours): a few times smaller than matplotlib's RGBA, same look."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format="png", facecolor="white")
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=64).save(output_path, format="PNG", optimize=True)


def _draw_panel(axes, rows, widest: int, tallest: int, caption: str) -> None:
    from matplotlib.patches import Circle, FancyArrowPatch

    axes.set_xlim(-1.9, widest + 0.6)
    axes.set_ylim(-(tallest - 0.4) * ROW_HEIGHT, 0.75 * ROW_HEIGHT)
    axes.set_aspect("equal")
    axes.axis("off")
    axes.set_title(caption, fontsize=8)
    for row, (label, wfsa, show_pruned) in enumerate(rows):
        y = -row * ROW_HEIGHT
        removed = wfsa.kept_length == 0
        axes.text(-1.05, y, label, ha="right", va="center", fontsize=7,
                  color=PRUNED_EDGE if removed else "black")
        # start arrow and q0
        axes.add_patch(FancyArrowPatch((-0.85, y), (-RADIUS, y), arrowstyle="-|>", mutation_scale=7,
                                       color=PRUNED_EDGE if removed else "black", lw=0.8))
        axes.add_patch(Circle((0, y), RADIUS, facecolor=START_FACE, lw=0.8,
                              edgecolor=PRUNED_EDGE if removed else "black", ls="--" if removed else "-"))
        axes.text(0, y, "q0", ha="center", va="center", fontsize=6)
        for j in range(1, wfsa.original_length + 1):
            kept = j <= wfsa.kept_length
            if not kept and not show_pruned:
                break
            edge = KEPT_EDGE if kept else PRUNED_EDGE
            style = "-" if kept else "--"
            axes.add_patch(FancyArrowPatch((j - 1 + RADIUS, y), (j - RADIUS, y), arrowstyle="-|>",
                                           mutation_scale=7, color=edge, lw=1.0 if kept else 0.8, ls=style))
            axes.add_patch(FancyArrowPatch((j - 0.12, y + RADIUS * 0.95), (j + 0.12, y + RADIUS * 0.95),
                                           connectionstyle="arc3,rad=-1.9", arrowstyle="-|>",
                                           mutation_scale=5, color=edge, lw=0.7, ls=style))
            axes.add_patch(Circle((j, y), RADIUS, facecolor=KEPT_FACE if kept else "white", edgecolor=edge,
                                  lw=1.2 if kept else 0.8, ls=style))
            axes.add_patch(Circle((j, y), RADIUS * 0.78, facecolor="none", edgecolor=edge, lw=0.6,
                                  ls=style))  # inner ring: a final state
            axes.text(j, y, f"q{j}", ha="center", va="center", fontsize=6,
                      color="black" if kept else PRUNED_EDGE)
            if wfsa.norms is not None and j - 1 < len(wfsa.norms):
                axes.text(j, y - RADIUS - 0.11, f"{wfsa.norms[j - 1]:.2f}", ha="center", va="center",
                          fontsize=5, color="#555555" if kept else PRUNED_EDGE)
