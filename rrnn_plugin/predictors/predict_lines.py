"""Input line numbers for `allennlp predict` with the `sentiment` predictor.

AllenNLP's prediction loop (`_PredictManager._get_json_data`) skips blank lines and hands each
other line to the predictor without its number, so an error record could only say "the 7th
non-blank line".  This wraps that one method, for the `sentiment` predictor only (any other
predictor gets AllenNLP's own loop, unchanged): each line is read and decoded on its own (a line
that is not UTF-8 becomes an error record, not a crash) and its dict carries the file's line number
under `LINE_KEY`, which the predictor copies into its output.  It also counts the error records:
`report_failed_lines` (called by command_guards when the run ends) warns with the lines that failed,
and makes the command fail when no line at all could be predicted.  AllenNLP's files are not
modified.
"""
import gzip
import json
import logging
import sys
from typing import Iterator

from allennlp.common.checks import ConfigurationError

from allennlp.common.file_utils import cached_path
from allennlp.common.util import JsonDict

from rrnn_plugin.predictors.sentiment import ERROR_KEY, LINE_KEY, SentimentPredictor

logger = logging.getLogger(__name__)


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


def report_failed_lines(manager) -> None:
    """After a `sentiment` run: warn which lines got an error record; raise (the command exits 1,
    the error records stay in the output) when every line did, as then nothing was predicted."""
    failed, answered = getattr(manager, "_rrnn_failed", []), getattr(manager, "_rrnn_answered", 0)
    if not failed:
        return
    shown = ", ".join(map(str, failed[:10])) + (", ..." if len(failed) > 10 else "")
    if len(failed) == answered:
        raise ConfigurationError(f"none of the {answered} input lines could be predicted (lines {shown}); "
                                 "each has an error record saying why")
    logger.warning("%d of %d input lines could not be predicted (lines %s); each has an error record saying why",
                   len(failed), answered, shown)


def _count_errors(manager, prediction: str) -> None:
    manager._rrnn_answered = getattr(manager, "_rrnn_answered", 0) + 1
    record = json.loads(prediction)
    if "error" in record:
        manager.__dict__.setdefault("_rrnn_failed", []).append(record.get("line", manager._rrnn_answered))


def number_input_lines() -> None:
    """Install the wrappers (idempotent)."""
    from allennlp.commands import predict

    original, write = predict._PredictManager._get_json_data, predict._PredictManager._maybe_print_to_console_and_file
    if getattr(original, "_rrnn_numbered", False):
        return

    def _get_json_data(self) -> Iterator[JsonDict]:
        if isinstance(self._predictor, SentimentPredictor):
            return numbered_json_data(self)
        return original(self)

    def _maybe_print_to_console_and_file(self, index, prediction, model_input=None) -> None:
        if isinstance(self._predictor, SentimentPredictor):
            _count_errors(self, prediction)
        write(self, index, prediction, model_input)

    _get_json_data._rrnn_numbered = True  # type: ignore[attr-defined]
    predict._PredictManager._get_json_data = _get_json_data
    predict._PredictManager._maybe_print_to_console_and_file = _maybe_print_to_console_and_file
