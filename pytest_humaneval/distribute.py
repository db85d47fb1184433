"""xdist: what the controller sends each worker, and how a worker reads it.

The controller resolves the settings and makes the plan; each worker is sent both, once, as JSON
strings (pytest-randomly ships its seed the same way), and never re-reads its own environment or ini
file, so a worker on another machine judges under the limits the controller reports.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from .plan import Plan
from .settings import Settings

WORKERINPUT_KEY = "humaneval"
PLUGIN_NAME = "humaneval-xdist"


@dataclass(frozen=True)
class Shipment:
    """Everything a worker needs: the resolved settings, the plan, and the run's shape."""

    settings: Settings
    only_humaneval: bool
    hide: tuple[str, ...]  # files samples must not see, as the controller found them
    plan_wire: str  # Plan.to_wire(), decoded by the worker when it collects

    def plan(self) -> Plan:
        return Plan.from_wire(self.plan_wire)

    def to_wire(self) -> str:
        return json.dumps(
            {
                "settings": self.settings.to_json(),
                "only_humaneval": self.only_humaneval,
                "hide": list(self.hide),
                "plan": self.plan_wire,
            }
        )

    @classmethod
    def from_wire(cls, text: str) -> Shipment:
        data = json.loads(text)
        return cls(
            settings=Settings.from_json(data["settings"]),
            only_humaneval=bool(data["only_humaneval"]),
            hide=tuple(data["hide"]),
            plan_wire=data["plan"],
        )


def received(config: pytest.Config) -> Shipment | None:
    """On an xdist worker, what the controller sent; None elsewhere."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is None or WORKERINPUT_KEY not in workerinput:
        return None
    return Shipment.from_wire(workerinput[WORKERINPUT_KEY])


class Shipper:
    """On the controller: puts the shipment into every node's workerinput, made once for all nodes."""

    def __init__(self, shipment: Callable[[], Shipment]) -> None:
        self._shipment = shipment
        self._wire: str | None = None

    def pytest_configure_node(self, node: Any) -> None:
        if self._wire is None:
            self._wire = self._shipment().to_wire()
        node.workerinput[WORKERINPUT_KEY] = self._wire

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        config.pluginmanager.unregister(self)
