"""The pooled-features reference (experiments/pooled_input.py) on the fixture reviews and a tiny BERT:
its document vectors against a one-document-at-a-time reference, its folds, and how the report
finds the panels that get it."""
from pathlib import Path

import numpy as np
import pytest
import torch
from allennlp.common import Params
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.modules import TokenEmbedder

import rrnn_plugin  # noqa: F401
from rrnn_plugin.commands.report import _contextual_panels
from rrnn_plugin.experiments.pooled_input import (
    contextual_embedder_params,
    fold_parts,
    pooled_documents,
    pooled_features_outcomes,
)
from rrnn_plugin.experiments.predictions import PredictionStore, panel_key
from rrnn_plugin.experiments.references import add_references
from tests.test_contextual import make_tiny_bert

ROOT = Path(__file__).parents[1]
DATA = ROOT / "tests" / "fixtures" / "blitzer"


@pytest.fixture(scope="module")
def bert_config(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("pooled")
    model = make_tiny_bert(folder / "tiny-bert")
    config = folder / "bert_baseline_1.jsonnet"
    config.write_text(
        f"local bert = import '{ROOT}/training_configs/lib/bert.libsonnet';\n"
        f"bert.baseline('kitchen', bert.structures['1'], {{model_path: '{model}', embedding_dim: 32}})\n"
    )
    return str(config)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("RRNN_FEATURE_CACHE", str(tmp_path / "features"))
    monkeypatch.setenv("RRNN_DATA_DIR", str(DATA))


def one_at_a_time(config: str) -> dict:
    """Reference: each document embedded alone (no padding), pooled with numpy."""
    params = Params.from_file(config, '{"dataset_reader.folds": 2, "dataset_reader.fold": 0}')
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


def test_pooled_vectors_equal_documents_embedded_alone(bert_config):
    pooled = pooled_documents(bert_config, {}, str(DATA), "kitchen", folds=2)
    expected = one_at_a_time(bert_config)
    assert set(pooled) == set(expected) and len(pooled) == 19  # 20 reviews, one duplicate dropped
    for doc_id, vector in expected.items():
        assert vector.shape == (64,)
        np.testing.assert_allclose(pooled[doc_id], vector, rtol=1e-5, atol=1e-6)


def test_outcomes_test_every_document_once_on_the_readers_folds(bert_config):
    outcomes, fold_of = pooled_features_outcomes(bert_config, {}, str(DATA), "kitchen", folds=2)
    assert len(outcomes) == 19 and set(outcomes.values()) <= {0, 1}
    for fold in (0, 1):
        test_ids = fold_parts(bert_config, {}, str(DATA), "kitchen", 2, fold)["test"][0]
        assert sorted(i for i, f in fold_of.items() if f == fold) == sorted(test_ids)


def test_only_contextual_panels_get_the_pooled_features_line(bert_config):
    glove_config = str(ROOT / "training_configs" / "kitchen" / "baseline_1.jsonnet")
    assert contextual_embedder_params(bert_config, {})["type"] == "contextual_features"
    assert contextual_embedder_params(glove_config, {}) is None
    contextual, plain = panel_key("tiny", "kitchen"), panel_key("GloVe", "kitchen")
    panels = {contextual: ("kitchen", 2), plain: ("kitchen", 2)}
    plan = {"inputs": {"tiny": {"config": bert_config.replace("kitchen", "{dataset}").replace("_1.", "_{baseline}."),
                                "env": {}, "baseline": "1"},
                       "GloVe": {"config": "training_configs/{dataset}/baseline_{baseline}.jsonnet", "env": {},
                                 "baseline": "1"}}}
    found = _contextual_panels(panels, plan)
    assert found == {contextual: (bert_config, {})}
    store = PredictionStore()
    assert add_references(store, panels, str(DATA), contextual=found) == [contextual, plain]
    assert store.runs(contextual) == ["reference:pooled_features_lr/seed_0", "reference:tfidf_lr/seed_0"]
    assert store.runs(plain) == ["reference:tfidf_lr/seed_0"]
