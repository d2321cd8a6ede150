"""Tests of `rrnn_plugin.commands.glove`: GloVe text round trip, filtering, normalization, errors,
atomic writes, the packaged GloVe 6B 50d, vocabulary collection and the command line."""
import gzip
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Iterable

import numpy
import pytest
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import TextField
from allennlp.data.tokenizers import Token

from rrnn_plugin.commands.glove import collect_vocabulary, load_glove, main, write_glove_text

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TINY_WORDS = ["the", ",", "good", "bad", "zero"]
TINY_VECTORS = numpy.array(
    [
        [0.418, 0.24968, -0.41242],
        [0.013441, 0.23682, -0.16899],
        [-0.35586, 0.5213, -0.6107],
        [1.5e-07, -3.25, 123456.7],
        [0.0, 0.0, 0.0],
    ],
    dtype=numpy.float32,
)


@pytest.fixture
def tiny_glove(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    rows = zip(TINY_WORDS, TINY_VECTORS)
    lines = (" ".join([word] + [repr(float(x)) for x in row]) for word, row in rows)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_back(path: Path) -> dict:
    words, vectors = load_glove(str(path))
    assert len(set(words)) == len(words)
    return dict(zip(words, vectors))


def test_round_trip(tiny_glove: Path, tmp_path: Path) -> None:
    words, vectors = load_glove(str(tiny_glove))
    assert words == TINY_WORDS
    assert vectors.shape == (5, 3) and vectors.dtype == numpy.float32
    numpy.testing.assert_allclose(vectors, TINY_VECTORS, rtol=1e-6)

    output = tmp_path / "out" / "glove.txt"  # the folder is created
    assert write_glove_text(words, vectors, str(output)) == 5
    back = read_back(output)
    assert list(back) == TINY_WORDS
    for word, row in zip(TINY_WORDS, TINY_VECTORS):
        numpy.testing.assert_allclose(back[word], row, rtol=1e-5, atol=1e-5)


def test_compressed_inputs(tiny_glove: Path, tmp_path: Path) -> None:
    text = tiny_glove.read_bytes()
    gz = tmp_path / "tiny.txt.gz"
    gz.write_bytes(gzip.compress(text))
    one = tmp_path / "one.zip"
    with zipfile.ZipFile(one, "w") as archive:
        archive.writestr("tiny.txt", text)
    several = tmp_path / "several.zip"
    with zipfile.ZipFile(several, "w") as archive:
        archive.writestr("a.50d.txt", text)
        archive.writestr("b.300d.txt", b"x 1\n")
    for path in (gz, one, f"{several}#a.50d.txt"):
        words, vectors = load_glove(str(path))
        assert words == TINY_WORDS
        numpy.testing.assert_allclose(vectors, TINY_VECTORS, rtol=1e-6)
    with pytest.raises(ValueError, match="#MEMBER"):
        load_glove(str(several))


def test_vocabulary_filter_and_lowercase_fallback(tiny_glove: Path, tmp_path: Path) -> None:
    words, vectors = load_glove(str(tiny_glove))
    output = tmp_path / "filtered.txt"
    # "Good" has no row of its own: GloVe 6B is lowercase, so "good" is written, and a copy under
    # "Good" for AllenNLP's exact-match loader; "missing" has no vector at all.
    written = write_glove_text(words, vectors, str(output), vocabulary={"the", "Good", "missing"})
    assert written == 3
    back = read_back(output)
    assert list(back) == ["the", "good", "Good"]  # GloVe order
    numpy.testing.assert_allclose(back["Good"], TINY_VECTORS[2], rtol=1e-5)

    with pytest.raises(ValueError, match="not written"):
        write_glove_text(words, vectors, str(tmp_path / "none.txt"), vocabulary={"missing"})
    assert not (tmp_path / "none.txt").exists()


def test_normalize(tiny_glove: Path, tmp_path: Path) -> None:
    words, vectors = load_glove(str(tiny_glove))
    output = tmp_path / "normalized.txt"
    write_glove_text(words, vectors, str(output), normalize=True)
    back = read_back(output)
    for word, row in zip(TINY_WORDS, TINY_VECTORS):
        if word == "zero":
            assert not back[word].any()  # zero rows stay zero
        else:
            assert numpy.linalg.norm(back[word]) == pytest.approx(1.0, abs=1e-5)
            numpy.testing.assert_allclose(back[word], row / numpy.linalg.norm(row), atol=1e-5)
    numpy.testing.assert_array_equal(vectors, TINY_VECTORS)  # the input is not modified


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("bad 0.1 0.2", "found 2 numbers"),
        ("bad 0.1 0.2 0.3 0.4", "found 4 numbers"),
        ("bad 0.1 x 0.3", "non-numeric"),
        ("bad 0.1 nan 0.3", "NaN, infinite"),
        ("bad 0.1 -inf 0.3", "NaN, infinite"),
        ("bad 0.1 1e39 0.3", "out-of-float32-range"),  # becomes inf in float32
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = tmp_path / "broken.txt"
    path.write_text(f"a 1 2 3\n\nb 4 5 6\n{bad_line}\nc 7 8 9\n")
    with pytest.raises(ValueError, match=message) as error:
        load_glove(str(path))
    assert f"{path}, line 4" in str(error.value)


def test_failed_write_keeps_existing_file(tmp_path: Path) -> None:
    output = tmp_path / "glove.txt"
    output.write_text("good 1 2\n")
    # The second row cannot be converted to numbers: the failure happens after writing has begun.
    broken = numpy.array([[1.0, 2.0], ["x", 3.0]], dtype=object)
    with pytest.raises(ValueError):
        write_glove_text(["a", "b"], broken, str(output))
    assert output.read_text() == "good 1 2\n"
    assert os.listdir(tmp_path) == ["glove.txt"]  # no temporary file left behind


def test_packaged_glove_6b_50d() -> None:
    words, vectors = load_glove()
    assert vectors.shape == (400000, 50) and len(words) == 400000
    index = {word: i for i, word in enumerate(words)}
    assert words[0] == "the"
    # Values of the published glove.6B.50d.txt: row i of the word list is row i of the matrix.
    numpy.testing.assert_allclose(vectors[index["the"], :3], [0.418, 0.24968, -0.41242], rtol=1e-6)
    numpy.testing.assert_allclose(vectors[index["good"], :3], [-0.35586, 0.5213, -0.6107], rtol=1e-6)


def test_collect_vocabulary(tmp_path: Path) -> None:
    name = f"test-glove-lines-{uuid.uuid4().hex}"

    @DatasetReader.register(name)
    class LinesReader(DatasetReader):
        def _read(self, file_path: str) -> Iterable[Instance]:
            for line in Path(file_path).read_text().splitlines():
                yield Instance({"tokens": TextField([Token(t) for t in line.split()])})

    (tmp_path / "a.txt").write_text("the Good film\n")
    (tmp_path / "b.txt").write_text("a bad , film\n")
    reader = DatasetReader.by_name(name)()
    paths = [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    assert collect_vocabulary(paths, reader) == {"the", "Good", "film", "a", "bad", ","}


def test_main_in_process(tiny_glove: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`python -m` entry point, with the vocabulary read by a stock AllenNLP reader."""
    data = tmp_path / "tagged.txt"
    data.write_text("the###D Good###A film###N\n")
    output = tmp_path / "glove.txt"
    main(
        ["--input", str(tiny_glove), "--output", str(output)]
        + ["--vocab-from", str(data), "--reader", "sequence_tagging"]
    )
    assert list(read_back(output)) == ["the", "good", "Good"]
    assert capsys.readouterr().out.strip() == (
        f"wrote 3 words of dim 3 to {output}; vocabulary coverage 2/3 = 66.7%"
    )


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)


def test_cli_python_module(tiny_glove: Path, tmp_path: Path) -> None:
    output = tmp_path / "glove.txt"
    data = tmp_path / "tagged.txt"
    data.write_text("the###D bad###A\n")
    result = run_cli(
        *[sys.executable, "-m", "rrnn_plugin.commands.glove"],
        *["--input", str(tiny_glove), "--output", str(output), "--normalize"],
        *["--vocab-from", str(data), "--reader", "sequence_tagging"],
    )
    assert result.returncode == 0, result.stderr
    assert "RuntimeWarning" not in result.stderr
    assert "wrote 2 words of dim 3" in result.stdout
    back = read_back(output)
    assert list(back) == ["the", "bad"]
    assert numpy.linalg.norm(back["bad"]) == pytest.approx(1.0, abs=1e-5)


def test_cli_allennlp_subcommand(tiny_glove: Path, tmp_path: Path) -> None:
    """`allennlp rrnn-glove`, discovered through /work/main/.allennlp_plugins -> rrnn_plugin."""
    output = tmp_path / "glove.txt"
    allennlp = str(Path(sys.executable).with_name("allennlp"))
    result = run_cli(allennlp, "rrnn-glove", "--input", str(tiny_glove), "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert f"wrote 5 words of dim 3 to {output}" in result.stdout
    assert list(read_back(output)) == TINY_WORDS
