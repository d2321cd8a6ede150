"""`python bench/kernels.py [--quick]`: speed of the rational RNN layer (`make bench`).

Measures, side by side in one process (implementations interleaved rep by rep, so a change in
machine load hits all of them alike):
- micro: median forward and forward+backward times of the encoder with the compiled kernel and
  with the vectorized PyTorch path, of torch.nn.LSTM with hidden size = number of WFSAs, and of
  the encoder's input-projection matmul alone (the floor: any implementation must do it);
  B=32, D=300, 24 WFSAs x 4 transitions at T = 64, 256, 1024, and 256 WFSAs x 4 at T = 256, 1024;
- inference of the encoder alone, 96 transitions vs 20 (a pruned shape), B=32, D=300, T=256;
- denormals: forward+backward at T=1024 with and without flushing, kernel and PyTorch path;
- end to end: seconds per training epoch on Blitzer kitchen with frozen GloVe 50d (the 96-
  transition baseline config), kernel vs PyTorch path, and inference documents/second of that
  model vs a 20-transition model of a typical pruned shape (random weights: speed does not
  depend on them).
Writes bench/results.json and bench/results.md (see --output-dir) and checks the targets.
"""
import argparse
import glob
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

import rrnn_plugin  # noqa: F401  (registers the plugin, sets RRNN_DATA_DIR / RRNN_GLOVE_FILE defaults)
from rrnn_plugin.kernels import _loader, denormals
from rrnn_plugin.encoders import RationalRnnEncoder

PROJECT_ROOT = Path(rrnn_plugin.__file__).resolve().parents[1]
BASELINE_CONFIG = PROJECT_ROOT / "training_configs" / "kitchen" / "baseline_4.jsonnet"
PRUNED_SHAPE = {"1": 4, "2": 4, "4": 2}  # 20 transitions, 10 WFSAs of mixed lengths
TARGETS = {"floor": 1.25, "lstm": 3.0, "torch": 4.0, "proportional_slack": 1.25}

Timed = Callable[[], None]
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


# ----- timing ---------------------------------------------------------------------------------


def interleaved_times(tasks: Dict[str, Timed], reps: int, budget_s: float) -> Dict[str, List[float]]:
    """Milliseconds of each run of each task, run round-robin so that a change in machine load
    hits all tasks alike; a slow task stops after 3 runs once it has used `budget_s`."""
    times: Dict[str, List[float]] = {name: [] for name in tasks}
    spent = {name: 0.0 for name in tasks}
    for task in tasks.values():  # warm-up (allocations, lazy init, the kernel import)
        task()
    for rep in range(reps):
        for name, task in tasks.items():
            if rep >= 3 and spent[name] > budget_s:
                continue
            start = _clock()
            task()
            elapsed = _clock() - start
            times[name].append(elapsed * 1e3)
            spent[name] += elapsed
    return times


def interleaved_medians(tasks: Dict[str, Timed], reps: int, budget_s: float) -> Dict[str, float]:
    return {name: statistics.median(t) for name, t in interleaved_times(tasks, reps, budget_s).items()}


def _fwd_bwd(forward: Callable[[], torch.Tensor], params: List[torch.Tensor]) -> Timed:
    def run() -> None:
        for p in params:
            p.grad = None
        out = forward()
        out.backward(torch.ones_like(out))

    return run


def _no_grad(forward: Callable[[], torch.Tensor]) -> Timed:
    def run() -> None:
        with torch.no_grad():
            forward()

    return run


# ----- micro benchmarks -------------------------------------------------------------------------


