"""`allennlp rrnn-report`: results of a sweep as CSV, a markdown table, Figure 3 and Pareto front.

    allennlp rrnn-report runs/sweeps/kitchen-reduced [more sweep dirs] [-o docs]
    allennlp rrnn-report [DIR] --storage URL      # a sweep on a shared database (DIR: the output dir)
    allennlp rrnn-report results.csv -o out/      # rebuild the tables/figures from a CSV
    allennlp rrnn-report DIR... -o docs --figures-dir docs/figures --notes sweep_specs/results_notes.md

Writes results.csv, results.md, figure3.png and (when the sweep has a multi-objective study)
pareto.png into the output dir (default: the first sweep dir; PNGs: --figures-dir).  For
cross-validated sweeps it also writes results_predictions.json (every test document's outcome per
run, and of the reference models, which it computes on the same folds from --data-dir unless the
predictions file it reads already has them); a CSV source reads the predictions file beside it.
"""
import argparse
import os
import sys

from allennlp.commands.subcommand import Subcommand

_DESCRIPTION = ("Summarize sweeps: results.csv, results.md (CIs and paired tests for cross-validated sweeps), "
                "Figure 3 with reference lines, the Pareto front.")


@Subcommand.register("rrnn-report", exist_ok=True)
class ReportCommand(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=_DESCRIPTION, help=_DESCRIPTION)
        subparser.add_argument("sources", nargs="*", metavar="SOURCE",
                               help="sweep dirs (each read from DIR/sweep.db; with --storage, a dir without "
                                    "one is only a place to write) or results CSVs, combined")
        subparser.add_argument("-o", "--output-dir", default=None,
                               help="where to write (default: the first source's dir)")
        subparser.add_argument("--storage", action="append", default=[],
                               help="an Optuna storage URL to read as well (a shared database); repeatable")
        subparser.add_argument("--figures-dir", default=None, help="where to write the PNGs (default: output dir)")
        subparser.add_argument("--notes", default=None, help="a markdown file to put under the title")
        subparser.add_argument("--title", default="Results")
        subparser.add_argument("--references", choices=["auto", "yes", "no"], default="auto",
                               help="compute the reference models (TF-IDF LR, pooled GloVe LR, pooled features LR for "
                                    "contextual inputs) on the sweeps' folds: "
                                    "auto = when --data-dir exists (default), yes = required, no = never")
        subparser.add_argument("--recompute-references", action="store_true",
                               help="compute the reference models again even where a --predictions file has them "
                                    "(after a change to the data, the features or the reference code)")
        subparser.add_argument("--data-dir", default=os.environ.get("RRNN_DATA_DIR"),
                               help="Blitzer data root for the reference models (default $RRNN_DATA_DIR)")
        subparser.add_argument("--predictions", action="append", default=[], metavar="FILE",
                               help="a results_predictions.json to use for runs whose folders are gone "
                                    "(trials adopted with rrnn-sweep --adopt-state); repeatable")
        subparser.add_argument("--glove-file", default=os.environ.get("RRNN_GLOVE_FILE"),
                               help="GloVe text file for the pooled-embedding reference (default $RRNN_GLOVE_FILE)")
        subparser.set_defaults(func=_run)
        return subparser


