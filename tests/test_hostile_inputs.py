"""Bad input, as a hostile but fair user would give it: every case either works correctly or fails
with a clear error of a known type naming the cause (file and line, config key, request field).
No case may crash with an internal exception or silently produce a result.

Table-driven: `CASES` lists (id, action, expectation).  An action gets a `Context` (a temporary
folder and, lazily, a small trained archive) and returns a value or raises.  Expectations:
`Raises(type, pattern)` or `Returns(check)`.
"""
import gzip
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from rrnn_plugin.dataset_readers import BlitzerReviewsReader, DataFormatError, TsvSentimentReader
from rrnn_plugin.dataset_readers.sentiment_reader import EmptyDataError
from rrnn_plugin.modules import ConfigurationError as CoreConfigurationError  # the encoder's (no AllenNLP)

FIXTURES = Path(os.environ["RRNN_FIXTURES"])
KITCHEN = FIXTURES / "blitzer" / "kitchen"
REVIEW = "<review>\n<rating>\n5.0\n</rating>\n<review_text>\n{text}\n</review_text>\n</review>\n"


@dataclass
class Raises:
    error: Any
    pattern: str


@dataclass
class Returns:
    check: Callable[[Any], bool]
    what: str = ""


class Context:
    def __init__(self, tmp: Path, archive_factory) -> None:
        self.tmp = tmp
        self._archive_factory = archive_factory

    @property
    def archive(self) -> str:
        return self._archive_factory()

    def file(self, name: str, content, binary: bool = False) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if binary:
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path

    def domain(self, name: str, positive: Optional[str], negative: Optional[str]) -> Path:
        folder = self.tmp / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        for label, content in (("positive", positive), ("negative", negative)):
            if content is not None:
                (folder / f"{label}.review").write_text(content, encoding="latin-1")
        return folder


def reviews(n: int, word: str) -> str:
    return "".join(REVIEW.format(text=f"{word} review number {i}") for i in range(n))


def read(reader, path) -> list:
    return list(reader.read(str(path)))


def split(ctx, content: str, part: str) -> str:
    return f"{ctx.file('d.tsv', content)}#{part}"


def tsv(ctx, content: str, **reader_args):
    return read(TsvSentimentReader(**reader_args), ctx.file("data.tsv", content))


