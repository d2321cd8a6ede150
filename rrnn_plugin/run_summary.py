"""Print a short summary of a finished `allennlp train` run (used by `make demo`).

Reads `metrics.json` (written by AllenNLP at the end of training, with the test metrics when the
config has `evaluate_on_test`) and prints accuracy and model size on a few lines.
"""
import argparse
import json
import sys
from pathlib import Path


def summarize(serialization_dir: str) -> str:
    path = Path(serialization_dir) / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"{path}: not found — did training finish?")
    lines = [f"run: {serialization_dir}"]

    def show(label: str, key: str, fmt: str = "{:.4f}") -> None:
        if key in metrics:
            lines.append(f"  {label:<28}{fmt.format(metrics[key])}")

    show("best epoch", "best_epoch", "{}")
    show("validation accuracy (best)", "best_validation_accuracy")
    show("test accuracy", "test_accuracy")
    show("WFSAs", "test_wfsas", "{:.0f}")
    show("main-path transitions", "test_transitions", "{:.0f}")
    show("encoder parameters", "test_encoder_parameters", "{:.0f}")
    show("trainable parameters", "test_trainable_parameters", "{:.0f}")
    show("training time", "training_duration", "{}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("serialization_dir")
    args = parser.parse_args(argv)
    print(summarize(args.serialization_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
