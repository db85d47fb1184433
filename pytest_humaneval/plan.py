"""The plan of a run: which problems, which samples, in which order. Built once, on the controller.

A plan is plain data. xdist workers receive its wire form (:meth:`Plan.to_wire`: only what judging
needs, as one JSON string, which crosses any execnet channel) and build their items from it, so they
need neither the dataset files nor the model, and all collect the same ids.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .dataset import REQUIRED_FIELDS, Dataset, Problem
from .errors import HumanEvalInputError
from .models import Backend, Completion, GenerationOptions, GenerationRequest, Sampling

if TYPE_CHECKING:
    from .plus.suite import PlusSuite

ROOT_NAME = "humaneval"  # node id of the collector that holds every sample


@dataclass(frozen=True)
class Sample:
    """One completion to judge: the `index`-th sample of `task_id`; `order` is its input position."""

    task_id: str
    index: int
    completion: str
    order: int
    raw: str | None = None

    @property
    def name(self) -> str:
        """The item's name: depends only on the task id and the sample index."""
        return f"{self.task_id}[{self.index}]"

    @property
    def nodeid(self) -> str:
        return f"{ROOT_NAME}::{self.name}"


@dataclass(frozen=True)
class Provenance:
    """Where the plan's samples came from: generated now, taken from the cache, or given as they are."""

    generated: int = 0
    cached: int = 0
    given: int = 0

    def describe(self, model: str, seconds: float) -> str:
        """The summary's generation line; `seconds` is how long planning (loading and generating) took."""
        total = self.generated + self.cached + self.given
        if self.generated or self.cached:
            parts = [f"{self.generated} generated", f"{self.cached} from the cache"]
            if self.given:
                parts.append(f"{self.given} given")
            return f"generation: {total} samples from {model}: {', '.join(parts)}, in {seconds:.2f} s"
        return f"generation: none, {total} samples given by {model}, loaded in {seconds:.2f} s"


@dataclass(frozen=True)
class Plan:
    model: str
    dataset_name: str
    dataset_sha256: str
    dataset_size: int
    problems: tuple[Problem, ...]  # the problems with samples, in dataset order
    samples: tuple[Sample, ...]  # collection order: dataset order, then sample index
    notes: tuple[str, ...] = ()  # what a reader must know to interpret pass@k (subsets, ...)
    provenance: Provenance = field(default_factory=Provenance)
    plus: PlusSuite | None = None  # HumanEval+'s tests, when the problem set has them

    def problem(self, task_id: str) -> Problem:
        return self._problems_by_id()[task_id]

    def _problems_by_id(self) -> dict[str, Problem]:
        cache: dict[str, Problem] | None = self.__dict__.get("_by_id")
        if cache is None:
            cache = {p.task_id: p for p in self.problems}
            object.__setattr__(self, "_by_id", cache)
        return cache

    def to_wire(self) -> str:
        """What a worker needs to collect and judge the samples, as one JSON string.

        Only a problem's required fields travel, which are all judging reads: a problem set's extra fields
        (EvalPlus's inputs, say) may hold values (integers beyond 64 bits) that an execnet channel
        refuses, and the raw model answers stay here. HumanEval+'s tests travel as the suite's own wire
        form, text inside this one.
        """
        return json.dumps(
            {
                "model": self.model,
                "dataset_name": self.dataset_name,
                "dataset_sha256": self.dataset_sha256,
                "dataset_size": self.dataset_size,
                "problems": [[getattr(p, name) for name in REQUIRED_FIELDS] for p in self.problems],
                "samples": [[s.task_id, s.index, s.completion, s.order] for s in self.samples],
                "notes": list(self.notes),
                "plus": None if self.plus is None else self.plus.to_wire(),
            }
        )

    @classmethod
    def from_wire(cls, text: str) -> Plan:
        data = json.loads(text)
        return cls(
            model=data["model"],
            dataset_name=data["dataset_name"],
            dataset_sha256=data["dataset_sha256"],
            dataset_size=data["dataset_size"],
            problems=tuple(
                Problem(**dict(zip(REQUIRED_FIELDS, row, strict=True))) for row in data["problems"]
            ),
            samples=tuple(Sample(*row) for row in data["samples"]),
            notes=tuple(data["notes"]),
            plus=None if data.get("plus") is None else _plus_from_wire(data["plus"]),
        )