# ----- readers ---------------------------------------------------------------------------------
def blitzer_cases():
    yield "review-empty-files", lambda c: read(BlitzerReviewsReader(), f"{c.domain('k', '', '')}#train"), \
        Raises(EmptyDataError, "no reviews")
    yield "review-whitespace-files", lambda c: read(BlitzerReviewsReader(), c.domain("k", " \n\n ", "\t\n")), \
        Raises(EmptyDataError, "no reviews")
    yield "review-one-label-train", lambda c: read(BlitzerReviewsReader(), f"{c.domain('k', reviews(10, 'good'), None)}#train"), \
        Raises(DataFormatError, "only one label")
    yield "review-truncated", lambda c: read(BlitzerReviewsReader(), c.domain("k", reviews(3, "ok")[:-20], reviews(3, "bad"))), \
        Raises(DataFormatError, r"positive.review, line \d+: .*not closed")
    yield "review-no-text", lambda c: read(BlitzerReviewsReader(), c.domain("k", "<review>\n<rating>\n4\n</rating>\n</review>\n", reviews(2, "x"))), \
        Raises(DataFormatError, "line 1: review has no <review_text>")
    yield "review-nested", lambda c: read(BlitzerReviewsReader(), c.domain("k", "<review>\n<review>\n", reviews(2, "x"))), \
        Raises(DataFormatError, "line 1: <review> is not closed before the next <review>")
    yield "review-garbage-bytes", lambda c: read(BlitzerReviewsReader(), c.domain("k", "\x00\x89PNG\x1a garbage\n", reviews(2, "x"))), \
        Raises(DataFormatError, "line 1: unexpected")
    yield "review-text-outside-field", lambda c: read(BlitzerReviewsReader(), c.domain("k", "<review>\nloose text\n</review>\n", reviews(2, "x"))), \
        Raises(DataFormatError, "line 2: unexpected 'loose text'")
    yield "review-unknown-split", lambda c: read(BlitzerReviewsReader(), f"{KITCHEN}#training"), \
        Raises(ConfigurationError, "unknown split 'training'")
    yield "review-missing-folder", lambda c: read(BlitzerReviewsReader(), c.tmp / "nowhere"), \
        Raises(FileNotFoundError, "no such folder")
    yield "review-folder-without-files", lambda c: read(BlitzerReviewsReader(), c.file("empty/readme.txt", "x").parent), \
        Raises(FileNotFoundError, "no positive.review or negative.review")
    yield "review-cr-line-endings", lambda c: len(read(BlitzerReviewsReader(), c.domain(
        "k", reviews(3, "good").replace("\n", "\r"), reviews(3, "bad").replace("\n", "\r")))), Returns(lambda n: n == 6, "6 reviews")
    yield "review-latin1-and-controls", lambda c: len(read(BlitzerReviewsReader(), c.domain(
        "k", REVIEW.format(text="caf\xe9 \x1a\x7f great"), reviews(1, "bad")))), Returns(lambda n: n == 2)
    yield "review-folds-1", lambda c: BlitzerReviewsReader(folds=1, fold=0), Raises(ConfigurationError, "folds must be an integer >= 2")
    yield "review-fold-out-of-range", lambda c: BlitzerReviewsReader(folds=5, fold=7), Raises(ConfigurationError, "fold must be an integer in 0 .. 4")
    yield "review-fold-without-folds", lambda c: BlitzerReviewsReader(fold=2), Raises(ConfigurationError, "needs folds")
    yield "review-fold-string", lambda c: BlitzerReviewsReader(folds="5", fold=1), Raises(ConfigurationError, "folds must be an integer")
    yield "review-validation-too-large", lambda c: BlitzerReviewsReader(folds=5, fold=0, validation_fraction=0.8), \
        Raises(ConfigurationError, "validation_fraction")
    yield "review-fractions-not-one", lambda c: BlitzerReviewsReader(split_fractions=(0.5, 0.1, 0.1)), \
        Raises(ConfigurationError, "sum to 1")
    yield "review-max-tokens-zero", lambda c: BlitzerReviewsReader(max_tokens=0), Raises(ConfigurationError, "max_tokens")


