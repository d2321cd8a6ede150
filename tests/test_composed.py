"""The composed configs (training_configs/composed/) trained end to end on tiny fixtures.

Each test runs one config with `train_model_from_file` (2 epochs, small batches) on the fixture
kitchen reviews (RRNN_DATA_DIR: a copy of tests/fixtures/blitzer/kitchen), a tiny GloVe file with
random unit vectors for the fixture words (RRNN_GLOVE_FILE), or the tagging fixture
(RRNN_TAGGING_DIR), then loads the archive, predicts through a Predictor and reads the metrics.
Structure learning runs on the stacked bidirectional config and, through
`rrnn.with_structure_learning`, on the Seq2Seq + boe classifier and on the tagger.
"""
import json
import re
import shutil
from pathlib import Path
from typing import Dict, List

import numpy
import pytest
import torch
from allennlp.commands.train import train_model_from_file
from allennlp.common import Params
from allennlp.data import DatasetReader
from allennlp.models import BasicClassifier, Model, SimpleTagger
from allennlp.models.archival import Archive, load_archive
from allennlp.modules.seq2vec_encoders import BagOfEmbeddingsEncoder, CnnEncoder
from allennlp.predictors import Predictor

import rrnn_plugin  # noqa: F401
from rrnn_plugin.models import RationalClassifier
from rrnn_plugin.encoders import RationalRnnEncoder, RationalRnnSeq2SeqEncoder
from rrnn_plugin.modules.rational_rnn import surviving_features

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
COMPOSED = ROOT / "training_configs" / "composed"
LIB = ROOT / "training_configs" / "lib" / "rrnn.libsonnet"
TINY = {"trainer.num_epochs": 2, "data_loader.batch_sampler.batch_size": 8}
TAGS = {"POS", "NEG", "NOT", "O"}


