"""The pooled-features reference (experiments/pooled_input.py) on the fixture reviews and a tiny BERT:
its document vectors against a one-document-at-a-time reference, its folds against the TF-IDF
reference's, the sweep's environment, and how the report finds the panels that get it."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.modules import TokenEmbedder

import rrnn_plugin  # noqa: F401
from rrnn_plugin.commands.report import _contextual_panels
from rrnn_plugin.experiments.pooled_input import (
    ContextualInput,
    contextual_embedder_params,
    pooled_documents,
    pooled_features_outcomes,
)
from rrnn_plugin.experiments.predictions import PredictionStore, panel_key
from rrnn_plugin.experiments.references import add_references, reference_outcomes
from tests.test_contextual import make_tiny_bert

ROOT = Path(__file__).parents[1]
DATA = ROOT / "tests" / "fixtures" / "blitzer"
SHIPPED = "training_configs/{dataset}/bert_baseline_{baseline}.jsonnet"  # what cv_mpnet.json names


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    return str(make_tiny_bert(tmp_path_factory.mktemp("pooled") / "tiny-bert"))


@pytest.fixture(scope="module")
def source(tiny_bert) -> ContextualInput:
    """The shipped MPNet-sweep config, pointed at the tiny BERT through the environment, as the
    sweep spec does."""
    return ContextualInput(str(ROOT / SHIPPED.format(dataset="kitchen", baseline="1")),
                           {"RRNN_BERT_MODEL": tiny_bert, "RRNN_BERT_DIM": "32"})


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("RRNN_FEATURE_CACHE", str(tmp_path / "features"))
    monkeypatch.setenv("RRNN_DATA_DIR", str(DATA))


def one_at_a_time(source: ContextualInput) -> dict:
    """Reference: each document embedded alone (no padding), pooled with numpy."""
    saved = dict(os.environ)
    os.environ.update(source.env)
    try:
        params = Params.from_file(source.config, '{"dataset_reader.folds": 2, "dataset_reader.fold": 0}')
    finally:
        os.environ.clear()
        os.environ.update(saved)
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    embedder = TokenEmbedder.from_params(params["model"]["text_field_embedder"]["token_embedders"]["tokens"])
    vocabulary = Vocabulary()
    vocabulary.add_tokens_to_namespace(["negative", "positive"], "labels")
    pooled = {}
    for part in ("train", "validation", "test"):
        path = f"{DATA / 'kitchen'}#{part}"
        for doc_id, instance in zip(reader.example_ids(path), reader.read(path)):
            batch = Batch([instance])
            batch.index_instances(vocabulary)
            with torch.no_grad():
                steps = embedder(**batch.as_tensor_dict()["tokens"]["tokens"])[0].numpy()
            pooled[doc_id] = np.concatenate([steps.mean(axis=0), steps.max(axis=0)])
    return pooled


def test_pooled_vectors_equal_documents_embedded_alone(source):
    environment = dict(os.environ)
    pooled = pooled_documents(source, str(DATA), "kitchen", folds=2)
    assert dict(os.environ) == environment  # the sweep's environment does not leak
    expected = one_at_a_time(source)
    assert set(pooled) == set(expected) and len(pooled) == 19  # 20 reviews, one duplicate dropped
    for doc_id, vector in expected.items():
        assert vector.shape == (64,)
        np.testing.assert_allclose(pooled[doc_id], vector, rtol=1e-5, atol=1e-6)


def test_features_go_to_the_sweeps_cache(source, tmp_path):
    sweeps_cache = tmp_path / "sweeps-cache"
    pooled_documents(ContextualInput(source.config, {**source.env, "RRNN_FEATURE_CACHE": str(sweeps_cache)}),
                     str(DATA), "kitchen", folds=2)
    assert list(sweeps_cache.glob("*/part-*.h5"))
    assert not (tmp_path / "features").exists()  # the report's own cache is untouched


def test_outcomes_test_every_document_once_on_the_same_folds_as_tfidf(source):
    outcomes, fold_of = pooled_features_outcomes(source, str(DATA), "kitchen", folds=2)
    assert len(outcomes) == 19 and set(outcomes.values()) <= {0, 1}
    assert fold_of == reference_outcomes(str(DATA), "kitchen", folds=2)["tfidf_lr"][1]


def test_contextual_panels_pool_their_own_features_instead_of_glove(source, tmp_path):
    glove = tmp_path / "glove.txt"
    rng = np.random.RandomState(0)
    glove.write_text("".join(f"{w} {' '.join(f'{x:.3f}' for x in rng.randn(4))}\n"
                             for w in ["great", "love", "bad", "broke", "pan", "the", "it", "is"]))
    contextual, plain = panel_key("MPNet | tiny", "kitchen"), panel_key("GloVe", "kitchen")
    panels = {contextual: ("kitchen", 2), plain: ("kitchen", 2)}
    plan = {"inputs": {"MPNet | tiny": {"config": str(ROOT / SHIPPED), "env": source.env, "baseline": "1"},
                       "GloVe": {"config": str(ROOT / "training_configs/{dataset}/baseline_{baseline}.jsonnet"),
                                 "env": {}, "overrides": {}, "baseline": "1"}}}
    found = _contextual_panels(panels, plan)
    assert found == {contextual: source}
    assert contextual_embedder_params(ContextualInput(plan["inputs"]["GloVe"]["config"].format(
        dataset="kitchen", baseline="1"))) is None
    store = PredictionStore()
    assert add_references(store, panels, str(DATA), str(glove)) == [contextual, plain]  # an older report
    assert store.runs(contextual) == store.runs(plain) == ["reference:pooled_glove_lr/seed_0", "reference:tfidf_lr/seed_0"]
    assert add_references(store, panels, str(DATA), str(glove), contextual=found) == [contextual]
    assert store.runs(contextual) == ["reference:pooled_features_lr/seed_0", "reference:tfidf_lr/seed_0"]
    assert store.runs(plain) == ["reference:pooled_glove_lr/seed_0", "reference:tfidf_lr/seed_0"]
    assert add_references(store, panels, str(DATA), str(glove), contextual=found) == []  # nothing left to do


def test_a_missing_model_skips_the_line_unless_required(source, tmp_path, caplog):
    gone = ContextualInput(source.config, {**source.env, "RRNN_BERT_MODEL": str(tmp_path / "no-such-model")})
    panel = panel_key("MPNet", "kitchen")
    store = PredictionStore()
    assert add_references(store, {panel: ("kitchen", 2)}, str(DATA), contextual={panel: gone}) == [panel]
    assert store.runs(panel) == ["reference:tfidf_lr/seed_0"]
    assert "no pooled-features reference" in caplog.text
    with pytest.raises(ConfigurationError):
        add_references(PredictionStore(), {panel: ("kitchen", 2)}, str(DATA), contextual={panel: gone}, required=True)
