"""Contextual (BERT-style) features: tokenization, the feature cache, the embedder, end to end.

Everything runs on a tiny random BERT written by the tests (4 layers, 32-d, a 100-piece WordPiece
vocabulary): no download, and fast.  Every test uses its own feature cache folder.
"""
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary

import rrnn_plugin  # noqa: F401
from rrnn_plugin.contextual import (
    BlitzerWordpieceReader,
    ContextualFeatureEmbedder,
    ContextualWordpieceIndexer,
    FeatureCache,
    TransformerFeaturizer,
    chunk_spans,
    document_key,
    load_tokenizer,
    split_into_wordpieces,
)
from rrnn_plugin.dataset_readers import BlitzerReviewsReader, select_reviews

ROOT = Path(__file__).parents[1]
KITCHEN = ROOT / "tests" / "fixtures" / "blitzer" / "kitchen"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
WORDS = ["the", "pan", "is", "great", "love", "it", "and", "knife", "bad", "broke", "##s", "##ed", "##ing"]
PUNCT = [".", ",", "!", "?", "'", "(", ")", "-", ":", ";", "$", "/"]
LONG_TEXT = " ".join(["the pan is great."] * 20)  # 100 WordPieces, more than the tiny model's 64 positions


def make_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A random BERT (4 layers, 32-d, 64 positions) with a WordPiece vocabulary that can spell any
    lower-case word (letters and ##letters), saved like a downloaded model."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = SPECIALS + PUNCT + [str(d) for d in range(10)] + LETTERS + ["##" + c for c in LETTERS] + WORDS
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    BertModel(config).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    return str(make_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch) -> Path:
    """Every test gets an empty cache; the user's ~/.cache is never touched."""
    folder = tmp_path / "features"
    monkeypatch.setenv("RRNN_FEATURE_CACHE", str(folder))
    return folder


def wordpiece_batch(texts, model_path, reader_class=BlitzerWordpieceReader, **reader_options):
    """Texts -> the tensor dict of their `tokens` field, through the reader and indexer under test."""
    if reader_class is BlitzerWordpieceReader:
        reader_options.setdefault("model_path", model_path)
    reader = reader_class(
        clean=False, lowercase=False,
        token_indexers={"tokens": ContextualWordpieceIndexer(model_path)}, **reader_options,
    )
    instances = [reader.text_to_instance(text, "positive") for text in texts]
    vocab = Vocabulary.from_instances(instances)
    batch = Batch(instances)
    batch.index_instances(vocab)
    return instances, batch.as_tensor_dict()["tokens"]["tokens"]


def reference_features(model_path: str, pieces, layers=(-4, -3, -2, -1)) -> np.ndarray:
    """[CLS] pieces [SEP] through the model in one piece: sum of the chosen hidden states."""
    from transformers import AutoModel

    tokenizer = load_tokenizer(model_path)
    model = AutoModel.from_pretrained(model_path).eval()
    ids = [tokenizer.cls_token_id, *pieces, tokenizer.sep_token_id]
    with torch.no_grad():
        hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states
    return sum(hidden[i] for i in layers)[0].numpy()


# ----- tokenization ----------------------------------------------------------------------------------
def test_wordpieces_of_words_equal_those_of_the_text(tiny_bert):
    tokenizer = load_tokenizer(tiny_bert)
    text = "The pans broke, sadly!  Loving it (really)."
    per_word = [p for strings, _ in split_into_wordpieces(tokenizer, text.split()) for p in strings]
    assert per_word == tokenizer.tokenize(text)
    assert "##s" in per_word  # "pans" -> pan ##s: words do get split


def test_wordpiece_reader_makes_one_token_per_wordpiece(tiny_bert):
    instances, tensors = wordpiece_batch(["The pans broke.", "Great knife!"], tiny_bert)
    tokens = instances[0]["tokens"].tokens
    assert [t.text for t in tokens] == ["<s>", "the", "pan", "##s", "broke", ".", "</s>"]
    tokenizer = load_tokenizer(tiny_bert)
    assert [t.text_id for t in tokens[1:-1]] == tokenizer.convert_tokens_to_ids([t.text for t in tokens[1:-1]])
    ids = tensors["wordpiece_ids"][0].tolist()
    assert ids[0] == tokenizer.cls_token_id and ids[6] == tokenizer.sep_token_id
    # one step per WordPiece; <s> and </s> are the [CLS] and [SEP] rows
    assert tensors["offsets"][0].tolist() == [[i, i] for i in range(7)]
    assert tensors["mask"].sum(1).tolist() == [7, 5]


def test_word_steps_pool_the_wordpieces_of_each_word(tiny_bert):
    reader = BlitzerReviewsReader(
        clean=False, lowercase=False, token_indexers={"tokens": ContextualWordpieceIndexer(tiny_bert)}
    )
    instance = reader.text_to_instance("The pans broke.", "positive")
    assert [t.text for t in instance["tokens"].tokens] == ["<s>", "The", "pans", "broke.", "</s>"]
    vocab = Vocabulary.from_instances([instance])
    indexed = ContextualWordpieceIndexer(tiny_bert).tokens_to_indices(instance["tokens"].tokens, vocab)
    # [CLS] the pan ##s broke . [SEP]
    assert indexed["offsets"] == [[0, 0], [1, 1], [2, 3], [4, 5], [6, 6]]
    assert indexed["mask"] == [True] * 5


def test_wordpiece_reader_truncates_and_is_built_from_params(tiny_bert):
    reader = DatasetReader.from_params(Params({
        "type": "blitzer_reviews_wordpieces", "model_path": tiny_bert, "max_wordpieces": 3,
        "clean": False, "lowercase": False,
    }))
    assert isinstance(reader._token_indexers["tokens"], ContextualWordpieceIndexer)
    assert reader.tokenize("The pans broke.") == ["<s>", "the", "pan", "##s", "</s>"]


def test_chunk_spans():
    ends = frozenset({9})
    ids = [1, 2, 9, 3, 4, 5, 9, 9, 6]  # "a b . c d e . . f"
    assert chunk_spans(ids, "sentence", 10, ends) == [(0, 3), (3, 8), (8, 9)]
    assert chunk_spans(ids, "sentence", 2, ends) == [(0, 2), (2, 3), (3, 5), (5, 7), (7, 8), (8, 9)]
    assert chunk_spans(ids, "packed", 8, ends) == [(0, 8), (8, 9)]
    assert chunk_spans(ids, "window", 4, ends) == [(0, 4), (4, 8), (8, 9)]
    assert chunk_spans([], "sentence", 4, ends) == [(0, 0)]


# ----- features ----------------------------------------------------------------------------------------
def test_features_match_the_model_and_cached_features_are_identical(tiny_bert, feature_cache):
    texts = ["The pans broke.", "Great knife! I love it.", LONG_TEXT]
    _, tensors = wordpiece_batch(texts, tiny_bert)
    loads = TransformerFeaturizer.loads
    first = ContextualFeatureEmbedder(tiny_bert, stored_dtype="float32")
    computed = first(**tensors)
    assert computed.shape == (3, tensors["mask"].shape[1], 32)
    assert TransformerFeaturizer.loads == loads + 1
    assert first.stats["computed_documents"] == 3

    # Against the model itself: sentence by sentence, [CLS] of the first and [SEP] of the last.
    tokenizer = load_tokenizer(tiny_bert)
    ids = tensors["wordpiece_ids"][1, 1 : int(tensors["wordpiece_mask"][1].sum()) - 1].tolist()
    dot = tokenizer.convert_tokens_to_ids("!")
    split = ids.index(dot) + 1
    a, b = reference_features(tiny_bert, ids[:split]), reference_features(tiny_bert, ids[split:])
    expected = np.concatenate([a[:-1], b[1:]])
    np.testing.assert_allclose(computed[1, : len(ids) + 2].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert torch.all(computed[1, len(ids) + 2 :] == 0)  # padding steps

    # A fresh embedder (a later run) reads exactly the same numbers and never loads the model.
    first.cache.flush()
    second = ContextualFeatureEmbedder(tiny_bert, stored_dtype="float32")
    assert torch.equal(second(**tensors), computed)
    assert TransformerFeaturizer.loads == loads + 1
    assert second.stats == dict(computed_documents=0, computed_wordpieces=0, compute_seconds=0.0, read_documents=3)


def test_stored_features_with_the_wrong_row_count_are_computed_again(tiny_bert, feature_cache, caplog):
    """A damaged part whose checksum still fits (its rows cut or padded) must not reach pooling."""
    from rrnn_plugin.contextual.feature_cache import document_key

    embedder = ContextualFeatureEmbedder(tiny_bert, stored_dtype="float32")
    ids = [load_tokenizer(tiny_bert).convert_tokens_to_ids("!")]  # one WordPiece between [CLS] and [SEP]
    embedder.cache.put(document_key(ids), np.zeros((5, 32), dtype=np.float32))  # 5 rows, not 3
    (features,) = embedder.document_features([ids])
    assert features.shape == (3, 32) and "have 5 rows, not 3" in caplog.text
    assert embedder.stats["computed_documents"] == 1


def test_float16_store_is_what_the_model_sees_first_and_later(tiny_bert):
    _, tensors = wordpiece_batch(["The pans broke.", LONG_TEXT], tiny_bert)
    first = ContextualFeatureEmbedder(tiny_bert)  # float16 by default
    computed = first(**tensors)
    assert torch.equal(computed, computed.half().float())  # rounded before use, not only on disk
    first.cache.flush()
    assert torch.equal(ContextualFeatureEmbedder(tiny_bert)(**tensors), computed)
    exact = ContextualFeatureEmbedder(tiny_bert, stored_dtype="float32")(**tensors)
    assert not torch.equal(exact, computed)
    torch.testing.assert_close(exact, computed, rtol=2e-3, atol=1e-3)


def test_normalize_gives_unit_vectors_from_the_same_cache(tiny_bert):
    _, tensors = wordpiece_batch(["The pans broke.", "Great knife! I love it."], tiny_bert)
    raw_embedder = ContextualFeatureEmbedder(tiny_bert)
    raw = raw_embedder(**tensors)
    raw_embedder.cache.flush()
    unit_embedder = ContextualFeatureEmbedder(tiny_bert, normalize=True)
    unit = unit_embedder(**tensors)
    assert unit_embedder.stats["computed_documents"] == 0  # normalizing is not a feature setting
    norms = unit.norm(dim=-1)
    torch.testing.assert_close(norms[tensors["mask"]], torch.ones(int(tensors["mask"].sum())))
    assert torch.all(norms[~tensors["mask"]] == 0)
    torch.testing.assert_close(unit, raw / raw.norm(dim=-1, keepdim=True).clamp_min(1e-12))


def test_word_level_mean_and_first_pooling(tiny_bert):
    reader = BlitzerReviewsReader(
        clean=False, lowercase=False, token_indexers={"tokens": ContextualWordpieceIndexer(tiny_bert)}
    )
    instance = reader.text_to_instance("The pans broke.", "positive")
    batch = Batch([instance])
    batch.index_instances(Vocabulary.from_instances([instance]))
    tensors = batch.as_tensor_dict()["tokens"]["tokens"]
    mean = ContextualFeatureEmbedder(tiny_bert, pooling="mean")
    rows = torch.tensor(np.asarray(mean.document_features([tensors["wordpiece_ids"][0, 1:-1].tolist()])[0], dtype=np.float32))
    words = mean(**tensors)[0]
    torch.testing.assert_close(words[2], rows[2:4].mean(0))  # "pans" = mean of pan, ##s
    assert torch.equal(words[0], rows[0]) and torch.equal(words[1], rows[1]) and torch.equal(words[4], rows[6])
    first = ContextualFeatureEmbedder(tiny_bert, pooling="first")(**tensors)[0]
    assert torch.equal(first[2], rows[2]) and torch.equal(first[3], rows[4])


def test_every_setting_change_gets_its_own_features(tiny_bert, tmp_path):
    texts = ["The pans broke.", "Great knife! I love it."]
    _, tensors = wordpiece_batch(texts, tiny_bert)
    base = ContextualFeatureEmbedder(tiny_bert)
    reference = base(**tensors)
    base.cache.flush()
    folders = {base.cache.folder}
    # Same settings, same model content in another folder: reused, not recomputed.
    copy = shutil.copytree(tiny_bert, tmp_path / "copy-of-tiny-bert")
    same = ContextualFeatureEmbedder(str(copy))
    assert torch.equal(same(**tensors), reference) and same.stats["computed_documents"] == 0
    # Any setting that changes the features: a new cache folder, computed afresh.
    changed = [
        dict(layers=[-1]), dict(layers=[0, 1]), dict(chunking="window"), dict(max_length=16),
        dict(stored_dtype="float32"),
    ]
    for options in changed:
        embedder = ContextualFeatureEmbedder(tiny_bert, **options)
        embedder(**tensors)
        assert embedder.stats["computed_documents"] == 2, options
        folders.add(embedder.cache.folder)
    assert len(folders) == 1 + len(changed)
    # Other weights of the same size and name: another fingerprint.
    retrained = make_tiny_bert(tmp_path / "retrained", seed=1)
    other = ContextualFeatureEmbedder(str(retrained))
    assert not torch.equal(other(**tensors), reference) and other.stats["computed_documents"] == 2
    assert other.cache.folder not in folders
    # Another tokenization (lower-cased by us vs not does not matter for an uncased model, but
    # truncation does): other WordPiece ids, other keys.
    _, truncated = wordpiece_batch(texts, tiny_bert, max_wordpieces=2)
    again = ContextualFeatureEmbedder(tiny_bert)
    again(**truncated)
    assert again.stats["computed_documents"] == 2


def test_layers_and_dimensions_are_checked(tiny_bert):
    with pytest.raises(ConfigurationError, match="layer 5 does not exist"):
        ContextualFeatureEmbedder(tiny_bert, layers=[5])
    with pytest.raises(ConfigurationError, match="hidden size 32"):
        ContextualFeatureEmbedder(tiny_bert, embedding_dim=384)
    with pytest.raises(ConfigurationError, match="max_length"):
        ContextualFeatureEmbedder(tiny_bert, max_length=65)
    with pytest.raises(ConfigurationError, match="not a local HuggingFace model folder"):
        ContextualFeatureEmbedder("/nonexistent/model")


# ----- the cache itself -------------------------------------------------------------------------------
def _rows(n, dim=4, value=0.0):
    return np.full((n, dim), value, dtype=np.float32) + np.arange(n, dtype=np.float32)[:, None]


def test_cache_survives_a_killed_writer_and_skips_corrupt_parts(tmp_path, caplog):
    settings = {"model_sha256": "x", "layers": [1]}
    cache = FeatureCache(tmp_path, settings, dim=4, flush_documents=2)
    cache.put("a" * 64, _rows(3))
    cache.put("b" * 64, _rows(2, value=1.0))  # second document: flushed to a part
    cache.put("c" * 64, _rows(5))  # buffered only: lost if the process dies now
    folder = cache.folder
    parts = sorted(folder.glob("part-*.h5"))
    assert len(parts) == 1
    # What a run killed at any moment leaves: a half-written temporary file (never read), and
    # for good measure a "part" that is not a valid HDF5 file at all.
    (folder / ".part-x.h5.1234.tmp").write_bytes(b"\x89HDF\r\n" + b"\0" * 100)
    (folder / "part-00000000000000000000-1-deadbeef.h5").write_bytes(parts[0].read_bytes()[:500])
    later = FeatureCache(tmp_path, settings, dim=4)
    found = later.get_many(["a" * 64, "b" * 64, "c" * 64])
    assert set(found) == {"a" * 64, "b" * 64}
    np.testing.assert_array_equal(found["b" * 64], _rows(2, value=1.0).astype(np.float16))
    assert "skipping unreadable feature part" in caplog.text
    # A part of other settings in the folder is never read either.
    with h5py.File(parts[0], "r", locking=False) as handle:
        assert handle.attrs["settings_sha256"] == cache.hash
    other = FeatureCache(tmp_path, {**settings, "layers": [2]}, dim=4)
    assert other.folder != folder and len(other) == 0


def test_cache_merges_many_parts_and_sees_other_writers(tmp_path):
    settings = {"model_sha256": "y"}
    writer = FeatureCache(tmp_path, settings, dim=4, flush_documents=1, max_parts=3)
    reader = FeatureCache(tmp_path, settings, dim=4)
    assert len(reader) == 0
    for i in range(5):
        writer.put(f"{i:064d}", _rows(i + 1, value=float(i)))
    assert len(list(writer.folder.glob("part-*.h5"))) <= 3
    # The reader had opened nothing yet; a miss makes it look for parts written since.
    found = reader.get_many([f"{i:064d}" for i in range(5)])
    assert len(found) == 5
    for i in range(5):
        np.testing.assert_array_equal(found[f"{i:064d}"], _rows(i + 1, value=float(i)).astype(np.float16))
    settings_file = json.loads((writer.folder / "settings.json").read_text())
    assert settings_file["settings_sha256"] == writer.hash and settings_file["model_sha256"] == "y"


def test_document_key_depends_only_on_the_ids():
    assert document_key([1, 2, 3]) == document_key(np.array([1, 2, 3], dtype=np.int64))
    assert document_key([1, 2, 3]) != document_key([1, 2, 4])


# ----- configs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", ["wordpiece", "word"])
def test_bert_lib_builds_both_step_modes(steps, tiny_bert, tmp_path, monkeypatch):
    from allennlp.commands.train import train_model

    monkeypatch.setenv("RRNN_DATA_DIR", str(KITCHEN.parent))
    config = tmp_path / "config.jsonnet"
    config.write_text(
        f"local bert = import '{ROOT}/training_configs/lib/bert.libsonnet';\n"
        f"bert.baseline('kitchen', bert.structures['mix'], "
        f"{{steps: '{steps}', model_path: '{tiny_bert}', embedding_dim: 32}})\n"
    )
    params = Params.from_file(str(config))
    assert params["model"]["seq2vec_encoder"]["wfsa_lengths"].as_dict() == {"1": 3, "2": 3, "3": 3, "4": 3}
    reader_type = params["dataset_reader"]["type"]
    assert reader_type == ("blitzer_reviews_wordpieces" if steps == "wordpiece" else "blitzer_reviews")
    assert train_model(params, str(tmp_path / "run"), dry_run=True) is None


# ----- end to end ----------------------------------------------------------------------------------------
def test_train_then_predict_with_the_bert_config(tiny_bert, feature_cache, tmp_path):
    """`allennlp train` with training_configs/kitchen/bert_baseline_mix.jsonnet on the fixture reviews,
    then the `sentiment` predictor on one training text (cached: the model is not even loaded) and
    one new text (computed on the fly).  (`allennlp predict` itself is tested in test_model.py.)"""
    env = {
        **os.environ,
        "RRNN_DATA_DIR": str(KITCHEN.parent),
        "RRNN_BERT_MODEL": tiny_bert,
        "RRNN_BERT_DIM": "32",
        "RRNN_FEATURE_CACHE": str(feature_cache),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    allennlp = [sys.executable, "-m", "allennlp"]
    run_dir = tmp_path / "run"
    train = subprocess.run(
        allennlp + ["train", "training_configs/kitchen/bert_baseline_mix.jsonnet", "-s", str(run_dir),
                    "-o", json.dumps({"trainer.num_epochs": 2})],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    log = train.stdout + train.stderr
    assert "contextual features: 100%" in log  # the precompute pass, with its progress bar
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["training_transitions"] == 30 and metrics["training_wfsas"] == 12
    assert "test_accuracy" in metrics
    folders = [p for p in feature_cache.iterdir() if p.is_dir()]
    assert len(folders) == 1 and list(folders[0].glob("part-*.h5"))

    # Predicting in this process: the archived reader and embedder, and the cache the run filled.
    from allennlp.models.archival import load_archive
    from allennlp.predictors import Predictor

    loads = TransformerFeaturizer.loads
    predictor = Predictor.from_archive(load_archive(str(run_dir / "model.tar.gz")), "sentiment")
    embedder = predictor._model._text_field_embedder._token_embedders["tokens"]
    known = predictor.predict(select_reviews(f"{KITCHEN}#train")[0].text)  # a training review: cached
    assert TransformerFeaturizer.loads == loads and embedder.stats["computed_documents"] == 0
    new = predictor.predict("Great knife, I love it!")  # new text: computed on the fly
    assert TransformerFeaturizer.loads == loads + 1 and embedder.stats["computed_documents"] == 1
    for result in (known, new):
        assert result["label"] in ("positive", "negative")
        assert abs(sum(result["probs"].values()) - 1) < 1e-5


# ----- precomputing a config's features and model limits ------------------------------------------------
def test_features_command_fills_the_cache_once(tiny_bert, feature_cache, tmp_path, monkeypatch):
    from rrnn_plugin.commands.features import precompute

    monkeypatch.setenv("RRNN_DATA_DIR", str(KITCHEN.parent))
    config = tmp_path / "config.jsonnet"
    config.write_text(
        f"local bert = import '{ROOT}/training_configs/lib/bert.libsonnet';\n"
        f"bert.baseline('kitchen', bert.structures['1'], {{model_path: '{tiny_bert}', embedding_dim: 32}})\n"
    )
    first = precompute(str(config), [str(KITCHEN)])
    assert first["documents"] == len(select_reviews(KITCHEN)) == 19
    assert first["embedders"]["tokens"]["computed_documents"] == 19
    assert first["embedders"]["tokens"]["wordpieces_per_s"] > 0
    again = precompute(str(config))  # the config's own train/validation/test: all cached now
    assert again["embedders"]["tokens"]["computed_documents"] == 0 and again["documents"] == 19


def test_usable_positions(tmp_path):
    from rrnn_plugin.contextual.transformer import usable_positions

    assert usable_positions(str(tmp_path), {"max_position_embeddings": 512, "model_type": "bert"}) == 512
    # RoBERTa-style position ids start after the padding index: MPNet's 514 leave 512
    assert usable_positions(str(tmp_path), {"max_position_embeddings": 514, "model_type": "mpnet",
                                            "pad_token_id": 1}) == 512
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 256}))
    assert usable_positions(str(tmp_path), {"max_position_embeddings": 512, "model_type": "bert"}) == 256


def test_corrupt_stored_features_are_recomputed_not_returned(tmp_path, caplog):
    cache = FeatureCache(tmp_path, {"s": 1}, dim=3, dtype="float32")
    good, bad = np.ones((2, 3), dtype=np.float32), np.full((4, 3), 2.0, dtype=np.float32)
    cache.put("a" * 64, good)
    cache.put("b" * 64, bad)
    cache.close()
    (part,) = cache.folder.glob("part-*.h5")
    with h5py.File(part, "r+") as handle:  # flip stored values behind the cache's back
        handle["features"][3, 1] = np.nan
        handle["features"][0, 0] = 5.0
    reader = FeatureCache(tmp_path, {"s": 1}, dim=3, dtype="float32")
    assert reader.get_many(["a" * 64, "b" * 64]) == {}  # both fail: checksum (a), NaN (b)
    assert "corrupt" in caplog.text and "a" * 64 not in reader and "b" * 64 not in reader
    reader.put("a" * 64, good)  # recomputed features are stored again and read back
    reader.flush()
    np.testing.assert_array_equal(reader.get_many(["a" * 64])["a" * 64], good)
    with pytest.raises(ValueError, match="NaN or infinite"):
        reader.put("c" * 64, np.array([[np.inf, 0, 0]], dtype=np.float32))


@pytest.mark.parametrize("damage", ["offset past the end", "short crc32", "keys not bytes"])
def test_a_part_with_a_broken_index_is_skipped_not_crashed_on(tmp_path, caplog, damage):
    """A part whose index points outside its features, or whose datasets disagree, raised an
    h5py IndexError (or an AttributeError in rrnn-features) instead of being recomputed."""
    cache = FeatureCache(tmp_path, {"s": 1}, dim=3, dtype="float32")
    cache.put("a" * 64, np.ones((2, 3), dtype=np.float32))
    cache.put("b" * 64, np.ones((4, 3), dtype=np.float32))
    cache.close()
    (part,) = cache.folder.glob("part-*.h5")
    with h5py.File(part, "r+") as handle:
        if damage == "offset past the end":
            handle["offsets"][1] = 100
        elif damage == "short crc32":
            crc = handle["crc32"][()][:1]
            del handle["crc32"]
            handle.create_dataset("crc32", data=crc)
        else:
            del handle["keys"]
            handle.create_dataset("keys", data=np.arange(2))
    reader = FeatureCache(tmp_path, {"s": 1}, dim=3, dtype="float32")
    assert reader.get_many(["a" * 64, "b" * 64]) == {}
    assert "skipping unreadable feature part" in caplog.text


def test_an_unwritable_cache_fails_before_computing(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    cache = FeatureCache(blocker, {"s": 1}, dim=3)
    with pytest.raises(OSError, match="not writable"):
        cache.check_writable(10, 100)
    roomy = FeatureCache(tmp_path / "ok", {"s": 1}, dim=3)
    roomy.check_writable(10, 100)
    with pytest.raises(OSError, match="MB free"):
        roomy.check_writable(1, 10 ** 15)  # a petabyte of rows
