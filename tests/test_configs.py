"""Every config in training_configs/ builds (AllenNLP dry run) with fixture data swapped in.

The configs read RRNN_DATA_DIR and RRNN_GLOVE_FILE; here they point at a copy of the fixture
reviews laid out as all four Blitzer domains and at a tiny 50-d GloVe file written by the test.
"""
import shutil
from pathlib import Path

import pytest
from allennlp.commands.train import train_model
from allennlp.common import Params

import rrnn_plugin  # noqa: F401
from rrnn_plugin.modules import RationalRnnEncoder

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
    return {"RRNN_DATA_DIR": str(data_dir), "RRNN_GLOVE_FILE": str(glove)}


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
    encoder = params["model"]["seq2vec_encoder"].as_dict(quiet=True)
    assert train_model(params, str(tmp_path / "run"), dry_run=True) is None
    assert (tmp_path / "run" / "vocabulary").is_dir()
    built = RationalRnnEncoder(encoder["input_dim"], encoder["wfsa_lengths"])
    if config.stem.startswith("baseline_"):
        kind = config.stem.split("_", 1)[1]
        expected = sorted([1, 2, 3, 4] * 6) if kind == "mix" else [int(kind)] * 24
        assert built.wfsa_lengths == expected
