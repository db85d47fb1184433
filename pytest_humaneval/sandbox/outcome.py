"""What running one sample can end as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

OutcomeKind = Literal["passed", "failed", "error", "timeout", "crashed"]
OUTCOME_KINDS: tuple[str, ...] = get_args(OutcomeKind)


@dataclass(frozen=True)
class Outcome:
    """The verdict on one program.

    `kind` is one of passed, failed (an assertion failed), error (syntax error or another exception),
    timeout, crashed (killed by a signal, out of memory, exited before the check finished).
    `tampering` names, sorted, each kind of tampering the sandbox saw (see ``wire.TAMPER_KINDS``),
    whatever the verdict: a sample can tamper and still pass.
    """

    kind: OutcomeKind
    message: str = ""
    error_type: str = ""
    line: int | None = None
    source_line: str = ""
    where: str = ""  # "candidate" or "test": whose source `line` refers to
    stdout: str = ""
    duration: float = 0.0
    tampering: tuple[str, ...] = ()
    # With call parts (HumanEval+'s base and plus inputs): the names of the parts that passed, in order.
    parts_passed: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.kind == "passed"

    def describe(self) -> str:
        """One line for people: the kind, the exception and where it happened."""
        parts: list[str] = [self.kind]
        if self.error_type:
            parts.append(f"{self.error_type}: {self.message}" if self.message else self.error_type)
        elif self.message:
            parts.append(self.message)
        text = ": ".join(parts)
        if self.line is not None:
            text += f" ({self.where + ' ' if self.where else ''}line {self.line}"
            text += f": {self.source_line})" if self.source_line else ")"
        return text

    def reference_result(self) -> str:
        """The `result` string of openai/human-eval's results files for this outcome."""
        if self.kind == "passed":
            return "passed"
        if self.kind == "timeout":
            return "timed out"
        return f"failed: {self.message}"

    def to_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"parts_passed": list(self.parts_passed)} if self.parts_passed else {}
        return {
            "outcome": self.kind,
            "message": self.message,
            "error_type": self.error_type,
            "line": self.line,
            "source_line": self.source_line,
            "where": self.where,
            "stdout": self.stdout,
            "duration": self.duration,
            "tampering": list(self.tampering),
        } | extra

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        kind = data.get("outcome")
        if kind not in OUTCOME_KINDS:
            raise ValueError(f"unknown outcome {kind!r}; expected one of {', '.join(OUTCOME_KINDS)}")
        return cls(
            kind=kind,
            message=str(data.get("message", "")),
            error_type=str(data.get("error_type", "")),
            line=data.get("line"),
            source_line=str(data.get("source_line", "")),
            where=str(data.get("where", "")),
            stdout=str(data.get("stdout", "")),
            duration=float(data.get("duration", 0.0)),
            tampering=_names(data.get("tampering", [])),
            parts_passed=tuple(str(name) for name in data.get("parts_passed", ())),
        )


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError(f"tampering must be a list of kind names, got {value!r}")
    return tuple(value)