def micro(batch: int, dim: int, wfsas: int, states: int, steps: int, reps: int, budget_s: float) -> Dict:
    """One configuration: every implementation's fwd and fwd+bwd median (ms)."""
    torch.manual_seed(0)
    tokens = torch.randn(batch, steps, dim) / dim**0.5  # unit-norm rows, like normalized GloVe
    mask = torch.ones(batch, steps, dtype=torch.bool)
    encoders = {name: RationalRnnEncoder(dim, {str(states): wfsas}, backend=name) for name in ("cpp", "torch")}
    encoders["torch"].load_state_dict(encoders["cpp"].state_dict())
    lstm = torch.nn.LSTM(dim, wfsas, batch_first=True)
    weight = torch.nn.Parameter(torch.randn(2 * wfsas * states, dim) / dim**0.5)
    bias = torch.nn.Parameter(torch.zeros(2 * wfsas * states))

    forwards = {
        "projection": lambda: torch.nn.functional.linear(tokens, weight, bias),
        "cpp": lambda: encoders["cpp"](tokens, mask),
        "torch": lambda: encoders["torch"](tokens, mask),
        "lstm": lambda: lstm(tokens)[1][0],  # h(T), like the encoder's h(T)
    }
    params = {
        "projection": [weight, bias],
        "cpp": list(encoders["cpp"].parameters()),
        "torch": list(encoders["torch"].parameters()),
        "lstm": list(lstm.parameters()),
    }
    tasks: Dict[str, Timed] = {}
    for name, forward in forwards.items():
        tasks[f"{name}/fwd"] = _no_grad(forward)
        tasks[f"{name}/fwdbwd"] = _fwd_bwd(forward, params[name])
    times = interleaved_times(tasks, reps, budget_s)
    row = {"B": batch, "D": dim, "wfsas": wfsas, "states": states, "T": steps, "ms": {}, "min_ms": {}}
    for name in forwards:
        fwd, fwdbwd = times[f"{name}/fwd"], times[f"{name}/fwdbwd"]
        row["ms"][name] = {"fwd": statistics.median(fwd), "fwdbwd": statistics.median(fwdbwd)}
        row["min_ms"][name] = {"fwd": min(fwd), "fwdbwd": min(fwdbwd)}
    ms = row["ms"]
    row["ratios"] = {
        "cpp_vs_floor_fwdbwd": ms["cpp"]["fwdbwd"] / ms["projection"]["fwdbwd"],
        "cpp_vs_floor_fwd": ms["cpp"]["fwd"] / ms["projection"]["fwd"],
        "lstm_vs_cpp_fwdbwd": ms["lstm"]["fwdbwd"] / ms["cpp"]["fwdbwd"],
        "lstm_vs_cpp_fwd": ms["lstm"]["fwd"] / ms["cpp"]["fwd"],
        "torch_vs_cpp_fwdbwd": ms["torch"]["fwdbwd"] / ms["cpp"]["fwdbwd"],
        "torch_vs_cpp_fwd": ms["torch"]["fwd"] / ms["cpp"]["fwd"],
    }
    return row


def denormal_effect(steps: int, reps: int, budget_s: float) -> Dict:
    """Encoder fwd+bwd with and without flushing denormals (random weights reach them by T~130).

    Without flushing is also how the PyTorch path ran before this plugin flushed at all.
    """
    torch.manual_seed(0)
    tokens = torch.randn(32, steps, 300) / 300**0.5
    result: Dict = {"T": steps, "ms": {}}
    for backend in ("cpp", "torch"):
        encoder = RationalRnnEncoder(300, {"4": 24}, backend=backend)
        run = _fwd_bwd(lambda: encoder(tokens), list(encoder.parameters()))
        for flush in (True, False):
            denormals.set_enabled(flush)
            try:
                encoder(tokens[:1, :2])  # applies the setting to every thread
                times = interleaved_times({"x": run}, reps, budget_s)["x"]
            finally:
                denormals.set_enabled(None)
            result["ms"][f"{backend}/{'flush' if flush else 'no_flush'}"] = statistics.median(times)
    ms = result["ms"]
    result["slowdown_without_flush"] = {b: ms[f"{b}/no_flush"] / ms[f"{b}/flush"] for b in ("cpp", "torch")}
    return result


