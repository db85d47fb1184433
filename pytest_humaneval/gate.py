"""The CI gate: pass@k (and a baseline comparison) in, a verdict and one line per gate out.

Plain Python. A run that states any gate gets its exit status from the gates alone: failing samples
are what a model does, not a reason to fail a build.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import HumanEvalInputError

if TYPE_CHECKING:  # settings imports this module at plugin load: keep numpy out of that path
    from .baseline import Comparison
    from .passk import PassAtK

FAIL_UNDER = "--humaneval-fail-under"
MAX_DROP = "--humaneval-max-drop"
DEFAULT_ALPHA = 0.05
# pass@k is a mean of float products: an exact tie with a threshold (0.5 from 1/3 and 2/3) can come out
# a few ulps short. Differences this small never decide a gate.
TOLERANCE = 1e-9

_THRESHOLD = re.compile(r"^pass@(\d+)=(.+)$")
BASE_PREFIX = "base:"  # a gate on HumanEval+'s base figure


@dataclass(frozen=True)
class Threshold:
    """`pass@k=value`; `k` is None for a bare value, which applies to every k that was compared."""

    k: int | None
    value: float
    base: bool = False  # HumanEval+: on the base figure (written base:pass@1=0.9), not the plus one

    def spec(self) -> str:
        """As the user writes it, and what parse_thresholds reads back to an equal Threshold."""
        value = f"{self.value:g}"
        if float(value) != self.value:  # :g keeps six digits; the settings shipped to workers need all
            value = repr(self.value)
        text = value if self.k is None else f"pass@{self.k}={value}"
        return f"{BASE_PREFIX}{text}" if self.base else text


def parse_thresholds(text: str, flag: str, *, bare_allowed: bool) -> tuple[Threshold, ...]:
    """'pass@1=0.62 pass@10=0.8' (commas, spaces or new lines between them) -> thresholds in [0, 1]."""
    example = "pass@1=0.62" + (" or 0.02" if bare_allowed else "")
    thresholds: list[Threshold] = []
    for token in re.split(r"[\s,]+", text.strip()):
        if not token:
            continue
        base = token.startswith(BASE_PREFIX)
        match = _THRESHOLD.match(token.removeprefix(BASE_PREFIX))
        k, value_text = (
            (int(match.group(1)), match.group(2)) if match else (None, token.removeprefix(BASE_PREFIX))
        )
        if (k is None and not bare_allowed) or k == 0:
            raise HumanEvalInputError(f"{flag}={token!r} is not of the form pass@K=VALUE, e.g. {example}")
        try:
            value = float(value_text)
        except ValueError:
            value = float("nan")
        if not 0.0 <= value <= 1.0:
            raise HumanEvalInputError(
                f"{flag}={token!r}: {value_text!r} is not a number from 0 to 1; use e.g. {example}"
            )
        thresholds.append(Threshold(k, value, base))
    return tuple(thresholds)


def parse_alpha(text: str, flag: str = "--humaneval-alpha") -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise HumanEvalInputError(f"{flag}={text!r} is not a significance level between 0 and 1, e.g. 0.05")
    return value


@dataclass(frozen=True)
class GateResult:
    gate: str  # the option as the user would write it
    met: bool
    message: str

    def line(self) -> str:
        return f"gate {'met' if self.met else 'FAILED'}: {self.message}"


@dataclass(frozen=True)
class Verdict:
    results: tuple[GateResult, ...]

    @property
    def met(self) -> bool:
        return all(result.met for result in self.results)

    def lines(self) -> list[str]:
        return [result.line() for result in self.results]

    def to_json(self) -> dict[str, Any]:
        return {
            "met": self.met,
            "gates": [{"gate": r.gate, "met": r.met, "message": r.message} for r in self.results],
        }


def check_fail_under(pass_at_k: PassAtK, thresholds: Iterable[Threshold]) -> list[GateResult]:
    results = []
    for threshold in thresholds:
        assert threshold.k is not None  # parse_thresholds(bare_allowed=False)
        gate = f"{FAIL_UNDER}={threshold.spec()}"
        value = pass_at_k.values.get(threshold.k)
        if value is None:
            why = pass_at_k.skipped.get(threshold.k, f"k={threshold.k} is not in --humaneval-k")
            results.append(GateResult(gate, False, f"pass@{threshold.k} was not computed ({why}); {gate}"))
        elif value < threshold.value - TOLERANCE:
            results.append(
                GateResult(gate, False, f"pass@{threshold.k} = {value:.4f} is below the threshold of {gate}")
            )
        else:
            results.append(GateResult(gate, True, f"pass@{threshold.k} = {value:.4f} >= {threshold.value:g}"))
    return results


def check_max_drop(comparison: Comparison, thresholds: Iterable[Threshold], alpha: float) -> list[GateResult]:
    """A drop fails only when it is both larger than allowed and significant at `alpha`."""
    results = []
    for threshold in thresholds:
        gate = f"{MAX_DROP}={threshold.spec()}"
        ks = list(comparison.results) if threshold.k is None else [threshold.k]
        if not ks:
            why = "; ".join(f"pass@{k}: {w}" for k, w in comparison.not_compared.items()) or "no k"
            results.append(GateResult(gate, False, f"no pass@k could be compared with the baseline ({why})"))
        for k in ks:
            result = comparison.results.get(k)
            if result is None:
                why = comparison.not_compared.get(k, f"k={k} is not in --humaneval-k")
                results.append(
                    GateResult(gate, False, f"pass@{k} was not compared with the baseline ({why})")
                )
                continue
            drop = -result.delta
            figures = (
                f"pass@{k} {result.baseline:.4f} -> {result.current:.4f} (change {result.delta:+.4f}, "
                f"{result.interval.level:.0%} CI {result.interval.low:+.4f} to {result.interval.high:+.4f})"
            )
            significance = f"p = {result.p_value:.4g}, {result.test}"
            if drop <= threshold.value + TOLERANCE:
                message = f"{figures}: within the allowed drop of {threshold.value:g}"
                results.append(GateResult(gate, True, message))
            elif result.p_value >= alpha:
                message = (
                    f"{figures}: drops more than {threshold.value:g} but not significantly at alpha "
                    f"{alpha:g} ({significance})"
                )
                results.append(GateResult(gate, True, message))
            else:
                message = (
                    f"{figures}: drops more than {threshold.value:g} allowed by {gate}, and significantly "
                    f"at alpha {alpha:g} ({significance})"
                )
                results.append(GateResult(gate, False, message))
    return results


def evaluate(
    pass_at_k: PassAtK,
    fail_under: Iterable[Threshold],
    comparison: Comparison | None,
    max_drop: Iterable[Threshold],
    alpha: float,
) -> Verdict:
    """Every gate's result, in the order given: fail-under gates, then max-drop gates."""
    results = check_fail_under(pass_at_k, fail_under)
    max_drop = tuple(max_drop)
    if max_drop:
        if comparison is None:
            raise ValueError(f"{MAX_DROP} needs a baseline comparison")
        results += check_max_drop(comparison, max_drop, alpha)
    return Verdict(tuple(results))
