"""A model card next to every final archive: `model_card.json` (the allennlp-models layout, AllenNLP's
own `ModelCard` class) and a short `MODEL_CARD.md` for people (issue 14, item 4).

What a user of a learned model needs to know and cannot see in the weights: what it was trained on
and how the data was split, how well it did and how uncertain that number is, which structure
survived pruning, and what it will get wrong.  Written from the run folder (config.json,
metrics.json, learned_structure.json, vocabulary/) after `allennlp train` has archived and
evaluated the model: `install()` wraps AllenNLP's `train_model` once at plugin import, so every
`allennlp train` of a `rational_classifier` gets one (and `write_model_card(RUN_DIR)` rewrites it).
"""
import datetime
import functools
import json
import logging
import math
from pathlib import Path
from typing import Any, Dict, Optional

logger = logging.getLogger(__name__)

PAPER = {"title": "RNN Architecture Learning with Sparse Regularization",
         "citation": "Jesse Dodge, Roy Schwartz, Hao Peng, Noah A. Smith. EMNLP-IJCNLP 2019."}


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    return json.loads(path.read_text()) if path.is_file() else None


def _binomial_half_width(accuracy: float, n: int) -> float:
    return 1.96 * math.sqrt(accuracy * (1 - accuracy) / n) if n else float("nan")


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.is_file() else 0


def card_facts(run_dir: Path) -> Dict[str, Any]:
    """The facts both card files are written from (an error if the run has no config/metrics)."""
    config = _read_json(run_dir / "config.json")
    metrics = _read_json(run_dir / "metrics.json")
    if config is None or metrics is None:
        raise FileNotFoundError(f"{run_dir}: a model card needs the run's config.json and metrics.json")
    structure = _read_json(run_dir / "learned_structure.json")
    encoder = config["model"].get("seq2vec_encoder", {})
    reader = config.get("dataset_reader", {})
    embedder = config["model"].get("text_field_embedder", {}).get("token_embedders", {})
    return {
        "run": run_dir.name, "config": config, "metrics": metrics, "structure": structure, "encoder": encoder,
        "reader": reader, "embedders": {k: v.get("type") for k, v in embedder.items()},
        "pretrained_file": next((v.get("pretrained_file") for v in embedder.values() if v.get("pretrained_file")), None),
        "labels": _lines(run_dir / "vocabulary" / "labels.txt"),
        "vocabulary": _lines(run_dir / "vocabulary" / "tokens.txt"),
    }


def _split(reader: Dict[str, Any]) -> str:
    if reader.get("folds"):
        return (f"fold {reader.get('fold')} of {reader['folds']} stratified folds (test = that fold, validation "
                f"{reader.get('validation_fraction', 'a fixed share')} of the rest), seed {reader.get('seed', 'default')}")
    fractions = reader.get("split_fractions", [0.8, 0.1, 0.1])
    return f"stratified train/validation/test fractions {fractions}, seed {reader.get('seed', 'default')}"


def _results(facts: Dict[str, Any]) -> Dict[str, Any]:
    metrics = facts["metrics"]
    results = {"best_validation_accuracy": metrics.get("best_validation_accuracy"),
               "test_accuracy": metrics.get("test_accuracy"), "transitions": metrics.get("test_transitions",
                                                                                         metrics.get("best_validation_transitions")),
               "wfsas": metrics.get("test_wfsas", metrics.get("best_validation_wfsas"))}
    counts = ("transitions", "wfsas")
    return {k: (int(v) if k in counts else v) for k, v in results.items() if v is not None}


def model_card(facts: Dict[str, Any]) -> Dict[str, Any]:
    """The card as a dict in the allennlp-models layout, plus `rrnn_structure` (the learned structure)."""
    from allennlp.common.model_card import ModelCard

    import rrnn_plugin

    results = _results(facts)
    structure = facts["structure"]
    kind = "structure-learned and pruned" if structure else "fixed-structure"
    card = ModelCard(
        id=facts["run"], registered_model_name="rational_classifier", registered_predictor_name="sentiment",
        display_name=f"Sparse rational RNN sentiment classifier ({kind}, {results.get('transitions', '?')} transitions)",
        task_id="sentiment-analysis",
        model_usage={"archive_file": "model.tar.gz", "training_config": "config.json",
                     "install_instructions": "pip install the rrnn_plugin checkout (make venv); "
                                             "or run the rrnn-export folder with torch alone"},
        model_details={
            "description": (f"Document classifier: frozen word vectors -> a layer of weighted finite-state automata "
                            f"({facts['encoder'].get('semiring', 'plus_times')} semiring) -> linear layer. "
                            + (f"Structure learned with a state group lasso (lambda {structure.get('lambda', 'see config')})"
                               f" and pruned at eps {structure.get('eps')}: {structure.get('transitions_before')} -> "
                               f"{structure.get('transitions_after')} transitions." if structure else "")),
            "short_description": f"{kind} rational RNN, {results.get('wfsas', '?')} WFSAs",
            "developed_by": "rrnn_plugin", "date": datetime.date.today().isoformat(),
            "version": getattr(rrnn_plugin, "__version__", "0.1.0"), "model_type": "rational RNN (WFSA layer)",
            "paper": PAPER, "license": "the license of the training data applies to the model"},
        intended_use={"primary_uses": "binary sentiment of English product reviews like the training domain; "
                                      "reading which phrases each WFSA matches (rrnn-visualize, rrnn-serve)",
                      "out_of_scope_use_cases": "other languages; decisions about people; domains far from the "
                                                "training reviews without re-measuring accuracy"},
        training_data={"dataset": {"name": f"{facts['reader'].get('type')}: {facts['config'].get('train_data_path')}",
                                   "notes": _split(facts["reader"])},
                       "preprocessing": (f"Kim (2014) cleaning {facts['reader'].get('clean', True)}, lower-case "
                                         f"{facts['reader'].get('lowercase', True)}, <s> </s> boundary tokens "
                                         f"{facts['reader'].get('add_boundary_tokens', True)}; "
                                         f"vectors {facts['pretrained_file'] or facts['embedders']}")},
        evaluation_data={"dataset": _evaluation_data(facts["config"])},
        metrics={"model_performance_measures": "accuracy (binomial 95% interval over the test reviews)"},
        quantitative_analyses={"unitary_results": json.dumps(results)},
        model_caveats_and_recommendations={"caveats_and_recommendations": _caveats(facts)},
    )
    as_dict = card.to_dict()
    as_dict["rrnn_structure"] = _structure(facts)
    return as_dict


