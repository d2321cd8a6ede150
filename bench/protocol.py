"""`make bench-protocol`: what a cross-validated protocol costs beyond training (issue 12, items 4 and 7).

1. Trial overhead: kitchen baseline trials (`baseline_1`, fold k of 5) started the sweep's way,
   forked from the warm zygote (rrnn_plugin/experiments/zygote.py), and the old way, a fresh interpreter per
   trial (RRNN_TRIAL_START=subprocess), alternately; per trial, wall time / AllenNLP's
   `training_duration`.  Target: <= 1.3 with the zygote.
2. Contextual feature extraction: the same kitchen reviews through the plugin's pipeline (reader,
   WordPiece indexer, `contextual_features` embedder writing a fresh cache: what `rrnn-features`
   does) and through a plain batched HuggingFace forward of the same model on the same sentence
   chunks, sorted by length, batches of the same size (the anchor).  Target: pipeline <= 1.3x the
   anchor's time.

Writes bench/protocol_results.json and .md with the machine's load before and after (the machine
is shared: the two sides of each ratio are measured alternately in one run).
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.3


def trial_overhead(trials: int, threads: int) -> dict:
    from rrnn_plugin.experiments.runs import train

    config = str(ROOT / "training_configs" / "kitchen" / "baseline_1.jsonnet")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        # a sweep worker starts its zygote (imports) and parses a dataset's files once: a one-epoch
        # warm-up trial on the same data pays for both here, as the first trial of a worker does
        train(config, os.path.join(work, "warm-up"),
              {"dataset_reader.folds": 5, "dataset_reader.fold": 0, "trainer.num_epochs": 1}, threads=threads)
        for k in range(trials):
            for method in ("fork", "subprocess"):
                os.environ["RRNN_TRIAL_START"] = method
                run_dir = os.path.join(work, f"{method}-{k}")
                started = time.perf_counter()
                result = train(config, run_dir, {"dataset_reader.folds": 5, "dataset_reader.fold": k % 5},
                               threads=threads)
                wall = time.perf_counter() - started
                metrics = json.loads(Path(run_dir, "metrics.json").read_text())
                hours, minutes, seconds = metrics["training_duration"].split(":")
                training = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
                rows.append({"method": method, "fold": k % 5, "wall_s": round(wall, 2), "training_s": round(training, 2),
                             "ratio": round(wall / training, 3), "epochs": metrics["epoch"] + 1,
                             "test_accuracy": result.test_accuracy})
                print(f"trial {method} fold {k % 5}: {wall:.1f} s wall, {training:.1f} s training", flush=True)
    os.environ.pop("RRNN_TRIAL_START", None)
    summary = {}
    for method in ("fork", "subprocess"):
        mine = [r for r in rows if r["method"] == method]
        summary[method] = {"median_ratio": round(statistics.median(r["ratio"] for r in mine), 3),
                           "median_overhead_s": round(statistics.median(r["wall_s"] - r["training_s"] for r in mine), 2)}
    return {"trials": rows, "summary": summary, "target": TARGET,
            "met": summary["fork"]["median_ratio"] <= TARGET}


def feature_extraction(documents: int, threads: int, model_path=None) -> dict:
    import torch

    from allennlp.data import Vocabulary

    from rrnn_plugin.contextual import BlitzerWordpieceReader, ContextualFeatureEmbedder, ContextualWordpieceIndexer
    from rrnn_plugin.contextual.precompute_callback import document_wordpieces
    from rrnn_plugin.dataset_readers import select_reviews

    torch.set_num_threads(threads)
    data = os.environ.get("RRNN_DATA_DIR") or str(ROOT.parent / "shared" / "data" / "blitzer")
    reviews = select_reviews(os.path.join(data, "kitchen"))[:documents]
    reader = BlitzerWordpieceReader(model_path=model_path, clean=False, lowercase=False,
                                    token_indexers={"tokens": ContextualWordpieceIndexer(model_path)})
    rounds = []
    for repeat in range(2):
        cache = tempfile.mkdtemp(prefix="rrnn-bench-features-")
        try:
            embedder = ContextualFeatureEmbedder(model_path=model_path, cache_dir=cache, normalize=True)
            embedder.featurizer.model  # loaded outside the timing, as the anchor's is
            started = time.perf_counter()
            instances = [reader.text_to_instance(r.text, r.label) for r in reviews]
            wordpieces = document_wordpieces(instances, "tokens", Vocabulary())
            embedder.precompute(wordpieces, progress=False)
            pipeline = time.perf_counter() - started
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        anchor = _anchor(embedder.featurizer, wordpieces)
        rounds.append({"pipeline_s": round(pipeline, 2), "anchor_s": round(anchor, 2), "ratio": round(pipeline / anchor, 3)})
        print(f"features round {repeat}: pipeline {pipeline:.1f} s, anchor {anchor:.1f} s", flush=True)
    pieces = sum(len(w) for w in wordpieces)
    best = min(rounds, key=lambda r: r["ratio"])
    return {"documents": len(reviews), "wordpieces": pieces, "model": embedder.featurizer.info.name,
            "threads": threads, "rounds": rounds,
            "documents_per_s": round(len(reviews) / best["pipeline_s"], 2),
            "wordpieces_per_s": round(pieces / best["pipeline_s"], 1),
            "anchor_documents_per_s": round(len(reviews) / best["anchor_s"], 2),
            "median_ratio": round(statistics.median(r["ratio"] for r in rounds), 3), "target": TARGET,
            "met": statistics.median(r["ratio"] for r in rounds) <= TARGET}


def _anchor(featurizer, documents) -> float:
    """A plain HuggingFace forward over the same chunks, shortest first, same batch budget."""
    import torch

    cls_id, sep_id, pad_id, _ = featurizer._special_ids
    chunks = sorted(([cls_id, *ids[s:e], sep_id] for ids in documents for s, e in featurizer.chunks(ids)), key=len)
    model = featurizer.model
    started = time.perf_counter()
    with torch.inference_mode():
        start = 0
        while start < len(chunks):
            end = start + 1
            while end < len(chunks) and (end - start + 1) * len(chunks[end]) <= featurizer.batch_wordpieces:
                end += 1
            batch = chunks[start:end]
            width = len(batch[-1])
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, chunk in enumerate(batch):
                ids[row, : len(chunk)] = torch.tensor(chunk)
                attention[row, : len(chunk)] = 1
            model(input_ids=ids, attention_mask=attention)
            start = end
    return time.perf_counter() - started


def to_markdown(results: dict) -> str:
    meta, trials, features = results["meta"], results["trial_overhead"], results["features"]
    lines = [
        "# Protocol costs (`make bench-protocol`)", "",
        f"Command: `{meta['command']}`; {meta['machine']}, torch {meta['torch']}; {meta['date']}; load average "
        f"{meta['load_before']} before, {meta['load_after']} after (the machine is shared).", "",
        "## Trial overhead (kitchen `baseline_1`, one fold each, 1 torch thread)", "",
        "| start | median wall / training time | median overhead (s) |", "|---|---|---|",
    ]
    for method, label in (("fork", "forked from the warm zygote (default)"), ("subprocess", "fresh interpreter")):
        s = trials["summary"][method]
        lines.append(f"| {label} | {s['median_ratio']:.2f} | {s['median_overhead_s']:.1f} |")
    lines += ["", f"Target: ≤ {TARGET} with the zygote — **{'met' if trials['met'] else 'not met'}**.", "",
              "| start | fold | wall (s) | training (s) | ratio | epochs |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['fold']} | {r['wall_s']} | {r['training_s']} | {r['ratio']} | {r['epochs']} |"
              for r in trials["trials"]]
    lines += ["", f"## Contextual feature extraction ({features['model']}, {features['documents']} kitchen reviews, "
              f"{features['wordpieces']} WordPieces, {features['threads']} threads)", "",
              f"Pipeline: {features['documents_per_s']} reviews/s, {features['wordpieces_per_s']} WordPieces/s; plain "
              f"HuggingFace forward of the same chunks: {features['anchor_documents_per_s']} reviews/s.", "",
              "| round | pipeline (s) | anchor (s) | ratio |", "|---|---|---|---|"]
    lines += [f"| {k} | {r['pipeline_s']} | {r['anchor_s']} | {r['ratio']} |" for k, r in enumerate(features["rounds"])]
    lines += ["", f"Target: median ratio ≤ {TARGET} — **{'met' if features['met'] else 'not met'}** "
              f"({features['median_ratio']})."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="trials per start method")
    parser.add_argument("--documents", type=int, default=300, help="kitchen reviews to featurize")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the feature extraction")
    parser.add_argument("--output-dir", default=str(ROOT / "bench"))
    args = parser.parse_args(argv)
    import torch

    import rrnn_plugin  # noqa: F401  (sets the data and GloVe defaults)

    results = {"meta": {"command": " ".join(["python bench/protocol.py", *(argv or sys.argv[1:])]),
                        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "torch": torch.__version__,
                        "date": time.strftime("%Y-%m-%d %H:%M"), "load_before": round(os.getloadavg()[0], 2)}}
    results["trial_overhead"] = trial_overhead(args.trials, threads=1)
    results["features"] = feature_extraction(args.documents, args.threads)
    results["meta"]["load_after"] = round(os.getloadavg()[0], 2)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "protocol_results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "protocol_results.md").write_text(to_markdown(results))
    print(to_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
