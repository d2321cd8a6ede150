"""Deterministic, stratified train/validation/test assignments shared by the readers.

Two schemes, both a function of (seed, stratum, position in the stratum) only, so the same review
lands in the same part on every machine and Python version, whichever other data is loaded:

* fractions (the default 80/10/10 split): each stratum is permuted by a seeded hash and cut;
* k-fold cross-validation (`folds`, `fold`): each stratum is permuted the same way and cut into k
  blocks of near-equal size; block `fold` is the test part, so over the k folds every item is
  tested exactly once.  Validation is a fixed share of the stratum (`validation_fraction` of all
  its items) taken from the blocks after the test block, train is the rest.  5 folds of a
  1,000-review stratum with validation_fraction 0.1: 700 / 100 / 200.

A stratum is whatever the caller says (Blitzer: (domain, label); a TSV file: its label).
"""
import hashlib
from typing import Dict, Hashable, List, Optional, Sequence, Tuple, Union

from allennlp.common.checks import ConfigurationError

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {"train": "train", "validation": "validation", "dev": "validation", "test": "test"}

Seed = Union[int, str]


def check_fractions(split_fractions: Sequence[float]) -> Tuple[float, float, float]:
    fractions = tuple(float(f) for f in split_fractions)
    if len(fractions) != 3 or any(f < 0 or f > 1 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigurationError(
            f"split_fractions must be three numbers in [0, 1] (train, validation, test) that sum "
            f"to 1, got {list(split_fractions)}"
        )
    return fractions  # type: ignore


def check_folds(folds: Optional[int], fold: Optional[int], validation_fraction: float) -> None:
    """Refuse fold settings that cannot describe a cross-validation split (ConfigurationError)."""
    if folds is None:
        if fold is not None:
            raise ConfigurationError(f"fold={fold} needs folds (the number of folds), which is null")
        return
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigurationError(f"folds must be an integer >= 2 (or null for the plain split), got {folds!r}")
    if fold is None or isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < folds:
        raise ConfigurationError(f"fold must be an integer in 0 .. {folds - 1} when folds={folds}, got {fold!r}")
    if not 0 <= float(validation_fraction) < 1 - 1 / folds:
        raise ConfigurationError(
            f"validation_fraction must be in [0, {1 - 1 / folds:g}) with {folds} folds (the test fold "
            f"takes 1/{folds}), got {validation_fraction!r}"
        )


def round_half_up(x: float) -> int:
    return int(x + 0.5 + 1e-9)


def stable_key(seed: Seed, stratum: Sequence[str], index: int) -> bytes:
    # sha256 rather than hash() (salted per process) or random.shuffle (whose algorithm Python
    # does not promise to keep): the split must be the same on every machine and Python version.
    return hashlib.sha256(f"{seed}:{':'.join(stratum)}:{index}".encode("utf-8")).digest()


def _permutation(seed: Seed, stratum: Tuple[str, ...], n: int) -> List[int]:
    return sorted(range(n), key=lambda k: stable_key(seed, stratum, k))


def _fraction_parts(n: int, fractions: Tuple[float, float, float]) -> List[str]:
    """Part of each rank 0..n-1 of a permuted stratum (rounded half up, test takes the rest)."""
    n_train = min(n, round_half_up(n * fractions[0]))
    n_validation = min(n - n_train, round_half_up(n * fractions[1]))
    return ["train"] * n_train + ["validation"] * n_validation + ["test"] * (n - n_train - n_validation)


def _fold_parts(n: int, folds: int, fold: int, validation_fraction: float) -> List[str]:
    """Part of each rank: block `fold` of k is test, the next ranks (cyclically) validation."""
    start, end = fold * n // folds, (fold + 1) * n // folds
    n_validation = min(n - (end - start), round_half_up(n * validation_fraction))
    parts = ["train"] * n
    for rank in range(start, end):
        parts[rank] = "test"
    for offset in range(n_validation):
        parts[(end + offset) % n] = "validation"
    return parts


def assign_splits(
    strata: Sequence[Tuple[str, ...]],
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: Seed = 13,
    folds: Optional[int] = None,
    fold: Optional[int] = None,
    validation_fraction: float = 0.1,
) -> List[str]:
    """The part ("train"/"validation"/"test") of every item, given each item's stratum.

    An item's position within its stratum is its rank among the items of that stratum in input
    order, so pass *all* items (before any filtering), or positions shift.
    """
    check_folds(folds, fold, validation_fraction)
    fractions = check_fractions(split_fractions)
    members: Dict[Hashable, List[int]] = {}
    for i, stratum in enumerate(strata):
        members.setdefault(tuple(stratum), []).append(i)
    assignment = [""] * len(strata)
    for stratum, items in members.items():
        n = len(items)
        if folds is None:
            parts = _fraction_parts(n, fractions)
        else:
            parts = _fold_parts(n, folds, fold, validation_fraction)
        for rank, k in enumerate(_permutation(seed, stratum, n)):
            assignment[items[k]] = parts[rank]
    return assignment


def split_suffix(data_path, is_whole) -> Tuple[str, Optional[str]]:
    """`<path>#<part>` -> (`<path>`, canonical part name); (path, None) without `#part`, or when
    `is_whole(path)` says the path with its '#' names the data itself (a folder or file so named)."""
    data_path = str(data_path)
    if "#" not in data_path or is_whole(data_path):
        return data_path, None
    path, part = data_path.rsplit("#", 1)
    if part not in SPLIT_ALIASES:
        raise ConfigurationError(
            f"{data_path}: unknown split {part!r}; expected one of {', '.join(sorted(SPLIT_ALIASES))} after '#'"
        )
    return path, SPLIT_ALIASES[part]
