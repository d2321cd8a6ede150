"""Reader for the paper authors' plain format: one `label<TAB>text` document per line."""
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Tuple, Union

from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path
from allennlp.data import DatasetReader, Instance

from rrnn_plugin.dataset_readers.sentiment_reader import (
    DataFormatError, EmptyDataError, SentimentReader, check_split_labels,
)
from rrnn_plugin.dataset_readers.splits import assign_splits, check_folds, split_suffix

logger = logging.getLogger(__name__)


def decode_text_file(path: Union[str, os.PathLike]) -> str:
    """The file as text: UTF-16 if it starts with its BOM, utf-8 (a BOM is dropped) if it decodes,
    else latin-1, which never fails.

    The fallback is per file, so a single bad byte cannot mix two decodings in one file.
    """
    data = Path(path).read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # a UTF-16 BOM (Windows "Unicode" text): latin-1 would garble it
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.warning("%s is not valid utf-8; reading it as latin-1", path)
        return data.decode("latin-1")


MAX_LABEL_LENGTH = 40  # a longer first column (or one with spaces) is text, not a label
_ROW_AFTER_CR = re.compile(r"\r[^\s\t]{1,%d}\t" % MAX_LABEL_LENGTH)


def read_tsv_lines(path: Union[str, os.PathLike]) -> Iterator[Tuple[int, str, str]]:
    """Yield `(line number, label, text)` for each non-blank line; `DataFormatError` on bad lines."""
    # split("\n") rather than splitlines(): the latter also splits on \x0b, \x1c, \x85, ...
    # which would shift the line numbers in error messages away from what editors show.
    content = decode_text_file(path)
    if "\n" not in content and "\r" in content:  # old Mac line endings (CR only)
        content = content.replace("\r", "\n")
    for number, line in enumerate(content.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if "\r" in line:
            if _ROW_AFTER_CR.search(line):  # a CR ending a row in a file of LF lines: two documents in one
                raise DataFormatError(path, number, "a carriage return (\\r) followed by what looks like another "
                                      "label<TAB>text row: the file mixes line endings; convert them to \\n")
            line = line.replace("\r", " ")  # a stray CR inside a document's text is only whitespace
        if "\t" not in line:
            raise DataFormatError(path, number, "no tab between label and text")
        label, text = line.split("\t", 1)
        label, text = label.strip(), text.strip()
        if not label:
            raise DataFormatError(path, number, "empty label before the tab")
        if not text:
            raise DataFormatError(path, number, "empty text after the tab")
        if len(label.split()) > 1 or len(label) > MAX_LABEL_LENGTH:
            raise DataFormatError(path, number, f"the label {label[:40]!r} looks like text: expected "
                                  "label<TAB>text (are the columns swapped?)")
        yield number, label, text


HEADER_WORDS = {"label", "labels", "class", "category", "sentiment", "polarity", "target", "gold", "y", "rating",
                "text", "texts", "sentence", "review", "document", "content", "body"}


def refuse_header_line(path, rows: List[Tuple[str, int, str, str]]) -> None:
    """A header such as `label<TAB>text` would otherwise be read as one document of a new class (the
    model gains an output for it, and nothing says so): the first line is refused when its label
    occurs nowhere else in the file and its label or text is a column name."""
    _, line, label, text = rows[0]
    unique = all(other[2] != label for other in rows[1:])
    if len(rows) > 1 and unique and (label.lower() in HEADER_WORDS or text.lower() in HEADER_WORDS):
        raise DataFormatError(path, line, f"{label!r} / {text!r} looks like a header line (the label occurs nowhere "
                              "else in the file): the format has no header; delete that line")


def parse_file_split(file_path: Union[str, os.PathLike]) -> Tuple[str, Optional[str]]:
    """`file.tsv#test` -> ("file.tsv", "test"); a path without `#split` (or a file whose name
    really contains '#') -> (path, None)."""
    return split_suffix(file_path, os.path.exists)


@DatasetReader.register("tsv_sentiment")
class TsvSentimentReader(SentimentReader):
    """Reads `label<TAB>text` lines (the format of the paper authors' data files).

    Blank lines are skipped; a line without a tab, with an empty label or an empty text raises
    `DataFormatError` with its file and line.  Options are those of `SentimentReader` (lower-casing,
    Kim (2014) cleaning and `<s>`/`</s>` are on by default), plus cross-validation of one file:

    # Parameters

    folds : `int`, optional (default=`None`)
        Split the one file into `folds` folds stratified by label: `file.tsv#test` is fold `fold`,
        `#validation` a `validation_fraction` share of each label, `#train` the rest (the same
        scheme as `blitzer_reviews`, `splits.assign_splits`).  Without `folds`, the whole file is
        read and a `#split` suffix is an error.
    fold : `int`, optional (default=`None`)
    validation_fraction : `float`, optional (default=`0.1`)
    seed : `int`, optional (default=`13`)
        Seed of the fold assignment.
    """

    def __init__(
        self,
        folds: Optional[int] = None,
        fold: Optional[int] = None,
        validation_fraction: float = 0.1,
        seed: int = 13,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        check_folds(folds, fold, validation_fraction)
        self._folds = folds
        self._fold = fold
        self._validation_fraction = float(validation_fraction)
        self._seed = seed

    def rows(self, file_path: Union[str, os.PathLike]) -> List[Tuple[str, int, str, str]]:
        """(id, line, label, text) of every document `read(file_path)` gives, in order; the id is
        `<file name>:<line>`.  The whole file is validated first, so a bad line fails fast."""
        path, split = parse_file_split(file_path)
        if split is not None and self._folds is None:
            raise ConfigurationError(
                f"{file_path}: '#{split}' selects a fold's part, but this reader has no folds; set "
                "folds and fold (or give the whole file without '#')"
            )
        local = cached_path(path)
        name = Path(path).name
        rows = [(f"{name}:{line}", line, label, text) for line, label, text in read_tsv_lines(local)]
        if not rows:
            raise EmptyDataError(f"{path}: no documents (the file is empty or has only blank lines)")
        refuse_header_line(path, rows)
        if split is None:
            if self._folds is not None:
                logger.warning("%s: this reader has folds=%d but the path names no part ('#train', '#validation' "
                               "or '#test'): reading every line of the file", file_path, self._folds)
            return rows
        parts = assign_splits([(label,) for _, _, label, _ in rows], seed=self._seed, folds=self._folds,
                              fold=self._fold, validation_fraction=self._validation_fraction)
        selected = [row for row, part in zip(rows, parts) if part == split]
        if not selected:
            raise EmptyDataError(f"{file_path}: no documents in this part (too few lines for {self._folds} folds?)")
        train = [row for row, part in zip(rows, parts) if part == "train"]
        check_split_labels(str(file_path), split, [r[2] for r in selected], [r[2] for r in train],
                           [(path, r[1]) for r in selected])
        return selected

    def example_ids(self, file_path: Union[str, os.PathLike]) -> List[str]:
        """Stable ids of the instances `read(file_path)` gives, in order."""
        return [row[0] for row in self.rows(file_path)]

    def _read(self, file_path: Union[str, os.PathLike]) -> Iterable[Instance]:
        for _, _, label, text in self.shard_iterable(self.rows(file_path)):
            yield self.text_to_instance(text, label)
