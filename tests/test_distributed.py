"""`prune_and_finetune` under AllenNLP's distributed training: two CPU workers (gloo, torch DDP).

One real `allennlp train` of tests/fixtures/structure_learning.jsonnet with
`distributed: {cuda_devices: [-1, -1]}` (about 25 s on 2 cores; most of it is three processes
importing AllenNLP).  With these seeds the two structure epochs score the same, so epoch 0 is the
best and the switch loads `best.th`, written by the primary, on both workers.

The workers import this module (`--include-package`) for `ddp_probe_for_tests`, which records on
each worker, after every epoch, the model's size and a digest of its weights: after finetuning
epochs the digests agree only if DDP averaged the gradients of the *pruned* parameters.

`--recover`, the everything-pruned case and the `evaluate_on_test` refusal take about 90 s more
(four more runs): set RRNN_SLOW_TESTS=1.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from allennlp.data import Batch
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor
from allennlp.training.callbacks import TrainerCallback

import rrnn_plugin  # noqa: F401
from rrnn_plugin.training import kept_prefix_lengths

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
CONFIG = FIXTURES / "structure_learning.jsonnet"
WORLD_SIZE = 2
slow = pytest.mark.skipif(not os.environ.get("RRNN_SLOW_TESTS"), reason="set RRNN_SLOW_TESTS=1")


@TrainerCallback.register("ddp_probe_for_tests")
class DdpProbe(TrainerCallback):
    """Test-only: after each epoch, append this worker's view to probe_worker<rank>.json."""

    def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs) -> None:
        model, wrapper = trainer.model, trainer._ddp_wrapped_model
        state = model.state_dict()
        digest = hashlib.sha256()
        for key in sorted(state):
            digest.update(key.encode() + state[key].detach().cpu().contiguous().numpy().tobytes())
        path = Path(self.serialization_dir) / f"probe_worker{dist.get_rank()}.json"
        records = json.loads(path.read_text()) if path.exists() else []
        records.append({
            "epoch": epoch,
            "wfsa_lengths": model._seq2vec_encoder.wfsa_lengths,
            "digest": digest.hexdigest(),
            # the DDP wrapper the trainer uses holds exactly the model's current parameters
            "ddp_wraps_model": {id(p) for p in wrapper.model.parameters()}
            == {id(p) for p in model.parameters()},
        })
        path.write_text(json.dumps(records))


@TrainerCallback.register("crash_on_every_worker_for_tests")
class CrashOnEveryWorker(TrainerCallback):
    """Test-only: raise at the first batch of `epoch` on every worker, once (a marker per rank)."""

    def __init__(self, serialization_dir: str, epoch: int, marker: str) -> None:
        super().__init__(serialization_dir)
        self.epoch, self.marker = epoch, marker

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number,
                 is_training, is_primary=True, batch_grad_norm=None, **kwargs) -> None:
        marker = Path(f"{self.marker}{dist.get_rank()}")
        if epoch == self.epoch and is_training and not marker.exists():
            marker.touch()
            raise RuntimeError(f"simulated kill in epoch {epoch}")


def callbacks(**changes):
    callback = {
        "type": "prune_and_finetune", "structure_epochs": 2, "finetune_epochs": 1,
        "finetune_patience": 2, "eps": 1.15, "finetune_optimizer": {"type": "adam", "lr": 0.02},
    }
    callback.update(changes)
    return [callback, {"type": "ddp_probe_for_tests"}]


def allennlp_train(serialization_dir: Path, trainer_callbacks, recover: bool = False):
    overrides = {
        "distributed": {"cuda_devices": [-1] * WORLD_SIZE},
        "evaluate_on_test": False,  # refused in distributed mode (see prune_and_finetune)
        "trainer.callbacks": trainer_callbacks,
    }
    command = [sys.executable, "-m", "allennlp", "train", str(CONFIG), "-s", str(serialization_dir),
               "-o", json.dumps(overrides), "--include-package", "tests.test_distributed"]
    return subprocess.run(command + (["--recover"] if recover else []),
                          capture_output=True, text=True, cwd=ROOT, timeout=240)


def read_json(path: Path):
    return json.loads(path.read_text())


def flat(kept):
    """A single-layer kept structure as one list: the generalized pruning records
    `{encoder: [[lengths]]}` (layer, direction) where the single-layer version had the list."""
    return kept if isinstance(kept, list) else [m for m in next(iter(kept.values()))[0][0]]


def worker_decisions(run: Path):
    """Per worker: (its own structure, the primary's), from its out_worker<rank>.log."""
    pattern = re.compile(r"worker (\d) of 2: local structure (.*); primary's (.*)$", re.MULTILINE)
    found = {}
    for rank in range(WORLD_SIZE):
        for match in pattern.finditer((run / f"out_worker{rank}.log").read_text()):
            assert int(match.group(1)) == rank
            found[rank] = (flat(json.loads(match.group(2))), flat(json.loads(match.group(3))))
    return found


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("distributed") / "run"
    result = allennlp_train(run, callbacks())
    assert result.returncode == 0, result.stderr[-3000:]
    return run


