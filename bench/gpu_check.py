"""`make gpu-check`: the CUDA kernel checked and measured on a GPU, in one script (issue 17).

Runs with torch alone (the framework-free core), so it runs in `.venv-cuda` (`make cuda-build`),
where AllenNLP is not installed.  Everything it measures goes to bench/gpu_results.md and .json
(`--output DIR` for another folder):

1. Correctness on the device: the compiled kernel against the PyTorch path on the same device
   and against the CPU kernel, forward and gradients of u and f, every semiring, float32 and
   float64, with and without a mask, final state and every step; `torch.autograd.gradcheck` of the
   kernel in float64; the whole encoder (2 layers, bidirectional) kernel vs PyTorch path.
2. Speed: the encoder's forward and forward+backward (the kernel, and the PyTorch path as a
   per-step loop and in its chunked form: which one wins decides CHUNKED_MIN_STEPS in
   modules/recurrence.py) against its input projection alone (the floor) and against cuDNN's LSTM
   with hidden size = WFSAs, B in {32, 256}, T in {256, 1024,
   4096}, 24 and 256 WFSAs x 4 states, D = 300.
3. A training epoch of the export network (embedding -> 24 x 4 WFSAs -> linear, Adam) on 1,600
   random documents with kitchen's lengths: the GPU's epoch time next to this machine's CPU's.

`--device cpu --quick` runs every path on small sizes (tests/test_gpu_check.py): the script is
tested where no GPU is lent.  Targets for the GPU run (issue 17): fwd+bwd <= 1.5x the floor at
T >= 1024; faster than cuDNN LSTM at every shape.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch

ROOT = Path(__file__).resolve().parents[1]
SEMIRINGS = ["plus_times", "max_times", "max_plus"]
FULL_SHAPES = [(b, t, k) for k in (24, 256) for b in (32, 256) for t in (256, 1024, 4096)]
QUICK_SHAPES = [(4, 16, 6), (8, 32, 12)]
KITCHEN_LENGTHS = (20, 400)  # min / max words of the synthetic documents (kitchen median ~90)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----- 1. correctness -------------------------------------------------------------------------
def _grid(semiring: str, dtype, device, batch=3, steps=9, wfsas=4, states=3, seed=0, one_step_row=True):
    generator = torch.Generator().manual_seed(seed)
    u = torch.rand(batch, steps, wfsas, states, generator=generator, dtype=torch.float64)
    f = torch.rand(batch, steps, wfsas, states, generator=generator, dtype=torch.float64)
    if semiring == "max_plus":
        u, f = u.log(), f.log()
    mask = torch.ones(batch, steps, dtype=torch.bool)
    mask[1, steps // 2:] = False
    if one_step_row:  # a document of one token: max-plus states it cannot reach stay -inf
        mask[-1, 1:] = False
    return u.to(device, dtype), f.to(device, dtype), mask.to(device)


def _run(u, f, mask, semiring: str, backend: str, return_all: bool):
    """(values, grad_u, grad_f) of sum(final * w) (+ sum(all * w2)) through one backend."""
    from rrnn_plugin.modules import get_semiring, wfsa_recurrence

    u = u.detach().clone().requires_grad_()
    f = f.detach().clone().requires_grad_()
    final, every = wfsa_recurrence(u, f, mask, get_semiring(semiring), return_all=return_all, backend=backend)
    weight = torch.linspace(0.5, 1.5, final.numel(), dtype=final.dtype, device=final.device).view_as(final)
    loss = (torch.where(torch.isfinite(final), final, torch.zeros_like(final)) * weight).sum()
    if every is not None:
        loss = loss + torch.where(torch.isfinite(every), every, torch.zeros_like(every)).sum()
    loss.backward()
    values = final if every is None else torch.cat([final.flatten(), every.flatten()])
    return values.detach().cpu(), u.grad.cpu(), f.grad.cpu()


def _max_gap(a, b) -> float:
    both = torch.isfinite(a) & torch.isfinite(b)
    if not torch.equal(torch.isfinite(a), torch.isfinite(b)):
        return float("inf")
    return float((a[both] - b[both]).abs().max()) if both.any() else 0.0


def correctness(device: torch.device) -> List[dict]:
    rows = []
    for semiring in SEMIRINGS:
        for dtype in (torch.float32, torch.float64):
            tolerance = 1e-5 if dtype == torch.float32 else 1e-10
            for masked in (True, False):
                for return_all in (False, True):
                    u, f, mask = _grid(semiring, dtype, device)
                    mask = mask if masked else None
                    kernel = _run(u, f, mask, semiring, "cpp", return_all)
                    torch_path = _run(u, f, mask, semiring, "torch", return_all)
                    cpu_kernel = _run(u.cpu(), f.cpu(), None if mask is None else mask.cpu(), semiring, "cpp",
                                      return_all)
                    gap_torch = max(_max_gap(a, b) for a, b in zip(kernel, torch_path))
                    gap_cpu = max(_max_gap(a, b) for a, b in zip(kernel, cpu_kernel))
                    rows.append({"check": "kernel vs PyTorch path vs CPU kernel", "semiring": semiring,
                                 "dtype": str(dtype).replace("torch.", ""), "mask": masked, "return_all": return_all,
                                 "max_gap_torch": gap_torch, "max_gap_cpu_kernel": gap_cpu,
                                 "ok": gap_torch <= tolerance and gap_cpu <= tolerance})
        rows.append(_gradcheck(semiring, device))
    rows.append(_encoder_check(device))
    return rows


def _gradcheck(semiring: str, device: torch.device) -> dict:
    from rrnn_plugin.kernels.function import kernel_recurrence

    # every state reachable (finite in max-plus: finite differences of -inf are not defined)
    u, f, mask = _grid(semiring, torch.float64, device, batch=2, steps=6, wfsas=2, states=3, seed=1, one_step_row=False)
    u = u + 0.01 * torch.arange(u.numel(), device=device, dtype=u.dtype).view_as(u)  # no max ties
    u.requires_grad_()
    f.requires_grad_()

    def final(u_, f_):
        return kernel_recurrence(u_, f_, mask, semiring, return_all=False)[0]

    ok = torch.autograd.gradcheck(final, (u, f), eps=1e-6, atol=1e-5, raise_exception=False)
    return {"check": "gradcheck float64 (final states)", "semiring": semiring, "ok": bool(ok)}


def _encoder_check(device: torch.device) -> dict:
    from rrnn_plugin.modules import RationalRnnLayers

    torch.manual_seed(0)
    kernel = RationalRnnLayers(16, {"1": 3, "2": 3, "4": 3}, num_layers=2, bidirectional=True, backend="cpp")
    reference = RationalRnnLayers(16, {"1": 3, "2": 3, "4": 3}, num_layers=2, bidirectional=True, backend="torch")
    reference.load_state_dict(kernel.state_dict())
    tokens = torch.randn(4, 40, 16, device=device)
    mask = torch.ones(4, 40, dtype=torch.bool, device=device)
    mask[1, 25:] = False
    outputs = []
    for encoder in (kernel.to(device), reference.to(device)):
        x = tokens.clone().requires_grad_()
        out = encoder(x, mask)
        out.pow(2).sum().backward()
        outputs.append((out.detach(), x.grad))
    gap = max(float((a - b).abs().max()) for a, b in zip(*outputs))
    return {"check": "encoder 2 layers bidirectional, kernel vs PyTorch path (values, input grads)", "max_gap": gap,
            "ok": gap <= 1e-4}


# ----- 2. speed --------------------------------------------------------------------------------
def _with_method(method: str, forward: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """`forward` with the PyTorch path forced to its per-step loop or its chunked form."""
    from rrnn_plugin.modules.recurrence import TORCH_METHOD_VAR

    def run() -> torch.Tensor:
        os.environ[TORCH_METHOD_VAR] = method
        try:
            return forward()
        finally:
            os.environ.pop(TORCH_METHOD_VAR, None)

    return run


def _median_ms(task: Callable[[], None], device: torch.device, reps: int) -> float:
    task()
    _sync(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        task()
        _sync(device)
        times.append(1000 * (time.perf_counter() - start))
    return round(statistics.median(times), 3)


def speed(device: torch.device, shapes, reps: int, dim: int = 300) -> List[dict]:
    from rrnn_plugin.modules import RationalRnnLayers

    rows = []
    for batch, steps, wfsas in shapes:
        torch.manual_seed(0)
        encoders = {name: RationalRnnLayers(dim, {"4": wfsas}, backend=name).to(device) for name in ("cpp", "torch")}
        weight = torch.randn(2 * 4 * wfsas, dim, device=device, requires_grad=True)
        lstm = torch.nn.LSTM(dim, wfsas, batch_first=True).to(device)
        x = torch.randn(batch, steps, dim, device=device, requires_grad=True)
        mask = torch.ones(batch, steps, dtype=torch.bool, device=device)
        tasks = {
            "projection": lambda: torch.nn.functional.linear(x, weight),
            "kernel": lambda: encoders["cpp"](x, mask),
            "torch": _with_method("loop", lambda: encoders["torch"](x, mask)),
            "chunked": _with_method("chunked", lambda: encoders["torch"](x, mask)),
            "lstm": lambda: lstm(x)[0][:, -1],
        }
        row = {"B": batch, "T": steps, "wfsas": wfsas, "states": 4, "ms": {}}
        for name, forward in tasks.items():
            if name in ("torch", "chunked") and steps * batch > 256 * 1024 and device.type == "cpu":
                continue  # the PyTorch path's Python loop is minutes there on a CPU
            with torch.no_grad():
                fwd = _median_ms(forward, device, reps)
            fwdbwd = _median_ms(lambda: forward().sum().backward(), device, reps)
            row["ms"][name] = {"fwd": fwd, "fwdbwd": fwdbwd}
        ms = row["ms"]
        row["kernel_vs_floor_fwdbwd"] = round(ms["kernel"]["fwdbwd"] / ms["projection"]["fwdbwd"], 2)
        row["lstm_vs_kernel_fwdbwd"] = round(ms["lstm"]["fwdbwd"] / ms["kernel"]["fwdbwd"], 2)
        if "torch" in ms and "chunked" in ms:
            row["loop_vs_chunked_fwdbwd"] = round(ms["torch"]["fwdbwd"] / ms["chunked"]["fwdbwd"], 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


# ----- 3. a training epoch ---------------------------------------------------------------------
def training_epoch(device: torch.device, documents: int) -> dict:
    from rrnn_plugin.export import SentimentNetwork

    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(*KITCHEN_LENGTHS, (documents,), generator=generator)
    ids = torch.randint(2, 10000, (documents, int(lengths.max())), generator=generator)
    ids[torch.arange(ids.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
    labels = torch.randint(0, 2, (documents,), generator=generator)
    network = SentimentNetwork(10000, 50, {"wfsa_lengths": {"4": 24}}, 2).to(device).train()
    network.encoder.requires_grad_(True)
    network.classifier.requires_grad_(True)
    optimizer = torch.optim.Adam([p for p in network.parameters() if p.requires_grad], lr=0.01)
    order = torch.argsort(lengths)  # batches of similar length, as a bucketing loader makes them
    _sync(device)
    start = time.perf_counter()
    for batch in order.split(32):
        tokens = ids[batch][:, : int(lengths[batch].max())].to(device)
        probs = network(tokens)
        loss = torch.nn.functional.nll_loss(probs.clamp_min(1e-9).log(), labels[batch].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(device)
    return {"documents": documents, "batch": 32, "wfsas": "24 x 4", "epoch_s": round(time.perf_counter() - start, 3)}


# ----- report ----------------------------------------------------------------------------------
def targets(rows: List[dict], device: torch.device = torch.device("cuda")) -> Dict[str, str]:
    """Issue 17's two targets, which are about a GPU: "not measured" on another device (the CPU dry
    run) or where no shape tests one, so a dry run never reads as a verdict."""
    if device.type != "cuda":
        return {"floor": "not measured (no GPU)", "lstm": "not measured (no GPU: cuDNN's LSTM)"}
    long = [r for r in rows if r["T"] >= 1024]
    floor = all(r["kernel_vs_floor_fwdbwd"] <= 1.5 for r in long)
    lstm = all(r["lstm_vs_kernel_fwdbwd"] > 1 for r in rows)
    return {"floor": ("met" if floor else "not met") if long else "not measured (no T >= 1024)",
            "lstm": ("met" if lstm else "not met") if rows else "not measured"}


def chunked_from(rows: List[dict]):
    """The CHUNKED_MIN_STEPS the timings support: the smallest measured T from which the chunked
    PyTorch path is faster (fwd+bwd) than the loop at every measured shape of that T or longer;
    None where it never is, or where no shape timed both."""
    timed = [r for r in rows if "loop_vs_chunked_fwdbwd" in r]
    lengths = sorted({r["T"] for r in timed})
    for steps in lengths:
        if all(r["loop_vs_chunked_fwdbwd"] > 1 for r in timed if r["T"] >= steps):
            return steps
    return None


def markdown(results: dict) -> str:
    meta = results["meta"]
    failed = [r for r in results["correctness"] if not r["ok"]]
    lines = [f"# GPU check ({meta['device']})", "",
             f"`make gpu-check` on {meta['device_name']}, torch {meta['torch']}, {meta['date']}; "
             f"{meta['seconds']:.0f} s in all.", "",
             f"## Correctness: {len(results['correctness']) - len(failed)} of {len(results['correctness'])} checks pass", ""]
    for r in failed:
        lines.append(f"- FAILED: {json.dumps(r)}")
    lines += ["", "## Speed (median ms, forward / forward+backward; D = 300)", "",
              "| WFSAs x 4 | B | T | projection (floor) | kernel | PyTorch loop | PyTorch chunked | cuDNN LSTM | "
              "kernel / floor | LSTM / kernel | loop / chunked |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["speed"]:
        ms = r["ms"]
        cell = lambda name: f"{ms[name]['fwd']} / {ms[name]['fwdbwd']}" if name in ms else "-"  # noqa: E731
        lines.append(f"| {r['wfsas']} | {r['B']} | {r['T']} | {cell('projection')} | {cell('kernel')} | {cell('torch')} | "
                     f"{cell('chunked')} | {cell('lstm')} | {r['kernel_vs_floor_fwdbwd']} | {r['lstm_vs_kernel_fwdbwd']} | "
                     f"{r.get('loop_vs_chunked_fwdbwd', '-')} |")
    epoch = results["epoch"]
    lines += ["", f"Training epoch of the export network ({epoch['wfsas']} WFSAs, {epoch['documents']} random documents "
              f"of {KITCHEN_LENGTHS[0]}-{KITCHEN_LENGTHS[1]} tokens, batch 32): {epoch['epoch_s']} s.", ""]
    verdicts = results["targets"]
    lines += [f"Targets (issue 17): fwd+bwd <= 1.5x the floor at T >= 1024: {verdicts['floor']}; faster than cuDNN LSTM "
              f"at every shape: {verdicts['lstm']}.", ""]
    start = results.get("chunked_from")
    if meta["device"] != "cuda":
        lines += ["CHUNKED_MIN_STEPS (modules/recurrence.py): not measured (the chunked form is used on a GPU only).", ""]
    else:
        lines += ["CHUNKED_MIN_STEPS (modules/recurrence.py) these timings support: " +
                  (f"{start} (the chunked PyTorch path beats the loop at every shape from T = {start})." if start
                   else "none (the loop is as fast or faster at the longest T measured, or no shape timed both)."), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small shapes (a dry run of every path)")
    parser.add_argument("--output", default=str(ROOT / "bench"), help="folder for gpu_results.md and .json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device visible (run it on a GPU machine, or --device cpu --quick)")
    started = time.perf_counter()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    results = {"correctness": correctness(device)}
    print(f"correctness: {sum(r['ok'] for r in results['correctness'])}/{len(results['correctness'])} ok", flush=True)
    results["speed"] = speed(device, QUICK_SHAPES if args.quick else FULL_SHAPES, reps=3 if args.quick else 10)
    results["epoch"] = training_epoch(device, 64 if args.quick else 1600)
    results["targets"] = targets(results["speed"], device)
    results["chunked_from"] = chunked_from(results["speed"]) if device.type == "cuda" else None
    results["meta"] = {"device": device.type, "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
                       else platform.processor() or platform.machine(), "torch": torch.__version__,
                       "date": time.strftime("%Y-%m-%d"), "seconds": time.perf_counter() - started, "quick": args.quick}
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "gpu_results.md").write_text(markdown(results))
    print(markdown(results))
    return 0 if all(r["ok"] for r in results["correctness"]) else 1


if __name__ == "__main__":
    sys.exit(main())
