"""`allennlp rrnn-export` and `rrnn_plugin.export.load` (issue 14): a pruned model trained here is
exported; in a fresh process that cannot import AllenNLP it predicts the same probabilities as
`allennlp predict` on the archive, and its torch.export program gives them too."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import rrnn_plugin  # noqa: F401

ROOT = Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
TEXTS = [
    "This blender is fantastic. It crushes ice in seconds!",
    "The handle broke after two days. Total waste of money.",
    "",  # no word at all: the prior, flagged
    "zzzqqq xxyyzz",  # only unknown words
    "great " * 40,  # longer than the example the program was traced with
]


@pytest.fixture(scope="module")
def pruned_archive(tmp_path_factory):
    from allennlp.commands.train import train_model_from_file

    folder = tmp_path_factory.mktemp("export") / "run"
    train_model_from_file(str(FIXTURES / "structure_learning.jsonnet"), str(folder))
    return folder / "model.tar.gz"


def _allennlp_predictions(archive: Path, tmp_path: Path):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("".join(json.dumps({"sentence": t}) + "\n" for t in TEXTS))
    out = tmp_path / "predictions.jsonl"
    subprocess.run([sys.executable, "-m", "allennlp", "predict", str(archive), str(inputs), "--predictor",
                    "sentiment", "--silent", "--output-file", str(out), "--batch-size", "2"],
                   check=True, capture_output=True, cwd=ROOT)
    return [json.loads(line) for line in out.read_text().splitlines()]


# The exported folder is read with AllenNLP made unimportable.
LOADER = r'''
import json, sys
sys.modules["allennlp"] = None
from rrnn_plugin.export import load, load_program
model = load(sys.argv[1])
texts = json.loads(sys.argv[2])
predictions = model.predict(texts, batch_size=3)
program = load_program(sys.argv[1]).module()
ids = model.token_ids(texts)
print(json.dumps({"predictions": predictions, "program": program(ids).tolist(),
                  "eager": model.network(ids).tolist(),
                  "allennlp": sorted(n for n in sys.modules if n.startswith("allennlp") and sys.modules[n])}))
'''


def test_export_predicts_like_the_archive_without_allennlp(pruned_archive, tmp_path):
    out = tmp_path / "exported"
    done = subprocess.run([sys.executable, "-m", "allennlp", "rrnn-export", str(pruned_archive), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "config.json", "model.safetensors", "model_card.json",
                                                     "program.pt2", "vocabulary.txt"]
    config = json.loads((out / "config.json").read_text())
    archived = json.loads((pruned_archive.parent / "metrics.json").read_text())
    assert config["transitions"] == archived["test_transitions"]  # the pruned structure, not the original

    loaded = subprocess.run([sys.executable, "-c", LOADER, str(out), json.dumps(TEXTS)], capture_output=True,
                            text=True, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    report = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert report["allennlp"] == []
    expected = _allennlp_predictions(pruned_archive, tmp_path)
    for text, ours, theirs in zip(TEXTS, report["predictions"], expected):
        assert ours["label"] == theirs["label"], text
        for label, p in theirs["probs"].items():
            assert abs(ours["probs"][label] - p) <= 1e-5, (text, label)
        for flag in ("known_words", "no_known_words", "truncated"):
            assert ours.get(flag) == theirs.get(flag), (text, flag)
    for program_row, eager_row in zip(report["program"], report["eager"]):
        assert max(abs(a - b) for a, b in zip(program_row, eager_row)) <= 1e-6


def test_export_refuses_a_non_empty_folder_and_bad_folders(pruned_archive, tmp_path):
    from rrnn_plugin.export import ExportError, load
    from rrnn_plugin.export.archive import export_archive

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export_archive(str(pruned_archive), str(occupied))
    assert (occupied / "keep.txt").read_text() == "mine"  # nothing of the user's is touched
    with pytest.raises(ExportError, match="no config.json"):
        load(occupied)
    (occupied / "config.json").write_text("{not json")
    with pytest.raises(ExportError, match="config.json: not valid JSON"):
        load(occupied)
    (occupied / "config.json").write_text(json.dumps({"format": "rrnn_plugin-export", "version": 99}))
    with pytest.raises(ExportError, match="version 99"):
        load(occupied)


def _tampered(source: Path, target: Path, config=None, vocabulary=None, weights=None) -> Path:
    """A copy of the export `source` with one file changed by a function of its content."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    if config:
        data = json.loads((target / "config.json").read_text())
        (target / "config.json").write_text(json.dumps(config(data)))
    if vocabulary:
        lines = (target / "vocabulary.txt").read_text().split("\n")
        (target / "vocabulary.txt").write_text("\n".join(vocabulary(lines)))
    if weights:
        state = load_file(str(target / "model.safetensors"))
        weights(state)
        save_file(state, str(target / "model.safetensors"))
    return target


