"""Reader for the Blitzer et al. (2007) multi-domain Amazon reviews (`positive.review`/`negative.review`).

The files are parsed by review_files.py.  There is no
official split: `split_reviews` defines a deterministic, stratified one that depends only on the
seed, the domain, the label and the order of the reviews in their file.

Data paths: `<dir>#<split>` with split `train`, `validation` (alias `dev`) or `test`, or `<dir>`
alone for all reviews.  With `folds=k` the split is k-fold cross-validation instead
(`assign_splits`): `#test` is fold `fold`, so over the k folds every review is tested exactly once.  `<dir>` is a domain folder holding `positive.review`/`negative.review`,
`<root>/mix` (every domain folder under `<root>`) or `<root>/books+dvd` (the listed domains).
"""
from collections import Counter
import logging
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance

from rrnn_plugin.dataset_readers.review_files import LABELS, PathLike, Review, read_review_file
from rrnn_plugin.dataset_readers.sentiment_reader import EmptyDataError, SentimentReader, check_split_labels
from rrnn_plugin.dataset_readers.splits import SPLITS, assign_splits, check_folds, check_fractions, split_suffix

logger = logging.getLogger(__name__)

MIX = "mix"


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