@pytest.fixture(scope="module", autouse=True)
def environment(tmp_path_factory):
    """Fixture data for every config: kitchen reviews, a 50-d GloVe file, the tagging folder."""
    root = tmp_path_factory.mktemp("composed-data")
    kitchen = FIXTURES / "blitzer" / "kitchen"
    shutil.copytree(kitchen, root / "blitzer" / "kitchen")
    words = sorted({w for f in kitchen.iterdir()
                    for w in re.findall(r"[a-z']+", f.read_text(encoding="latin-1").lower())})
    vectors = numpy.random.default_rng(0).normal(size=(len(words), 50))
    vectors /= numpy.linalg.norm(vectors, axis=1, keepdims=True)  # like `rrnn-glove --normalize`
    glove = root / "glove.txt"
    glove.write_text("".join(w + " " + " ".join(f"{x:.4f}" for x in v) + "\n" for w, v in zip(words, vectors)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RRNN_DATA_DIR", str(root / "blitzer"))
        patch.setenv("RRNN_GLOVE_FILE", str(glove))
        patch.setenv("RRNN_TAGGING_DIR", str(FIXTURES / "tagging"))
        patch.setenv("RRNN_LAMBDA", "")
        yield root


# ----- helpers ---------------------------------------------------------------------------------
def train(config: Path, run: Path, **overrides) -> Path:
    train_model_from_file(str(config), str(run), overrides=json.dumps({**TINY, **overrides}))
    return run


def with_structure_learning(tmp_path: Path, config: str, lam: float, **hp) -> Path:
    """A jsonnet file: `rrnn.with_structure_learning` applied to a composed config."""
    path = tmp_path / f"{config}_structure_learning.jsonnet"
    path.write_text(
        f"local rrnn = import '{LIB}';\n"
        f"rrnn.with_structure_learning(import '{COMPOSED / (config + '.jsonnet')}', {lam},\n"
        f"  rrnn.structure_defaults + {json.dumps(hp)})\n"
    )
    return path


def read_json(path: Path):
    return json.loads(path.read_text())


def check_metrics(run: Path, test_set: bool = True) -> Dict:
    metrics = read_json(run / "metrics.json")
    for key in ("training_accuracy", "validation_accuracy", "best_validation_accuracy") + (
        ("test_accuracy",) if test_set else ()
    ):
        assert 0.0 <= metrics[key] <= 1.0, key
    return metrics


def check_sentiment_predictions(archive: Archive) -> None:
    predictor = Predictor.from_archive(archive, "sentiment")
    results = predictor.predict_batch_json(
        [{"sentence": "Great kettle, works perfectly."}, {"sentence": "it broke after a week"}, {"sentence": "ok"}]
    )
    for result in results:
        assert result["label"] in ("positive", "negative")
        assert sum(result["probs"].values()) == pytest.approx(1.0, abs=1e-5)


def check_tagger(archive: Archive) -> None:
    """Tags for reader instances (forward_on_instance) and through AllenNLP's `sentence_tagger`
    predictor (core AllenNLP; spaCy's blank English tokenizer, as en_core_web_sm is not installed)."""
    model = archive.model
    reader = DatasetReader.from_params(archive.config["dataset_reader"].duplicate())
    for instance in list(reader.read(str(FIXTURES / "tagging" / "validation.tsv")))[:3]:
        output = model.forward_on_instance(instance)
        assert output["logits"].shape == (len(instance["tokens"]), model.num_classes)
        predicted = [model.vocab.get_token_from_index(int(i), "labels") for i in output["logits"].argmax(-1)]
        assert set(predicted) <= TAGS
    predictor = Predictor.from_archive(archive, "sentence_tagger", extra_args={"language": "blank:en"})
    result = predictor.predict("the kettle is not good")
    assert result["words"] == ["the", "kettle", "is", "not", "good"]
    assert len(result["tags"]) == 5 and set(result["tags"]) <= TAGS


def layer_structure(record: Dict, encoder: int = 0) -> List[List[List[int]]]:
    """learned_structure.json's `wfsa_lengths_after` per layer, per direction."""
    layers: List[List[List[int]]] = []
    for entry in record["encoders"][encoder]["layers"]:
        if entry["layer"] == len(layers):
            layers.append([])
        layers[entry["layer"]].append(entry["wfsa_lengths_after"])
    return layers


def top_layer_survivors(record: Dict, encoder: int = 0) -> int:
    """Output features of the pruned encoder: surviving WFSAs of the top layer, all directions."""
    entries = record["encoders"][encoder]["layers"]
    top = max(e["layer"] for e in entries)
    return len(surviving_features([e["kept_lengths"] for e in entries if e["layer"] == top]))


def check_pruned_archive(run: Path, attribute: str, config_key: str) -> Archive:
    """The run's final archive is the pruned structure of learned_structure.json: its config
    rebuilds that shape and the archived weights load into a model built from it."""
    record = read_json(run / "learned_structure.json")
    assert 0 < record["transitions_after"] < record["transitions_before"], "something (not all) is pruned"
    expected = layer_structure(record)
    archive = load_archive(str(run / "model.tar.gz"))
    spec = archive.config["model"][config_key].as_dict(quiet=True)
    if "layer_wfsa_lengths" in spec:
        assert spec["layer_wfsa_lengths"] == expected
    else:  # one layer, one direction: the flat form
        assert [[spec["wfsa_lengths"]]] == expected
    assert getattr(archive.model, attribute).structure == expected
    assert archive.model._regularizer is None
    rebuilt = Model.from_params(vocab=archive.model.vocab, params=archive.config["model"].duplicate())
    rebuilt.load_state_dict(archive.model.state_dict())  # strict: every shape matches
    original = read_json(run / "structure_learning_config.json")
    assert original["trainer"]["callbacks"][0]["type"] == "prune_and_finetune"
    assert load_archive(str(run / "structure_model.tar.gz")).model.state_dict().keys() == rebuilt.state_dict().keys()
    return archive


# ----- the composed configs --------------------------------------------------------------------
def test_seq2seq_cnn_classifier(tmp_path):
    run = train(COMPOSED / "seq2seq_cnn_classifier.jsonnet", tmp_path / "run")
    check_metrics(run)
    archive = load_archive(str(run / "model.tar.gz"))
    model = archive.model
    assert type(model) is BasicClassifier
    assert isinstance(model._seq2seq_encoder, RationalRnnSeq2SeqEncoder)
    assert isinstance(model._seq2vec_encoder, CnnEncoder)
    assert model._seq2seq_encoder.get_output_dim() == model._seq2vec_encoder.get_input_dim() == 24
    check_sentiment_predictions(archive)


def test_seq2seq_boe_classifier(tmp_path):
    run = train(COMPOSED / "seq2seq_boe_classifier.jsonnet", tmp_path / "run")
    metrics = check_metrics(run)
    assert metrics["test_transitions"] == 60 and metrics["test_wfsas"] == 24
    archive = load_archive(str(run / "model.tar.gz"))
    model = archive.model
    assert isinstance(model, RationalClassifier)
    assert isinstance(model._seq2seq_encoder, RationalRnnSeq2SeqEncoder)
    assert isinstance(model._seq2vec_encoder, BagOfEmbeddingsEncoder) and model._seq2vec_encoder._averaged
    check_sentiment_predictions(archive)


def test_bidirectional_2layer(tmp_path):
    run = train(COMPOSED / "bidirectional_2layer.jsonnet", tmp_path / "run")
    metrics = check_metrics(run)
    assert metrics["test_transitions"] == 4 * 30 and metrics["test_wfsas"] == 48
    archive = load_archive(str(run / "model.tar.gz"))
    encoder = archive.model._seq2vec_encoder
    assert isinstance(encoder, RationalRnnEncoder)
    assert encoder.structure == [[[1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]] * 2] * 2
    assert encoder.layers[1][0].get_input_dim() == encoder.get_output_dim() == 24
    assert archive.model._classification_layer.in_features == 24
    check_sentiment_predictions(archive)


def test_bidirectional_2layer_structure_learning(tmp_path, monkeypatch):
    monkeypatch.setenv("RRNN_LAMBDA", "0.01")
    # one epoch of norms ~0.8-1.5, first states above 1 (mostly), the others below: eps 1.0
    # keeps about one state of most WFSAs and removes a few WFSAs
    run = train(
        COMPOSED / "bidirectional_2layer_structure_learning.jsonnet", tmp_path / "run",
        **{"data_loader.batch_sampler.batch_size": 4, "trainer.callbacks.0.structure_epochs": 1,
           "trainer.callbacks.0.finetune_epochs": 1, "trainer.callbacks.0.eps": 1.0},
    )
    record = read_json(run / "learned_structure.json")
    assert record["lambda"] == 0.01 and record["transitions_before"] == 192
    assert [(e["layer"], e["direction"]) for e in record["encoders"][0]["layers"]] == [
        (0, "forward"), (0, "backward"), (1, "forward"), (1, "backward")]
    archive = check_pruned_archive(run, "_seq2vec_encoder", "seq2vec_encoder")
    encoder = archive.model._seq2vec_encoder
    spec = archive.config["model"]["seq2vec_encoder"].as_dict(quiet=True)
    assert spec["num_layers"] == 2 and spec["bidirectional"] is True and "wfsa_lengths" not in spec
    # layer 2 reads exactly the surviving layer-1 WFSAs (both directions)
    below = sum(len(d) for d in spec["layer_wfsa_lengths"][0])
    for direction in encoder.layers[1]:
        assert direction.get_input_dim() == below
        assert direction.state_params.shape == (direction.num_transitions, 2 * below + 1)
    assert archive.model._classification_layer.in_features == top_layer_survivors(record)
    metrics = check_metrics(run)
    assert metrics["test_transitions"] == record["transitions_after"]
    check_sentiment_predictions(archive)


def test_tagger(tmp_path):
    run = train(COMPOSED / "tagger.jsonnet", tmp_path / "run")
    metrics = check_metrics(run, test_set=False)
    assert "validation_accuracy3" in metrics
    archive = load_archive(str(run / "model.tar.gz"))
    model = archive.model
    assert isinstance(model, SimpleTagger) and isinstance(model.encoder, RationalRnnSeq2SeqEncoder)
    assert model.encoder.is_bidirectional() and model.encoder.get_output_dim() == 16
    assert model.tag_projection_layer._module.in_features == 16
    assert set(model.vocab.get_token_to_index_vocabulary("labels")) == TAGS
    check_tagger(archive)


# ----- structure learning on the other composed models -----------------------------------------
def test_structure_learning_on_the_seq2seq_boe_classifier(tmp_path):
    """A large lambda, and eps near the median norm after one epoch (1.0-1.3): about half of the
    24 WFSAs go, and boe, whose output is as wide as its input, shrinks with them."""
    config = with_structure_learning(tmp_path, "seq2seq_boe_classifier", 0.05,
                                     structure_epochs=1, finetune_epochs=1, eps=1.15)
    run = train(config, tmp_path / "run")
    record = read_json(run / "learned_structure.json")
    assert record["encoders"][0]["encoder"] == "seq2seq_encoder"
    archive = check_pruned_archive(run, "_seq2seq_encoder", "seq2seq_encoder")
    survivors = top_layer_survivors(record)
    assert 0 < survivors < 24
    model = archive.model
    assert archive.config["model"]["seq2vec_encoder"]["embedding_dim"] == survivors
    assert model._seq2seq_encoder.get_output_dim() == model._seq2vec_encoder.get_output_dim() == survivors
    assert model._classification_layer.in_features == survivors
    check_metrics(run)
    check_sentiment_predictions(archive)


def test_structure_learning_on_the_tagger(tmp_path):
    """Group lasso over both directions; the tag projection loses the pruned WFSAs' columns.
    One structure epoch leaves norms of 0.9-1.35: eps 1.1 keeps about half of the 16 WFSAs."""
    config = with_structure_learning(tmp_path, "tagger", 0.05, structure_epochs=1, finetune_epochs=1, eps=1.1)
    run = train(config, tmp_path / "run")
    record = read_json(run / "learned_structure.json")
    assert [e["direction"] for e in record["encoders"][0]["layers"]] == ["forward", "backward"]
    archive = check_pruned_archive(run, "encoder", "encoder")
    survivors = top_layer_survivors(record)
    assert 0 < survivors < 16
    assert archive.model.encoder.get_output_dim() == survivors
    assert archive.model.tag_projection_layer._module.in_features == survivors
    check_metrics(run, test_set=False)
    check_tagger(archive)
    # the pruned, not yet finetuned model (the paper's first command) has the same shape
    structure = load_archive(str(run / "structure_model.tar.gz")).model
    assert structure.tag_projection_layer._module.weight.shape == (4, survivors)
    assert torch.isfinite(structure.tag_projection_layer._module.weight).all()
