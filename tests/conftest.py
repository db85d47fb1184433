from __future__ import annotations

from pathlib import Path

import pytest

# In-process pytester runs (runpytest) forget the modules a run imported; numpy's C extension cannot load
# twice in one process, so the plugin's lazily imported parts are loaded here, once, before any run.
import pytest_humaneval.controller
import pytest_humaneval.distribute
import pytest_humaneval.items
import pytest_humaneval.runner  # noqa: F401

from .helpers import ADD_PROBLEM, NEG_PROBLEM, write_jsonl

pytest_plugins = ["pytester"]


@pytest.fixture
def tiny_dataset(pytester: pytest.Pytester) -> Path:
    return write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM, NEG_PROBLEM])


XDIST_ARGS = {
    "xdist": ("-n", "2"),
    "no-xdist": ("-p", "no:xdist"),
    "jobs": ("-p", "no:xdist", "--humaneval-jobs=3"),  # one pytest process, three samples at once
}


@pytest.fixture(params=list(XDIST_ARGS))
def xdist_args(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """Run a pytester case with two xdist workers, with xdist disabled, and with a pool of sandboxes."""
    return XDIST_ARGS[request.param]
