import numpy as np
import pytest
from scipy import stats

from optimization.statistics import compare_independent, compare_paired


def test_mcnemar_counts_only_the_discordant_pairs():
    # 12 examples the candidate gained, 2 it lost, 26 where both agree.
    baseline = [0] * 12 + [1] * 2 + [1] * 13 + [0] * 13
    candidate = [1] * 12 + [0] * 2 + [1] * 13 + [0] * 13
    result = compare_paired(baseline, candidate, binary=True)
    assert result.delta == pytest.approx(10 / 40)
    assert result.p_value == pytest.approx(stats.binomtest(12, 14, 0.5).pvalue)
    assert result.p_value < 0.05
    assert result.ci_low > 0 and result.ci_low < result.delta < result.ci_high


def test_no_difference_gives_p_one_and_an_interval_around_zero():
    scores = [1, 0, 1, 1, 0] * 8
    result = compare_paired(scores, scores, binary=True)
    assert (result.delta, result.ci_low, result.ci_high, result.p_value) == (0, 0, 0, 1.0)


def test_the_interval_is_reproducible_and_covers_the_mean_for_graded_scores():
    rng = np.random.default_rng(1)
    baseline = rng.uniform(0, 0.6, 50)
    candidate = baseline + rng.normal(0.1, 0.05, 50)
    first = compare_paired(baseline, candidate, binary=False, seed=3)
    assert first == compare_paired(baseline, candidate, binary=False, seed=3)
    assert first.ci_low < first.delta < first.ci_high
    assert first.p_value < 0.001


def test_it_refuses_unpaired_scores():
    with pytest.raises(ValueError, match="same, non-empty"):
        compare_paired([1, 0], [1], binary=True)


def test_an_unpaired_comparison_of_two_groups_of_subjects():
    better = compare_independent([0] * 50 + [1] * 50, [0] * 20 + [1] * 80, binary=True)
    assert better.delta == pytest.approx(0.3) and better.ci_low < 0.3 < better.ci_high and better.ci_low > 0
    assert better.p_value < 0.001  # Fisher's exact test on 50/100 against 80/100
    same = compare_independent([0.2, 0.4, 0.6], [0.2, 0.4, 0.6], binary=False)
    assert same.delta == 0 and same.p_value > 0.5
    assert compare_independent([1, 1], [1, 1, 1], binary=True).p_value == 1.0
    with pytest.raises(ValueError):
        compare_independent([], [1.0], binary=False)
