from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import ADD_PROBLEM, NEG_PROBLEM, write_jsonl

pytest_plugins = ["pytester"]


@pytest.fixture
def tiny_dataset(pytester: pytest.Pytester) -> Path:
    return write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM, NEG_PROBLEM])


@pytest.fixture(params=["xdist", "no-xdist"])
def xdist_args(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """Run a pytester case both with two xdist workers and with xdist disabled."""
    return ("-n", "2") if request.param == "xdist" else ("-p", "no:xdist")
