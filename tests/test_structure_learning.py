"""Structure learning (docs/method.md §2-§3): group lasso, pruning, and `prune_and_finetune` runs.

Unit tests set `state_params` rows by hand; end-to-end tests train on the 20 fixture reviews
(tests/fixtures/structure_learning.jsonnet, varied with AllenNLP `overrides`).
"""
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from allennlp.commands.train import train_model, train_model_from_file
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor
from allennlp.training.callbacks import TrainerCallback

import rrnn_plugin  # noqa: F401
from rrnn_plugin.encoders import RationalRnnEncoder
from rrnn_plugin.training import prune_and_finetune
from rrnn_plugin.training import (
    StateGroupLasso,
    group_lasso_penalty,
    kept_prefix_lengths,
    prune_classifier,
    pruned_config,
)

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG = FIXTURES / "structure_learning.jsonnet"
FINETUNE_CONFIG = FIXTURES / "finetune_from_archive.jsonnet"
ROOT = Path(__file__).parents[1]
DATASETS = ("kitchen", "dvd", "books", "electronics", "mix")


# ----- helpers ---------------------------------------------------------------------------------
def build_model_and_batch():
    """The fixture model (untrained, eval mode) and one tensor batch of all training reviews."""
    params = Params.from_file(str(CONFIG))
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    instances = list(reader.read(params.pop("train_data_path")))
    vocab = Vocabulary.from_instances(instances)
    model = Model.from_params(vocab=vocab, params=params.pop("model"))
    batch = Batch(instances)
    batch.index_instances(vocab)
    return model.eval(), batch.as_tensor_dict()


def logits(model, batch):
    with torch.no_grad():
        return model(**batch)["logits"]


