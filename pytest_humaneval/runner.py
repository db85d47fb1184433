"""Running samples in the process that executes items: one sandbox, or a pool that runs ahead.

Registered only where items run (a run without xdist, or each xdist worker), and found by the items
through ``config.stash[RUNNER]``: items call it, it never imports them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import pytest

from .pool import SamplePool
from .sandbox import Isolation, Limits, Outcome, Program, Sandbox, refusal
from .settings import Settings

PLUGIN_NAME = "humaneval-runner"

ProgramFactory = Callable[[], Program]
# The samples among the next `count` items pytest will run, from the current one on, in its order, each
# as (key, how to build its program); each sample is named once, by the first call that reaches it.
Upcoming = Callable[[int], Iterable[tuple[str, ProgramFactory]]]


class SampleRunner:
    """Judges samples under the run's settings; starts its sandboxes on first use, stops them at the end."""

    def __init__(self, settings: Settings, hide: tuple[str, ...], jobs: int) -> None:
        self.limits = Limits(timeout=settings.timeout, memory=settings.memory)
        self.hide = hide  # files samples must not see (a dataset file with the tests)
        self.jobs = jobs
        self.require_isolation = settings.require_isolation
        self._sandbox: Sandbox | None = None
        self._pool: SamplePool | None = None

    def outcome(self, key: str, program: ProgramFactory, upcoming: Upcoming) -> Outcome:
        """The outcome of one sample: run here, or taken from the pool that runs the next ones ahead."""
        if self.jobs == 1:
            if self._sandbox is None:
                self._sandbox = self._started_sandbox(warn=True)
            return self._sandbox.run(program())
        pool = self._sample_pool()
        for ahead_key, ahead in upcoming(pool.lookahead):
            pool.submit(ahead_key, ahead)
        return pool.outcome(key, program)

    def isolation(self) -> Isolation:
        """What this runner's sandboxes enforce: starts the first one now (as it would for the first item).

        Raises IsolationRefused where --humaneval-require-isolation asks for more.
        """
        if self.jobs == 1:
            if self._sandbox is None:
                self._sandbox = self._started_sandbox(warn=True)
            return Isolation.from_report(self._sandbox.isolation)
        return Isolation.from_report(self._sample_pool().sandboxes[0].isolation)

    def _started_sandbox(self, warn: bool) -> Sandbox:
        sandbox = Sandbox(self.limits, hide=self.hide)
        sandbox.start()
        # The controller checked its own sandbox before the run; a worker (maybe on another machine)
        # checks each of its own, and runs no sample in one that falls short.
        refused = refusal(Isolation.from_report(sandbox.isolation), self.require_isolation, REQUIRE_FLAG)
        if refused is not None:
            sandbox.close()
            raise IsolationRefused(refused)
        gaps = sandbox.isolation_gaps()
        if gaps and warn:
            # Once per process, as a pytest warning: the run goes on with what the kernel allows.
            warnings.warn(
                pytest.PytestWarning(
                    "humaneval: the sandbox runs with reduced isolation on this machine: " + "; ".join(gaps)
                ),
                stacklevel=1,
            )
        return sandbox

    def _sample_pool(self) -> SamplePool:
        if self._pool is None:
            # Every server starts here, in the main thread: a server dies with the thread that started it.
            sandboxes: list[Sandbox] = []
            try:
                for i in range(self.jobs):
                    sandboxes.append(self._started_sandbox(warn=i == 0))
            except BaseException:  # one fell short of --humaneval-require-isolation: stop the others
                for sandbox in sandboxes:
                    sandbox.close()
                raise
            self._pool = SamplePool(sandboxes)
        return self._pool

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            sandbox.close()

    def pytest_sessionfinish(self) -> None:
        self.close()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.close()
        del config.stash[RUNNER]
        config.pluginmanager.unregister(self)


RUNNER = pytest.StashKey[SampleRunner]()
REQUIRE_FLAG = "--humaneval-require-isolation"


class IsolationRefused(RuntimeError):
    """A sandbox started here does not enforce what --humaneval-require-isolation requires."""