def tsv_cases():
    yield "tsv-empty", lambda c: tsv(c, ""), Raises(EmptyDataError, "no documents")
    yield "tsv-blank-lines", lambda c: tsv(c, "\n \n\t\n"), Raises(EmptyDataError, "no documents")
    yield "tsv-no-tab", lambda c: tsv(c, "1\tok\nno tab here\n"), Raises(DataFormatError, "line 2: no tab")
    yield "tsv-empty-label", lambda c: tsv(c, "\ttext\n"), Raises(DataFormatError, "line 1: empty label")
    yield "tsv-empty-text", lambda c: tsv(c, "1\t \n"), Raises(DataFormatError, "line 1: empty text")
    yield "tsv-swapped-columns", lambda c: tsv(c, "a fine movie indeed\t1\n"), Raises(DataFormatError, "line 1: .*columns swapped")
    yield "tsv-cr-only", lambda c: len(tsv(c, "1\tgood\r0\tbad\r1\tnice\r")), Returns(lambda n: n == 3)
    yield "tsv-crlf", lambda c: len(tsv(c, "1\tgood\r\n0\tbad\r\n")), Returns(lambda n: n == 2)
    yield "tsv-bom", lambda c: [i["label"].label for i in tsv(c, "\ufeff1\tgood\n0\tbad\n")], Returns(lambda l: l == ["1", "0"])
    yield "tsv-latin1", lambda c: len(read(TsvSentimentReader(), c.file("l.tsv", b"1\tcaf\xe9\n0\tbad\n", binary=True))), \
        Returns(lambda n: n == 2)
    yield "tsv-utf16", lambda c: [i["label"].label for i in read(TsvSentimentReader(), c.file(
        "u.tsv", "1\tgood\n0\tbad\n".encode("utf-16"), binary=True))], Returns(lambda l: l == ["1", "0"])
    yield "tsv-lone-cr-ending-a-row", lambda c: tsv(c, "1\tgood\n0\tbad\r1\tnice\n"), \
        Raises(DataFormatError, r"line 2: a carriage return")
    yield "tsv-stray-cr-in-text", lambda c: [len(i["tokens"]) for i in tsv(c, "1\tgood\rpan\n0\tbad\n")], \
        Returns(lambda n: n == [4, 3])  # <s> good pan </s>: the CR is whitespace
    yield "tsv-header-line", lambda c: tsv(c, "label\ttext\n1\tgood\n0\tbad\n"), \
        Raises(DataFormatError, "line 1: .*looks like a header")
    yield "tsv-rare-first-label-is-no-header", lambda c: [i["label"].label for i in tsv(c, "2\tfine\n1\tgood\n1\tok\n")], \
        Returns(lambda l: l == ["2", "1", "1"])
    yield "tsv-split-without-folds", lambda c: read(TsvSentimentReader(), split(c, "1\tx\n", "test")), \
        Raises(ConfigurationError, "has no folds")
    yield "tsv-one-label-train", lambda c: read(TsvSentimentReader(folds=2, fold=0), split(c, "1\tx\n" * 8, "train")), \
        Raises(DataFormatError, "only one label")
    yield "tsv-unseen-test-label", lambda c: read(TsvSentimentReader(folds=2, fold=1),
                                                  split(c, "1\tgood\n0\tbad\n" * 5 + "neutral\tmeh\n", "test")), \
        Raises(DataFormatError, r"line 11: label 'neutral' .*never occurs in the training")
    yield "tsv-missing-file", lambda c: read(TsvSentimentReader(), c.tmp / "missing.tsv"), Raises(FileNotFoundError, "missing.tsv")
    yield "tsv-directory", lambda c: read(TsvSentimentReader(), c.tmp), Raises(IsADirectoryError, "")


# ----- configuration values ---------------------------------------------------------------------
def build(kind: str, params: dict):
    from allennlp.modules import Seq2VecEncoder
    from allennlp.nn.regularizers import Regularizer

    return {"encoder": Seq2VecEncoder, "regularizer": Regularizer}[kind].from_params(Params(params))


def with_env(name: str, value: str, action):
    def run(ctx):
        old = os.environ.get(name)
        os.environ[name] = value
        try:
            return action(ctx)
        finally:
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
    return run


STRUCTURE_CONFIG = str(Path(__file__).parents[1] / "training_configs" / "kitchen" / "structure_learning.jsonnet")


