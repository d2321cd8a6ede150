"""`make bench-inference`: prediction speed and size of a learned model, AllenNLP vs exported (issue 14).

On every kitchen review the reader keeps (1,977 of 2,000), one torch thread everywhere (the machine is shared; ratios are
measured side by side in one run): documents/s over batches of 64 and p50/p99 latency of single
documents and of batches of 64, for
  - the `sentiment` predictor on the archive (what `allennlp predict` runs per batch),
  - the exported model (`rrnn_plugin.export.load(DIR).predict`),
each for the kitchen baseline of the structure-learning start (24 WFSAs x 4 transitions = 96, no
regularization) and for the structure-learning run's pruned, finetuned model, and an
anchor: a scikit-learn TF-IDF (uni+bigram) logistic regression's `predict_proba` on the same texts
(trained on the kitchen training part).  Also the sizes (archive, export with and without the
torch.export program) and the largest probability difference between exported and predictor.

Target (issue 14): the exported pruned model >= 5x the predictor's documents/s at batch 64.
Writes bench/inference_results.json and .md, and the table as the last section of bench/results.md.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
TARGET = 5.0
BATCH = 64


def kitchen_reviews(data_dir: str):
    from rrnn_plugin.dataset_readers import BlitzerReviewsReader

    reader = BlitzerReviewsReader()
    everything = reader.reviews(f"{data_dir}/kitchen")
    train = reader.reviews(f"{data_dir}/kitchen#train")
    return [reader.review_text(r) for r in everything], [(reader.review_text(r), r.label) for r in train]


def timings(predict: Callable[[List[str]], object], texts: List[str], singles: int) -> Dict[str, float]:
    """docs/s over all texts in batches of BATCH; p50/p99 ms of single documents and of batches."""
    predict(texts[:BATCH])  # warm-up
    batch_ms = []
    started = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        t = time.perf_counter()
        predict(texts[start : start + BATCH])
        batch_ms.append(1000 * (time.perf_counter() - t))
    total = time.perf_counter() - started
    single_ms = []
    for text in texts[:singles]:
        t = time.perf_counter()
        predict([text])
        single_ms.append(1000 * (time.perf_counter() - t))
    return {"docs_per_s": round(len(texts) / total, 1),
            "batch_p50_ms": round(_percentile(batch_ms, 50), 2), "batch_p99_ms": round(_percentile(batch_ms, 99), 2),
            "single_p50_ms": round(_percentile(single_ms, 50), 2), "single_p99_ms": round(_percentile(single_ms, 99), 2)}


def _percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def folder_mb(folder: Path, skip=()) -> float:
    return round(sum(p.stat().st_size for p in folder.iterdir() if p.name not in skip) / 2**20, 2)


def measure_model(name: str, archive: Path, texts: List[str], work: Path, singles: int) -> List[dict]:
    from allennlp.models.archival import load_archive
    from allennlp.predictors import Predictor

    from rrnn_plugin.export import load
    from rrnn_plugin.export.archive import export_archive

    predictor = Predictor.from_archive(load_archive(str(archive), cuda_device=-1), "sentiment")
    export_dir = work / name
    config = export_archive(str(archive), str(export_dir))
    exported = load(export_dir)

    def allennlp_predict(batch):
        return predictor.predict_batch_json([{"sentence": t} for t in batch])

    ours = exported.predict(texts, batch_size=BATCH)
    theirs = [o for start in range(0, len(texts), BATCH) for o in allennlp_predict(texts[start : start + BATCH])]
    diff = max(abs(a["probs"][label] - b["probs"][label]) for a, b in zip(ours, theirs) for label in b["probs"])
    common = {"model": name, "transitions": config["transitions"], "wfsas": config["wfsas"]}
    rows = []
    for path, predict in (("allennlp predictor", allennlp_predict), ("exported", exported.predict)):
        row = {**common, "path": path, **timings(predict, texts, singles)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    rows[0]["size_mb"] = round(archive.stat().st_size / 2**20, 2)
    rows[1]["size_mb"] = folder_mb(export_dir, skip=("program.pt2",))
    rows[1]["size_with_program_mb"] = folder_mb(export_dir)
    rows[1]["max_prob_diff_vs_predictor"] = float(f"{diff:.2e}")
    return rows


def tfidf_anchor(train, texts: List[str], singles: int) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
                             LogisticRegression(C=10.0, max_iter=2000))
    pipeline.fit([t for t, _ in train], [label for _, label in train])
    row = {"model": "TF-IDF uni+bigram LR", "path": "scikit-learn predict_proba", "transitions": None,
           **timings(pipeline.predict_proba, texts, singles)}
    print(json.dumps(row), flush=True)
    return row


def markdown(results: dict) -> str:
    meta = results["meta"]
    lines = ["# Inference: AllenNLP predictor vs exported model (bench/inference.py)", "",
             f"`make bench-inference` on {meta['machine']}, {meta['threads']} torch thread, load "
             f"{meta['load_before']} -> {meta['load_after']}; {meta['documents']} kitchen reviews, batches of {BATCH}; "
             f"single-document latency over the first {meta['singles']}.  Archives: {meta['archives']}.", "",
             "| model | transitions | path | docs/s (batch 64) | batch p50 / p99 ms | single p50 / p99 ms | size MB |",
             "|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        size = r.get("size_mb", "")
        if "size_with_program_mb" in r:
            size = f"{r['size_mb']} ({r['size_with_program_mb']} with program.pt2)"
        lines.append(f"| {r['model']} | {r['transitions'] if r['transitions'] is not None else '-'} | {r['path']} | "
                     f"{r['docs_per_s']} | {r['batch_p50_ms']} / {r['batch_p99_ms']} | "
                     f"{r['single_p50_ms']} / {r['single_p99_ms']} | {size} |")
    t = results["targets"]
    lines += ["", f"- Exported pruned model vs the predictor on the same archive, documents/s at batch 64: "
              f"**{t['speedup']}x** (target >= {TARGET}x: {'met' if t['speedup_met'] else 'not met'}).",
              f"- Exported pruned package: {t['package_mb']} MB without the torch.export program (target <= 5 MB: "
              f"{'met' if t['package_met'] else 'not met'}).",
              f"- Largest probability difference exported vs predictor over all documents: {t['max_prob_diff']} "
              "(target <= 1e-5).", ""]
    return "\n".join(lines)


def _update_results_md(path: Path, table: str) -> None:
    """Put this table in bench/results.md as its last section (replacing an older one), as
    bench/kernels.py does when it rewrites that file."""
    if not path.is_file():
        return
    text = path.read_text()
    marker = "\n## Inference:"
    if marker in text:
        text = text[: text.index(marker)]
    path.write_text(text.rstrip("\n") + "\n\n" + table.replace("# Inference:", "## Inference:", 1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(ROOT / "runs" / "kitchen-sl"),
                        help="a structure-learning run folder (its model.tar.gz)")
    parser.add_argument("--unpruned", default=str(ROOT / "runs" / "kitchen-baseline4" / "model.tar.gz"),
                        help="the 96-transition baseline (training_configs/kitchen/baseline_4.jsonnet)")
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--output-dir", default=str(ROOT / "bench"))
    args = parser.parse_args(argv)
    import torch

    import rrnn_plugin  # noqa: F401

    torch.set_num_threads(1)
    run = Path(args.run)
    archives = {"baseline (unpruned)": Path(args.unpruned), "learned (pruned)": run / "model.tar.gz"}
    missing = [str(p) for p in archives.values() if not p.is_file()]
    if missing:
        sys.exit(f"bench/inference.py: missing {missing}; train it with `make bench-inference` (see Makefile)")
    texts, train = kitchen_reviews(os.environ["RRNN_DATA_DIR"])
    load_before = round(os.getloadavg()[0], 2)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, archive in archives.items():
            rows += measure_model(name, archive, texts, Path(work), args.singles)
    rows.append(tfidf_anchor(train, texts, args.singles))
    pruned_predictor, pruned_exported = rows[2], rows[3]
    speedup = round(pruned_exported["docs_per_s"] / pruned_predictor["docs_per_s"], 2)
    results = {
        "meta": {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "threads": 1, "load_before": load_before,
                 "load_after": round(os.getloadavg()[0], 2), "documents": len(texts), "singles": args.singles,
                 "archives": {k: os.path.relpath(v, ROOT) for k, v in archives.items()},
                 "command": "make bench-inference"},
        "rows": rows,
        "targets": {"speedup": speedup, "speedup_met": speedup >= TARGET, "package_mb": pruned_exported["size_mb"],
                    "package_met": pruned_exported["size_mb"] <= 5.0,
                    "max_prob_diff": max(r.get("max_prob_diff_vs_predictor", 0) for r in rows)},
    }
    out = Path(args.output_dir)
    (out / "inference_results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "inference_results.md").write_text(markdown(results))
    _update_results_md(out / "results.md", markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
