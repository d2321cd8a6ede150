"""Reader for the Blitzer et al. (2007) multi-domain Amazon reviews (`positive.review`/`negative.review`).

The files are pseudo-XML (one tag per line, free text with `&`, `<` and control characters inside),
so they are parsed by a small line-based state machine instead of an XML parser.  There is no
official split: `split_reviews` defines a deterministic, stratified one that depends only on the
seed, the domain, the label and the order of the reviews in their file.

Data paths: `<dir>#<split>` with split `train`, `validation` (alias `dev`) or `test`, or `<dir>`
alone for all reviews.  With `folds=k` the split is k-fold cross-validation instead
(`assign_splits`): `#test` is fold `fold`, so over the k folds every review is tested exactly once.  `<dir>` is a domain folder holding `positive.review`/`negative.review`,
`<root>/mix` (every domain folder under `<root>`) or `<root>/books+dvd` (the listed domains).
"""
from collections import Counter
from dataclasses import dataclass
import html
import logging
import os
from pathlib import Path
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance

from rrnn_plugin.dataset_readers.sentiment_reader import (
    DataFormatError, EmptyDataError, SentimentReader, check_split_labels,
)
from rrnn_plugin.dataset_readers.splits import SPLITS, assign_splits, check_folds, check_fractions, split_suffix

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

LABELS = ("negative", "positive")  # also the deterministic file order within a domain
MIX = "mix"

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


def parse_data_path(data_path: PathLike) -> Tuple[str, Optional[str]]:
    """`<dir>#<split>` -> (`<dir>`, canonical split name or None for all reviews)."""
    return split_suffix(data_path, os.path.isdir)


def _label_files(directory: Path) -> List[Path]:
    return [directory / f"{label}.review" for label in LABELS if (directory / f"{label}.review").is_file()]


def resolve_domain_dirs(data_dir: PathLike) -> List[Path]:
    """The domain folders that `data_dir` names (a domain, `<root>/mix` or `<root>/a+b`), sorted."""
    data_dir = Path(data_dir)
    if data_dir.is_dir():
        if not _label_files(data_dir):
            raise FileNotFoundError(
                f"{data_dir}: folder has no positive.review or negative.review file"
            )
        return [data_dir]
    root, name = data_dir.parent, data_dir.name
    if name == MIX:
        if not root.is_dir():
            raise FileNotFoundError(f"{data_dir}: folder {root} does not exist")
        domains = sorted(d for d in root.iterdir() if d.is_dir() and _label_files(d))
        if not domains:
            raise FileNotFoundError(
                f"{data_dir}: no subfolder of {root} has positive.review or negative.review files"
            )
        return domains
    if "+" in name:
        domains = []
        for domain in sorted(set(name.split("+"))):
            if not domain:
                raise ConfigurationError(f"{data_dir}: empty domain name in {name!r}")
            if not (root / domain).is_dir():
                raise FileNotFoundError(f"{data_dir}: domain folder {root / domain} does not exist")
            if not _label_files(root / domain):
                raise FileNotFoundError(
                    f"{data_dir}: domain folder {root / domain} has no positive.review or "
                    "negative.review file"
                )
            domains.append(root / domain)
        return domains
    raise FileNotFoundError(f"{data_dir}: no such folder (nor '<root>/mix' or '<root>/a+b')")


def load_reviews(data_dir: PathLike) -> List[Review]:
    """All reviews under `data_dir` (no `#split`), in the canonical order used for splitting and
    de-duplication: domains sorted by name, `negative.review` before `positive.review`, file order."""
    reviews: List[Review] = []
    for domain_dir in resolve_domain_dirs(data_dir):
        files = _label_files(domain_dir)
        if len(files) < len(LABELS):
            logger.warning("%s: only %s, the other label is missing", domain_dir, files[0].name)
        for file in files:
            reviews.extend(read_review_file(file, domain=domain_dir.name))
    return reviews


def split_reviews(
    reviews: Sequence[Review],
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: Union[int, str] = 13,
    folds: Optional[int] = None,
    fold: Optional[int] = None,
    validation_fraction: float = 0.1,
) -> Dict[str, List[Review]]:
    """Deterministic stratified split -> `{"train": [...], "validation": [...], "test": [...]}`.

    Strata are (domain, label); see `splits.assign_splits` for the two schemes (fractions, or
    fold `fold` of `folds`-fold cross-validation).  1000 reviews with (0.8, 0.1, 0.1) give exactly
    800/100/100.  A review's split does not depend on which other domains are loaded.  Pass *all*
    reviews of each stratum (split before de-duplicating), otherwise positions shift.  Within a
    split, reviews keep their input order.
    """
    parts = assign_splits(
        [(r.domain, r.label) for r in reviews], split_fractions, seed, folds, fold, validation_fraction
    )
    result: Dict[str, List[Review]] = {split: [] for split in SPLITS}
    for review, part in zip(reviews, parts):
        result[part].append(review)
    return result


def duplicate_flags(reviews: Iterable[Review]) -> List[bool]:
    """For each review, whether an earlier review has exactly the same (normalized) text."""
    seen = set()
    flags = []
    for review in reviews:
        flags.append(review.text in seen)
        seen.add(review.text)
    return flags


