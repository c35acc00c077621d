"""The paired comparison of two versions on the same test examples."""

from dataclasses import dataclass

import numpy as np
from scipy import stats

BOOTSTRAP_SAMPLES = 5000


@dataclass
class Comparison:
    delta: float
    ci_low: float
    ci_high: float
    p_value: float | None


def compare_paired(baseline, candidate, *, binary, seed=0):
    """Mean difference (candidate − baseline), its percentile bootstrap 95 % interval over examples, and a
    p-value: McNemar's exact test for 0/1 scores, the Wilcoxon signed-rank test otherwise."""
    baseline, candidate = np.asarray(baseline, float), np.asarray(candidate, float)
    if baseline.shape != candidate.shape or baseline.size == 0:
        raise ValueError("A paired comparison needs the same, non-empty set of examples on both sides.")
    differences = candidate - baseline
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, differences.size, size=(BOOTSTRAP_SAMPLES, differences.size))
    means = differences[resamples].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Comparison(float(differences.mean()), float(low), float(high), _p_value(baseline, candidate, binary))


def behind_p_value(baseline, candidate, *, binary):
    """The one-sided p-value of the same test for "candidate scores below baseline" on the same examples."""
    return _p_value(np.asarray(baseline, float), np.asarray(candidate, float), binary, alternative="less")


def chance_to_exceed(observed, remaining, threshold, *, binary):
    """The predictive probability that `remaining` more scores of the same kind as `observed` add up to more than
    `threshold`. Right/wrong scores: the beta-binomial under a uniform prior on the rate of right answers; other
    scores: the Student-t prediction of a normal sample's sum, and 1.0 where fewer than two scores or scores that do
    not vary leave nothing to predict from."""
    observed = np.asarray(observed, float)
    if remaining <= 0 or threshold < 0:
        return float(threshold < 0)
    if binary:
        right = observed.sum()
        return float(stats.betabinom.sf(np.floor(threshold), remaining, 1 + right, 1 + observed.size - right))
    spread = observed.std(ddof=1) if observed.size > 1 else 0.0
    if spread == 0:
        return 1.0
    scale = spread * np.sqrt(remaining + remaining**2 / observed.size)
    return float(stats.t.sf((threshold - remaining * observed.mean()) / scale, observed.size - 1))


def _p_value(baseline, candidate, binary, alternative="two-sided"):
    if binary:
        # Only the discordant pairs carry information: under no difference each is a fair coin.
        gained = int(np.sum((candidate == 1) & (baseline == 0)))
        lost = int(np.sum((candidate == 0) & (baseline == 1)))
        if gained + lost == 0:
            return 1.0
        return float(stats.binomtest(gained, gained + lost, 0.5, alternative=alternative).pvalue)
    if np.all(candidate == baseline):
        return 1.0
    return float(stats.wilcoxon(candidate, baseline, alternative=alternative).pvalue)


def compare_independent(baseline, candidate, *, binary, seed=0):
    """The same three numbers as `compare_paired` for two groups with nobody in both (a canary's subjects and
    production's): mean difference (candidate − baseline), a bootstrap 95 % interval resampling each group on its
    own, and the unpaired counterparts of the paired tests: Fisher's exact test for 0/1 scores (McNemar's), the
    Mann-Whitney U test otherwise (Wilcoxon's signed-rank)."""
    baseline, candidate = np.asarray(baseline, float), np.asarray(candidate, float)
    if baseline.size == 0 or candidate.size == 0:
        raise ValueError("An unpaired comparison needs scores on both sides.")
    rng = np.random.default_rng(seed)
    means = (candidate[rng.integers(0, candidate.size, size=(BOOTSTRAP_SAMPLES, candidate.size))].mean(axis=1)
             - baseline[rng.integers(0, baseline.size, size=(BOOTSTRAP_SAMPLES, baseline.size))].mean(axis=1))
    low, high = np.percentile(means, [2.5, 97.5])
    if binary:
        table = [[int(np.sum(candidate == 1)), int(np.sum(candidate == 0))],
                 [int(np.sum(baseline == 1)), int(np.sum(baseline == 0))]]
        p_value = float(stats.fisher_exact(table).pvalue)
    elif np.unique(np.concatenate([baseline, candidate])).size == 1:
        p_value = 1.0
    else:
        p_value = float(stats.mannwhitneyu(candidate, baseline).pvalue)
    return Comparison(float(candidate.mean() - baseline.mean()), float(low), float(high), p_value)