def config_cases():
    encoder = {"type": "rational_rnn", "input_dim": 4, "wfsa_lengths": {"1": 2}}
    lasso = {"type": "state_group_lasso"}
    yield "lambda-negative", lambda c: build("regularizer", {**lasso, "alpha": -1e-3}), Raises(ConfigurationError, "finite number >= 0")
    yield "lambda-nan", lambda c: build("regularizer", {**lasso, "alpha": float("nan")}), Raises(ConfigurationError, "finite number")
    yield "lambda-string", lambda c: build("regularizer", {**lasso, "alpha": "big"}), Raises((TypeError, ConfigurationError), "alpha")
    yield "lambda-env-negative", with_env("RRNN_LAMBDA", "-2e-4", lambda c: build(
        "regularizer", Params.from_file(STRUCTURE_CONFIG).as_dict()["model"]["regularizer"]["regexes"][0][1])), \
        Raises(ConfigurationError, "RRNN_LAMBDA")
    yield "lambda-env-text", with_env("RRNN_LAMBDA", "strong", lambda c: Params.from_file(STRUCTURE_CONFIG)), \
        Raises(RuntimeError, "RRNN_LAMBDA must be a number")
    yield "encoder-negative-input-dim", lambda c: build("encoder", {**encoder, "input_dim": -3}), \
        Raises(CoreConfigurationError, "input_dim must be a positive integer")
    yield "encoder-no-wfsa", lambda c: build("encoder", {**encoder, "wfsa_lengths": {}}), Raises(CoreConfigurationError, "gives no WFSA")
    yield "encoder-zero-count", lambda c: build("encoder", {**encoder, "wfsa_lengths": {"3": 0}}), Raises(CoreConfigurationError, "gives no WFSA")
    yield "encoder-zero-length", lambda c: build("encoder", {**encoder, "wfsa_lengths": [2, 0]}), Raises(CoreConfigurationError, "at least one transition")
    yield "encoder-negative-count", lambda c: build("encoder", {**encoder, "wfsa_lengths": {"2": -1}}), Raises(CoreConfigurationError, "negative")
    yield "encoder-text-length", lambda c: build("encoder", {**encoder, "wfsa_lengths": {"two": 3}}), Raises(CoreConfigurationError, "wfsa_lengths must")
    yield "encoder-layers-0", lambda c: build("encoder", {**encoder, "num_layers": 0}), Raises(CoreConfigurationError, "num_layers")
    yield "encoder-dropout-1", lambda c: build("encoder", {**encoder, "input_dropout": 1.0}), Raises(CoreConfigurationError, r"input_dropout must be in \[0, 1\)")
    yield "encoder-semiring", lambda c: build("encoder", {**encoder, "semiring": "min_plus"}), Raises(CoreConfigurationError, "semiring must be one of")
    yield "encoder-both-lengths", lambda c: build("encoder", {**encoder, "layer_wfsa_lengths": [[[1]]]}), Raises(CoreConfigurationError, "exactly one")
    yield "spec-unknown-key", lambda c: _spec({"lambda": 1}), Raises(ValueError, "unknown sweep spec keys")
    yield "spec-escaping-dataset", lambda c: _spec({"datasets": ["../../etc"]}), Raises(ValueError, "not a plain name")
    yield "spec-escaping-name", lambda c: _spec({"name": "a/../../b"}), Raises(ValueError, "not a plain name")
    yield "spec-folds-1", lambda c: _spec({"folds": 1}), Raises(ValueError, "'folds': must be an integer >= 2")


def _spec(extra: dict):
    from rrnn_plugin.experiments.spec import SweepSpec

    return SweepSpec.from_json({"name": "s", "datasets": ["kitchen"], **extra})


# ----- numerics ----------------------------------------------------------------------------------
def numeric_cases():
    from rrnn_plugin.encoders import RationalRnnEncoder
    from rrnn_plugin.modules import NonFiniteInputError

    def encode(value):
        tokens = torch.randn(2, 3, 4)
        tokens[0, 1, 2] = value
        return RationalRnnEncoder(4, {"2": 2})(tokens, torch.ones(2, 3, dtype=torch.bool))

    yield "input-nan", lambda c: encode(float("nan")), Raises(NonFiniteInputError, "batch item 0, token 1")
    yield "input-inf", lambda c: encode(float("inf")), Raises(NonFiniteInputError, "NaN or infinite")
    yield "input-minus-inf", lambda c: encode(float("-inf")), Raises(NonFiniteInputError, "NaN or infinite")
    yield "glove-file-with-nan", lambda c: _train_with_bad_vector(c, "nan"), \
        Raises(ConfigurationError, r"vectors.txt, line 2: .*NaN or infinite")
    yield "glove-file-beyond-float32", lambda c: _train_with_bad_vector(c, "1e39"), \
        Raises(ConfigurationError, r"vectors.txt, line 2: .*NaN or infinite")
    yield "glove-file-with-a-word-for-a-number", lambda c: _train_with_bad_vector(c, "abc"), \
        Raises(ConfigurationError, r"vectors.txt, line 2: .*not a number")


