"""The statistics against independent computations: scipy, brute-force enumeration, closed forms and
simulation. Every simulation is seeded, so these tests give the same answer on every run."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import special, stats

from pytest_humaneval.stats import (
    MCNEMAR,
    PAIRED_BOOTSTRAP,
    bootstrap_interval,
    paired_comparison,
    pass_at_k_interval,
    sign_test_p_value,
)


def brute_force_sign_test(regressed: int, improved: int) -> float:
    """Enumerate every way the changed problems could have split under "no change" (each one a fair
    coin) and add up the probability of the splits no more likely than the one observed."""
    changed = regressed + improved
    observed = math.comb(changed, regressed)
    as_extreme = 0
    for signs in itertools.product((0, 1), repeat=changed):
        if math.comb(changed, sum(signs)) <= observed:
            as_extreme += 1
    return as_extreme / (1 << changed)


@pytest.mark.parametrize(("regressed", "improved"), [(0, 0), (1, 0), (3, 3), (5, 1), (0, 9), (12, 2), (7, 8)])
def test_sign_test_matches_enumeration(regressed: int, improved: int) -> None:
    if regressed + improved == 0:
        assert sign_test_p_value(0, 0) == 1.0
        return
    assert sign_test_p_value(regressed, improved) == pytest.approx(
        brute_force_sign_test(regressed, improved), rel=1e-12
    )


@pytest.mark.parametrize(("regressed", "improved"), [(24, 6), (1, 1), (30, 0), (60, 41), (200, 170), (0, 3)])
def test_sign_test_matches_scipy(regressed: int, improved: int) -> None:
    expected = stats.binomtest(regressed, regressed + improved, 0.5, alternative="two-sided").pvalue
    assert sign_test_p_value(regressed, improved) == pytest.approx(expected, rel=1e-9)


def test_sign_test_with_thousands_of_changes() -> None:
    # 2**n for n > 1023 does not fit a float; the p-value must still come out right (here: tiny).
    expected = stats.binomtest(700, 1500, 0.5).pvalue
    assert sign_test_p_value(700, 800) == pytest.approx(expected, rel=1e-9)


def verdicts(passed: list[bool]) -> list[tuple[int, int]]:
    return [(1, int(p)) for p in passed]


def test_paired_comparison_with_one_sample_uses_mcnemar_on_the_changed_problems() -> None:
    rng = np.random.default_rng(1)
    before = list(rng.random(164) < 0.8)
    after = [(b and rng.random() > 0.15) or (not b and rng.random() < 0.2) for b in before]
    regressed = sum(b and not a for b, a in zip(before, after, strict=True))
    improved = sum(a and not b for b, a in zip(before, after, strict=True))
    result = paired_comparison(verdicts(before), verdicts(after), 1)
    assert result.test == MCNEMAR
    assert result.p_value == pytest.approx(stats.binomtest(regressed, regressed + improved).pvalue, rel=1e-9)
    assert result.baseline == pytest.approx(np.mean(before))
    assert result.current == pytest.approx(np.mean(after))
    assert result.delta == pytest.approx((improved - regressed) / 164)
    assert result.interval.low <= result.delta <= result.interval.high
    assert paired_comparison(verdicts(before), verdicts(after), 1) == result  # seeded


def normal_theory_p_value(differences: np.ndarray) -> float:
    """Two-sided p of the mean difference under a normal approximation with the same (plug-in) spread
    the bootstrap resamples: the bootstrap test should land close to it for 164 problems."""
    z = abs(differences.mean()) / (differences.std(ddof=0) / math.sqrt(differences.size))
    return float(2 * stats.norm.sf(z))


@pytest.mark.parametrize("shift", [0.0, 0.02, 0.04, 0.06])
def test_paired_bootstrap_p_value_agrees_with_normal_theory(shift: float) -> None:
    rng = np.random.default_rng(7)
    difficulty = rng.beta(2, 2, size=164)
    before = [(10, int(c)) for c in rng.binomial(10, difficulty)]
    after = [(10, int(c)) for c in rng.binomial(10, np.clip(difficulty - shift, 0, 1))]
    result = paired_comparison(before, after, 1)
    assert result.test == PAIRED_BOOTSTRAP
    differences = np.array([a[1] - b[1] for a, b in zip(after, before, strict=True)]) / 10
    # 4000 resamples: Monte Carlo error of about 0.008 at p = 0.5, less in the tails.
    assert result.p_value == pytest.approx(normal_theory_p_value(differences), abs=0.025)


def simulate_rejections(drop: float, repetitions: int, k: int = 1) -> float:
    rng = np.random.default_rng(11)
    rejected = 0
    for _ in range(repetitions):
        difficulty = rng.beta(1.5, 1.5, size=164)
        before = [(5, int(c)) for c in rng.binomial(5, difficulty)]
        after = [(5, int(c)) for c in rng.binomial(5, np.clip(difficulty - drop, 0, 1))]
        rejected += paired_comparison(before, after, k).p_value < 0.05
    return rejected / repetitions


def test_paired_bootstrap_rejects_about_alpha_under_no_change_and_nearly_always_under_a_real_drop() -> None:
    assert simulate_rejections(0.0, 200) <= 0.09  # 0.05 expected; 200 runs give a spread of about 0.015
    assert simulate_rejections(0.12, 50) >= 0.9


def test_interval_is_seeded_and_holds_the_estimate() -> None:
    counts = [(1, 1)] * 120 + [(1, 0)] * 44
    first, second = pass_at_k_interval(counts, 1), pass_at_k_interval(counts, 1)
    assert first == second
    assert first.low < 120 / 164 < first.high
    assert pass_at_k_interval([(3, 3)] * 10, 2) == pytest.approx(pass_at_k_interval([(3, 3)] * 10, 1))
    assert (pass_at_k_interval([(3, 3)] * 10, 2).low, pass_at_k_interval([(3, 3)] * 10, 2).high) == (1.0, 1.0)


def coverage(a: float, b: float, n: int, k: int, repetitions: int, problems: int = 164) -> float:
    """Share of simulated benchmarks whose 95 % interval holds the true pass@k of the population of
    problems they were drawn from (difficulty ~ Beta(a, b), n samples per problem)."""
    # E[1 - (1 - p)^k] for p ~ Beta(a, b), in closed form.
    truth = 1 - math.exp(special.betaln(a, b + k) - special.betaln(a, b))
    rng = np.random.default_rng(2024)
    hits = 0
    for _ in range(repetitions):
        difficulty = rng.beta(a, b, size=problems)
        counts = [(n, int(c)) for c in rng.binomial(n, difficulty)]
        interval = pass_at_k_interval(counts, k)
        hits += interval.low <= truth <= interval.high
    return hits / repetitions


@pytest.mark.parametrize(("a", "b", "n", "k"), [(3.0, 1.0, 1, 1), (1.0, 1.5, 10, 1), (0.6, 1.2, 10, 5)])
def test_interval_coverage_on_simulated_benchmarks(a: float, b: float, n: int, k: int) -> None:
    # 300 repetitions: the observed coverage of a true 95 % interval lies within 0.92..0.98 with
    # probability above 0.99 (binomial spread 0.0126).
    assert 0.92 <= coverage(a, b, n, k, 300) <= 0.98


def test_bootstrap_interval_of_a_constant_is_that_constant() -> None:
    interval = bootstrap_interval([0.25] * 30)
    assert (interval.low, interval.high) == pytest.approx((0.25, 0.25))
    with pytest.raises(ValueError):
        bootstrap_interval([])