def test_a_tampered_export_is_refused_naming_the_file_and_what(pruned_archive, tmp_path):
    """An export folder is untrusted input: a NaN weight gave a confident label, a missing key a
    bare KeyError, a repeated vocabulary line shifted every later word's row in silence."""
    from rrnn_plugin.export import ExportError, load
    from rrnn_plugin.export.archive import export_archive

    good = tmp_path / "good"
    export_archive(str(pruned_archive), str(good), program=False)
    cases = {
        "nan": ({"weights": lambda s: s["classifier.weight"].fill_(float("nan"))},
                r"model.safetensors: tensor 'classifier.weight' has \d+ NaN"),
        "int": ({"weights": lambda s: s.__setitem__("classifier.bias", s["classifier.bias"].long())},
                r"'classifier.bias' is torch.int64"),
        "labels": ({"config": lambda c: {k: v for k, v in c.items() if k != "labels"}}, r"config.json: 'labels'"),
        "twice": ({"config": lambda c: {**c, "labels": [c["labels"][0]] * 2}}, "has a label twice"),
        "max_tokens": ({"config": lambda c: {**c, "tokenizer": {**c["tokenizer"], "max_tokens": 0}}}, "max_tokens"),
        "shape": ({"config": lambda c: {**c, "labels": c["labels"] + ["neutral"]}}, "does not fit config.json"),
        "repeat": ({"vocabulary": lambda lines: lines[:3] + [lines[2]] + lines[4:]}, r"vocabulary.txt, line 4: .* repeats line 3"),
    }
    for name, (change, message) in cases.items():
        with pytest.raises(ExportError, match=message):
            load(_tampered(good, tmp_path / name, **change))
    assert load(good).predict(["great knife"])[0]["label"] in load(good).labels


