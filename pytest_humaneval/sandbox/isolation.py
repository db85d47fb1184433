"""How well samples are confined, in the terms a user asks about: from a fork server's isolation report.

The fork server reports layers (namespaces; or a uid of its own, ``no_new_privs``, Landlock, seccomp),
each only once it was seen to hold (see :mod:`.probe`). A user asks four questions instead, the
*guarantees*: can a sample reach the network, write outside its scratch directory, read the user's files
(the home directory, secrets), signal or trace the harness and the user's processes. :class:`Isolation`
answers them from the layers, names the level (``full``: all four enforced; ``partial``; ``none``) and
describes both in one line for the header, the summary and the reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __package__:
    from . import wire
else:  # imported by the fork server's script, as a top-level module (see refusals)
    import wire

# name -> what is enforced when it holds, in words
GUARANTEES = {
    "network": "no network",
    "writes": "no writes outside scratch",
    "reads": "no reads of the user's files",
    "signals": "no signals or ptrace to the harness",
}


def guarantees(report: Mapping[str, Any]) -> dict[str, bool]:
    """Which guarantees (the keys of GUARANTEES) the layers of an isolation report enforce."""
    landlock = int(report.get(wire.LANDLOCK) or 0)
    filesystem = bool(report.get(wire.FILESYSTEM)) or landlock >= 1
    return {
        # A network namespace with no interface, or seccomp refusing every socket but AF_UNIX.
        "network": bool(report.get(wire.NETWORK)) or bool(report.get(wire.SECCOMP)),
        "writes": filesystem,
        "reads": filesystem,
        # Another PID namespace, another uid (the namespace's or this sandbox's), or Landlock's scoping.
        "signals": any(report.get(k) for k in (wire.PID, wire.USER, wire.SANDBOX_USER)) or landlock >= 6,
    }


def _layer_names(report: Mapping[str, Any]) -> list[str]:
    names = []
    namespaces = [label for key, label in _NAMESPACE_LABELS if report.get(key)]
    if namespaces:
        names.append(f"{', '.join(namespaces)} namespaces")
    if report.get(wire.SANDBOX_USER):
        names.append(f"uid {report.get(wire.UID)} of its own")
    if report.get(wire.NO_NEW_PRIVS):
        names.append("no_new_privs")
    if report.get(wire.LANDLOCK):
        names.append(f"Landlock ABI {report[wire.LANDLOCK]}")
    if report.get(wire.SECCOMP):
        names.append("seccomp")
    return names


_NAMESPACE_LABELS = (
    (wire.USER, "user"),
    (wire.NETWORK, "network"),
    (wire.PID, "PID"),
    (wire.FILESYSTEM, "mount"),
)


@dataclass(frozen=True)
class Isolation:
    """The layers a sandbox runs samples under, and which guarantees they add up to."""

    layers: tuple[str, ...]
    enforced: dict[str, bool]  # guarantee (a key of GUARANTEES) -> enforced
    notes: tuple[str, ...]  # why a layer is missing, in words

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> Isolation:
        return cls(
            layers=tuple(_layer_names(report)),
            enforced=guarantees(report),
            notes=tuple(str(note) for note in report.get(wire.NOTES, [])),
        )

    @property
    def level(self) -> str:
        held = sum(self.enforced.values())
        return "full" if held == len(self.enforced) else "partial" if held else "none"

    def missing(self, wanted: tuple[str, ...] = tuple(GUARANTEES)) -> list[str]:
        """The guarantees of `wanted` that are not enforced."""
        return [name for name in wanted if not self.enforced.get(name)]

    def describe(self) -> str:
        """One line: the level, the layers, and the guarantees missing."""
        layers = ", ".join(self.layers) or "no confinement layer"
        line = f"isolation {self.level}: {layers}"
        missing = self.missing()
        if missing:
            line += "; not enforced: " + ", ".join(GUARANTEES[name] for name in missing)
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.describe(),
            "level": self.level,
            "layers": list(self.layers),
            "enforced": dict(self.enforced),
            "notes": list(self.notes),
        }


def parse_required(text: str, where: str) -> tuple[str, ...]:
    """``all``, ``none``, or a comma-separated list of guarantees: those a run requires.

    Raises ValueError with a message that names `where`, the value and what is valid.
    """
    value = text.strip().lower()
    if value == "all":
        return tuple(GUARANTEES)
    if value in ("none", ""):
        return ()
    names = tuple(part.strip() for part in value.split(","))
    unknown = [name for name in names if name not in GUARANTEES]
    if unknown:
        raise ValueError(
            f"{where}={text!r}: {unknown[0]!r} is not a guarantee; use all, none, or a comma-separated "
            f"list of {', '.join(GUARANTEES)}"
        )
    return tuple(name for name in GUARANTEES if name in names)  # in the canonical order, once each


def refusal(isolation: Isolation, required: tuple[str, ...], option: str) -> str | None:
    """Why a run that requires `required` (by `option`) must not start here; None when it may."""
    missing = isolation.missing(required)
    if not missing:
        return None
    why = "; ".join(isolation.notes) or "the kernel offers no layer that enforces them"
    return (
        f"{option} requires {', '.join(GUARANTEES[name] for name in missing)}, which this machine's "
        f"sandbox does not enforce ({isolation.describe()}; {why})"
    )
