"""The `.review` files of Blitzer et al. (2007): one review per `<review>` element, parsed to `Review`s.

The files are pseudo-XML (one tag per line, free text with `&`, `<` and control characters inside),
so they are parsed by a small line-based state machine instead of an XML parser.  Structural
problems raise `DataFormatError` naming the file and line.  Splits, folds and the AllenNLP reader
are in blitzer.py.
"""
from dataclasses import dataclass
import html
import logging
import os
from pathlib import Path
import re
from typing import Dict, List, Optional, Tuple, Union

from rrnn_plugin.dataset_readers.sentiment_reader import DataFormatError

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

LABELS = ("negative", "positive")  # also the deterministic file order within a domain

_OPEN_TAG = re.compile(r"^<([A-Za-z_][A-Za-z0-9_]*)>$")
# C0/C1 control characters, ignored when recognizing tags.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Markers of a character lost in some earlier conversion, deleted from the text: non-whitespace
# control characters (the real files have \x1a where an accented letter or a degree sign was,
# as in "clich\x1ad", "400\x1aF") and the replacement character, also in its utf-8-read-as-latin-1
# form "\xef\xbf\xbd" ("clich\xef\xbf\xbdd").  Deleting keeps such a word in one piece.
_LOST = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]|\ufffd|\xef\xbf\xbd")


@dataclass(frozen=True)
class Review:
    """One labelled review and where it came from (so any problem can be traced to its line)."""

    text: str
    label: str
    title: str
    rating: Optional[float]
    domain: str
    path: str
    line: int
    unique_id: str = ""
    index: int = -1  # position in its file (0-based): with domain and label, a stable identity

    @property
    def review_id(self) -> str:
        """`<domain>/<label>/<index>`: the same review gets the same id on every machine and run,
        whatever split or fold it lands in (used to pair predictions of different models)."""
        return f"{self.domain}/{self.label}/{self.index}"


def _normalize(text: str) -> str:
    """Unescape HTML entities, delete lost-character markers, collapse whitespace to single spaces."""
    return " ".join(_LOST.sub("", html.unescape(text)).split())


def _tag_line(line: str) -> str:
    """The line as seen by the structure parser: no surrounding whitespace or control characters."""
    return _CONTROL.sub("", line).strip()


def _rating_agrees(rating: Optional[float], label: str) -> bool:
    if rating is None:
        return False
    return rating > 3.0 if label == "positive" else rating < 3.0


_PARSED: Dict[Tuple, List[Review]] = {}  # read_review_file results by (file, size, mtime, label, domain)


