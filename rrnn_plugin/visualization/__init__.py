"""Interpreting rational RNNs (docs/method.md §6): the phrases each WFSA matches best and worst (the
paper's Table 1) and pictures of the learned structure (its Figure 1).

Plain-data API, shared by `allennlp rrnn-visualize`, notebooks and the HTML view:

    from rrnn_plugin.visualization import load_model, read_documents, extract_phrases
    model, reader = load_model("runs/kitchen-sl/model.tar.gz")
    phrases = extract_phrases(model, read_documents(reader, "/data/kitchen#train"), top_k=4)
    phrases[0].top[0].transitions[0].token, phrases[0].top[0].score

matplotlib is imported only when a picture is drawn.
"""
from rrnn_plugin.visualization.archive import VisualizationError, load_model, read_documents
from rrnn_plugin.visualization.phrases import (
    PathMatch,
    Transition,
    WfsaPhrases,
    extract_phrases,
    find_encoder,
)
from rrnn_plugin.visualization.render import render
from rrnn_plugin.visualization.structure import Structure, WfsaStructure
from rrnn_plugin.visualization.archive import load_structure
from rrnn_plugin.visualization.viterbi import ExtremePaths, extreme_paths


def draw_structure(structure: Structure, output_path: str, title: str = None, dpi: int = 100) -> str:
    """`drawing.draw_structure`, importing matplotlib only now."""
    from rrnn_plugin.visualization.drawing import draw_structure as draw

    return draw(structure, output_path, title=title, dpi=dpi)


__all__ = [
    "ExtremePaths",
    "PathMatch",
    "Structure",
    "Transition",
    "VisualizationError",
    "WfsaPhrases",
    "WfsaStructure",
    "draw_structure",
    "extract_phrases",
    "extreme_paths",
    "find_encoder",
    "load_model",
    "load_structure",
    "read_documents",
    "render",
]
