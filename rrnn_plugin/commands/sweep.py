"""`allennlp rrnn-sweep`: run the paper's protocol (and/or a multi-objective search) from a spec.

    allennlp rrnn-sweep sweep_specs/reduced_protocol.json -s runs/sweeps/kitchen-reduced
    allennlp rrnn-sweep SPEC -s DIR --storage postgresql://host/db   # several machines, one sweep
    allennlp rrnn-sweep SPEC -s DIR --export-state sweep_specs/state/NAME.jsonl   # to commit
    allennlp rrnn-sweep SPEC -s NEWDIR --adopt-state sweep_specs/state/NAME.jsonl # continue elsewhere

Every trial is an `allennlp train` run under DIR; Optuna's storage (default DIR/sweep.db, SQLite)
records them, so re-running the command resumes and never repeats a finished trial.  The spec
format is documented in rrnn_plugin/experiments/spec.py; `allennlp rrnn-report DIR` summarizes.
"""
import argparse
import json

from allennlp.commands.subcommand import Subcommand

_DESCRIPTION = "Run a sweep spec (baselines x lambda targets x seeds, multi-objective search) resumably."


@Subcommand.register("rrnn-sweep", exist_ok=True)
class SweepCommand(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=_DESCRIPTION, help=_DESCRIPTION)
        subparser.add_argument("spec", help="sweep spec (JSON), e.g. sweep_specs/reduced_protocol.json")
        subparser.add_argument("-s", "--serialization-dir", required=True, help="sweep dir (runs, sweep.db)")
        subparser.add_argument("--storage", default=None, help="Optuna storage URL (default sqlite:///DIR/sweep.db)")
        subparser.add_argument("--mode", choices=["all", "grid", "moo"], default="all",
                               help="grid: the protocol; moo: the multi-objective search; all: both (default)")
        subparser.add_argument("--max-trials", type=int, default=None, help="stop after running this many trials")
        subparser.add_argument("--no-wait", action="store_true",
                               help="exit instead of waiting for points other workers are running")
        subparser.add_argument("--threads", type=int, default=None, help="torch threads per run (OMP_NUM_THREADS)")
        subparser.add_argument("--dry-run", action="store_true", help="list the grid points and exit")
        subparser.add_argument("--export-state", metavar="FILE", default=None,
                               help="write the finished grid trials to FILE (JSON lines, to commit) and exit")
        subparser.add_argument("--adopt-state", metavar="FILE", default=None,
                               help="first record the trials of an --export-state FILE this sweep lacks, then run")
        subparser.set_defaults(func=_run)
        return subparser


def _run(args: argparse.Namespace) -> None:
    from rrnn_plugin.experiments.spec_checks import SpecError

    try:
        _sweep(args)
    except SpecError as error:  # a mistake in the spec (or a spec changed under a sweep): no traceback
        raise SystemExit(f"rrnn-sweep: error: {error}") from None


def _sweep(args: argparse.Namespace) -> None:
    from rrnn_plugin.experiments.multi_objective import run_multi_objective
    from rrnn_plugin.experiments.spec import SweepSpec, grid_points
    from rrnn_plugin.experiments.sweep import Sweep

    spec = SweepSpec.from_file(args.spec)
    if args.dry_run:
        for point in grid_points(spec):
            print(point.key)
        if spec.multi_objective is not None:
            print(json.dumps({"multi_objective": spec.to_json()["multi_objective"]}))
        return
    sweep = Sweep(spec, args.serialization_dir, storage=args.storage, threads=args.threads)
    if args.export_state:
        print(f"[sweep] wrote {sweep.export_state(args.export_state)} finished trials to {args.export_state}")
        return
    if args.adopt_state:
        print(f"[sweep] adopted {sweep.adopt_state(args.adopt_state)} finished trials from {args.adopt_state}")
    ran = 0
    if args.mode in ("all", "grid"):
        ran += sweep.run_grid(max_trials=args.max_trials, wait=not args.no_wait)
    if args.mode in ("all", "moo"):
        left = None if args.max_trials is None else args.max_trials - ran
        if left is None or left > 0:
            ran += run_multi_objective(sweep, max_trials=left)
    print(f"[sweep] ran {ran} trials in this session")
    if sweep.failed_points:
        raise SystemExit(f"[sweep] {len(sweep.failed_points)} trials failed in this session (their logs are next "
                         f"to their run folders; re-running the command retries them): "
                         f"{', '.join(sorted(sweep.failed_points)[:10])}")