def pruned_inference(steps: int, reps: int) -> Dict:
    """Encoder inference (no grad), baseline shape vs a pruned shape, B=32, D=300: the kernel's
    and the projection's cost both follow the number of transitions."""
    torch.manual_seed(0)
    tokens = torch.randn(32, steps, 300) / 300**0.5
    mask = torch.ones(32, steps, dtype=torch.bool)
    # more sizes than the two compared, to split the cost into a part that does not depend on the
    # model (reading the inputs, allocating outputs, per-call overhead) and a per-transition part
    shapes = {"96": {"4": 24}, "48": {"4": 12}, "20": PRUNED_SHAPE, "8": {"4": 2}, "4": {"1": 4}}
    encoders = {name: RationalRnnEncoder(300, shape, backend="cpp").eval() for name, shape in shapes.items()}
    tasks = {name: _no_grad(lambda e=e: e(tokens, mask)) for name, e in encoders.items()}
    ms = interleaved_medians(tasks, 3 * reps, budget_s=30.0)
    fixed, per_transition = _line_fit([(float(n), ms[n]) for n in shapes])
    return {"T": steps, "ms": ms, "transitions": {n: e.num_transitions for n, e in encoders.items()},
            "ratio": ms["20"] / ms["96"], "fixed_ms": fixed, "ms_per_transition": per_transition,
            "model_part_ratio": (ms["20"] - fixed) / (ms["96"] - fixed)}


def _line_fit(points: List[tuple]) -> tuple:
    """Least-squares (intercept, slope) of y = a + b x."""
    fit = statistics.linear_regression([x for x, _ in points], [y for _, y in points])
    return fit.intercept, fit.slope


# ----- end to end -------------------------------------------------------------------------------


def _glove_ready(timeout_s: float) -> Optional[str]:
    """Path of the GloVe file, waiting while another process is still writing it; None if absent."""
    path = os.environ["RRNN_GLOVE_FILE"]
    deadline = time.time() + timeout_s
    while glob.glob(glob.escape(path) + ".tmp*") and time.time() < deadline:
        print(f"  waiting for {path} (being written)...", flush=True)
        time.sleep(10)
    return path if os.path.exists(path) and not glob.glob(glob.escape(path) + ".tmp*") else None


def end_to_end(reps: int, max_batches: Optional[int]) -> Dict:
    """Training seconds/epoch (kitchen, 96-transition baseline) and inference documents/second."""
    setup = _KitchenSetup(max_batches)
    result: Dict = {
        "documents": setup.documents,
        "batches": len(setup.batches),
        "config": str(BASELINE_CONFIG.relative_to(PROJECT_ROOT)),
    }
    models = {name: setup.build(name) for name in ("cpp", "torch")}
    for model in models.values():  # warm-up: one batch
        model(**setup.batches[0])["loss"].backward()
    epoch = {name: [] for name in models}
    for _ in range(reps):
        for name, model in models.items():
            epoch[name].append(setup.train_epoch(model))
    result["train_epoch_s"] = {name: statistics.median(values) for name, values in epoch.items()}
    result["inference"] = _inference(setup, reps)
    return result


