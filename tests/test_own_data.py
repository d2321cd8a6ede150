"""The four own-data recipes of docs/own-data.md, with configs saved outside the project (the
plugin's config library is on jsonnet's search path): a baseline, structure learning, the lambda
search and contextual features, all on label<TAB>text files."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.commands.train import train_model

import rrnn_plugin  # noqa: F401  (puts the config library on jsonnet's search path, as `allennlp` does)

FIXTURES = Path(os.environ["RRNN_FIXTURES"])
ROOT = Path(__file__).parents[1]


@pytest.fixture
def own_data(tmp_path):
    """train/dev/test TSV files from the fixture's 20 reviews, in a folder outside the project."""
    lines = [l for l in (FIXTURES / "reviews.tsv").read_text().splitlines() if l.strip()]
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, part in (("train", lines[:12]), ("dev", lines[12:16]), ("test", lines[16:])):
        (folder / f"{name}.tsv").write_text("\n".join(part) + "\n")
    return folder


def config(folder: Path, body: str, name: str = "config.jsonnet") -> str:
    path = folder / name
    path.write_text(body.replace("DATA", str(folder)))
    return str(path)


SMALL = "{embedding_dim: 8, num_epochs: 2, batch_size: 4, glove_file: null}"


def small_model(params: Params) -> Params:
    """No GloVe file here: trainable 8-d embeddings instead (what the recipe's GloVe line becomes)."""
    data = params.as_dict()
    data["model"]["text_field_embedder"]["token_embedders"]["tokens"] = {"type": "embedding", "embedding_dim": 8}
    return Params(data)


def test_baseline_on_own_files(own_data, tmp_path):
    path = config(own_data, f"""local rrnn = import 'rrnn.libsonnet';
rrnn.tsv_files(rrnn.baseline('mine', rrnn.structures['mix'], {SMALL}), 'DATA/train.tsv', 'DATA/dev.tsv', 'DATA/test.tsv')""")
    params = small_model(Params.from_file(path))
    assert params["dataset_reader"]["type"] == "tsv_sentiment"
    assert params["dataset_reader"]["lowercase"] is True and params["dataset_reader"]["clean"] is True
    train_model(params, str(tmp_path / "run"))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "test_accuracy" in metrics and metrics["training_transitions"] == 60


def test_a_test_label_never_seen_in_training_is_refused(own_data, tmp_path):
    """Separate files: the test data reaches only the vocabulary, where check_labels finds its label."""
    with open(own_data / "test.tsv", "a") as test:
        test.write("neutral\tneither good nor bad\n")
    path = config(own_data, f"""local rrnn = import 'rrnn.libsonnet';
rrnn.tsv_files(rrnn.baseline('mine', rrnn.structures['mix'], {SMALL}), 'DATA/train.tsv', 'DATA/dev.tsv', 'DATA/test.tsv')""")
    with pytest.raises(ConfigurationError, match=r"vocabulary that never occur in the training data: \['neutral'\]"):
        train_model(small_model(Params.from_file(path)), str(tmp_path / "run"))
    assert not (tmp_path / "run" / "model.tar.gz").exists()


def test_structure_learning_on_own_files_without_a_test_file(own_data, tmp_path):
    path = config(own_data, f"""local rrnn = import 'rrnn.libsonnet';
rrnn.tsv_files(rrnn.structure_learning('mine', 1.0, {SMALL} + {{structure_epochs: 1, finetune_epochs: 1}}),
               'DATA/train.tsv', 'DATA/dev.tsv')""")
    params = small_model(Params.from_file(path))
    assert "test_data_path" not in params.as_dict() and params["evaluate_on_test"] is False
    train_model(params, str(tmp_path / "run"))
    assert (tmp_path / "run" / "learned_structure.json").exists()


def test_lambda_search_on_own_files(own_data, tmp_path):
    path = config(own_data, f"""local rrnn = import 'rrnn.libsonnet';
local lambda = rrnn.env_number('RRNN_LAMBDA', 1e-3);
rrnn.tsv_files(rrnn.structure_learning('mine', lambda, {SMALL} + {{structure_epochs: 1, finetune_epochs: 1}}),
               'DATA/train.tsv', 'DATA/dev.tsv') + {{
  model+: {{ text_field_embedder: {{ token_embedders: {{ tokens: {{ type: 'embedding', embedding_dim: 8 }} }} }} }},
}}""")
    done = subprocess.run([sys.executable, "-m", "allennlp", "rrnn-search", path, "--target-transitions", "50",
                           "--tolerance", "100", "-s", str(tmp_path / "search"), "--include-package", "rrnn_plugin"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    chosen = json.loads((tmp_path / "search" / "chosen_lambda.json").read_text())
    assert chosen["found"] and chosen["lambda"] == pytest.approx(1e-4)  # the search's default start


def test_contextual_features_on_own_files_keep_their_text_settings(own_data, tmp_path):
    from tests.test_contextual import make_tiny_bert

    bert_dir = make_tiny_bert(tmp_path / "tiny-bert")
    path = config(own_data, f"""local bert = import 'bert.libsonnet';
local rrnn = import 'rrnn.libsonnet';
rrnn.tsv_files(bert.baseline('mine', bert.structures['mix'], {{model_path: '{bert_dir}', embedding_dim: 32}}),
               'DATA/train.tsv', 'DATA/dev.tsv', 'DATA/test.tsv')""")
    params = Params.from_file(path)
    reader = params["dataset_reader"].as_dict()
    assert reader["type"] == "tsv_sentiment_wordpieces"
    assert reader["clean"] is False and reader["lowercase"] is False  # what the contextual configs need
    assert train_model(params, str(tmp_path / "run"), dry_run=True) is None