def _refuse_missing_database(url: str) -> None:
    """The report only reads: opening a SQLite URL whose file is missing or empty would create an
    Optuna database there (a typo in --storage made a new file; an empty sweep.db got a schema)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            state = "is empty" if os.path.isfile(path) else "does not exist"
            raise SystemExit(f"rrnn-report: error: the database {path} {state}; nothing was written")


def _run(args: argparse.Namespace) -> None:
    from rrnn_plugin.experiments.predictions import PredictionStore
    from rrnn_plugin.experiments.report import PREDICTIONS_FILE, collect_rows, merge_plans, read_csv, write_report
    from rrnn_plugin.experiments.sweep import default_storage

    if not args.sources and not args.storage:
        raise SystemExit("nothing to read: give sweep dirs, results CSVs or --storage URL")
    if not args.sources and args.output_dir is None:
        raise SystemExit("-o/--output-dir is needed when the only source is --storage")
    rows, plans, loaded = [], [], PredictionStore()
    for source in args.sources:
        if source.endswith(".csv"):
            if not os.path.isfile(source):
                raise SystemExit(f"{source}: no such file")
            try:
                rows.extend(read_csv(source))
            except ValueError as error:
                raise SystemExit(f"rrnn-report: error: {error}") from None
            beside = os.path.join(os.path.dirname(os.path.abspath(source)), PREDICTIONS_FILE)
            if os.path.isfile(beside):
                loaded.merge(PredictionStore.load(beside))
            continue
        if not os.path.exists(os.path.join(source, "sweep.db")):
            if args.storage and os.path.isdir(source):
                continue  # the sweep's record is the shared database; this dir holds its runs
            raise SystemExit(f"{source}/sweep.db not found (pass --storage URL for a shared database)")
        if default_storage(source) in args.storage:
            continue  # read once, below
        _refuse_missing_database(default_storage(source))
        source_rows, plan = collect_rows(default_storage(source))
        rows.extend(source_rows)
        plans.append(plan)
    for path in args.predictions:
        if os.path.isfile(path):
            loaded.merge(PredictionStore.load(path))
        else:  # (the first `make results` has none yet: the runs' own folders are read)
            print(f"[report] {path}: no such file; only the run folders' predictions are used (runs without "
                  "a folder have none: the report lists them)", file=sys.stderr)
    for url in dict.fromkeys(args.storage):  # each database once
        _refuse_missing_database(url)
        source_rows, plan = collect_rows(url)
        rows.extend(source_rows)
        plans.append(plan)
    if not rows:
        raise SystemExit(f"no finished runs in {', '.join(args.sources + args.storage)}: nothing to report")
    plan = merge_plans(plans)
    store = _predictions(rows, loaded, plan, args)
    first = args.sources[0] if args.sources else None
    output_dir = args.output_dir or (os.path.dirname(os.path.abspath(first)) if first.endswith(".csv") else first)
    notes = ""
    if args.notes:
        with open(args.notes) as f:
            notes = f.read()
    paths = write_report(rows, output_dir, plan, title=args.title, figures_dir=args.figures_dir,
                         notes=notes, store=store)
    for kind, path in paths.items():
        print(f"{kind}: {path}")


def _predictions(rows, loaded, plan, args):
    """The runs' predictions (from their folders, else the loaded file) plus the reference models."""
    from rrnn_plugin.experiments.predictions import gather, panel_key
    from rrnn_plugin.experiments.references import add_references

    cv_rows = [r for r in rows if r.get("mode", "grid") == "grid" and r.get("fold") is not None]
    if not cv_rows:
        return None
    store = gather(cv_rows)
    if args.recompute_references:
        loaded.drop_references()
    store.merge(loaded)
    panels = {}
    for row in cv_rows:
        folds = (plan.get("folds") or {}).get(row["dataset"])
        folds = folds or 1 + max(int(r["fold"]) for r in cv_rows if r["dataset"] == row["dataset"])
        panels[panel_key(str(row.get("input") or ""), str(row["dataset"]))] = (str(row["dataset"]), int(folds))
    have_data = bool(args.data_dir) and os.path.isdir(args.data_dir)
    if args.references == "yes" and not have_data:
        raise SystemExit(f"--references yes needs the data: --data-dir {args.data_dir!r} is not a folder")
    if args.references != "no" and have_data:
        glove = args.glove_file if args.glove_file and os.path.isfile(args.glove_file) else None
        computed = add_references(store, panels, args.data_dir, glove, contextual=_contextual_panels(panels, plan),
                                  required=args.references == "yes")
        if computed:
            print(f"references computed for: {', '.join(computed)}")
    return store


def _contextual_panels(panels, plan):
    """panel -> (training config, environment, overrides) for the panels whose sweep's baseline
    config reads contextual features (they get the pooled-features reference), from the plan."""
    from rrnn_plugin.experiments.pooled_input import ContextualInput, contextual_embedder_params

    found = {}
    for panel, (dataset, _) in panels.items():
        input_label = panel.rsplit("|", 1)[0]
        spec = (plan.get("inputs") or {}).get(input_label)
        if not spec or not spec.get("baseline"):
            continue
        source = ContextualInput(spec["config"].format(dataset=dataset, baseline=spec["baseline"]),
                                 spec.get("env") or {}, spec.get("overrides") or {})
        if not os.path.isfile(source.config):
            print(f"{panel}: no pooled-features reference: {source.config} not found (run from the project root)")
        elif contextual_embedder_params(source) is not None:
            found[panel] = source
    return found