def set_rows(encoder: RationalRnnEncoder, norms):
    """Give flat state s a row of norm norms[s] (a fixed direction per row, so rows differ)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for s, norm in enumerate(norms):
            row = torch.randn(encoder.state_params.shape[1], generator=generator)
            encoder.state_params[s] = row / row.norm() * norm


def train(serialization_dir: Path, recover: bool = False, **overrides) -> Path:
    train_model_from_file(
        str(CONFIG), str(serialization_dir), overrides=json.dumps(overrides), recover=recover
    )
    return serialization_dir


def read_json(path: Path):
    return json.loads(path.read_text())


class SimulatedCrash(RuntimeError):
    pass


@TrainerCallback.register("crash_once_for_tests")
class CrashOnce(TrainerCallback):
    """Test-only: raise at the first batch of `epoch`, unless `marker` exists (then create it),
    so the same config crashes the first run and lets the `--recover` run finish."""

    def __init__(self, serialization_dir: str, epoch: int, marker: str) -> None:
        super().__init__(serialization_dir)
        self.epoch, self.marker = epoch, marker

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number,
                 is_training, is_primary=True, batch_grad_norm=None, **kwargs) -> None:
        if epoch == self.epoch and is_training and not os.path.exists(self.marker):
            Path(self.marker).touch()
            raise SimulatedCrash(f"simulated kill in epoch {epoch}")


def with_crash(epoch: int, marker: Path, **callback_overrides):
    params = Params.from_file(str(CONFIG))
    callback = params["trainer"]["callbacks"][0].as_dict(quiet=True)
    callback.update(callback_overrides)
    crash = {"type": "crash_once_for_tests", "epoch": epoch, "marker": str(marker)}
    return {"trainer.callbacks": [callback, crash]}


# ----- group lasso -----------------------------------------------------------------------------
def test_group_norms_and_penalty_equal_a_hand_computation():
    encoder = RationalRnnEncoder(input_dim=2, wfsa_lengths=[1, 2])  # rows of 2*2+1 = 5
    with torch.no_grad():
        encoder.state_params.copy_(
            torch.tensor([[3.0, 4.0, 0.0, 0.0, 0.0], [0.0] * 5, [1.0, 1.0, 1.0, 1.0, -1.0]])
        )
    assert encoder.state_norms() == [[5.0], [0.0, pytest.approx(math.sqrt(5))]]
    penalty = StateGroupLasso(alpha=0.1)(encoder.state_params)
    assert penalty.item() == pytest.approx(0.1 * (5 + 0 + math.sqrt(5)))
    penalty.backward()
    grad = encoder.state_params.grad
    assert torch.isfinite(grad).all(), "an all-zero group must not give a NaN gradient"
    assert torch.equal(grad[1], torch.zeros(5))
    assert torch.allclose(grad[0], 0.1 * torch.tensor([3.0, 4.0, 0, 0, 0]) / 5)
    with pytest.raises(ValueError, match="rows of a matrix"):
        StateGroupLasso()(torch.ones(3))


def test_model_penalty_and_metrics_use_the_configured_regularizer():
    model, _ = build_model_and_batch()
    norms = [0.05, 2.0, 0.0, 3.0, 0.5, 1.5, 0.2, 0.3, 4.0]
    set_rows(model._seq2vec_encoder, norms)
    expected = 0.5 * sum(norms)  # alpha of the fixture config
    assert model.get_regularization_penalty().item() == pytest.approx(expected, rel=1e-5)
    assert group_lasso_penalty(model) == pytest.approx(expected, rel=1e-5)
    metrics = model.get_metrics()
    assert metrics["group_lasso_penalty"] == pytest.approx(expected, rel=1e-5)
    assert metrics["live_states"] == sum(n > 0.1 for n in norms)


# ----- pruning ---------------------------------------------------------------------------------
def test_kept_prefix_rule():
    norms = [[0.5, 0.05, 3.0], [0.01, 2.0], [0.2, 0.3], [0.1]]
    assert kept_prefix_lengths(norms, 0.1) == [1, 0, 2, 0]  # norm == eps is not > eps
    assert kept_prefix_lengths(norms, 0.0) == [3, 2, 2, 1]


def test_prune_with_eps_zero_is_the_identity_on_logits():
    model, batch = build_model_and_batch()
    before = logits(model, batch)
    same, report = prune_classifier(model, eps=0.0)
    assert report.transitions_after == report.transitions_before == 9
    assert torch.allclose(logits(same, batch), before, atol=1e-6)
    # exactly-zero groups are pruned even at eps = 0 (plus-times: they and their successors
    # score 0), and the logits still do not move
    encoder = model._seq2vec_encoder
    with torch.no_grad():
        encoder.state_params[0] = 0.0  # WFSA 0 (one state): removed with its column
        encoder.state_params[4] = 0.0  # WFSA 2, state 2 of 3: keeps 1
    before = logits(model, batch)
    pruned, report = prune_classifier(model, eps=0.0)
    assert report.kept_lengths == [0, 2, 1, 3]
    assert pruned._seq2vec_encoder.wfsa_lengths == [2, 1, 3]
    assert torch.allclose(logits(pruned, batch), before, atol=1e-6)
    assert model._seq2vec_encoder.wfsa_lengths == [1, 2, 3, 3], "the input model is not changed"


def test_pruning_copies_exactly_the_surviving_rows_and_columns():
    model, batch = build_model_and_batch()
    encoder, layer = model._seq2vec_encoder, model._classification_layer
    # WFSA 0: [0.05] -> removed; WFSA 1: [2, 1.5] -> 2; WFSA 2: [3, 0.01, 5]: the third state is
    # large but after a removed one -> 1; WFSA 3: [1, 1, 1] -> 3
    set_rows(encoder, [0.05, 2.0, 1.5, 3.0, 0.01, 5.0, 1.0, 1.0, 1.0])
    pruned, report = prune_classifier(model, eps=0.1)
    assert report.kept_lengths == [0, 2, 1, 3] and report.kept_wfsas == [1, 2, 3]
    new_encoder, new_layer = pruned._seq2vec_encoder, pruned._classification_layer
    assert new_encoder.wfsa_lengths == [2, 1, 3]
    assert torch.equal(new_encoder.state_params, encoder.state_params[[1, 2, 3, 6, 7, 8]])
    assert torch.equal(new_layer.weight, layer.weight[:, [1, 2, 3]])
    assert torch.equal(new_layer.bias, layer.bias)
    assert (report.transitions_before, report.transitions_after) == (9, 6)
    assert (report.encoder_parameters_before, report.encoder_parameters_after) == (9 * 13, 6 * 13)
    assert (report.classifier_parameters_before, report.classifier_parameters_after) == (10, 8)
    assert report.trainable_parameters_before - report.trainable_parameters_after == 3 * 13 + 2
    assert report.trainable_parameters_after == sum(p.numel() for p in pruned.parameters())
    # the rewritten config rebuilds exactly this shape, and the weights load into it
    config = pruned_config(Params.from_file(str(CONFIG)).as_dict(quiet=True), report)
    assert "regularizer" not in config["model"] and "callbacks" not in config["trainer"]
    rebuilt = Model.from_params(vocab=model.vocab, params=Params(config["model"])).eval()
    rebuilt.load_state_dict(pruned.state_dict())
    assert torch.allclose(logits(rebuilt, batch), logits(pruned, batch), atol=1e-6)


def test_every_state_pruned_leaves_a_bias_only_classifier():
    model, batch = build_model_and_batch()
    pruned, report = prune_classifier(model, eps=1e9)
    assert report.kept_lengths == [0, 0, 0, 0] and report.transitions_after == 0
    assert pruned._seq2vec_encoder.num_wfsas == 0
    assert pruned._classification_layer.weight.shape == (2, 0)
    out = logits(pruned, batch)
    assert torch.allclose(out, pruned._classification_layer.bias.expand_as(out))
    assert torch.allclose(torch.softmax(out, -1).sum(-1), torch.ones(len(out)))


# ----- prune_and_finetune end to end -----------------------------------------------------------
@pytest.fixture(scope="module")
def structure_run(tmp_path_factory):
    """One `allennlp train` with the callback, as a user runs it (plugin found via .allennlp_plugins)."""
    serialization_dir = tmp_path_factory.mktemp("structure") / "run"
    result = subprocess.run(
        [sys.executable, "-m", "allennlp", "train", str(CONFIG), "-s", str(serialization_dir)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return serialization_dir


def test_one_run_gives_a_smaller_archive_that_loads_and_predicts(structure_run):
    record = read_json(structure_run / "learned_structure.json")
    assert record["transitions_before"] == 9
    assert record["transitions_after"] < record["transitions_before"]
    assert record["kept_lengths"] == kept_prefix_lengths(record["state_norms"], record["eps"])
    assert record["lambda"] == 0.5 and record["eps"] == 1.0 and record["chosen_epoch"] == 0
    assert record["finetune"]["finetune_epochs_completed"] <= 2
    config = read_json(structure_run / "config.json")
    assert config["model"]["seq2vec_encoder"]["wfsa_lengths"] == record["wfsa_lengths_after"]
    assert "regularizer" not in config["model"] and "callbacks" not in config["trainer"]
    original = read_json(structure_run / "structure_learning_config.json")
    assert original["trainer"]["callbacks"][0]["type"] == "prune_and_finetune"

    for name in ("model.tar.gz", "structure_model.tar.gz"):
        archive = load_archive(str(structure_run / name))
        assert archive.model._seq2vec_encoder.wfsa_lengths == record["wfsa_lengths_after"]
        assert archive.model._regularizer is None
        predictor = Predictor.from_archive(archive, "sentiment")
        result = predictor.predict("great kettle , works perfectly")
        assert result["label"] in ("positive", "negative")
        assert sum(result["probs"].values()) == pytest.approx(1.0)

    metrics = read_json(structure_run / "metrics.json")
    assert metrics["structure_transitions_after"] == record["transitions_after"]
    assert metrics["test_transitions"] == record["transitions_after"]
    for key in ("structure_best_validation_accuracy", "structure_pruned_validation_accuracy",
                "finetune_best_validation_accuracy", "test_accuracy"):
        assert key in metrics
    # the final model has no regularizer: no stale phase-1 penalty keys among its metrics
    assert not any(("reg_loss" in key or "group_lasso" in key)
                   for key in metrics if not key.startswith("structure_"))
    phases = [read_json(structure_run / f"metrics_epoch_{e}.json")["phase"]
              for e in range(metrics["epoch"] + 1)]
    assert phases == ["structure"] + ["finetune"] * metrics["epoch"]
    epoch_0 = read_json(structure_run / "metrics_epoch_0.json")
    assert epoch_0["training_group_lasso_penalty"] > 0 and epoch_0["training_reg_loss"] > 0
    assert epoch_0["structure_kept_transitions"] == record["transitions_after"]


def test_every_state_pruned_end_to_end(tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(prune_and_finetune.logger, "warning", lambda message, *args: warnings.append(message % args))
    run = train(tmp_path / "run", **{"trainer.callbacks.0.eps": 1e9})
    assert any(w.startswith("Pruning removed every WFSA") for w in warnings), warnings
    assert read_json(run / "learned_structure.json")["wfsa_lengths_after"] == []
    archive = load_archive(str(run / "model.tar.gz"))
    assert archive.model._seq2vec_encoder.num_wfsas == 0
    predictor = Predictor.from_archive(archive, "sentiment")
    first, second = predictor.predict("great product"), predictor.predict("broke after a week")
    assert first["probs"] == pytest.approx(second["probs"]), "bias only: same for every input"


@pytest.mark.parametrize("regexes", [
    [[".*state_parms", {"type": "state_group_lasso", "alpha": 0.5}]],  # a typo: matches nothing
    [[".*state_params", {"type": "state_group_lasso", "alpha": 0.5}],
     [".*state_params", {"type": "state_group_lasso", "alpha": 5.0}]],  # the second is shadowed by the first
])
def test_a_group_lasso_rule_that_applies_to_nothing_is_refused(tmp_path, regexes):
    """Such a rule left structure learning unregularized (or at another strength) while
    learned_structure.json recorded its lambda."""
    with pytest.raises(ConfigurationError, match="model.regularizer: the state_group_lasso rule"):
        train(tmp_path / "run", **{"model.regularizer.regexes": regexes})


def test_an_infinite_training_loss_stops_the_run(tmp_path):
    """AllenNLP stops on NaN only: with a group-lasso strength of 1e38 the run trained on an
    infinite loss, pruned from it and exited 0."""
    with pytest.raises(ValueError, match="infinite loss encountered"):
        train(tmp_path / "run", **{"model.regularizer.regexes.0.1.alpha": 1e38})
    assert not (tmp_path / "run" / "model.tar.gz").exists()


def test_structure_only_run_archives_the_pruned_model(tmp_path):
    """finetune_epochs = 0: the paper's first command; model.tar.gz is the pruned best epoch."""
    run = train(tmp_path / "run", **{"trainer.callbacks.0.finetune_epochs": 0})
    final = load_archive(str(run / "model.tar.gz")).model.state_dict()
    structure = load_archive(str(run / "structure_model.tar.gz")).model.state_dict()
    assert final.keys() == structure.keys()
    assert all(torch.equal(final[key], structure[key]) for key in final)
    assert read_json(run / "metrics.json")["finetune_epochs_completed"] == 0