def _train_with_bad_vector(ctx, value: str):
    """A pretrained-vector file with a bad value in one row must stop training naming the line, not
    produce a NaN model or numpy's bare conversion error."""
    from allennlp.commands.train import train_model

    words = ["pan", "great", "the", "is", "love", "it", "bad", "broke", "knife", "and"]
    vectors = ctx.file("vectors.txt", "".join(f"{w} {value if w == 'great' else '0.1'} 0.2 0.3\n" for w in words))
    params = Params.from_file(str(FIXTURES / "rational_classifier.jsonnet"), json.dumps({
        "model.text_field_embedder.token_embedders.tokens": {
            "type": "embedding", "embedding_dim": 3, "pretrained_file": str(vectors), "trainable": False},
        "model.seq2vec_encoder.input_dim": 3}))
    return train_model(params, str(ctx.tmp / "run"))


# ----- prediction --------------------------------------------------------------------------------
def predict(ctx, *inputs):
    from allennlp.models.archival import load_archive
    from allennlp.predictors import Predictor

    predictor = Predictor.from_archive(load_archive(ctx.archive), "sentiment")
    return predictor.predict_batch_json([predictor.load_line(i) if isinstance(i, str) else i for i in inputs])


def prediction_cases():
    ok = {"sentence": "great pan"}
    yield "predict-invalid-json", lambda c: predict(c, ok, '{"sentence": "x"'), \
        Returns(lambda r: "label" in r[0] and "invalid JSON" in r[1]["error"], "error record, other line predicted")
    yield "predict-array", lambda c: predict(c, "[1, 2]", ok)[0], Returns(lambda r: "expected a JSON object" in r["error"])
    yield "predict-string", lambda c: predict(c, '"just text"')[0], Returns(lambda r: "got str" in r["error"])
    yield "predict-missing-sentence", lambda c: predict(c, {"review": "x"})[0], Returns(lambda r: 'no "sentence"' in r["error"])
    yield "predict-number-sentence", lambda c: predict(c, {"sentence": 5})[0], Returns(lambda r: "must be a string, got int" in r["error"])
    yield "predict-null-sentence", lambda c: predict(c, {"sentence": None})[0], Returns(lambda r: "error" in r)
    yield "predict-empty-text", lambda c: predict(c, {"sentence": ""})[0], \
        Returns(lambda r: r["no_known_words"] and r["known_words"] == 0 and r["label"] in ("positive", "negative"))
    yield "predict-unknown-words", lambda c: predict(c, {"sentence": "zxqv wvut"})[0], Returns(lambda r: r.get("no_known_words") is True)
    yield "predict-known-words", lambda c: predict(c, {"sentence": "great pan"})[0], Returns(lambda r: r["known_words"] == 2 and "no_known_words" not in r)
    yield "predict-huge-text", lambda c: predict(c, {"sentence": "great " * 20000})[0], Returns(lambda r: r.get("truncated") is True)
    yield "predict-cli-mixed-file", _predict_cli, Returns(lambda out: out == EXPECTED_CLI, "one answer per line")


EXPECTED_CLI = [("label", 1), ("error", 3), ("error", 4), ("label", 5), ("error", 6)]


def _predict_cli(ctx):
    import subprocess
    import sys

    lines = [b'{"sentence": "great pan"}', b"", b"not json", b'{"text": 3}', b'{"text": "bad knife"}', b"\xff\xfe{}"]
    source = ctx.file("in.jsonl", b"\n".join(lines) + b"\n", binary=True)
    answers = []
    for batch_size in ("1", "2", "5"):
        out = ctx.tmp / f"out{batch_size}.jsonl"
        subprocess.run([sys.executable, "-m", "allennlp", "predict", ctx.archive, str(source), "--predictor", "sentiment",
                        "--silent", "--output-file", str(out), "--batch-size", batch_size, "--include-package", "rrnn_plugin"],
                       check=True, capture_output=True)
        records = [json.loads(line) for line in out.read_text().splitlines()]
        answers.append([("label" if "label" in r else "error", r["line"]) for r in records])
    assert answers[0] == answers[1] == answers[2], answers
    return answers[0]


# ----- archives ----------------------------------------------------------------------------------
def evil_archive(ctx, member: tarfile.TarInfo, data: bytes = b"x") -> str:
    path = ctx.tmp / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return str(path)


