"""How many samples of a run tried to tamper with the sandbox, and how: for the summary and the reports.

Each outcome names the kinds of tampering the sandbox saw (``Outcome.tampering``; the kinds and what
they mean are ``sandbox.TAMPER_KINDS``). Those who train models with execution rewards read this to
spot reward hacking; a gate on pass@k does not depend on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .sandbox import TAMPER_KINDS, Outcome


@dataclass(frozen=True)
class TamperCounts:
    """`samples` that tampered at all; `kinds`: kind -> samples, known kinds first in their fixed order."""

    samples: int = 0
    kinds: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> TamperCounts:
        per_kind: Counter[str] = Counter()
        samples = 0
        for outcome in outcomes:
            if outcome.tampering:
                samples += 1
                per_kind.update(set(outcome.tampering))
        order = [kind for kind in TAMPER_KINDS if kind in per_kind]
        order += sorted(kind for kind in per_kind if kind not in TAMPER_KINDS)
        return cls(samples=samples, kinds={kind: per_kind[kind] for kind in order})

    def line(self, samples_run: int) -> str | None:
        """The summary's line, or None when no sample tampered in a way the sandbox could see."""
        if not self.samples:
            return None
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.kinds.items())
        return f"tampering: {self.samples} of {samples_run} samples: {kinds}"

    def to_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "kinds": dict(self.kinds)}
