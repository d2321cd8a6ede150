"""`allennlp rrnn-visualize` and `allennlp rrnn-draw-structure`: what the WFSAs of a model match,
and what structure they have (the paper's Table 1 and Figure 1; docs/method.md §6).

    allennlp rrnn-visualize runs/kitchen-sl/model.tar.gz "$RRNN_DATA_DIR/kitchen#train" --format markdown
    allennlp rrnn-draw-structure runs/kitchen-sl --output docs/images/kitchen-structure.png

Also `python -m rrnn_plugin.commands.visualize {rrnn-visualize,rrnn-draw-structure} ...` (same
arguments).  Problems with the inputs end the command with one line naming the path (exit 1).
"""
import argparse
import os
import warnings
from typing import List, Optional

from allennlp.commands.subcommand import Subcommand

from rrnn_plugin.visualization.archive import VisualizationError
from rrnn_plugin.visualization.render import FORMATS, format_for_file

# `python -m rrnn_plugin.commands.visualize`: the package imported this module first (expected).
warnings.filterwarnings(
    "ignore", message=r"'rrnn_plugin\.commands\.visualize' found in sys\.modules", category=RuntimeWarning
)

_VISUALIZE = (
    "Show the top and bottom phrases of every WFSA of a model over a data set (the paper's Table 1)."
)
_DRAW = "Draw the (learned) structure of a rational RNN: one row of states per WFSA (PNG or SVG)."


@Subcommand.register("rrnn-visualize", exist_ok=True)  # exist_ok: `python -m` runs this file twice
class VisualizeCommand(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=_VISUALIZE, help=_VISUALIZE)
        return add_visualize_arguments(subparser)


@Subcommand.register("rrnn-draw-structure", exist_ok=True)
class DrawStructureCommand(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=_DRAW, help=_DRAW)
        return add_draw_arguments(subparser)


def add_visualize_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("archive_file", help="model archive (model.tar.gz) of a rational_rnn classifier")
    parser.add_argument(
        "data_path", help="data read with the archive's reader, e.g. $RRNN_DATA_DIR/kitchen#train"
    )
    parser.add_argument(
        "--top-k", type=int, default=4, help="phrases shown per WFSA, top and bottom (default 4)"
    )
    parser.add_argument("--output-file", default=None, help="write here instead of printing")
    parser.add_argument(
        "--format", choices=FORMATS, default=None,
        help="output format (default: from the --output-file extension .md/.html/.json, else text)",
    )
    parser.add_argument("--max-documents", type=int, default=None, help="score only the first N documents")
    parser.add_argument("--wfsa", type=int, nargs="+", action="extend", default=None, metavar="K",
                        help="only these WFSAs (indices in the model, from 0)")
    parser.add_argument(
        "--batch-size", type=int, default=64, help="documents per forward pass (default 64)"
    )
    parser.add_argument(
        "--no-trailing-self-loops", dest="trailing", action="store_false",
        help="score a path up to its last main-path token only, instead of (as the model does) "
        "including the last state's self-loops to the end of the document",
    )
    parser.add_argument(
        "--any-final-state", action="store_true",
        help="let a path end in any state (all states are final; the model sums them all) instead "
        "of only after all of its WFSA's transitions (the default, as in the paper's Table 1)",
    )
    parser.add_argument(
        "--keep-duplicates", dest="distinct", action="store_false",
        help="list a phrase once per document that has it as its best path (default: once, best score)",
    )
    parser.add_argument("--silent", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_visualize)
    return parser


def add_draw_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "source",
        help="learned_structure.json, a serialization dir, or a model archive (then every state is kept)",
    )
    parser.add_argument("--output", required=True, help="picture to write: .png, .svg or .pdf")
    parser.add_argument("--title", default=None, help="title above the picture")
    parser.add_argument("--dpi", type=int, default=100, help="resolution of a PNG (default 100)")
    parser.set_defaults(func=run_draw)
    return parser


