"""A model card next to every final archive (rrnn_plugin/training/model_card.py, issue 14 item 4):
`allennlp train` of a rational_classifier leaves model_card.json in the allennlp-models layout,
with the learned structure and the measured metrics, and a MODEL_CARD.md for people."""
import json
import subprocess
import sys
from pathlib import Path

from allennlp.common.model_card import ModelCard

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def test_allennlp_train_writes_a_model_card_with_structure_and_metrics(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "allennlp", "train", str(FIXTURES / "structure_learning.jsonnet"),
                           "-s", str(run)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    card = json.loads((run / "model_card.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    structure = json.loads((run / "learned_structure.json").read_text())
    layout = set(ModelCard(id="x").to_dict()) | {"model_details", "training_data", "evaluation_data", "intended_use",
                                                  "quantitative_analyses", "model_caveats_and_recommendations"}
    assert layout <= set(card) | {"model_class"}, layout - set(card)
    assert card["registered_model_name"] == "rational_classifier" and card["registered_predictor_name"] == "sentiment"
    results = json.loads(card["quantitative_analyses"]["unitary_results"])
    assert results["test_accuracy"] == metrics["test_accuracy"]
    assert results["transitions"] == metrics["test_transitions"] == structure["transitions_after"]
    assert card["rrnn_structure"]["wfsa_lengths"] == structure["wfsa_lengths_after"]
    assert card["rrnn_structure"]["transitions_before"] == 9
    assert "fractions [0.6, 0.2, 0.2]" in card["training_data"]["dataset"]["notes"]
    human = (run / "MODEL_CARD.md").read_text()
    assert f"{metrics['test_accuracy']:.4f}" in human and "## Caveats" in human
