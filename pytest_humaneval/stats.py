"""Uncertainty for pass@k: bootstrap intervals over problems and paired tests between two runs.

Pure: stdlib and numpy only. Every random draw comes from a generator seeded with `SEED`, so the same
inputs always give the same intervals and p-values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .passk import estimate_pass_at_k

SEED = 20250705
RESAMPLES = 4000
LEVEL = 0.95

BOOTSTRAP_METHOD = f"percentile bootstrap over problems, {RESAMPLES} resamples, seed {SEED}"
MCNEMAR = "exact McNemar test"
PAIRED_BOOTSTRAP = "paired bootstrap test"
TEST_METHODS = {
    MCNEMAR: "two-sided exact binomial (sign) test on the problems whose verdict changed between the runs",
    PAIRED_BOOTSTRAP: (
        f"two-sided; the per-problem pass@k differences, shifted to mean zero, resampled over problems "
        f"({RESAMPLES} resamples, seed {SEED})"
    ),
}


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float = LEVEL


def per_problem_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> np.ndarray:
    """pass@k of each problem from its (n, c); every n must be at least k."""
    return np.array([estimate_pass_at_k(n, c, k) for n, c in counts], dtype=float)


def _resample_indices(size: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, size, size=(resamples, size))


def _percentiles(values: np.ndarray, level: float) -> Interval:
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high), level)


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """Percentile bootstrap interval of the mean of `values` (one value per problem).

    Problems are the unit that is resampled: the interval answers "how much would the score move on
    another draw of problems like these", which is the uncertainty a benchmark of 164 problems has.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("need at least one value")
    means = data[_resample_indices(data.size, resamples, seed)].mean(axis=1)
    return _percentiles(means, level)


def pass_at_k_interval(
    counts: Sequence[tuple[int, int]],
    k: int,
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """Bootstrap interval of mean pass@k over problems, from per-problem (n, c)."""
    return bootstrap_interval(per_problem_pass_at_k(counts, k), level=level, resamples=resamples, seed=seed)


def sign_test_p_value(regressed: int, improved: int) -> float:
    """Exact two-sided McNemar p-value: under no change, each changed problem is a fair coin flip.

    `regressed` problems passed only in the baseline, `improved` only in the current run; problems with
    the same verdict in both runs carry no information about the difference and are left out.
    """
    if regressed < 0 or improved < 0:
        raise ValueError(f"counts must be non-negative, got {regressed} and {improved}")
    changed = regressed + improved
    if changed == 0:
        return 1.0
    tail = sum(math.comb(changed, i) for i in range(min(regressed, improved) + 1))
    return min(1.0, 2 * tail / (1 << changed))  # int / int: exact rounding, even past 2**1023


@dataclass(frozen=True)
class PairedResult:
    """Current minus baseline for one k: the mean difference, its interval and the test's p-value."""

    k: int
    baseline: float
    current: float
    interval: Interval  # of current - baseline
    p_value: float
    test: str

    @property
    def delta(self) -> float:
        return self.current - self.baseline


def paired_comparison(
    baseline: Sequence[tuple[int, int]],
    current: Sequence[tuple[int, int]],
    k: int,
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> PairedResult:
    """Compare pass@k of two runs on the same problems (position i of both sequences is one problem).

    With one sample per problem in both runs each problem is pass or fail, and the exact McNemar test
    applies. Otherwise the per-problem pass@k differences are resampled over problems: the p-value is
    the share of resampled mean differences, drawn with the differences shifted to mean zero, that lie
    at least as far from zero as the observed one. The interval of the difference is a paired
    percentile bootstrap in both cases.
    """
    if len(baseline) != len(current) or not baseline:
        raise ValueError("need the same, non-zero number of problems in both runs")
    before = per_problem_pass_at_k(baseline, k)
    after = per_problem_pass_at_k(current, k)
    differences = after - before
    observed = float(differences.mean())
    indices = _resample_indices(len(differences), resamples, seed)
    interval = _percentiles(differences[indices].mean(axis=1), level)
    if all(n == 1 for n, _ in baseline) and all(n == 1 for n, _ in current):
        regressed = int(np.sum(differences < 0))
        improved = int(np.sum(differences > 0))
        p_value, test = sign_test_p_value(regressed, improved), MCNEMAR
    else:
        null = (differences - observed)[indices].mean(axis=1)
        # A tolerance keeps float noise from deciding whether a draw "reaches" the observed value.
        extreme = int(np.sum(np.abs(null) >= abs(observed) - 1e-12))
        p_value, test = (extreme + 1) / (resamples + 1), PAIRED_BOOTSTRAP
        if observed == 0.0:
            p_value = 1.0
    return PairedResult(
        k=k,
        baseline=float(before.mean()),
        current=float(after.mean()),
        interval=interval,
        p_value=p_value,
        test=test,
    )