def _evaluation_data(config: Dict[str, Any]) -> Dict[str, str]:
    if config.get("test_data_path"):
        return {"name": str(config["test_data_path"]),
                "notes": "the validation part chose the epoch; the test part was never used for a choice"}
    return {"name": str(config.get("validation_data_path")),
            "notes": "no test part: the validation part chose the epoch and is also the only evaluation"}


def _structure(facts: Dict[str, Any]) -> Dict[str, Any]:
    structure = facts["structure"] or {}
    encoder = facts["encoder"]
    lengths = structure.get("wfsa_lengths_after") or encoder.get("layer_wfsa_lengths") or encoder.get("wfsa_lengths")
    keys = ("transitions_before", "transitions_after", "wfsas_before", "wfsas_after", "eps", "lambda")
    return {"wfsa_lengths": lengths, "semiring": encoder.get("semiring", "plus_times"),
            **{k: structure[k] for k in keys if k in structure}}


def _caveats(facts: Dict[str, Any]) -> str:
    test = facts["metrics"].get("test_accuracy")
    notes = []
    if test is not None:
        notes.append("The test accuracy comes from one split; with 200 test reviews (the default split of a Blitzer "
                     "domain) its binomial 95% interval is about +-{:.1f} points (docs/results.md gives "
                     "cross-validated numbers).".format(100 * _binomial_half_width(test, 200)))
    notes.append("Words outside the model's vocabulary are read as the unknown token unless the model is exported "
                 "with --vectors; accuracy on another domain is lower (bench/unseen_words_results.md).")
    if facts["reader"].get("type") == "blitzer_reviews":
        notes.append("Labels come from star ratings (positive > 3 stars, negative < 3): neutral reviews were never seen.")
    return " ".join(notes)


def markdown(card: Dict[str, Any]) -> str:
    details, structure = card.get("model_details", {}), card.get("rrnn_structure", {})
    results = json.loads(card.get("quantitative_analyses", {}).get("unitary_results", "{}"))
    rows = "\n".join(f"| {k.replace('_', ' ')} | {v:.4f} |" if isinstance(v, float) else f"| {k.replace('_', ' ')} | {v} |"
                     for k, v in results.items())
    training = card.get("training_data", {})
    return "\n".join([
        f"# Model card: {card.get('display_name')}", "",
        details.get("description", ""), "",
        "## Results", "", "| measure | value |", "|---|---|", rows, "",
        "## Learned structure", "", f"Semiring {structure.get('semiring')}; WFSA lengths {structure.get('wfsa_lengths')}"
        + (f"; {structure['transitions_before']} -> {structure['transitions_after']} transitions"
           if "transitions_before" in structure else "") + ".", "",
        "## Training data", "", f"{training.get('dataset', {}).get('name')}; {training.get('dataset', {}).get('notes')}.",
        f"Preprocessing: {training.get('preprocessing')}.", "",
        "## Intended use", "", card.get("intended_use", {}).get("primary_uses", ""),
        f"Not for: {card.get('intended_use', {}).get('out_of_scope_use_cases', '')}.", "",
        "## Caveats", "", card.get("model_caveats_and_recommendations", {}).get("caveats_and_recommendations", ""), "",
        f"Paper: {PAPER['citation']} *{PAPER['title']}*. Card written {details.get('date')} by rrnn_plugin "
        "(model_card.json holds the same in the allennlp-models layout).", ""])


def write_model_card(run_dir) -> Path:
    """Write model_card.json and MODEL_CARD.md into `run_dir`; returns the JSON's path."""
    run_dir = Path(run_dir)
    card = model_card(card_facts(run_dir))
    path = run_dir / "model_card.json"
    path.write_text(json.dumps(card, indent=2) + "\n")
    (run_dir / "MODEL_CARD.md").write_text(markdown(card))
    return path


def install() -> None:
    """Make AllenNLP's `train_model` write the card after it archived and evaluated a
    `rational_classifier` (once; a card that cannot be written is a warning, never a lost model)."""
    from allennlp.commands import train

    if getattr(train.train_model, "_rrnn_model_card", False):
        return
    original = train.train_model

    @functools.wraps(original)
    def train_model(params, serialization_dir, *args, **kwargs):
        model_type = params.get("model", {}).get("type") if hasattr(params, "get") else None
        result = original(params, serialization_dir, *args, **kwargs)
        if model_type == "rational_classifier" and (Path(serialization_dir) / "model.tar.gz").is_file():
            try:
                write_model_card(serialization_dir)
            except Exception as error:  # the model is trained and archived: report, do not fail the run
                logger.warning("rrnn_plugin: could not write the model card in %s: %s", serialization_dir, error)
        return result

    train_model._rrnn_model_card = True
    train.train_model = train_model
