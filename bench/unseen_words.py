"""`make bench-inference` (second part): what giving unseen words their pretrained vector is worth
(issue 14, item 5).

A model trained on kitchen reviews knows only kitchen words; its embeddings are frozen GloVe, so
every other word GloVe knows could be read with its own vector instead of the unknown token.  Each
archive is exported twice, with its training vocabulary and with `--vectors` (the GloVe file of its
config), and both are tested on all 2,000 electronics reviews (another domain: nothing of it was
seen in training) and on the kitchen test part; paired exact McNemar test on the same reviews.
Writes bench/unseen_words_results.json and .md.
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def labelled(data_path: str):
    from rrnn_plugin.dataset_readers import BlitzerReviewsReader

    reader = BlitzerReviewsReader()
    reviews = reader.reviews(data_path)
    return [reader.review_text(r) for r in reviews], [r.label for r in reviews]


def unknown_share(model, texts) -> float:
    words = [w for t in texts for w in model.tokens(t)[1:-1]]
    return sum(model.index.get(w, 1) == 1 for w in words) / max(len(words), 1)


def _folder_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20, 2)


def compare(name: str, archive: Path, vectors: str, tests: dict, work: Path) -> list:
    from rrnn_plugin.experiments.stats import mcnemar_exact
    from rrnn_plugin.export import load
    from rrnn_plugin.export.archive import export_archive

    export_archive(str(archive), str(work / f"{name}-model"), program=False)
    export_archive(str(archive), str(work / f"{name}-vectors"), program=False, vectors=vectors)
    plain, extended = load(work / f"{name}-model"), load(work / f"{name}-vectors")
    rows = []
    for test_name, (texts, labels) in tests.items():
        right = {}
        for kind, model in (("training vocabulary", plain), ("+ pretrained vectors", extended)):
            predicted = [p["label"] for p in model.predict(texts)]
            right[kind] = [p == gold for p, gold in zip(predicted, labels)]
        a, b = right["training vocabulary"], right["+ pretrained vectors"]
        better = sum(y and not x for x, y in zip(a, b))
        worse = sum(x and not y for x, y in zip(a, b))
        row = {"model": name, "transitions": plain.config["transitions"], "test": test_name, "reviews": len(labels),
               "accuracy_training_vocab": round(100 * sum(a) / len(a), 2),
               "accuracy_with_vectors": round(100 * sum(b) / len(b), 2),
               "unknown_words_training_vocab": round(100 * unknown_share(plain, texts), 1),
               "unknown_words_with_vectors": round(100 * unknown_share(extended, texts), 1),
               "fixed": better, "broken": worse, "mcnemar_p": round(mcnemar_exact(better, worse), 4),
               "vocab_sizes": [plain.config["vocab_size"], extended.config["vocab_size"]],
               "package_mb": [_folder_mb(work / f"{name}-model"), _folder_mb(work / f"{name}-vectors")]}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def markdown(results: dict) -> str:
    lines = ["# Unseen words: training vocabulary vs pretrained vectors for every word (bench/unseen_words.py)", "",
             f"`make bench-inference`; archives {results['archives']}, vectors `{results['vectors']}`; exported models "
             "(rrnn-export with and without `--vectors`), C++ kernel backend.  Paired exact McNemar test on the same "
             "reviews (fixed = right only with the vectors, broken = right only without).", "",
             "| model | transitions | test reviews | accuracy, training vocab | accuracy, + vectors | unknown words "
             "(training vocab -> + vectors) | fixed / broken | McNemar p |", "|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['model']} | {r['transitions']} | {r['test']} ({r['reviews']}) | {r['accuracy_training_vocab']} | "
                     f"{r['accuracy_with_vectors']} | {r['unknown_words_training_vocab']}% -> "
                     f"{r['unknown_words_with_vectors']}% | {r['fixed']} / {r['broken']} | {r['mcnemar_p']} |")
    sizes, megabytes = results["rows"][0]["vocab_sizes"], results["rows"][0]["package_mb"]
    lines += ["", f"Vocabulary of the first model: {sizes[0]} words (training) vs {sizes[1]} (with the vectors file); "
              f"exported package without program.pt2: {megabytes[0]} MB vs {megabytes[1]} MB.  In-domain there is nothing to "
              "gain: AllenNLP builds the vocabulary from every data part it reads (train, validation and test texts; "
              "no labels), so the kitchen test part has no unseen word.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(ROOT / "runs" / "kitchen-sl"))
    parser.add_argument("--demo", default=str(ROOT / "runs" / "demo-kitchen"))
    parser.add_argument("--output-dir", default=str(ROOT / "bench"))
    args = parser.parse_args(argv)
    import torch

    import rrnn_plugin  # noqa: F401

    torch.set_num_threads(1)
    data, vectors = os.environ["RRNN_DATA_DIR"], os.environ["RRNN_GLOVE_FILE"]
    archives = {"learned (pruned)": Path(args.run) / "model.tar.gz", "baseline mix (demo)": Path(args.demo) / "model.tar.gz"}
    archives = {k: v for k, v in archives.items() if v.is_file()}
    if not archives:
        sys.exit("bench/unseen_words.py: no archive found; run make demo or make bench-inference first")
    tests = {"electronics (other domain)": labelled(f"{data}/electronics"), "kitchen test": labelled(f"{data}/kitchen#test")}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, archive in archives.items():
            rows += compare(name, archive, vectors, tests, Path(work))
    results = {"archives": {k: os.path.relpath(v, ROOT) for k, v in archives.items()},
               "vectors": os.path.relpath(vectors, ROOT), "rows": rows}
    out = Path(args.output_dir)
    (out / "unseen_words_results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "unseen_words_results.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
