"""Input line numbers for `allennlp predict` with the `sentiment` predictor.

AllenNLP's prediction loop (`_PredictManager._get_json_data`) skips blank lines and hands each
other line to the predictor without its number, so an error record could only say "the 7th
non-blank line".  This wraps that one method, for the `sentiment` predictor only (any other
predictor gets AllenNLP's own loop, unchanged): each line is read and decoded on its own (a line
that is not UTF-8 becomes an error record, not a crash) and its dict carries the file's line number
under `LINE_KEY`, which the predictor copies into its output.  AllenNLP's files are not modified.
"""
import gzip
import sys
from typing import Iterator

from allennlp.common.file_utils import cached_path
from allennlp.common.util import JsonDict

from rrnn_plugin.predictors.sentiment import ERROR_KEY, LINE_KEY, SentimentPredictor


def _raw_lines(input_file: str) -> Iterator[bytes]:
    if input_file == "-":
        yield from sys.stdin.buffer
        return
    path = cached_path(input_file)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        yield from handle


def numbered_json_data(manager) -> Iterator[JsonDict]:
    for number, raw in enumerate(_raw_lines(manager._input_file), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield {ERROR_KEY: f"not UTF-8 text ({error.reason} at byte {error.start})", LINE_KEY: number}
            continue
        if line.isspace() or not line:
            continue
        data = manager._predictor.load_line(line)
        data[LINE_KEY] = number
        yield data


def number_input_lines() -> None:
    """Install the wrapper (idempotent)."""
    from allennlp.commands import predict

    original = predict._PredictManager._get_json_data
    if getattr(original, "_rrnn_numbered", False):
        return

    def _get_json_data(self) -> Iterator[JsonDict]:
        if isinstance(self._predictor, SentimentPredictor):
            return numbered_json_data(self)
        return original(self)

    _get_json_data._rrnn_numbered = True  # type: ignore[attr-defined]
    predict._PredictManager._get_json_data = _get_json_data