def test_recover_in_the_finetune_phase(tmp_path):
    marker, run = tmp_path / "crashed", tmp_path / "run"
    overrides = with_crash(epoch=2, marker=marker)  # structure: epoch 0; finetune: 1 and 2
    with pytest.raises(SimulatedCrash):
        train(run, **overrides)
    assert marker.exists() and not (run / "model.tar.gz").exists()
    record = read_json(run / "learned_structure.json")
    train(run, recover=True, **overrides)
    archive = load_archive(str(run / "model.tar.gz"))
    assert archive.model._seq2vec_encoder.wfsa_lengths == record["wfsa_lengths_after"]
    metrics = read_json(run / "metrics.json")
    assert metrics["epoch"] == 2 and metrics["finetune_epochs_completed"] == 2
    assert metrics["structure_transitions_after"] == record["transitions_after"]
    # the recovered run really trained the pruned parameters (optimizer rebuilt on them)
    after_1 = torch.load(run / "model_state_e2_b0.th")["_seq2vec_encoder.layers.0.0.state_params"]
    after_2 = torch.load(run / "model_state_e3_b0.th")["_seq2vec_encoder.layers.0.0.state_params"]
    assert after_1.shape == after_2.shape == (record["transitions_after"], 13)
    assert not torch.equal(after_1, after_2)