def test_workers_prune_identically_and_the_archive_is_pruned(distributed_run):
    run = distributed_run
    record = read_json(run / "learned_structure.json")
    assert record["kept_lengths"] == kept_prefix_lengths(record["state_norms"], record["eps"])
    assert 0 < record["transitions_after"] < record["transitions_before"] == 9
    # the best structure epoch is not the last one: both workers loaded best.th at the switch
    assert record["chosen_epoch"] == 0 and record["structure_epochs"] == 2
    assert record["kept_lengths"] == flat(record["history"][0]["kept_lengths"])
    assert record["kept_lengths"] != flat(record["history"][1]["kept_lengths"])

    decisions = worker_decisions(run)
    assert set(decisions) == {0, 1}, "each worker logs its own structure and the primary's"
    for local, decided in decisions.values():
        assert local == decided == record["kept_lengths"]

    config = read_json(run / "config.json")
    assert config["model"]["seq2vec_encoder"]["wfsa_lengths"] == record["wfsa_lengths_after"]
    assert read_json(run / "structure_learning_config.json")["distributed"]["cuda_devices"] == [-1, -1]
    for name in ("model.tar.gz", "structure_model.tar.gz"):
        archive = load_archive(str(run / name))
        assert archive.model._seq2vec_encoder.wfsa_lengths == record["wfsa_lengths_after"]
        assert archive.model._regularizer is None
    predictor = Predictor.from_archive(load_archive(str(run / "model.tar.gz")), "sentiment")
    result = predictor.predict("great kettle , works perfectly")
    assert result["label"] in ("positive", "negative")
    assert sum(result["probs"].values()) == pytest.approx(1.0)
    metrics = read_json(run / "metrics.json")
    assert metrics["structure_transitions_after"] == record["transitions_after"]
    assert metrics["finetune_epochs_completed"] == 1


def test_both_workers_finetune_the_same_pruned_model(distributed_run):
    probes = [read_json(distributed_run / f"probe_worker{rank}.json") for rank in range(WORLD_SIZE)]
    assert [p["epoch"] for p in probes[0]] == [p["epoch"] for p in probes[1]] == [0, 1, 2]
    lengths = read_json(distributed_run / "learned_structure.json")["wfsa_lengths_after"]
    for rank_0, rank_1 in zip(*probes):
        assert rank_0 == rank_1, "same shapes, same weights and a current DDP wrapper everywhere"
        assert rank_0["ddp_wraps_model"]
    assert [p["wfsa_lengths"] for p in probes[0]] == [[1, 2, 3, 3], lengths, lengths]
    assert probes[0][2]["digest"] != probes[0][1]["digest"], "finetuning changed the pruned model"


def test_pruned_validation_is_summed_over_workers_like_the_trainers(distributed_run):
    """Rebuild the pruned model's validation from structure_model.tar.gz: each worker read every
    second validation review (the readers shard by rank) in one batch; the trainer averages the
    batch losses over all workers, and accuracy counts over all reviews."""
    archive = load_archive(str(distributed_run / "structure_model.tar.gz"))
    model = archive.model.eval()
    instances = list(archive.validation_dataset_reader.read(FIXTURES / "blitzer/kitchen#validation"))
    assert 2 <= len(instances) <= 2 * 4, "one batch (batch_size 4) per worker"
    losses = []
    with torch.no_grad():
        for rank in range(WORLD_SIZE):
            batch = Batch(instances[rank::WORLD_SIZE])
            batch.index_instances(model.vocab)
            losses.append(model(**batch.as_tensor_dict())["loss"].item())
    accuracy = model.get_metrics(reset=True)["accuracy"]
    metrics = read_json(distributed_run / "metrics.json")
    assert metrics["structure_pruned_validation_loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-5)
    assert metrics["structure_pruned_validation_accuracy"] == pytest.approx(accuracy)


@slow
def test_recover_in_the_finetune_phase_distributed(tmp_path):
    """Killed in the finetuning epoch: every worker rebuilds the pruned shape from the primary's
    checkpoint and `on_start` wraps it in a new DDP."""
    run, marker = tmp_path / "run", tmp_path / "crashed"
    crash = {"type": "crash_on_every_worker_for_tests", "epoch": 2, "marker": str(marker)}
    first = allennlp_train(run, callbacks() + [crash])
    assert first.returncode != 0 and "simulated kill in epoch 2" in first.stderr
    assert not (run / "model.tar.gz").exists()
    second = allennlp_train(run, callbacks() + [crash], recover=True)
    assert second.returncode == 0, second.stderr[-3000:]
    record = read_json(run / "learned_structure.json")
    for rank in range(WORLD_SIZE):
        assert "Recovering in the finetune phase" in (run / f"out_worker{rank}.log").read_text()
    probes = [read_json(run / f"probe_worker{rank}.json") for rank in range(WORLD_SIZE)]
    assert probes[0][-1] == probes[1][-1] and probes[0][-1]["epoch"] == 2
    assert probes[0][-1]["wfsa_lengths"] == record["wfsa_lengths_after"]
    archive = load_archive(str(run / "model.tar.gz"))
    assert archive.model._seq2vec_encoder.wfsa_lengths == record["wfsa_lengths_after"]


@slow
def test_every_state_pruned_distributed(tmp_path):
    """A bias-only model reads no input: DDP must allow parameters without gradient."""
    run = tmp_path / "run"
    result = allennlp_train(run, callbacks(eps=1e9))
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_json(run / "learned_structure.json")["wfsa_lengths_after"] == []
    assert load_archive(str(run / "model.tar.gz")).model._seq2vec_encoder.num_wfsas == 0


@slow
def test_evaluate_on_test_is_refused_up_front(tmp_path):
    """AllenNLP 2.10 would train, then fail in the primary's lone test evaluation."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "allennlp", "train", str(CONFIG), "-s", str(run), "-o",
               json.dumps({"distributed": {"cuda_devices": [-1, -1]}}),
               "--include-package", "tests.test_distributed"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert result.returncode != 0
    assert "evaluate_on_test fails after distributed training" in result.stderr
    assert not (run / "metrics_epoch_0.json").exists()