def read_review_file(
    path: PathLike, label: Optional[str] = None, domain: Optional[str] = None
) -> List[Review]:
    """All reviews of one `.review` file, in file order (see `_parse_review_file`).

    Parsed files are remembered per process by path, size and modification time, so a process
    that trains many models on the same data (a sweep worker) parses each file once.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, label, domain)
    if key not in _PARSED:
        _PARSED[key] = _parse_review_file(path, label, domain)
    return list(_PARSED[key])


def _parse_review_file(
    path: PathLike, label: Optional[str] = None, domain: Optional[str] = None
) -> List[Review]:
    """All reviews of one `.review` file, in file order.

    The label defaults to the file name (`positive.review` / `negative.review`) and the domain to
    the folder name.  Structural problems raise `DataFormatError` naming the file and line; a rating
    that contradicts the file's label is only counted and logged (the file's label is kept, since
    that is how Blitzer et al. labelled the balanced sets).
    """
    path = Path(path)
    if label is None:
        label = path.stem
        if label not in LABELS:
            raise ValueError(
                f"{path}: cannot infer the label from the file name; expected one of "
                f"{', '.join(l + '.review' for l in LABELS)} or an explicit label"
            )
    if domain is None:
        domain = path.resolve().parent.name
    parser = _ReviewParser(path, label, domain)
    # latin-1 decodes any byte, and iterating the file splits on newlines only (unlike
    # str.splitlines, which would also split on \x1c, \x85, ... and shift the line numbers).
    with open(path, encoding="latin-1") as handle:
        for number, raw in enumerate(handle, start=1):
            parser.feed(number, raw)
    reviews = parser.finish()
    disagreeing = sum(not _rating_agrees(r.rating, label) for r in reviews)
    if disagreeing:
        logger.warning(
            "%s: %d of %d reviews have a rating that does not fit the label %r (or no rating); "
            "keeping the file's label",
            path, disagreeing, len(reviews), label,
        )
    return reviews


class _ReviewParser:
    """The line-based state machine of `.review` files: top level, inside a `<review>` (between
    fields), inside a field (everything but its closing tag is content)."""

    def __init__(self, path: Path, label: str, domain: str) -> None:
        self.path, self.label, self.domain = path, label, domain
        self.reviews: List[Review] = []
        self.root_line: Optional[int] = None  # line of an open <reviews> root
        self.root_closed = False
        self.review_line: Optional[int] = None  # line of the open <review>
        self.fields: Dict[str, str] = {}
        self.field: Optional[str] = None  # name of the open field inside a review
        self.field_line = 0
        self.field_lines: List[str] = []

    def error(self, line: int, problem: str) -> DataFormatError:
        return DataFormatError(self.path, line, problem)

    def feed(self, number: int, raw: str) -> None:
        line = _tag_line(raw)
        if self.field is not None:
            self._in_field(number, raw, line)
        elif self.review_line is not None:
            self._in_review(number, line)
        else:
            self._at_top(number, line)

    def _in_field(self, number: int, raw: str, line: str) -> None:
        if line == f"</{self.field}>":
            self.fields.setdefault(self.field, " ".join(self.field_lines))
            self.field = None
        elif line in ("<review>", "</review>"):
            raise self.error(number, f"{line} inside <{self.field}> (opened at line {self.field_line}), "
                                     "which was never closed")
        else:
            self.field_lines.append(raw)

    def _in_review(self, number: int, line: str) -> None:
        open_match = _OPEN_TAG.match(line)
        if line == "</review>":
            self.reviews.append(self._review())
            self.review_line = None
        elif open_match and line not in ("<review>", "<reviews>"):
            self.field, self.field_line, self.field_lines = open_match.group(1), number, []
        elif line == "<review>":
            raise self.error(self.review_line, f"<review> is not closed before the next <review> at line {number}")
        elif line:
            raise self.error(number, f"unexpected {line[:40]!r} in a <review> outside any field")

    def _at_top(self, number: int, line: str) -> None:
        if line == "<review>" and not self.root_closed:
            self.review_line, self.fields = number, {}
        elif line == "<reviews>" and self.root_line is None and not self.reviews:
            self.root_line = number
        elif line == "</reviews>" and self.root_line is not None and not self.root_closed:
            self.root_closed = True
        elif line:
            raise self.error(number, f"unexpected {line[:40]!r} at the top level (expected <review>, or one "
                                     "<reviews> ... </reviews> root around the reviews)")

    def _review(self) -> Review:
        fields = self.fields
        text = _normalize(fields.get("review_text", ""))
        if not text:
            problem = "empty <review_text>" if "review_text" in fields else "no <review_text>"
            raise self.error(self.review_line, f"review has {problem}")
        try:
            rating: Optional[float] = float(fields.get("rating", "").strip())
        except ValueError:
            rating = None
        return Review(text=text, label=self.label, title=_normalize(fields.get("title", "")), rating=rating,
                      domain=self.domain, path=str(self.path), line=self.review_line,
                      unique_id=_normalize(fields.get("unique_id", "")), index=len(self.reviews))

    def finish(self) -> List[Review]:
        if self.review_line is not None:
            where = f" (field <{self.field}> opened at line {self.field_line} is not closed)" if self.field else ""
            raise self.error(self.review_line, f"<review> is not closed before the end of the file{where}; "
                                               "truncated file?")
        if self.root_line is not None and not self.root_closed:
            raise self.error(self.root_line, "<reviews> is not closed before the end of the file; truncated file?")
        return self.reviews

