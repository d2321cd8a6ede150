"""Guards on AllenNLP's `predict` and `evaluate` so that a slip on the command line loses no file.

AllenNLP's `predict` opens `--output-file` for writing (emptying it) before it has read a line of
the input: a missing input file, or the input named as the output, left an empty file where the
user's data was, and `evaluate --output-file model.tar.gz` wrote its metrics over the archive.
Applied when the plugin is imported, for every predictor and model (AllenNLP's files unchanged):

1. `predict` writes to a temporary file beside `--output-file` (beside a symlink's target) and
   renames it over the output, keeping its mode, only once every line is answered; a run that fails
   or is interrupted leaves the old file as it was.  A FIFO or /dev/stdout is written directly.
2. `predict` and `evaluate` refuse an output path that is one of their inputs (the input file, the
   model archive) or an existing compressed archive (a `.tar.gz`/`.zip` is never a prediction or
   metrics file), before anything is opened.
3. `evaluate` on data with a label the model never learned names the data file and the label
   (AllenNLP's bare KeyError named neither).
"""
import os
import stat
import tempfile
from typing import Iterable, Optional

from allennlp.common.checks import ConfigurationError

_ARCHIVE_MAGIC = (b"\x1f\x8b", b"PK\x03\x04", b"BZh", b"\xfd7zXZ")  # gzip, zip, bzip2, xz
_UMASK = os.umask(0o022)  # read once, at import (setting it is process-wide); restored at once
os.umask(_UMASK)


def is_regular_or_new(path: str) -> bool:
    """Only a regular file (or a path not there yet) is written beside itself and replaced: a FIFO,
    /dev/stdout or a process substitution is written directly, as AllenNLP does, never read."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True


def _local_file(given: str) -> str:
    """`data.tsv#test` names data.tsv (the readers' part suffix), when that file exists."""
    head = given.split("#", 1)[0]
    return head if "#" in given and os.path.exists(head) else given


def _same_file(a: str, b: str) -> bool:
    b = _local_file(b)
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet), or is not a local file (a URL)
        return os.path.abspath(a) == os.path.abspath(b)


def _is_archive(path: str) -> bool:
    if path.endswith((".tar", ".tar.gz", ".tgz", ".zip")):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(6).startswith(_ARCHIVE_MAGIC)
    except OSError:
        return False


def check_output_path(output: Optional[str], inputs: Iterable[Optional[str]], option: str) -> None:
    """ConfigurationError if writing `output` would destroy one of `inputs` or an archive."""
    if not output:
        return
    for given in inputs:
        if given and given != "-" and _same_file(output, given):
            raise ConfigurationError(f"{option} {output} is also an input of this command ({given}); writing it would "
                                     "destroy that input: choose another output file")
    if os.path.exists(output) and is_regular_or_new(output) and _is_archive(output):
        raise ConfigurationError(f"{option} {output} is an existing archive, not a predictions or metrics file; "
                                 "it is left as it is: choose another output file")


def _staging_file(final: str):
    """An open temporary file beside `final` (a real path), to be `_publish`ed over it."""
    folder, name = os.path.split(final)
    return tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=f".{name}.", suffix=".partial",
                                       delete=False)


def _publish(staged: str, final: str) -> None:
    """Rename the (closed) staged file over `final`, with the old file's mode, or the one open()
    would give a new file (not the temporary's 0600)."""
    old = os.stat(final).st_mode if os.path.exists(final) else None
    os.chmod(staged, stat.S_IMODE(old) if old is not None else 0o666 & ~_UMASK)
    os.replace(staged, final)


def write_text_safely(path: str, text: str) -> None:
    """`text` into `path` (its folder made if needed): beside it and renamed over it, so a failure
    leaves the old file whole; a FIFO or /dev/stdout is written directly."""
    if not is_regular_or_new(path):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    final = os.path.realpath(path)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    with _staging_file(final) as handle:
        handle.write(text)
    _publish(handle.name, final)


def _split(paths: Optional[str]) -> list:
    return [] if not paths else str(paths).split(",")


# ----- predict ---------------------------------------------------------------------------------
def _guard_predict() -> None:
    from allennlp.commands import predict

    manager = predict._PredictManager
    if getattr(manager.__init__, "_rrnn_guarded", False):
        return
    original_init, original_run = manager.__init__, manager.run

    def __init__(self, predictor, input_file, output_file, *args, **kwargs):
        check_output_path(output_file, [input_file], "--output-file")
        staged = bool(output_file) and is_regular_or_new(output_file)
        original_init(self, predictor, input_file, None if staged else output_file, *args, **kwargs)
        self._rrnn_final_output = os.path.realpath(output_file) if staged else None  # a symlink's target
        if staged:
            self._output_file = _staging_file(self._rrnn_final_output)  # closed by run

    def run(self) -> None:
        final = self._rrnn_final_output
        partial = self._output_file if final else None
        try:
            original_run(self)
        except BaseException:
            if partial is not None:
                partial.close()
                os.unlink(partial.name)
            raise
        if partial is not None:
            _publish(partial.name, final)
        from rrnn_plugin.predictors.predict_lines import report_failed_lines

        report_failed_lines(self)

    __init__._rrnn_guarded = True  # type: ignore[attr-defined]
    manager.__init__, manager.run = __init__, run


# ----- evaluate --------------------------------------------------------------------------------
def _guard_evaluate() -> None:
    from allennlp.commands import evaluate

    original = evaluate.evaluate_from_archive
    if getattr(original, "_rrnn_guarded", False):
        return

    def evaluate_from_archive(archive_file, input_file, metrics_output_file=None, predictions_output_file=None,
                              *args, **kwargs):
        inputs = [str(archive_file), *_split(input_file)]
        for output in _split(metrics_output_file):
            check_output_path(output, inputs, "--output-file")
        for output in _split(predictions_output_file):
            check_output_path(output, inputs, "--predictions-output-file")
        try:
            return original(archive_file, input_file, metrics_output_file, predictions_output_file, *args, **kwargs)
        except KeyError as error:  # AllenNLP indexes a label the model does not know: a bare KeyError
            if "not found in vocab namespace" not in str(error):
                raise
            label = str(error).strip("\"'").split("' not found", 1)[0].lstrip("'")
            raise ConfigurationError(f"{input_file}: the label {label!r} is not one of the model's labels (it was "
                                     f"trained without it), so it cannot be evaluated on this data") from None

    evaluate_from_archive._rrnn_guarded = True  # type: ignore[attr-defined]
    evaluate.evaluate_from_archive = evaluate_from_archive


def install() -> None:
    """Apply both guards (idempotent)."""
    _guard_predict()
    _guard_evaluate()

