"""One training run of an experiment, in a child process: train, then keep every test prediction.

A trial is an ordinary `allennlp train` of a config (same serialization dir layout, metrics.json,
model.tar.gz), plus `test_predictions.tsv`: one line per test document with its stable id (the
reader's `example_ids`), gold label, predicted label and the predicted label's probability, so that
two models can be compared on the same documents (paired tests in the report).

How the child starts (`runs.train` chooses):
* forked from a warm sweep worker (the default on Linux): allennlp, torch and the plugin are
  imported once per worker, and the parsed data files stay in the worker's memory, so a trial
  pays only for its own training.  The child still gets a clean slate: it is a new process whose
  state dies with it, and it dies with the worker (PR_SET_PDEATHSIG);
* as `python -m rrnn_plugin.experiments.trial CONFIG DIR OVERRIDES_JSON` (where fork is missing,
  or with RRNN_TRIAL_START=subprocess): the same code, after a fresh import.
"""
import csv
import json
import logging
import os
import sys
from contextlib import contextmanager
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional

from rrnn_plugin.archives import archive_intact

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "test_predictions.tsv"
NO_PREDICTIONS_FILE = "test_predictions.none"  # says why a run has none (its reader names no documents)
PREDICTION_COLUMNS = ["id", "gold", "predicted", "probability"]
_BATCH = 64


@contextmanager
def environment(env: Optional[Mapping[str, str]]) -> Iterator[None]:
    """os.environ with `env` added for the block (a run's RRNN_LAMBDA, RRNN_BERT_MODEL, ...), then
    exactly as before."""
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def load_params(config: str, overrides: Optional[Mapping[str, Any]] = None,
                env: Optional[Mapping[str, str]] = None):
    """The run's Params; jsonnet ext vars come from os.environ, with `env` added while it is read."""
    from allennlp.common import Params

    with environment(env):
        return Params.from_file(config, json.dumps(dict(overrides or {})))


def data_dirs(config: str, overrides: Optional[Mapping[str, Any]] = None,
              env: Optional[Mapping[str, str]] = None) -> List[str]:
    """Blitzer data folders a config reads (what a worker parses once before forking)."""
    from rrnn_plugin.dataset_readers.blitzer import parse_data_path

    params = load_params(config, overrides, env).as_dict(quiet=True)
    paths = [params.get(key) for key in ("train_data_path", "validation_data_path", "test_data_path")]
    return [parse_data_path(p)[0] for p in paths if isinstance(p, str)]


def run_trial(config: str, serialization_dir: str, overrides: Optional[Mapping[str, Any]] = None) -> None:
    """Train (AllenNLP's own `train_model`), then write the test predictions of the final model.

    A run that finished training (metrics.json and model.tar.gz are there) but was stopped before
    its predictions were written is not trained again: its archive predicts the test documents."""
    from allennlp.commands.train import train_model
    from allennlp.data import DatasetReader
    from allennlp.models.archival import load_archive

    if os.path.isfile(os.path.join(serialization_dir, "metrics.json")) and archive_intact(serialization_dir):
        params = load_params(os.path.join(serialization_dir, "config.json"))  # as the run was trained
        model = load_archive(os.path.join(serialization_dir, "model.tar.gz")).model
    else:
        params = load_params(config, overrides)
        model = None
    reader_params = params.get("dataset_reader").duplicate()
    test_path = params.get("test_data_path", None)
    if model is None:
        model = train_model(params, serialization_dir, include_package=["rrnn_plugin"])
    if test_path is None:
        return
    reader = DatasetReader.from_params(reader_params)
    if not hasattr(reader, "example_ids"):
        reason = f"{type(reader).__name__} has no example_ids: no per-document test predictions"
        logger.warning(reason)
        with open(os.path.join(serialization_dir, NO_PREDICTIONS_FILE), "w") as handle:
            handle.write(reason + "\n")
        return
    write_predictions(model, reader, test_path, os.path.join(serialization_dir, PREDICTIONS_FILE))


def predict(model, reader, data_path: str) -> Iterable[Dict[str, Any]]:
    """(id, gold, predicted, probability) of every document of `data_path`, in the reader's order."""
    import torch

    instances = list(reader.read(data_path))
    ids = reader.example_ids(data_path)
    if len(ids) != len(instances):
        raise RuntimeError(f"{data_path}: {len(ids)} ids for {len(instances)} instances")
    model.eval()
    with torch.no_grad():
        for start in range(0, len(instances), _BATCH):
            batch = instances[start:start + _BATCH]
            for doc_id, instance, output in zip(ids[start:], batch, model.forward_on_instances(batch)):
                probs = [float(p) for p in output["probs"]]
                best = max(range(len(probs)), key=probs.__getitem__)
                yield {
                    "id": doc_id,
                    "gold": instance["label"].label if "label" in instance.fields else "",
                    "predicted": output["label"],
                    "probability": round(probs[best], 6),
                }


def write_predictions(model, reader, data_path: str, path: str) -> int:
    """Write `predict(...)` as a TSV (atomically: a file that exists is complete); return rows."""
    rows = list(predict(model, reader, data_path))
    with open(path + ".tmp", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=PREDICTION_COLUMNS, delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(path + ".tmp", path)
    return len(rows)


def predictions_missing(serialization_dir: str) -> bool:
    """Whether a run that finished training still owes its test predictions: it has a test set
    (its config.json) and no prediction file, nor a note that its reader cannot name documents."""
    if any(os.path.isfile(os.path.join(serialization_dir, name)) for name in (PREDICTIONS_FILE, NO_PREDICTIONS_FILE)):
        return False
    try:
        with open(os.path.join(serialization_dir, "config.json")) as handle:
            return json.load(handle).get("test_data_path") is not None
    except (OSError, ValueError):
        return False


def read_predictions(serialization_dir: str) -> Optional[List[Dict[str, str]]]:
    """The rows of a run's test_predictions.tsv, or None when the run has none."""
    path = os.path.join(serialization_dir, PREDICTIONS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def main(argv: List[str]) -> int:
    """`python -m rrnn_plugin.experiments.trial CONFIG DIR [OVERRIDES_JSON]`."""
    if len(argv) not in (2, 3):
        print("usage: python -m rrnn_plugin.experiments.trial CONFIG SERIALIZATION_DIR [OVERRIDES_JSON]",
              file=sys.stderr)
        return 2
    import rrnn_plugin  # noqa: F401  (registers the plugin's components)

    overrides = json.loads(argv[2]) if len(argv) == 3 and argv[2] else {}
    run_trial(argv[0], argv[1], overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
