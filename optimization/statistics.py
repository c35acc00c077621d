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


def _p_value(baseline, candidate, binary):
    if binary:
        # Only the discordant pairs carry information: under no difference each is a fair coin.
        gained = int(np.sum((candidate == 1) & (baseline == 0)))
        lost = int(np.sum((candidate == 0) & (baseline == 1)))
        if gained + lost == 0:
            return 1.0
        return float(stats.binomtest(gained, gained + lost, 0.5).pvalue)
    if np.all(candidate == baseline):
        return 1.0
    return float(stats.wilcoxon(candidate, baseline).pvalue)