def test_recover_in_the_finetune_phase_of_a_stacked_bidirectional_model(tmp_path):
    """The recorded structure is per (layer, direction) and the config rewrite travels with the
    checkpoint: the recovered run prunes the fresh model to it and archives a loadable config."""
    marker, run = tmp_path / "crashed", tmp_path / "run"
    overrides = {
        **with_crash(epoch=2, marker=marker, eps=0.9),
        "model.seq2vec_encoder.num_layers": 2,
        "model.seq2vec_encoder.bidirectional": True,
        "model.seq2vec_encoder.dropout": 0.1,
    }
    with pytest.raises(SimulatedCrash):
        train(run, **overrides)
    record = read_json(run / "learned_structure.json")
    after = [[layer["wfsa_lengths_after"] for layer in record["encoders"][0]["layers"][2 * l:2 * l + 2]]
             for l in range(2)]
    assert 0 < record["transitions_after"] < record["transitions_before"] == 36
    train(run, recover=True, **overrides)
    archive = load_archive(str(run / "model.tar.gz"))
    assert archive.model._seq2vec_encoder.structure == after
    assert archive.config["model"]["seq2vec_encoder"]["layer_wfsa_lengths"] == after
    assert read_json(run / "metrics.json")["finetune_epochs_completed"] == 2


