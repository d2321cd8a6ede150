"""`allennlp rrnn-report`: results of a sweep as CSV, a markdown table, Figure 3 and Pareto front.

    allennlp rrnn-report runs/sweeps/kitchen-reduced [more sweep dirs] [-o docs] [--storage URL]
    allennlp rrnn-report results.csv -o out/      # rebuild the tables/figures from a CSV
    allennlp rrnn-report DIR... -o docs --figures-dir docs/figures --notes experiments/results_notes.md

Writes results.csv, results.md, figure3.png and (when the sweep has a multi-objective study)
pareto.png into the output dir (default: the first sweep dir; PNGs: --figures-dir).
"""
import argparse
import os

from allennlp.commands.subcommand import Subcommand

_DESCRIPTION = "Summarize a sweep: results.csv, results.md (mean ± std), Figure 3 and the Pareto front."


@Subcommand.register("rrnn-report", exist_ok=True)
class ReportCommand(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=_DESCRIPTION, help=_DESCRIPTION)
        subparser.add_argument("sources", nargs="+", metavar="SOURCE",
                               help="sweep dirs (each read from DIR/sweep.db) or results CSVs, combined")
        subparser.add_argument("-o", "--output-dir", default=None,
                               help="where to write (default: the first source's dir)")
        subparser.add_argument("--storage", action="append", default=[],
                               help="an Optuna storage URL to read as well (a shared database); repeatable")
        subparser.add_argument("--figures-dir", default=None, help="where to write the PNGs (default: output dir)")
        subparser.add_argument("--notes", default=None, help="a markdown file to put under the title")
        subparser.add_argument("--title", default="Results")
        subparser.set_defaults(func=_run)
        return subparser


def _run(args: argparse.Namespace) -> None:
    from rrnn_plugin.experiments.report import collect_rows, merge_plans, read_csv, write_report
    from rrnn_plugin.experiments.sweep import default_storage

    rows, plans = [], []
    for source in args.sources:
        if source.endswith(".csv"):
            rows.extend(read_csv(source))
            continue
        if not os.path.exists(os.path.join(source, "sweep.db")):
            raise SystemExit(f"{source}/sweep.db not found (pass --storage URL for a shared database)")
        source_rows, plan = collect_rows(default_storage(source))
        rows.extend(source_rows)
        plans.append(plan)
    for url in args.storage:
        source_rows, plan = collect_rows(url)
        rows.extend(source_rows)
        plans.append(plan)
    first = args.sources[0]
    output_dir = args.output_dir or (os.path.dirname(os.path.abspath(first)) if first.endswith(".csv") else first)
    notes = ""
    if args.notes:
        with open(args.notes) as f:
            notes = f.read()
    paths = write_report(rows, output_dir, merge_plans(plans), title=args.title, figures_dir=args.figures_dir,
                         notes=notes)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