def test_export_refuses_models_it_cannot_reproduce(tmp_path):
    """A contextual-feature or otherwise unsupported model is refused with the reason, before any write."""
    from allennlp.commands.train import train_model_from_file

    from rrnn_plugin.export import ExportError
    from rrnn_plugin.export.archive import export_archive

    config = tmp_path / "with_feedforward.jsonnet"
    config.write_text((FIXTURES / "rational_classifier.jsonnet").read_text().replace(
        "dropout: 0.1,\n  },", "dropout: 0.1,\n    feedforward: { input_dim: 4, num_layers: 1, hidden_dims: 3, "
        "activations: 'relu' },\n  },"))
    train_model_from_file(str(config), str(tmp_path / "run"), overrides=json.dumps({"trainer.num_epochs": 1}))
    with pytest.raises(ExportError, match="feedforward"):
        export_archive(str(tmp_path / "run" / "model.tar.gz"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_vectors_give_unseen_words_their_pretrained_vector(pruned_archive, tmp_path):
    """--vectors: words the training data never had but the vectors know are read with their own
    vector; texts of training words predict exactly as before; a file that is not the model's is refused."""
    import torch

    from rrnn_plugin.export import ExportError, load
    from rrnn_plugin.export.archive import export_archive

    plain = tmp_path / "plain"
    export_archive(str(pruned_archive), str(plain), program=False)
    model = load(plain)
    weight = model.network.embedding.weight
    known = model.vocabulary[2:7]
    torch.manual_seed(3)
    unseen = {"zanzibarish": torch.randn(weight.shape[1]) * 3, "quuxlike": torch.randn(weight.shape[1]) * 3}
    lines = [" ".join([w] + [f"{v:.8f}" for v in weight[model.index[w]].tolist()]) for w in known]
    lines += [" ".join([w] + [f"{v:.8f}" for v in vector.tolist()]) for w, vector in unseen.items()]
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("\n".join(lines) + "\n")

    extended_dir = tmp_path / "extended"
    config = export_archive(str(pruned_archive), str(extended_dir), program=False, vectors=str(vectors))
    assert config["vocab_size"] == len(model.vocabulary) + 2 and config["training_vocab_size"] == len(model.vocabulary)
    extended = load(extended_dir)
    torch.testing.assert_close(extended.network.embedding.weight[extended.index["quuxlike"]], unseen["quuxlike"])
    training_text = " ".join(known)
    assert extended.predict(training_text)[0]["probs"] == model.predict(training_text)[0]["probs"]
    unseen_text = training_text + " zanzibarish quuxlike"
    assert extended.predict(unseen_text)[0]["known_words"] == model.predict(unseen_text)[0]["known_words"] + 2
    assert extended.predict(unseen_text)[0]["probs"] != model.predict(unseen_text)[0]["probs"]

    # allennlp predict with the same vectors reads the unseen words the same way
    inputs = tmp_path / "unseen.jsonl"
    texts = [unseen_text, "quuxlike zanzibarish", training_text]
    inputs.write_text("".join(json.dumps({"sentence": t}) + "\n" for t in texts))
    out = tmp_path / "unseen_predictions.jsonl"
    done = subprocess.run([sys.executable, "-m", "allennlp", "predict", str(pruned_archive), str(inputs), "--predictor",
                           "sentiment", "--predictor-args", json.dumps({"vectors": str(vectors)}), "--silent",
                           "--output-file", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    for ours, theirs in zip(extended.predict(texts), [json.loads(line) for line in out.read_text().splitlines()]):
        assert ours["known_words"] == theirs["known_words"]
        assert max(abs(ours["probs"][k] - theirs["probs"][k]) for k in theirs["probs"]) <= 1e-5

    lines[0] = " ".join([known[0]] + ["0.5"] * weight.shape[1])  # not the model's vector for that word
    vectors.write_text("\n".join(lines) + "\n")
    with pytest.raises(ExportError, match="differ from the model's embedding"):
        export_archive(str(pruned_archive), str(tmp_path / "refused"), vectors=str(vectors))


TORCHSCRIPT_LOADER = r'''
import json, sys
sys.modules["allennlp"] = None
import torch
import rrnn_plugin.kernels  # registers torch.ops.rrnn.*, which the TorchScript graph calls
network = torch.jit.load(sys.argv[1])
ids = torch.tensor(json.loads(sys.argv[2]))
print(json.dumps(network(ids).tolist()))
'''


def test_torchscript_trace_runs_in_a_fresh_process(pruned_archive, tmp_path):
    """torch.jit.trace of the exported network records the kernel operator (rrnn::layer); the saved
    module, loaded where AllenNLP cannot be imported, gives the eager values on other shapes."""
    import torch

    from rrnn_plugin.export import load
    from rrnn_plugin.export.archive import export_archive

    export_archive(str(pruned_archive), str(tmp_path / "exported"), program=False)
    model = load(tmp_path / "exported")
    traced = torch.jit.trace(model.network, (model.token_ids(TEXTS[:2]),), check_trace=False)
    assert "rrnn::layer" in {node.kind() for node in traced.inlined_graph.nodes()}
    traced.save(str(tmp_path / "network.pt"))
    ids = model.token_ids(TEXTS)  # another batch size and length than the trace's
    done = subprocess.run([sys.executable, "-c", TORCHSCRIPT_LOADER, str(tmp_path / "network.pt"),
                           json.dumps(ids.tolist())], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    with torch.inference_mode():
        eager = model.network(ids)
    torch.testing.assert_close(torch.tensor(json.loads(done.stdout.strip().splitlines()[-1])), eager)


def test_export_of_a_stacked_bidirectional_encoder_predicts_like_the_archive(tmp_path):
    from allennlp.commands.train import train_model_from_file
    from allennlp.models.archival import load_archive
    from allennlp.predictors import Predictor

    from rrnn_plugin.export import load
    from rrnn_plugin.export.archive import export_archive

    overrides = {"model.seq2vec_encoder.num_layers": 2, "model.seq2vec_encoder.bidirectional": True,
                 "trainer.num_epochs": 1}
    train_model_from_file(str(FIXTURES / "rational_classifier.jsonnet"), str(tmp_path / "run"),
                          overrides=json.dumps(overrides))
    archive = tmp_path / "run" / "model.tar.gz"
    export_archive(str(archive), str(tmp_path / "exported"), program=False)
    model = load(tmp_path / "exported")
    assert model.config["encoder"]["num_layers"] == 2 and model.config["encoder"]["bidirectional"]
    predictor = Predictor.from_archive(load_archive(str(archive)), "sentiment")
    for ours, theirs in zip(model.predict(TEXTS), predictor.predict_batch_json([{"sentence": t} for t in TEXTS])):
        assert ours["label"] == theirs["label"]
        assert max(abs(ours["probs"][k] - theirs["probs"][k]) for k in theirs["probs"]) <= 1e-5


def test_a_repeated_word_in_the_vectors_file_keeps_its_last_vector(tmp_path):
    import torch

    from rrnn_plugin.export.vectors import vocabulary_extension

    vectors = tmp_path / "vectors.txt"
    vectors.write_text("known 1 1\nnew 2 2\nother 3 3\nnew 4 4\n")
    words, rows = vocabulary_extension(torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]),
                                       ["@@PADDING@@", "@@UNKNOWN@@", "known"], str(vectors))
    assert words == ["new", "other"]  # each word once, in the order it first appears
    assert rows.tolist() == [[4.0, 4.0], [3.0, 3.0]]  # with its last vector, as AllenNLP reads the file


def test_force_never_replaces_the_run_or_a_foreign_folder(pruned_archive, tmp_path, monkeypatch):
    from rrnn_plugin.export import ExportError
    from rrnn_plugin.export.archive import export_archive

    with pytest.raises(ExportError, match="holds"):
        export_archive(str(pruned_archive), str(pruned_archive.parent), force=True)
    assert pruned_archive.is_file()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(ExportError, match="not an earlier rrnn-export"):
        export_archive(str(pruned_archive), str(foreign), force=True)
    assert (foreign / "notes.txt").read_text() == "keep"
    earlier = tmp_path / "earlier"
    export_archive(str(pruned_archive), str(earlier), program=False)
    export_archive(str(pruned_archive), str(earlier), program=False, force=True)  # an export is replaced
    monkeypatch.setenv("RRNN_BACKEND", "torch")  # as where the kernel is not built
    with pytest.raises(ExportError, match="--no-program"):
        export_archive(str(pruned_archive), str(tmp_path / "no-kernel"))
