"""The compatibility layer: what AllenNLP 2.10.1 needs from torch 2.13 and we rely on."""
import sys
import subprocess
from pathlib import Path

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common import Params
from allennlp.commands.train import train_model
from allennlp.training.learning_rate_schedulers import LearningRateScheduler

import rrnn_plugin  # noqa: F401

CONFIG = Path(__file__).parent / "fixtures" / "rational_classifier.jsonnet"


def test_reduce_on_plateau_builds_and_reduces():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = LearningRateScheduler.from_params(
        Params({"type": "reduce_on_plateau", "mode": "max", "patience": 0, "factor": 0.5, "verbose": True}),
        optimizer=optimizer,
    )
    scheduler.step(0.5)
    scheduler.step(0.5)
    assert optimizer.param_groups[0]["lr"] == 0.5


def test_recover_loads_training_state(tmp_path):
    """`--recover` must load AllenNLP's own training state under torch's weights_only loading."""
    params = Params.from_file(str(CONFIG))
    params["trainer"]["num_epochs"] = 1
    params["trainer"]["learning_rate_scheduler"] = {"type": "reduce_on_plateau", "mode": "max"}
    train_model(params.duplicate(), str(tmp_path))
    # a finished run has nothing to recover, and says so
    with pytest.raises(ConfigurationError, match="finished run"):
        train_model(params.duplicate(), str(tmp_path), recover=True)
    # as if killed after its last checkpoint: --recover (identical config) loads that training state
    (tmp_path / "metrics.json").unlink()
    (tmp_path / "model.tar.gz").unlink()
    model = train_model(params, str(tmp_path), recover=True)
    assert model is not None
    assert (tmp_path / "model.tar.gz").exists()


def test_allennlp_starts_without_torchvision():
    """The start-up hook lets `allennlp` import its data package with no torchvision installed."""
    out = subprocess.run([sys.executable, "-c", "import allennlp.data, torchvision; print(torchvision.__rrnn_placeholder__)"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
    failing = subprocess.run([sys.executable, "-c", "import torchvision; torchvision.io.read_image('x')"],
                             capture_output=True, text=True)
    assert "torchvision is not installed" in failing.stderr


def test_training_state_with_numpy_metric_values_loads(tmp_path):
    """Metric trackers may hold numpy scalars; torch's weights_only loading must accept them."""
    import numpy

    path = tmp_path / "training_state.th"
    state = {"best_so_far": numpy.float64(0.8), "epochs": numpy.int64(3), "loss": numpy.float32(1.5)}
    torch.save(state, path)
    assert torch.load(path) == state