def run_visualize(args: argparse.Namespace) -> None:
    from allennlp.common.checks import ConfigurationError

    from rrnn_plugin.command_guards import check_output_path, write_text_safely

    try:
        if args.output_file and os.path.isdir(args.output_file):
            raise VisualizationError(f"--output-file {args.output_file} is a folder; name a file in it")
        check_output_path(args.output_file, [args.archive_file, args.data_path], "--output-file")
        text = visualize(args)
    except (VisualizationError, ConfigurationError) as error:
        raise SystemExit(f"rrnn-visualize: error: {error}") from None
    if args.output_file:
        write_text_safely(args.output_file, text)
    else:
        print(text, end="")


def visualize(args: argparse.Namespace) -> str:
    """The rendered phrases for parsed `rrnn-visualize` arguments."""
    from rrnn_plugin.visualization.archive import learned_structure_for, load_model, read_documents
    from rrnn_plugin.visualization.phrases import extract_phrases, find_encoder
    from rrnn_plugin.visualization.render import render

    fmt = args.format or format_for_file(args.output_file) or "text"
    if args.top_k < 0 or (args.max_documents is not None and args.max_documents < 1) or args.batch_size < 1:
        raise VisualizationError("--top-k must be >= 0, --max-documents and --batch-size >= 1")
    model, reader = load_model(args.archive_file)
    try:
        encoder = find_encoder(model)
    except ValueError as error:
        raise VisualizationError(f"{args.archive_file}: {error}") from None
    documents = read_documents(reader, args.data_path, args.max_documents)
    structure = learned_structure_for(args.archive_file, encoder.wfsa_lengths)
    original = None
    if structure is not None and structure.lengths_after == encoder.wfsa_lengths:
        original = structure.kept_wfsas
    try:
        phrases = extract_phrases(
            model, documents, top_k=args.top_k, wfsas=args.wfsa, trailing=args.trailing,
            batch_size=args.batch_size, progress=not args.silent, original_indices=original,
            distinct=args.distinct, any_final_state=args.any_final_state,
        )
    except ValueError as error:
        raise VisualizationError(str(error)) from None
    metadata = {
        "archive": args.archive_file,
        "data_path": args.data_path,
        "documents": len(documents),
        "semiring": encoder.semiring,
        "trailing_self_loops": args.trailing,
        "any_final_state": args.any_final_state,
        "distinct_phrases": args.distinct,
        "learned_structure": None if structure is None else structure.source,
    }
    run = os.path.basename(os.path.dirname(os.path.abspath(args.archive_file)))
    title = f"WFSA phrases: {run}, {args.data_path}"
    return render(phrases, fmt, title=title, metadata=metadata)


def run_draw(args: argparse.Namespace) -> None:
    from rrnn_plugin.visualization.drawing import FORMATS as PICTURES, draw_structure
    from rrnn_plugin.visualization.archive import load_structure

    if os.path.splitext(args.output)[1].lower().lstrip(".") not in PICTURES:
        raise SystemExit(
            f"rrnn-draw-structure: error: {args.output}: the picture must be .png, .svg or .pdf"
        )
    try:
        structure = load_structure(args.source)
        draw_structure(structure, args.output, title=args.title, dpi=args.dpi)
    except VisualizationError as error:
        raise SystemExit(f"rrnn-draw-structure: error: {error}") from None
    except (OSError, ValueError) as error:
        raise SystemExit(f"rrnn-draw-structure: error: {' '.join(str(error).split())}") from None
    kept = f"{structure.transitions_after} of {structure.transitions_before} transitions kept"
    print(f"wrote {args.output} ({kept})")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rrnn_plugin.commands.visualize", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_visualize_arguments(commands.add_parser("rrnn-visualize", help=_VISUALIZE, description=_VISUALIZE))
    add_draw_arguments(commands.add_parser("rrnn-draw-structure", help=_DRAW, description=_DRAW))
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