class _KitchenSetup:
    """The kitchen baseline config's data, tensorized once, and models built from it."""

    def __init__(self, max_batches: Optional[int]) -> None:
        from allennlp.common import Params
        from allennlp.data import DatasetReader, Vocabulary
        from allennlp.data.data_loaders import MultiProcessDataLoader
        from allennlp.data.samplers import BucketBatchSampler

        self.config = Params.from_file(str(BASELINE_CONFIG)).as_dict()
        reader = DatasetReader.from_params(Params(self.config["dataset_reader"]))
        train_path = self.config["train_data_path"]
        self.vocab = Vocabulary.from_instances(
            list(reader.read(train_path)) + list(reader.read(self.config["validation_data_path"]))
        )
        data = MultiProcessDataLoader(
            reader, train_path, batch_sampler=BucketBatchSampler(batch_size=64, sorting_keys=["tokens"])
        )
        data.index_with(self.vocab)
        batches = list(data)  # tensorize once: the epoch timing is the model's work only
        self.batches = batches[:max_batches] if max_batches else batches
        self.documents = sum(len(b["label"]) for b in self.batches)

    def build(self, backend: str, lengths=None):
        from allennlp.common import Params
        from allennlp.models import Model

        model_config = json.loads(json.dumps(self.config["model"]))
        model_config["seq2vec_encoder"]["backend"] = backend
        if lengths is not None:
            model_config["seq2vec_encoder"]["wfsa_lengths"] = lengths
        torch.manual_seed(13)
        return Model.from_params(vocab=self.vocab, params=Params(model_config))

    def train_epoch(self, model) -> float:
        model.train()
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
        start = _clock()
        for batch in self.batches:
            optimizer.zero_grad()
            model(**batch)["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        return _clock() - start

    def inference_passes(self, model) -> Dict[str, Timed]:
        """One pass over the data without gradients: whole model, and encoder alone."""
        from allennlp.nn.util import get_text_field_mask

        model.eval()
        with torch.no_grad():
            embedded = [(model._text_field_embedder(b["tokens"]), get_text_field_mask(b["tokens"]))
                        for b in self.batches]

        def whole() -> None:
            with torch.no_grad():
                for b in self.batches:
                    model(tokens=b["tokens"])

        def encoder() -> None:
            with torch.no_grad():
                for x, mask in embedded:
                    model._seq2vec_encoder(x, mask)

        return {"model": whole, "encoder": encoder}


def _inference(setup: _KitchenSetup, reps: int) -> Dict:
    """Documents/second of the 96-transition model and of a 20-transition (pruned-shape) one."""
    shapes = {
        "96 transitions (baseline_4: 24 x 4)": None,
        "20 transitions (pruned shape, random weights)": PRUNED_SHAPE,
    }
    models = {label: setup.build("cpp", lengths) for label, lengths in shapes.items()}
    tasks = {f"{label}|{kind}": run for label, model in models.items()
             for kind, run in setup.inference_passes(model).items()}
    seconds = {name: ms / 1e3 for name, ms in interleaved_medians(tasks, reps=3 * reps + 2, budget_s=60.0).items()}
    return {
        label: {
            "transitions": model._seq2vec_encoder.num_transitions,
            "docs_per_s_model": setup.documents / seconds[f"{label}|model"],
            "docs_per_s_encoder": setup.documents / seconds[f"{label}|encoder"],
            "encoder_s": seconds[f"{label}|encoder"],
        }
        for label, model in models.items()
    }


# ----- report -----------------------------------------------------------------------------------


def check_targets(results: Dict) -> List[Dict]:
    checks = []

    def check(target: str, value: float, met: bool, at_floor: Optional[float] = None) -> None:
        checks.append({"target": target, "value": round(value, 2), "met": bool(met),
                       "at_floor": None if at_floor is None else round(at_floor, 2)})

    for row in results["micro"]:
        name = f"{row['wfsas']}x{row['states']}, T={row['T']}"
        r = row["ratios"]
        if row["T"] >= 256:
            floor = r["cpp_vs_floor_fwdbwd"]
            check(f"fwd+bwd <= {TARGETS['floor']}x projection floor ({name})", floor, floor <= TARGETS["floor"])
        if row["wfsas"] == 24:
            lstm = r["lstm_vs_cpp_fwdbwd"]
            check(f">= {TARGETS['lstm']}x faster than LSTM(24), fwd+bwd ({name})", lstm, lstm >= TARGETS["lstm"],
                  lstm * r["cpp_vs_floor_fwdbwd"])
        vs_torch = r["torch_vs_cpp_fwdbwd"]
        check(f">= {TARGETS['torch']}x the PyTorch path, fwd+bwd ({name})", vs_torch, vs_torch >= TARGETS["torch"],
              vs_torch * r["cpp_vs_floor_fwdbwd"])
    slack = TARGETS["proportional_slack"]
    pi = results.get("pruned_inference")
    if pi:
        expected = 20 / 96
        check(f"pruned encoder cost ~ transitions, B=32 D=300 T={pi['T']} (20/96 = {expected:.2f}; "
              f"met if <= {slack}x that)", pi["ratio"], pi["ratio"] <= slack * expected)
    e2e = results.get("end_to_end")
    if e2e:
        (big, small) = list(e2e["inference"].values())
        expected = small["transitions"] / big["transitions"]
        actual = small["encoder_s"] / big["encoder_s"]
        check(f"pruned encoder cost ~ transitions, kitchen GloVe 50d ({small['transitions']}/{big['transitions']} = "
              f"{expected:.2f}; met if <= {slack}x that)", actual, actual <= slack * expected)
    return checks


def to_markdown(results: Dict) -> str:
    meta = results["meta"]
    clock = "process CPU time" if meta["clock"] == "cpu" else "wall-clock time"
    lines = [
        "# rational RNN layer: speed",
        "",
        f"`{meta['command']}` on {meta['machine']}, torch {meta['torch']} with {meta['threads']} threads, "
        f"{meta['date']}. Load average before/after: {meta['load_before']} / {meta['load_after']} "
        "(other jobs on the machine make every number slower and noisier).",
        f"Kernel: {meta['kernel']}. Denormal flushing: {meta['flush_denormals']}.",
        "",
        f"## Encoder layer, median milliseconds of {clock} "
        "(B=32, D=300, frozen inputs: no input gradient)",
        "",
        "Each time cell: forward / forward+backward, of the whole encoder layer (projection included) or LSTM; "
        "the projection column is that matmul alone, the floor any implementation pays.",
        "",
        "| WFSAs x states | T | projection fwd / fwd+bwd | C++ kernel | PyTorch path | LSTM(h=WFSAs) "
        "| kernel / floor (fwd+bwd) | LSTM / kernel | PyTorch / kernel |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["micro"]:
        ms, r = row["ms"], row["ratios"]
        cell = lambda name: f"{ms[name]['fwd']:.1f} / {ms[name]['fwdbwd']:.1f}"  # noqa: E731
        lines.append(
            f"| {row['wfsas']} x {row['states']} | {row['T']} | {cell('projection')} | {cell('cpp')} | {cell('torch')} "
            f"| {cell('lstm')} | {r['cpp_vs_floor_fwdbwd']:.2f} | {r['lstm_vs_cpp_fwdbwd']:.1f} "
            f"| {r['torch_vs_cpp_fwdbwd']:.1f} |"
        )
    pi = results.get("pruned_inference")
    if pi:
        lines += ["", f"Inference, encoder alone (C++ kernel, no grad, B=32, D=300, T={pi['T']}): 96 transitions "
                      f"{pi['ms']['96']:.2f} ms, 20 transitions (pruned shape {PRUNED_SHAPE}, random weights) "
                      f"{pi['ms']['20']:.2f} ms: {pi['ratio']:.2f}x the cost for {20 / 96:.2f}x the transitions."]
        if "fixed_ms" in pi:
            sizes = ", ".join(f"{n}: {pi['ms'][n]:.2f}" for n in pi["ms"])
            lines += ["", f"Why not proportional: over 96/48/20/8/4 transitions (ms: {sizes}) the cost fits "
                          f"{pi['fixed_ms']:.2f} ms + {pi['ms_per_transition'] * 1000:.1f} us per transition. The fixed "
                          f"part (reading the {pi['T']}x32x300 inputs once, allocating outputs, call overhead) does not "
                          f"shrink with the model; the rest does: {pi['model_part_ratio']:.2f}x for {20 / 96:.2f}x "
                          "the transitions."]
    d = results.get("denormals")
    if d:
        ms, slow = d["ms"], d["slowdown_without_flush"]
        lines += ["", f"Denormals (24 x 4, T={d['T']}, fwd+bwd, median ms): C++ kernel {ms['cpp/flush']:.1f} flushed vs "
                      f"{ms['cpp/no_flush']:.1f} not ({slow['cpp']:.2f}x); PyTorch path {ms['torch/flush']:.1f} vs "
                      f"{ms['torch/no_flush']:.1f} ({slow['torch']:.2f}x). Flushing is on by default (all torch threads); "
                      "the PyTorch path did not flush before this plugin did."]
    e2e = results.get("end_to_end")
    if e2e:
        epoch = e2e["train_epoch_s"]
        lines += [
            "",
            f"## End to end (Blitzer kitchen train split, {e2e['documents']} documents, {e2e['batches']} batches of 64, "
            f"GloVe 50d, {e2e['config']})",
            "",
            f"Training: {epoch['cpp']:.2f} s/epoch with the C++ kernel, {epoch['torch']:.2f} s/epoch with the "
            f"PyTorch path ({epoch['torch'] / epoch['cpp']:.1f}x).",
            "",
            "| inference (C++ kernel, no grad) | transitions | documents/s, whole model | documents/s, encoder only |",
            "|---|---|---|---|",
        ]
        for label, row in e2e["inference"].items():
            lines.append(f"| {label} | {row['transitions']} | {row['docs_per_s_model']:.0f} | {row['docs_per_s_encoder']:.0f} |")
    elif results.get("end_to_end_skipped"):
        lines += ["", f"End to end: skipped ({results['end_to_end_skipped']})."]
    lines += ["", "## Targets", "",
              "The last column is the ratio a kernel costing exactly the projection floor would reach (the "
              "other side's time / the floor): where it is itself below the target, no recurrence can meet it.",
              "", "| target | measured | met | at the floor |", "|---|---|---|---|"]
    for check in results["targets"]:
        bound = check.get("at_floor")
        lines.append(f"| {check['target']} | {check['value']} | {'yes' if check['met'] else 'NO'} "
                     f"| {'' if bound is None else bound} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and shapes, 8 training batches")
    parser.add_argument("--output-dir", default=str(PROJECT_ROOT / "bench"))
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = cores)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="'cpu' (process CPU time) with --threads 1 is robust to other jobs on the machine")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    global _clock
    _clock = CLOCKS[args.clock]

    module, error = _loader.load("cpu")
    if module is None:
        print(f"the C++ kernel is unavailable ({error}); build it first", file=sys.stderr)
        return 1
    reps = 3 if args.quick else 11
    shapes = [(24, 64), (24, 256), (256, 256)] if args.quick else [(24, 64), (24, 256), (24, 1024), (256, 256), (256, 1024)]
    results: Dict = {
        "meta": {
            "command": "python bench/kernels.py" + (" --quick" if args.quick else "")
            + (f" --threads {args.threads}" if args.threads else "")
            + (f" --clock {args.clock}" if args.clock != "wall" else ""),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_before": round(os.getloadavg()[0], 2),
            "kernel": os.path.relpath(module.__file__, PROJECT_ROOT),
            "flush_denormals": denormals.enabled(),
            "clock": args.clock,
        },
        "micro": [],
    }
    started = time.time()
    for wfsas, steps in shapes:
        print(f"micro: {wfsas} WFSAs x 4, T={steps} ...", flush=True)
        results["micro"].append(micro(32, 300, wfsas, 4, steps, reps, budget_s=4.0 if args.quick else 10.0))
    print("pruned inference ...", flush=True)
    results["pruned_inference"] = pruned_inference(256, reps)
    print("denormals ...", flush=True)
    results["denormals"] = denormal_effect(256 if args.quick else 1024, reps, budget_s=4.0 if args.quick else 8.0)
    if args.skip_end_to_end:
        results["end_to_end_skipped"] = "--skip-end-to-end"
    elif _glove_ready(timeout_s=600) is None:
        results["end_to_end_skipped"] = f"no GloVe file at {os.environ['RRNN_GLOVE_FILE']} (run `make glove`)"
    else:
        print("end to end ...", flush=True)
        results["end_to_end"] = end_to_end(reps=1 if args.quick else 3, max_batches=8 if args.quick else None)
    results["meta"]["load_after"] = round(os.getloadavg()[0], 2)
    results["meta"]["seconds"] = round(time.time() - started, 1)
    results["targets"] = check_targets(results)

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = to_markdown(results) + inference_section(out / "inference_results.md")
    (out / "results.md").write_text(markdown)
    print(markdown)
    return 0


def inference_section(path: Path) -> str:
    """bench/inference.py's table (`make bench` runs it first), as the last section of results.md."""
    if not path.is_file():
        return ""
    body = path.read_text().replace("# Inference:", "## Inference:", 1)
    return "\n" + body


if __name__ == "__main__":
    sys.exit(main())
