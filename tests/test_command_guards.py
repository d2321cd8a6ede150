"""command_guards and the `--force` guard (compat): a wrong output path or a wrong `-s` on the
command line loses no file, and a prediction run that predicted nothing does not exit 0."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from allennlp.commands.train import train_model_from_file

import rrnn_plugin  # noqa: F401  (registers the fixture config's components)
from tests.conftest import FIXTURES

ALLENNLP = [sys.executable, "-m", "allennlp"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("guards") / "run"
    train_model_from_file(str(FIXTURES / "rational_classifier.jsonnet"), str(run))
    return run / "model.tar.gz"


def allennlp(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*ALLENNLP, *map(str, args), "--include-package", "rrnn_plugin"], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def predict(archive: Path, source, output, cwd: Path) -> subprocess.CompletedProcess:
    return allennlp("predict", archive, source, "--predictor", "sentiment", "--silent", "--output-file", output, cwd=cwd)


def test_predict_keeps_the_old_output_when_the_input_is_missing(archive, tmp_path):
    kept = tmp_path / "keep.jsonl"
    kept.write_text('{"label": "precious"}\n')
    done = predict(archive, tmp_path / "nope.jsonl", kept, tmp_path)
    assert done.returncode != 0 and "nope.jsonl" in done.stderr
    assert kept.read_text() == '{"label": "precious"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jsonl"]  # no partial file left


def test_predict_refuses_its_input_or_an_archive_as_output(archive, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"sentence": "great pan"}\n')
    done = predict(archive, source, source, tmp_path)
    assert done.returncode != 0 and "also an input" in done.stderr
    assert source.read_text() == '{"sentence": "great pan"}\n'
    before = archive.read_bytes()
    done = predict(archive, source, archive, tmp_path)
    assert done.returncode != 0 and "existing archive" in done.stderr
    assert archive.read_bytes() == before


def test_predict_replaces_the_output_once_every_line_is_answered(archive, tmp_path):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"sentence": "great pan"}\nnot json\n{"sentence": "bad knife"}\n')
    output.write_text("old\n")
    output.chmod(0o640)
    old_mode = 0o640  # the replaced file keeps the old one's mode
    done = predict(archive, source, output, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert ["label" in r for r in records] == [True, False, True] and records[1]["line"] == 2
    assert "1 of 3 input lines could not be predicted (lines 2)" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]
    assert output.stat().st_mode & 0o777 == old_mode  # not the 0600 of a temporary file


def test_predict_writes_through_a_symlink_and_into_a_fifo(archive, tmp_path):
    import os
    import threading

    source = tmp_path / "in.jsonl"
    source.write_text('{"sentence": "great pan"}\n')
    target, link = tmp_path / "shared.jsonl", tmp_path / "link.jsonl"
    target.write_text("old\n")
    link.symlink_to(target)
    assert predict(archive, source, link, tmp_path).returncode == 0
    assert link.is_symlink() and '"label"' in target.read_text()  # the link still points at the new output
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    done = predict(archive, source, fifo, tmp_path)
    reader.join(timeout=120)
    assert done.returncode == 0 and '"label"' in received[0], done.stderr[-2000:]


def test_an_input_with_a_part_suffix_is_still_an_input(archive, tmp_path):
    data = tmp_path / "dev.tsv"
    data.write_text((FIXTURES / "reviews.tsv").read_text())
    done = allennlp("evaluate", archive, f"{data}#test", "--output-file", data, cwd=tmp_path)
    assert done.returncode != 0 and "also an input" in done.stderr
    assert data.read_text() == (FIXTURES / "reviews.tsv").read_text()


def test_predict_fails_when_no_line_could_be_predicted(archive, tmp_path):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"x": 1}\n[1]\nnot json\n')
    done = predict(archive, source, output, tmp_path)
    assert done.returncode != 0 and "none of the 3 input lines could be predicted" in done.stderr
    assert len(output.read_text().splitlines()) == 3  # the error records say why, line by line


def test_evaluate_refuses_to_write_metrics_over_its_inputs(archive, tmp_path):
    data = tmp_path / "dev.tsv"
    data.write_text((FIXTURES / "reviews.tsv").read_text())
    before = archive.read_bytes()
    done = allennlp("evaluate", archive, data, "--output-file", archive, cwd=tmp_path)
    assert done.returncode != 0 and "also an input" in done.stderr and archive.read_bytes() == before
    done = allennlp("evaluate", archive, data, "--predictions-output-file", data, cwd=tmp_path)
    assert done.returncode != 0 and "also an input" in done.stderr
    assert data.read_text() == (FIXTURES / "reviews.tsv").read_text()


def test_evaluate_names_the_file_and_a_label_the_model_does_not_know(archive, tmp_path):
    data = tmp_path / "other.tsv"
    data.write_text("positive\tgood pan\nneutral\tan ordinary knife\n")
    config = json.dumps({"dataset_reader": {"type": "tsv_sentiment"}})
    done = allennlp("evaluate", archive, data, "-o", config, cwd=tmp_path)
    assert done.returncode != 0
    assert f"{data}: the label 'neutral' is not one of the model's labels" in done.stderr


def test_force_does_not_wipe_a_folder_that_is_not_a_run(tmp_path):
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "important.txt").write_text("precious")
    done = allennlp("train", FIXTURES / "rational_classifier.jsonnet", "-s", folder, "--force", cwd=tmp_path)
    assert done.returncode != 0 and "not a training run's folder" in done.stderr
    assert (folder / "important.txt").read_text() == "precious" and (folder / "sub").is_dir()