def _plus_from_wire(text: str) -> PlusSuite:
    from .plus.suite import PlusSuite

    return PlusSuite.from_wire(text)


_RANGE = re.compile(r"^(\d+)(?:\s*-\s*(\d+))?$")


def select_problems(dataset: Dataset, spec: str | None) -> tuple[Problem, ...]:
    """Problems named by `spec`: comma-separated task ids, numbers and ranges (``0-9,42,HumanEval/7``).

    A number N names the task whose id ends in ``/N`` (HumanEval/N), or is N itself.
    """
    if spec is None:
        return dataset.problems
    by_number: dict[int, list[str]] = {}
    for problem in dataset.problems:
        tail = problem.task_id.rsplit("/", 1)[-1]
        if tail.isdigit():
            by_number.setdefault(int(tail), []).append(problem.task_id)
    chosen: set[str] = set()
    for token in (part.strip() for part in spec.split(",")):
        if not token:
            continue
        if token in dataset:
            chosen.add(token)
            continue
        match = _RANGE.match(token)
        if not match:
            raise HumanEvalInputError(
                f"--humaneval-tasks={spec!r}: {token!r} is neither a task id of {dataset.name} nor a number "
                f"or range; use e.g. 0-9,42 or {dataset.problems[0].task_id}"
            )
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if high < low:
            raise HumanEvalInputError(f"--humaneval-tasks={spec!r}: range {token!r} runs backwards")
        absent = [number for number in range(low, high + 1) if number not in by_number]
        if absent:
            valid = f"{min(by_number)}-{max(by_number)}" if by_number else "none: its ids have no numbers"
            raise HumanEvalInputError(
                f"--humaneval-tasks={spec!r}: no problem numbered {absent[0]} in {dataset.name} "
                f"(numbers: {valid})"
            )
        for number in range(low, high + 1):
            chosen.update(by_number[number])
    if not chosen:
        raise HumanEvalInputError(f"--humaneval-tasks={spec!r} selects no problems")
    return tuple(p for p in dataset.problems if p.task_id in chosen)


def build_plan(
    backend: Backend,
    dataset: Dataset,
    tasks: str | None,
    n: int | None,
    sampling: Sampling | None = None,
    options: GenerationOptions | None = None,
) -> Plan:
    """Ask the backend for samples of the selected problems and lay them out as items."""
    selected = select_problems(dataset, tasks)
    request = GenerationRequest(
        dataset=dataset,
        problems=selected,
        n=n,
        sampling=sampling or Sampling(),
        options=options or GenerationOptions(),
    )
    completions = backend.complete(request)
    samples = _number_samples(completions, {p.task_id for p in selected}, backend.name)
    origins = Counter(c.origin for c in completions)
    covered = {s.task_id for s in samples}
    position = {p.task_id: i for i, p in enumerate(dataset.problems)}
    samples.sort(key=lambda s: (position[s.task_id], s.index))
    notes: list[str] = []
    if len(selected) < len(dataset):
        notes.append(
            f"subset: {len(selected)} of {len(dataset)} problems selected by --humaneval-tasks={tasks}"
        )
    if len(covered) < len(selected):
        notes.append(
            f"subset: the model gave samples for {len(covered)} of the {len(selected)} selected problems; "
            "only those are evaluated"
        )
    return Plan(
        model=backend.name,
        dataset_name=dataset.name,
        dataset_sha256=dataset.sha256,
        dataset_size=len(dataset),
        problems=tuple(p for p in selected if p.task_id in covered),
        samples=tuple(samples),
        notes=tuple(notes),
        provenance=Provenance(origins["generated"], origins["cache"], origins["given"]),
    )


def _number_samples(completions: Sequence[Completion], wanted: set[str], model: str) -> list[Sample]:
    counts: dict[str, int] = {}
    samples: list[Sample] = []
    for order, completion in enumerate(completions):
        if completion.task_id not in wanted:
            raise HumanEvalInputError(
                f"model {model} returned a sample for {completion.task_id!r}, which was not asked for"
            )
        index = counts.get(completion.task_id, 0)
        counts[completion.task_id] = index + 1
        samples.append(Sample(completion.task_id, index, completion.completion, order, completion.raw))
    if not samples:
        raise HumanEvalInputError(f"model {model} gave no samples for the selected problems")
    return samples
