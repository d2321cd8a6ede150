"""Confidence intervals and paired tests for accuracies measured on the same documents.

Cross-validation tests every document once per seed, so a model's result is a vector of
per-document accuracies (the share of its seeds that got the document right).  Everything here
works on such vectors (numpy, no training):

* `accuracy_interval`: mean and 95% confidence interval over documents (normal approximation; on
  2,000 documents at 80-85% the half-width is about 1.6-1.8 points).
* `paired_test`: two models on the same documents.  With one seed each, per-document outcomes are
  right/wrong and the test is McNemar's exact test (binomial on the discordant documents); with
  several seeds the per-document differences are fractions and the test is the paired sign-flip
  (randomization) test, whose null distribution is that of sum(s_i d_i) with random signs s_i,
  here in its normal approximation (mean 0, variance sum d_i^2: exact enough for hundreds of
  documents).
* `fold_t_test`: the paired t-test over folds (per-fold accuracy differences, k - 1 degrees of
  freedom), a second view that treats the fold as the unit.
"""
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

Z95 = 1.959963984540054
ALPHA = 0.05


def mean_std(values: Sequence[Any]) -> "tuple[float, float]":
    """(mean, sample standard deviation) of the numbers among `values` (std 0 for one; NaN for none)."""
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return math.nan, math.nan
    mean = sum(numbers) / len(numbers)
    if len(numbers) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((x - mean) ** 2 for x in numbers) / (len(numbers) - 1))


def accuracy_interval(per_document: Sequence[float]) -> "tuple[float, float]":
    """(mean, 95% CI half-width) of per-document accuracies (normal approximation)."""
    values = np.asarray(per_document, dtype=float)
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan
    return mean, Z95 * float(values.std(ddof=1)) / math.sqrt(n)


def t_interval(values: Sequence[float]) -> "tuple[float, float]":
    """(mean, 95% CI half-width) of a few run-level numbers (Student t), for runs without
    per-document predictions."""
    from scipy import stats

    values = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(values) < 2:
        return (float(values.mean()) if len(values) else math.nan), math.nan
    half = float(stats.t.ppf(0.975, len(values) - 1)) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return float(values.mean()), half


def mcnemar_exact(better: int, worse: int) -> float:
    """Two-sided exact McNemar p-value: `better` documents only the first model got right,
    `worse` only the second (binomial(better + worse, 1/2))."""
    from scipy import stats

    n = better + worse
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * stats.binom.cdf(min(better, worse), n, 0.5)))


def sign_flip_p(differences: Sequence[float]) -> float:
    """Two-sided p-value of the paired sign-flip test on per-document differences (normal
    approximation of the randomization distribution)."""
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    scale = math.sqrt(float((d ** 2).sum()))
    if scale == 0:
        return 1.0
    return float(2 * stats.norm.sf(abs(float(d.sum())) / scale))


@dataclass
class PairedResult:
    """First model minus second on the same documents."""

    n: int  # documents both were tested on
    difference: float  # mean accuracy difference (first - second)
    half_width: float  # 95% CI half-width of the difference
    p_value: float
    test: str  # "mcnemar" or "sign-flip"
    better: int = 0  # documents only the first got right (McNemar's b); fractions summed otherwise
    worse: int = 0
    fold_p_value: Optional[float] = None  # paired t-test over folds, when folds are known

    @property
    def verdict(self) -> str:
        if self.p_value < ALPHA:
            return "better" if self.difference > 0 else "worse"
        return "no difference"


def paired_test(first: Sequence[float], second: Sequence[float]) -> PairedResult:
    """Compare two per-document accuracy vectors over the same documents (same order)."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired vectors differ in length: {a.shape} vs {b.shape}")
    d = a - b
    difference, half = accuracy_interval(d)
    binary = bool(np.all(np.isin(a, (0.0, 1.0))) and np.all(np.isin(b, (0.0, 1.0))))
    if binary:
        better, worse = int((d > 0).sum()), int((d < 0).sum())
        return PairedResult(len(d), difference, half, mcnemar_exact(better, worse), "mcnemar", better, worse)
    return PairedResult(len(d), difference, half, sign_flip_p(d), "sign-flip",
                        int(round(float(d[d > 0].sum()))), int(round(float(-d[d < 0].sum()))))


def fold_t_test(first: Sequence[float], second: Sequence[float]) -> float:
    """Two-sided p-value of the paired t-test over folds (per-fold accuracies, same fold order)."""
    from scipy import stats

    d = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    if len(d) < 2:
        return math.nan
    if float(d.std(ddof=1)) == 0:
        return 1.0 if float(d.mean()) == 0 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)
