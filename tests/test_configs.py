"""Every config in training_configs/ builds (AllenNLP dry run) with fixture data swapped in.

The configs read RRNN_DATA_DIR and RRNN_GLOVE_FILE; here they point at a copy of the fixture
reviews laid out as all four Blitzer domains and at a tiny 50-d GloVe file written by the test.
The tagger (training_configs/composed/tagger.jsonnet) reads RRNN_TAGGING_DIR: the tagging fixture.
"""
import importlib
import os
import shutil
from pathlib import Path
from typing import Dict

import pytest
from allennlp.commands.train import train_model
from allennlp.common import Params

import rrnn_plugin  # noqa: F401
from rrnn_plugin.encoders import RationalRnnEncoder, RationalRnnSeq2SeqEncoder

ROOT = Path(__file__).parents[1]
CONFIGS = sorted(p for p in (ROOT / "training_configs").rglob("*.jsonnet"))
DOMAINS = ["books", "dvd", "electronics", "kitchen"]


@pytest.fixture(scope="module")
def fixture_environment(tmp_path_factory):
    root = tmp_path_factory.mktemp("config-data")
    data_dir = root / "blitzer"
    for domain in DOMAINS:  # the fixture kitchen reviews stand in for every domain
        shutil.copytree(ROOT / "tests" / "fixtures" / "blitzer" / "kitchen", data_dir / domain)
    glove = root / "glove.txt"
    glove.write_text("".join(f"{w} " + " ".join(["0.1"] * 50) + "\n" for w in ["the", "good", "bad", "great"]))
    return {"RRNN_DATA_DIR": str(data_dir), "RRNN_GLOVE_FILE": str(glove),
            "RRNN_TAGGING_DIR": str(ROOT / "tests" / "fixtures" / "tagging")}


def wfsa_encoders(model: Params):
    """The `rational_rnn` encoders of a model config (classifier: seq2seq_encoder and/or
    seq2vec_encoder; tagger: encoder), as dicts."""
    found = []
    for key in ("seq2seq_encoder", "seq2vec_encoder", "encoder"):
        if key in model and model[key].get("type") == "rational_rnn":
            found.append(model[key].as_dict(quiet=True))
    return found


def test_configs_exist():
    assert len(CONFIGS) >= 25


@pytest.mark.parametrize("config", CONFIGS, ids=[str(p.relative_to(ROOT / "training_configs")) for p in CONFIGS])
def test_config_builds(config, fixture_environment, tmp_path, monkeypatch):
    for key, value in fixture_environment.items():
        monkeypatch.setenv(key, value)
    params = Params.from_file(str(config))
    if params["model"].get("type") == "from_archive":
        pytest.skip("two-run finetune config: needs a learned-structure archive; dry-run against a "
                    "fixture archive in tests/test_structure_learning.py")
    encoders = wfsa_encoders(params["model"])
    assert encoders, f"{config.name} has no rational_rnn encoder"
    assert train_model(params, str(tmp_path / "run"), dry_run=True) is None
    assert (tmp_path / "run" / "vocabulary").is_dir()
    built = [RationalRnnEncoder(**{k: v for k, v in e.items() if k != "type"}) for e in encoders]
    if config.stem.startswith("baseline_"):
        kind = config.stem.split("_", 1)[1]
        expected = sorted([1, 2, 3, 4] * 6) if kind == "mix" else [int(kind)] * 24
        assert built[0].wfsa_lengths == expected
    if config.parent.name != "composed":
        # single-layer configs: the stacking options stay out of their JSON (unchanged configs);
        # the contextual ones draw one input dropout mask per document
        expected_keys = {"type", "input_dim", "wfsa_lengths", "semiring", "input_dropout"}
        if config.stem.startswith("bert_"):
            expected_keys.add("input_dropout_per_document")
            assert encoders[0]["input_dropout_per_document"] is True
        assert set(encoders[0]) == expected_keys


def composed(name: str) -> Dict:
    return Params.from_file(str(ROOT / "training_configs" / "composed" / f"{name}.jsonnet")).as_dict(quiet=True)


def test_composed_configs_wire_the_encoder_output_into_its_reader(monkeypatch):
    monkeypatch.setenv("RRNN_TAGGING_DIR", "")  # empty (the plugin's default): the fixture folder
    cnn, boe = composed("seq2seq_cnn_classifier")["model"], composed("seq2seq_boe_classifier")["model"]
    assert cnn["type"] == "basic_classifier" and boe["type"] == "rational_classifier"
    assert cnn["seq2vec_encoder"]["type"] == "cnn" and boe["seq2vec_encoder"] == {
        "type": "boe", "embedding_dim": 24, "averaged": True}
    for model in (cnn, boe):
        encoder = RationalRnnSeq2SeqEncoder(**{k: v for k, v in model["seq2seq_encoder"].items() if k != "type"})
        assert encoder.get_output_dim() == model["seq2vec_encoder"]["embedding_dim"] == 24
    for name, lengths in (("bidirectional_2layer", [1, 2, 3, 4] * 3), ("bidirectional_2layer_structure_learning", [4] * 12)):
        spec = composed(name)["model"]["seq2vec_encoder"]
        assert spec["num_layers"] == 2 and spec["bidirectional"] is True
        encoder = RationalRnnEncoder(**{k: v for k, v in spec.items() if k != "type"})
        assert encoder.structure == [[sorted(lengths)] * 2] * 2
        assert encoder.get_output_dim() == 24
    tagger = composed("tagger")
    assert tagger["model"]["type"] == "simple_tagger" and tagger["model"]["encoder"]["bidirectional"] is True
    assert tagger["train_data_path"] == "tests/fixtures/tagging/train.tsv"  # relative to the project root
    assert tagger["validation_data_path"] == "tests/fixtures/tagging/validation.tsv"
    monkeypatch.setenv("RRNN_TAGGING_DIR", "/data/tags")
    assert composed("tagger")["train_data_path"] == "/data/tags/train.tsv"


def test_plugin_defaults_the_tagging_dir(monkeypatch):
    """The tagger config reads RRNN_TAGGING_DIR; jsonnet fails on an unset ext var, so importing the
    plugin must give it a default ('' = the fixture folder), as it does for RRNN_LAMBDA."""
    monkeypatch.setenv("RRNN_TAGGING_DIR", "placeholder")
    monkeypatch.delenv("RRNN_TAGGING_DIR")  # restored at teardown
    importlib.reload(rrnn_plugin)  # re-runs the package's os.environ.setdefault lines
    assert os.environ.get("RRNN_TAGGING_DIR") == ""
