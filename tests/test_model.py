"""Train-save-load, batch consistency and prediction for the rational classifier on fixtures."""
import json
import subprocess
import sys
from pathlib import Path

import torch
from allennlp.common.testing import ModelTestCase
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

import rrnn_plugin  # noqa: F401
from rrnn_plugin.encoders import RationalRnnEncoder

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG = FIXTURES / "rational_classifier.jsonnet"


class TestRationalClassifier(ModelTestCase):
    def setup_method(self):
        super().setup_method()
        self.set_up_model(CONFIG, f"{FIXTURES}/blitzer/kitchen#train")

    def test_train_save_load_and_batch_consistency(self):
        self.ensure_model_can_train_save_and_load(self.param_file)
        self.ensure_batch_predictions_are_consistent()

    def test_reports_structure_metrics(self):
        assert isinstance(self.model._seq2vec_encoder, RationalRnnEncoder)
        metrics = self.model.get_metrics()
        assert metrics["transitions"] == 1 + 2 + 3 + 3
        assert metrics["wfsas"] == 4
        assert metrics["encoder_parameters"] == 9 * (2 * 6 + 1)


def test_train_archive_predict_from_the_command_line(tmp_path):
    """`allennlp train`, then `allennlp predict` with the sentiment predictor, as a user runs them."""
    serialization_dir = tmp_path / "run"
    allennlp = [sys.executable, "-m", "allennlp"]
    subprocess.run(allennlp + ["train", str(CONFIG), "-s", str(serialization_dir)], check=True,
                   capture_output=True, cwd=Path(__file__).parents[1])
    archive = serialization_dir / "model.tar.gz"
    out = tmp_path / "predictions.jsonl"
    subprocess.run(allennlp + ["predict", str(archive), str(FIXTURES / "predict_examples.jsonl"),
                               "--predictor", "sentiment", "--silent", "--output-file", str(out)],
                   check=True, capture_output=True, cwd=Path(__file__).parents[1])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3
    for number, line in enumerate(lines, start=1):
        assert set(line) == {"label", "probs", "known_words", "line"} and line["line"] == number
        assert line["known_words"] > 0
        assert line["label"] in ("positive", "negative")
        assert abs(sum(line["probs"].values()) - 1) < 1e-5
        assert line["probs"][line["label"]] == max(line["probs"].values())


def test_predictor_matches_model_and_rejects_bad_input(tmp_path):
    from allennlp.commands.train import train_model_from_file

    train_model_from_file(str(CONFIG), str(tmp_path / "run"))
    archive = load_archive(str(tmp_path / "run" / "model.tar.gz"))
    predictor = Predictor.from_archive(archive, "sentiment")
    result = predictor.predict("great product , works perfectly")
    instance = predictor._dataset_reader.text_to_instance("great product , works perfectly")
    direct = archive.model.forward_on_instance(instance)
    label_index = archive.model.vocab.get_token_index(result["label"], "labels")
    assert abs(result["probs"][result["label"]] - float(direct["probs"][label_index])) < 1e-6
    # a line without "sentence" is answered with an error record, not an exception
    assert "sentence" in predictor.predict_json({"review": "no sentence key"})["error"]
