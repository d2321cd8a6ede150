"""Confidence intervals and paired tests (experiments/stats.py) on inputs with known answers."""
import math

import numpy as np
import pytest

from rrnn_plugin.experiments import stats


def test_accuracy_interval_of_2000_documents_at_80_percent():
    values = np.array([1.0] * 1600 + [0.0] * 400)
    mean, half = stats.accuracy_interval(values)
    assert mean == pytest.approx(0.8)
    # 1.96 * sqrt(p (1 - p) / n) with the sample std: about 1.75 points
    assert half == pytest.approx(1.959964 * values.std(ddof=1) / math.sqrt(2000))
    assert 0.0170 < half < 0.0180


def test_t_interval_over_runs():
    mean, half = stats.t_interval([0.8, 0.82, 0.84])
    assert mean == pytest.approx(0.82)
    assert half == pytest.approx(4.302653 * 0.02 / math.sqrt(3), rel=1e-5)  # t(0.975, 2) = 4.3027
    assert math.isnan(stats.t_interval([0.8])[1])


@pytest.mark.parametrize("better, worse, p", [(10, 0, 2 * 0.5 ** 10), (5, 5, 1.0), (3, 1, 0.625), (0, 0, 1.0)])
def test_mcnemar_exact(better, worse, p):
    assert stats.mcnemar_exact(better, worse) == pytest.approx(p)
    assert stats.mcnemar_exact(worse, better) == pytest.approx(p)  # two-sided


def test_paired_test_on_right_wrong_outcomes_is_mcnemar():
    first = [1] * 70 + [1] * 20 + [0] * 10
    second = [1] * 70 + [0] * 20 + [0] * 10
    result = stats.paired_test(first, second)
    assert result.test == "mcnemar" and (result.better, result.worse) == (20, 0)
    assert result.difference == pytest.approx(0.2) and result.p_value == pytest.approx(2 * 0.5 ** 20)
    assert result.verdict == "better"
    assert stats.paired_test(second, first).verdict == "worse"
    same = stats.paired_test([1, 0, 1, 0] * 10, [0, 1, 1, 0] * 10)  # 10 each way
    assert same.p_value == pytest.approx(1.0) and same.verdict == "no difference"


def test_paired_test_on_seed_averages_is_the_sign_flip_test():
    # nine documents, each 0.5 better: sum d = 4.5, sqrt(sum d^2) = 1.5 -> z = 3
    result = stats.paired_test([1.0] * 9, [0.5] * 9)
    assert result.test == "sign-flip"
    assert result.p_value == pytest.approx(2 * (1 - 0.9986501019683699))  # 2 (1 - Phi(3))
    balanced = stats.paired_test([1.0, 0.5, 0.0, 0.5], [0.5, 1.0, 0.5, 0.0])
    assert balanced.p_value == pytest.approx(1.0) and balanced.verdict == "no difference"
    with pytest.raises(ValueError, match="differ in length"):
        stats.paired_test([1.0], [1.0, 0.0])


def test_fold_t_test():
    # differences 1, 2, 3: t = 2 / (1 / sqrt 3) = 3.464 with 2 degrees of freedom -> p = 0.0742
    assert stats.fold_t_test([1, 2, 3], [0, 0, 0]) == pytest.approx(0.07418, abs=1e-4)
    assert stats.fold_t_test([0.8, 0.8], [0.8, 0.8]) == 1.0
    assert math.isnan(stats.fold_t_test([0.8], [0.7]))
