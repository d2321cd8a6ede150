"""Reader for the paper authors' plain format: one `label<TAB>text` document per line."""
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator, List, Tuple, Union

from allennlp.common.file_utils import cached_path
from allennlp.data import DatasetReader, Instance

from rrnn_plugin.dataset_readers.sentiment_reader import DataFormatError, SentimentReader

logger = logging.getLogger(__name__)


def decode_text_file(path: Union[str, os.PathLike]) -> str:
    """The file as text: utf-8 (a BOM is dropped) if it decodes, else latin-1, which never fails.

    The fallback is per file, so a single bad byte cannot mix two decodings in one file.
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.warning("%s is not valid utf-8; reading it as latin-1", path)
        return data.decode("latin-1")


def read_tsv_lines(path: Union[str, os.PathLike]) -> Iterator[Tuple[int, str, str]]:
    """Yield `(line number, label, text)` for each non-blank line; `DataFormatError` on bad lines."""
    # split("\n") rather than splitlines(): the latter also splits on \x0b, \x1c, \x85, ...
    # which would shift the line numbers in error messages away from what editors show.
    for number, line in enumerate(decode_text_file(path).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataFormatError(path, number, "no tab between label and text")
        label, text = line.split("\t", 1)
        label, text = label.strip(), text.strip()
        if not label:
            raise DataFormatError(path, number, "empty label before the tab")
        if not text:
            raise DataFormatError(path, number, "empty text after the tab")
        yield number, label, text


@DatasetReader.register("tsv_sentiment")
class TsvSentimentReader(SentimentReader):
    """Reads `label<TAB>text` lines (the format of the paper authors' data files).

    Blank lines are skipped; a line without a tab, with an empty label or an empty text raises
    `DataFormatError` with its file and line.  Options are those of `SentimentReader` (lower-casing,
    Kim (2014) cleaning and `<s>`/`</s>` are on by default).
    """

    def _read(self, file_path: Union[str, os.PathLike]) -> Iterable[Instance]:
        path = cached_path(file_path)
        # Validate the whole file before yielding, so a bad line fails fast and in every worker.
        rows: List[Tuple[int, str, str]] = list(read_tsv_lines(path))
        for _, label, text in self.shard_iterable(rows):
            yield self.text_to_instance(text, label)
