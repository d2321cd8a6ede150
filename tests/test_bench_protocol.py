"""bench/protocol.py on a tiny budget: both measurements run and their report renders."""
import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def load():
    spec = importlib.util.spec_from_file_location("bench_protocol", ROOT / "bench" / "protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_renders_from_results():
    protocol = load()
    results = {
        "meta": {"command": "x", "machine": "m", "torch": "t", "date": "d", "load_before": 1.0, "load_after": 1.5},
        "trial_overhead": {"trials": [{"method": "fork", "fold": 0, "wall_s": 11.0, "training_s": 10.0, "ratio": 1.1,
                                       "epochs": 20}],
                           "summary": {"fork": {"median_ratio": 1.1, "median_overhead_s": 1.0},
                                       "subprocess": {"median_ratio": 1.6, "median_overhead_s": 6.0}},
                           "met": True},
        "features": {"model": "MiniLM", "documents": 3, "wordpieces": 30, "threads": 1, "documents_per_s": 1.0,
                     "wordpieces_per_s": 10.0, "anchor_documents_per_s": 1.1,
                     "rounds": [{"pipeline_s": 3.0, "anchor_s": 2.8, "ratio": 1.07}], "median_ratio": 1.07, "met": True},
    }
    text = protocol.to_markdown(results)
    assert "| forked from the warm zygote (default) | 1.10 | 1.0 |" in text
    assert "**met** (1.07)" in text


def test_anchor_runs_the_same_chunks(tmp_path, monkeypatch):
    """The anchor forward takes every chunk the featurizer makes (a tiny random BERT)."""
    from tests.test_contextual import make_tiny_bert
    from rrnn_plugin.contextual import TransformerFeaturizer, load_tokenizer

    model = str(make_tiny_bert(tmp_path / "bert"))
    featurizer = TransformerFeaturizer(model, [-1], "sentence", 64)
    ids = load_tokenizer(model)("the pan is great. i love it!", add_special_tokens=False)["input_ids"]
    assert load().__dict__["_anchor"](featurizer, [ids, ids[:3]]) > 0