def select_reviews(
    data_path: PathLike,
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: Union[int, str] = 13,
    drop_duplicates: bool = True,
    folds: Optional[int] = None,
    fold: Optional[int] = None,
    validation_fraction: float = 0.1,
) -> List[Review]:
    """The reviews a data path (`<dir>` or `<dir>#<split>`) denotes, exactly as the reader reads them.

    The split is made on all reviews first and duplicates are dropped afterwards, over all the data
    under `<dir>` (keeping the first occurrence in canonical order): removing duplicates never
    moves another review to a different split, and a text never appears in two splits.
    """
    data_dir, split = parse_data_path(data_path)
    reviews = load_reviews(data_dir)
    if split is None:
        selected = reviews
    else:
        selected = split_reviews(reviews, split_fractions, seed, folds, fold, validation_fraction)[split]
    if drop_duplicates:
        duplicates = {id(r) for r, dup in zip(reviews, duplicate_flags(reviews)) if dup}
        kept = [r for r in selected if id(r) not in duplicates]
        per_domain = Counter(r.domain for r in selected if id(r) in duplicates)
        logger.info(
            "%s: dropped %d duplicate review texts (%s), %d reviews left",
            data_path, len(selected) - len(kept),
            ", ".join(f"{d}: {n}" for d, n in sorted(per_domain.items())) or "none", len(kept),
        )
        selected = kept
    return selected


@DatasetReader.register("blitzer_reviews")
class BlitzerReviewsReader(SentimentReader):
    """Reads the Blitzer et al. (2007) `.review` files for binary sentiment classification.

    See the module docstring for the data path syntax (`<dir>#train`, `<root>/mix#test`, ...).

    # Parameters

    split_fractions : `Tuple[float, float, float]`, optional (default=`(0.8, 0.1, 0.1)`)
        Train, validation and test fractions of each (domain, label) stratum; must sum to 1.
        Ignored when `folds` is set.
    seed : `int`, optional (default=`13`)
        Seed of the split or of the fold assignment (not of anything else).
    folds : `int`, optional (default=`None`)
        k-fold cross-validation instead of `split_fractions`: `#test` is fold `fold` of `folds`
        (every review is tested exactly once over the folds), `#validation` a fixed share of the
        rest, `#train` the remainder (`splits.assign_splits`).
    fold : `int`, optional (default=`None`)
        Which fold (0 .. folds-1) is the test part; required with `folds`.
    validation_fraction : `float`, optional (default=`0.1`)
        With `folds`: the validation part's share of each stratum (5 folds of 2,000 reviews:
        1,400 / 200 / 400).
    drop_duplicates : `bool`, optional (default=`True`)
        Drop reviews whose text repeats an earlier one (the original data has 20-46 per domain).
    include_title : `bool`, optional (default=`False`)
        Prepend the review title to its text.
    **kwargs
        `SentimentReader` / `DatasetReader` options (token_indexers, lowercase, clean, ...).
    """

    def __init__(
        self,
        split_fractions: Tuple[float, float, float] = (0.8, 0.1, 0.1),
        seed: int = 13,
        drop_duplicates: bool = True,
        include_title: bool = False,
        folds: Optional[int] = None,
        fold: Optional[int] = None,
        validation_fraction: float = 0.1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        check_folds(folds, fold, validation_fraction)
        self._split_fractions = check_fractions(split_fractions)
        self._seed = seed
        self._drop_duplicates = drop_duplicates
        self._include_title = include_title
        self._folds = folds
        self._fold = fold
        self._validation_fraction = float(validation_fraction)

    def review_text(self, review: Review) -> str:
        """The text a review contributes to its instance."""
        if self._include_title and review.title:
            return f"{review.title} {review.text}"
        return review.text

    def reviews(self, file_path: PathLike) -> List[Review]:
        """The reviews `read(file_path)` makes instances of, in the same order.  An empty selection
        is an error, and so are labels a split cannot learn from (`check_split_labels`)."""
        selected = self._select(file_path)
        if not selected:
            raise EmptyDataError(f"{file_path}: no reviews (empty .review files, or an empty split)")
        data_dir, split = parse_data_path(file_path)
        if split is not None:
            train = selected if split == "train" else self._select(f"{data_dir}#train")
            check_split_labels(str(file_path), split, [r.label for r in selected], [r.label for r in train],
                               [(r.path, r.line) for r in selected])
        return selected

    def _select(self, file_path: PathLike) -> List[Review]:
        return select_reviews(
            file_path, self._split_fractions, self._seed, self._drop_duplicates,
            self._folds, self._fold, self._validation_fraction,
        )

    def example_ids(self, file_path: PathLike) -> List[str]:
        """Stable ids (`Review.review_id`) of the instances `read(file_path)` gives, in order."""
        return [review.review_id for review in self.reviews(file_path)]

    def _read(self, file_path: PathLike) -> Iterable[Instance]:
        for review in self.shard_iterable(self.reviews(file_path)):
            yield self.text_to_instance(self.review_text(review), review.label)
