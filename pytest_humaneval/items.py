"""The collector of a run's samples and the pytest item that judges one sample."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .plan import ROOT_NAME, Plan, Sample
from .sandbox import WALL_FACTOR, Outcome, Program, build_program

if TYPE_CHECKING:
    from .session import HumanEvalSession

# pytest-timeout is only a backstop: it must fire after the sandbox's own wall-clock cap and its grace.
BACKSTOP_MARGIN = 10.0


class SampleNotPassed(Exception):
    """Raised by an item whose sample did not pass; carries the outcome for the failure report."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.describe())
        self.outcome = outcome


class HumanEvalSuite(pytest.Collector):
    """All samples of the run, under the node id ``humaneval``."""

    def __init__(self, *, plan: Plan, session_state: HumanEvalSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.session_state = session_state

    def collect(self) -> Iterator[SampleItem]:
        if self.config.pluginmanager.hasplugin("timeout"):
            # On the suite, once: pytest-timeout reads the closest marker, which items find here.
            self.add_marker(
                pytest.mark.timeout(self.session_state.settings.timeout * WALL_FACTOR + BACKSTOP_MARGIN)
            )
        for sample in self.plan.samples:
            # An explicit id string: pytest parses it into the same structured id it parses from
            # its cache, so --lf and --ff recognise these items.
            yield SampleItem.from_parent(self, name=sample.name, nodeid=sample.nodeid, sample=sample)


def collect_items(session: pytest.Session, state: HumanEvalSession) -> list[pytest.Item]:
    suite = HumanEvalSuite.from_parent(
        session, name=ROOT_NAME, nodeid=ROOT_NAME, path=session.path, plan=state.plan, session_state=state
    )
    return list(suite.collect())


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
        """What the sandbox runs for this sample."""
        problem = self.suite.session_state.plan.problem(self.sample.task_id)
        return build_program(problem, self.sample.completion)

    def runtest(self) -> None:
        outcome = self.suite.session_state.run_sample(self)
        self.user_properties.append(
            ("humaneval", {"task_id": self.sample.task_id, "sample": self.sample.index, **outcome.to_json()})
        )
        if not outcome.passed:
            self.add_report_section("call", "completion", self.sample.completion)
            if outcome.stdout:
                self.add_report_section("call", "sample output", outcome.stdout)
            raise SampleNotPassed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        if isinstance(excinfo.value, SampleNotPassed):
            outcome = excinfo.value.outcome
            return f"{self.sample.task_id} sample {self.sample.index}: {outcome.describe()}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.sample.task_id} sample {self.sample.index}"