def load(path: str):
    from allennlp.models.archival import load_archive

    return load_archive(path)


def archive_cases():
    def member(name, kind=tarfile.REGTYPE, target=""):
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.size = kind, target, 1 if kind == tarfile.REGTYPE else 0
        return info

    yield "archive-dotdot", lambda c: load(evil_archive(c, member("../../escaped.txt"))), Raises(tarfile.TarError, "outside the destination")
    # the safe filter strips a leading "/": the member lands inside the temporary folder, which has no config
    yield "archive-absolute", lambda c: load(evil_archive(c, member("/tmp/rrnn-absolute-escape.txt"))), \
        Raises(FileNotFoundError, "config.json not found")
    yield "archive-symlink-out", lambda c: load(evil_archive(c, member("weights.th", tarfile.SYMTYPE, "/etc/passwd"))), \
        Raises(tarfile.TarError, "link to an absolute path")
    yield "archive-link-up", lambda c: load(evil_archive(c, member("weights.th", tarfile.SYMTYPE, "../../x"))), \
        Raises(tarfile.TarError, "outside the destination")
    yield "archive-not-gzip", lambda c: load(str(c.file("fake.tar.gz", b"not an archive", binary=True))), Raises(Exception, "")
    yield "structure-json-malformed", lambda c: _draw(c.file("learned_structure.json", '{"wfsas": [')), Raises(ValueError, "line 1: not valid JSON")
    yield "structure-json-list", lambda c: _draw(c.file("s.json", "[1, 2]")), Raises(ValueError, "not a learned structure")
    yield "structure-json-keys", lambda c: _draw(c.file("s.json", '{"wfsas": [{"kept_length": 1}]}')), Raises(ValueError, "malformed learned structure")


def _draw(path):
    from rrnn_plugin.visualization.structure import read_structure_file

    return read_structure_file(str(path))


# ----- feature cache -----------------------------------------------------------------------------
def cache_cases():
    from rrnn_plugin.contextual import FeatureCache

    def unwritable(ctx):
        blocker = ctx.file("blocker", "a file, not a folder")
        FeatureCache(blocker, {"s": 1}, dim=2).check_writable(1, 1)

    def store_nan(ctx):
        FeatureCache(ctx.tmp / "c", {"s": 1}, dim=2).put("a" * 64, torch.tensor([[float("nan"), 0.0]]).numpy())

    yield "cache-unwritable", unwritable, Raises(OSError, "not writable")
    yield "cache-full-disk", lambda c: FeatureCache(c.tmp / "c", {"s": 1}, dim=1000).check_writable(1, 10 ** 14), Raises(OSError, "MB free")
    yield "cache-store-nan", store_nan, Raises(ValueError, "NaN or infinite")


CASES = [*blitzer_cases(), *tsv_cases(), *config_cases(), *numeric_cases(), *prediction_cases(), *archive_cases(),
         *cache_cases()]


@pytest.fixture(scope="module")
def trained_archive(tmp_path_factory):
    built = {}

    def get() -> str:
        if "path" not in built:
            from allennlp.commands.train import train_model_from_file

            run = tmp_path_factory.mktemp("archive") / "run"
            train_model_from_file(str(FIXTURES / "rational_classifier.jsonnet"), str(run))
            built["path"] = str(run / "model.tar.gz")
        return built["path"]

    return get


def test_there_are_enough_cases():
    assert len(CASES) >= 60 and len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("name, action, expected", CASES, ids=[case[0] for case in CASES])
def test_hostile_input(name, action, expected, tmp_path, trained_archive):
    ctx = Context(tmp_path, trained_archive)
    if isinstance(expected, Raises):
        with pytest.raises(expected.error, match=expected.pattern):
            action(ctx)
    else:
        result = action(ctx)
        assert expected.check(result), f"{name}: {expected.what or 'unexpected result'}: {result!r}"
    # nothing is ever written outside the test's folder
    assert not (tmp_path.parent / "escaped.txt").exists() and not Path("/tmp/rrnn-absolute-escape.txt").exists()
