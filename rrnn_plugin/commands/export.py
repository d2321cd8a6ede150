"""`allennlp rrnn-export ARCHIVE -o DIR`: a trained model as a folder that runs without AllenNLP
(rrnn_plugin/export/; docs/deploy.md).

    allennlp rrnn-export runs/demo-kitchen/model.tar.gz -o runs/demo-kitchen/export
    python -c "from rrnn_plugin.export import load; print(load('runs/demo-kitchen/export').predict(['great knife']))"
"""
import argparse
import sys

from allennlp.commands.subcommand import Subcommand

_DESCRIPTION = "Export a trained model (weights, vocabulary, tokenizer settings, torch.export program) to a folder."


@Subcommand.register("rrnn-export", exist_ok=True)
class ExportCommand(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=_DESCRIPTION, help=_DESCRIPTION)
        subparser.add_argument("archive", help="a model.tar.gz of a rational_classifier over word embeddings")
        subparser.add_argument("-o", "--output", required=True, help="folder to write (new or empty)")
        subparser.add_argument("--force", action="store_true", help="replace a non-empty output folder")
        subparser.add_argument("--vectors", default=None,
                               help="the model's pretrained word vectors (GloVe text file): add every word they "
                                    "know to the vocabulary (bigger; unseen words keep their vectors)")
        subparser.add_argument("--no-program", action="store_true", help="skip the torch.export program")
        subparser.set_defaults(func=_run)
        return subparser


def _run(args: argparse.Namespace) -> None:
    from rrnn_plugin.export.archive import export_archive
    from rrnn_plugin.export.model import ExportError

    try:
        config = export_archive(args.archive, args.output, program=not args.no_program, force=args.force,
                                vectors=args.vectors)
    except ExportError as error:
        sys.exit(f"rrnn-export: {error}")
    print(f"rrnn-export: {args.output}: {config['wfsas']} WFSAs, {config['transitions']} transitions, "
          f"{config['vocab_size']} words, labels {config['labels']}")
