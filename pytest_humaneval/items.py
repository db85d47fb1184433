"""The run's samples as pytest nodes: the suite collector, one item per sample, and how they are collected.

The suite joins pytest's own collection (a wrapper of the session's collect report, as pytest's
cacheprovider adds nodes), so the collected count, ``-k``, ``--deselect``, ``--lf`` and xdist's check
that every worker collected the same ids all see the samples like any other test.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .plan import ROOT_NAME, Plan, Sample
from .printable import visible
from .runner import RUNNER, Upcoming
from .sandbox import WALL_FACTOR, Outcome, Program, build_program

# pytest-timeout is only a backstop: it must fire after the sandbox's own wall-clock cap and its grace.
BACKSTOP_MARGIN = 10.0


class SampleNotPassed(Exception):
    """Raised by an item whose sample did not pass; carries the outcome for the failure report."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.describe())
        self.outcome = outcome


class HumanEvalSuite(pytest.Collector):
    """All samples of the run, under the node id ``humaneval``."""

    def __init__(self, *, plan: Plan, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.timeout = timeout
        self._positions: dict[int, int] = {}  # id(item) -> its place in session.items
        self._positions_of: list[pytest.Item] | None = None
        self._handed_out = 0  # places in session.items before this were yielded by upcoming() already

    def collect(self) -> Iterator[SampleItem]:
        if self.config.pluginmanager.hasplugin("timeout"):
            # On the suite, once: pytest-timeout reads the closest marker, which items find here.
            longest = self.plan.plus.longest if self.plan.plus is not None else self.timeout
            # A sample may run twice (the sandbox reruns one that the machine's load held up).
            self.add_marker(pytest.mark.timeout(2 * longest * WALL_FACTOR + BACKSTOP_MARGIN))
        for sample in self.plan.samples:
            # An explicit id string: pytest parses it into the same structured id it parses from
            # its cache, so --lf and --ff recognise these items.
            yield SampleItem.from_parent(self, name=sample.name, nodeid=sample.nodeid, sample=sample)

    def upcoming(self, item: SampleItem, count: int) -> Iterator[tuple[str, Callable[[], Program]]]:
        """The samples among the `count` items pytest runs from `item` on, as (key, program), in order.

        Each is yielded once: a later call starts where the earlier ones stopped, so a runner that keeps
        a long queue ahead of pytest pays for each sample once, not once per item.
        """
        items = item.session.items
        if self._positions_of is not items:  # -k, --lf and plugins may have replaced the list
            self._positions = {id(each): i for i, each in enumerate(items)}
            self._positions_of = items
            self._handed_out = 0
        here = self._positions.get(id(item))
        if here is None:
            return
        # No slice: it would copy the rest of the list per item.
        for position in range(max(here, self._handed_out), min(here + count, len(items))):
            each = items[position]
            self._handed_out = position + 1
            if isinstance(each, SampleItem):
                yield each.nodeid, each.program


class SampleItem(pytest.Item):
    """One (problem, sample): the test runs here, prompt + completion in the sandbox."""

    def __init__(self, *, sample: Sample, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sample = sample

    @property
    def suite(self) -> HumanEvalSuite:
        assert isinstance(self.parent, HumanEvalSuite)
        return self.parent

    def program(self) -> Program:
        """What the sandbox runs for this sample: with HumanEval+'s tests, calls instead of the test."""
        plan = self.suite.plan
        program = build_program(plan.problem(self.sample.task_id), self.sample.completion)
        if plan.plus is not None:
            program = dataclasses.replace(program, calls=plan.plus.parts(self.sample.task_id))
        return program

    def runtest(self) -> None:
        upcoming: Upcoming = functools.partial(self.suite.upcoming, self)
        outcome = self.config.stash[RUNNER].outcome(self.nodeid, self.program, upcoming)
        self.user_properties.append(
            ("humaneval", {"task_id": self.sample.task_id, "sample": self.sample.index, **outcome.to_json()})
        )
        if not outcome.passed:
            if self.config.option.tbstyle not in ("line", "no"):  # sections there would undo one line each
                self.add_report_section("call", "completion", visible(self.sample.completion))
                if outcome.stdout:
                    self.add_report_section("call", "sample output", visible(outcome.stdout))
            raise SampleNotPassed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        if isinstance(excinfo.value, SampleNotPassed):
            # One line: pytest's short summary prints it after the node id, and --junitxml's message.
            text = " ".join(visible(excinfo.value.outcome.describe()).splitlines())
            return f"{self.sample.task_id} sample {self.sample.index}: {text}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.sample.task_id} sample {self.sample.index}"


class SuiteCollection:
    """Adds the suite to the session's collection, in every process that collects (controller, workers).

    `plan` is called when collection starts: the controller plans at session start, a worker has the
    plan it was sent.
    """

    def __init__(self, plan: Callable[[], Plan], timeout: float, only_humaneval: bool) -> None:
        self._plan = plan
        self.timeout = timeout
        # With no paths on the command line, the run is the evaluation alone: the project's own
        # tests are collected only when named explicitly.
        self.only_humaneval = only_humaneval

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        return True if self.only_humaneval else None

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        report = yield
        if isinstance(collector, pytest.Session):
            suite = HumanEvalSuite.from_parent(
                collector,
                name=ROOT_NAME,
                nodeid=ROOT_NAME,
                path=collector.path,
                plan=self._plan(),
                timeout=self.timeout,
            )
            report.result.insert(0, suite)  # the samples run before the project's own tests
        return report

    def pytest_collection_finish(self) -> None:
        # The items, the plan and everything loaded so far live until the session ends. Out of the
        # collector's reach they are never walked again: with thousands of items, full collections
        # triggered by the reports that accumulate would otherwise walk them all, again and again.
        gc.collect()
        gc.freeze()

    def pytest_unconfigure(self) -> None:
        gc.unfreeze()  # what the session froze can be freed again (pytester runs sessions in-process)
