"""The unbiased pass@k estimator and its aggregation over problems. Pure: stdlib and numpy only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn from n (c of them correct) is correct.

    Equals ``1 - comb(n - c, k) / comb(n, k)``, computed as a product of ratios so that it neither
    overflows nor loses precision for large n.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@dataclass(frozen=True)
class PassAtK:
    """pass@k for each requested k; a k that could not be computed is in `skipped` with the reason."""

    values: dict[int, float] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)


def aggregate(counts: Mapping[str, tuple[int, int]], ks: Iterable[int]) -> PassAtK:
    """Mean pass@k over problems, from per-problem (n, c).

    Like the reference harness, a k is reported only when every problem has at least k samples:
    averaging over only the problems with enough samples would silently change what is measured.
    """
    values: dict[int, float] = {}
    skipped: dict[int, str] = {}
    sizes = [n for n, _ in counts.values()]
    for k in ks:
        if not counts:
            skipped[k] = "no samples were evaluated"
            continue
        short = sum(1 for n in sizes if n < k)
        if short:
            skipped[k] = (
                f"needs at least {k} samples per problem; {short} of {len(sizes)} problems have fewer"
                f" (smallest n = {min(sizes)})"
            )
            continue
        per_problem = [estimate_pass_at_k(n, c, k) for n, c in counts.values()]
        values[k] = float(np.mean(per_problem))
    return PassAtK(values=values, skipped=skipped)