def test_recover_in_the_structure_phase(tmp_path):
    marker, run = tmp_path / "crashed", tmp_path / "run"
    overrides = with_crash(epoch=1, marker=marker, structure_epochs=2, finetune_epochs=1)
    with pytest.raises(SimulatedCrash):
        train(run, **overrides)
    assert not (run / "learned_structure.json").exists()
    train(run, recover=True, **overrides)
    record = read_json(run / "learned_structure.json")
    assert [h["epoch"] for h in record["history"]] == [0, 1]
    # the chosen epoch's structure, also when the recovered trainer did not know about best.th
    chosen = record["history"][record["chosen_epoch"]]["kept_lengths"]
    assert chosen == {"_seq2vec_encoder": [[record["kept_lengths"]]]}
    metrics = read_json(run / "metrics.json")
    assert metrics["structure_epochs_completed"] == 2 and metrics["epoch"] == 2
    archive = load_archive(str(run / "model.tar.gz"))
    assert archive.model._seq2vec_encoder.wfsa_lengths == record["wfsa_lengths_after"]


def test_two_run_form_finetunes_a_structure_archive(structure_run, tmp_path, monkeypatch):
    structure_archive = structure_run / "structure_model.tar.gz"
    monkeypatch.setenv("RRNN_STRUCTURE_ARCHIVE", str(structure_archive))
    train_model_from_file(str(FINETUNE_CONFIG), str(tmp_path / "finetune"))
    start = load_archive(str(structure_archive)).model
    finetuned = load_archive(str(tmp_path / "finetune" / "model.tar.gz")).model
    lengths = read_json(structure_run / "learned_structure.json")["wfsa_lengths_after"]
    assert finetuned._seq2vec_encoder.wfsa_lengths == lengths
    assert finetuned._regularizer is None
    assert finetuned.vocab.get_vocab_size() == start.vocab.get_vocab_size()


# ----- configs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", DATASETS)
def test_structure_learning_configs(dataset, monkeypatch):
    path = ROOT / "training_configs" / dataset / "structure_learning.jsonnet"
    config = Params.from_file(str(path)).as_dict(quiet=True)
    encoder = config["model"]["seq2vec_encoder"]
    assert encoder["wfsa_lengths"] == {"4": 24}
    assert config["model"]["text_field_embedder"]["token_embedders"]["tokens"]["pretrained_file"]
    (regex, regularizer), = config["model"]["regularizer"]["regexes"]
    assert regex == ".*state_params" and regularizer["type"] == "state_group_lasso"
    callback, check = config["trainer"]["callbacks"]
    assert callback["type"] == "prune_and_finetune" and check["type"] == "check_labels"
    assert config["trainer"]["num_epochs"] == callback["structure_epochs"] + callback["finetune_epochs"]
    assert "learning_rate_scheduler" not in config["trainer"]
    monkeypatch.setenv("RRNN_LAMBDA", "2.5e-4")
    config = Params.from_file(str(path)).as_dict(quiet=True)
    assert config["model"]["regularizer"]["regexes"][0][1]["alpha"] == 2.5e-4



@pytest.mark.parametrize("dataset", DATASETS)
def test_finetune_configs_build_from_a_structure_archive(dataset, structure_run, tmp_path, monkeypatch):
    path = ROOT / "training_configs" / dataset / "finetune.jsonnet"
    config = Params.from_file(str(path)).as_dict(quiet=True)
    assert config["model"] == {"type": "from_archive",
                               "archive_file": f"runs/{dataset}-sl/structure_model.tar.gz"}
    assert config["vocabulary"]["directory"] == config["model"]["archive_file"]
    assert config["trainer"]["learning_rate_scheduler"]["type"] == "reduce_on_plateau"
    # dry run on fixture reviews standing in for every domain, from the fixture run's archive
    for domain in ("books", "dvd", "electronics", "kitchen"):
        target = tmp_path / "blitzer" / domain
        if not target.exists():
            shutil.copytree(FIXTURES / "blitzer" / "kitchen", target)
    monkeypatch.setenv("RRNN_DATA_DIR", str(tmp_path / "blitzer"))
    monkeypatch.setenv("RRNN_STRUCTURE_ARCHIVE", str(structure_run / "structure_model.tar.gz"))
    params = Params.from_file(str(path))
    assert train_model(params, str(tmp_path / "run"), dry_run=True) is None
