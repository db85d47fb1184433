from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

# In-process pytester runs (runpytest) forget the modules a run imported; numpy's C extension cannot load
# twice in one process, so the plugin's lazily imported parts are loaded here, once, before any run.
# openai too: it takes seconds to import, which every in-process run of the openai: backend would pay
# again. Tests that need an interpreter without these (loading the plugin imports no heavy backend, a
# missing openai package) run pytest in a subprocess.
import pytest_humaneval.controller
import pytest_humaneval.distribute
import pytest_humaneval.items
import pytest_humaneval.runner  # noqa: F401

# Only with the test extra: the README's quick start (`pip install .`, then pytest from the checkout)
# loads this file too, and must run without it.
with contextlib.suppress(ImportError):
    import openai  # noqa: F401

from .helpers import ADD_PROBLEM, NEG_PROBLEM, write_jsonl

pytest_plugins = ["pytester"]


@pytest.fixture
def tiny_dataset(pytester: pytest.Pytester) -> Path:
    return write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM, NEG_PROBLEM])


# Only for what these modes can change: how the sandbox judges a sample (one process or a pool, here or
# in a worker), and what only xdist's controller does (it generates, workers never do; it sets the exit
# status). Everything else runs in one mode, in-process where it can.
XDIST_ARGS = {
    "xdist": ("-n", "2"),
    "no-xdist": ("-p", "no:xdist", "--humaneval-jobs=1"),  # one sample at a time, as without a pool
    "jobs": ("-p", "no:xdist", "--humaneval-jobs=3"),  # one pytest process, three samples at once
}


@pytest.fixture(params=list(XDIST_ARGS))
def xdist_args(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """Run a pytester case with two xdist workers, with xdist disabled, and with a pool of sandboxes."""
    return XDIST_ARGS[request.param]
