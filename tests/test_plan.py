from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_humaneval.dataset import Dataset, checksum, load
from pytest_humaneval.errors import HumanEvalInputError
from pytest_humaneval.models import builtin_backend
from pytest_humaneval.plan import Plan, build_plan, select_problems

from .helpers import write_jsonl


@pytest.fixture(scope="module")
def humaneval() -> Dataset:
    return load()


def ids(problems: tuple[object, ...]) -> list[str]:
    return [p.task_id for p in problems]  # type: ignore[attr-defined]


def test_select_numbers_ranges_and_ids(humaneval: Dataset) -> None:
    assert ids(select_problems(humaneval, "0-2,42,HumanEval/7")) == [
        "HumanEval/0",
        "HumanEval/1",
        "HumanEval/2",
        "HumanEval/7",
        "HumanEval/42",
    ]
    assert len(select_problems(humaneval, None)) == 164


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("200", r"no problem numbered 200 .*numbers: 0-163"),
        ("5-3", r"range '5-3' runs backwards"),
        ("foo", r"'foo' is neither a task id .* nor a number or range; use e.g. 0-9,42 or HumanEval/0"),
        (",", r"selects no problems"),
    ],
)
def test_select_rejects_bad_specs(humaneval: Dataset, spec: str, message: str) -> None:
    with pytest.raises(HumanEvalInputError, match=message):
        select_problems(humaneval, spec)


def test_canonical_plan_repeats_n_times_with_stable_names(humaneval: Dataset) -> None:
    backend = builtin_backend("canonical", Path.cwd())
    assert backend is not None
    plan = build_plan(backend, humaneval, "3,1", 3)
    assert [s.nodeid for s in plan.samples] == [
        f"humaneval::HumanEval/{t}[{i}]" for t in (1, 3) for i in range(3)
    ]
    assert plan.notes == ("subset: 2 of 164 problems selected by --humaneval-tasks=3,1",)
    decoded = Plan.from_wire(plan.to_wire())
    assert decoded.samples == tuple(replace(s, raw=None) for s in plan.samples)
    assert decoded.problems == plan.problems  # the bundled problems have no extra fields
    assert (decoded.model, decoded.dataset_sha256, decoded.notes) == (
        plan.model,
        plan.dataset_sha256,
        plan.notes,
    )


def test_the_wire_form_carries_only_what_judging_needs(humaneval: Dataset) -> None:
    huge = 2**70  # beyond what an execnet channel carries as an int
    problem = replace(humaneval["HumanEval/0"], extra={"plus_input": [[huge, 1.5]], "atol": 0})
    dataset = Dataset("extra", (problem,), "0" * 64)
    backend = builtin_backend("canonical", Path.cwd())
    assert backend is not None
    plan = build_plan(backend, dataset, None, 2)
    wire = plan.to_wire()
    assert isinstance(wire, str)
    assert str(huge) not in wire and "plus_input" not in wire
    decoded = Plan.from_wire(wire)
    assert decoded.problems == (replace(problem, extra={}),)
    assert [s.name for s in decoded.samples] == ["HumanEval/0[0]", "HumanEval/0[1]"]


def test_samples_file_keeps_input_order_and_counts_n_per_task(tmp_path: Path, humaneval: Dataset) -> None:
    rows = [
        {"task_id": "HumanEval/1", "completion": "a", "extra": 1},
        {"task_id": "HumanEval/0", "completion": "b"},
        {"task_id": "HumanEval/1", "completion": "c"},
    ]
    path = tmp_path / "s.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    backend = builtin_backend("samples:s.jsonl.gz", tmp_path)
    assert backend is not None
    plan = build_plan(backend, humaneval, None, None)
    assert [(s.name, s.completion, s.order) for s in plan.samples] == [
        ("HumanEval/0[0]", "b", 1),
        ("HumanEval/1[0]", "a", 0),
        ("HumanEval/1[1]", "c", 2),
    ]
    assert plan.notes == (
        "subset: the model gave samples for 2 of the 164 selected problems; only those are evaluated",
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"task_id": "HumanEval/0", "completion": "x"}', "{oops"], r"s.jsonl, line 2: invalid JSON"),
        (['{"task_id": "HumanEval/0"}'], r"s.jsonl, line 1: missing field\(s\) completion"),
        (['{"task_id": "HumanEval/0", "completion": 5}'], r"line 1: completion must be a string, got int"),
        (['{"task_id": "HumanEval/999", "completion": ""}'], r"line 1: task_id 'HumanEval/999' is not in"),
        (['"just a string"'], r"line 1: expected a JSON object, got str"),
        (["", "  "], r"s.jsonl: contains no samples"),
    ],
)
def test_malformed_samples_name_file_and_line(
    tmp_path: Path, humaneval: Dataset, lines: list[str], message: str
) -> None:
    write_jsonl(tmp_path / "s.jsonl", lines)
    backend = builtin_backend("samples:s.jsonl", tmp_path)
    assert backend is not None
    with pytest.raises(HumanEvalInputError, match=message):
        build_plan(backend, humaneval, None, None)


def test_samples_file_refuses_n_and_missing_files(tmp_path: Path, humaneval: Dataset) -> None:
    write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "completion": ""}])
    backend = builtin_backend("samples:s.jsonl", tmp_path)
    assert backend is not None
    with pytest.raises(HumanEvalInputError, match=r"--humaneval-n=2 does not apply to samples:s\.jsonl"):
        build_plan(backend, humaneval, None, 2)
    missing = builtin_backend("samples:nope.jsonl", tmp_path)
    assert missing is not None
    with pytest.raises(HumanEvalInputError, match="no such file"):
        build_plan(missing, humaneval, None, None)


def test_selection_and_samples_file_intersect(tmp_path: Path, humaneval: Dataset) -> None:
    write_jsonl(tmp_path / "s.jsonl", [{"task_id": f"HumanEval/{i}", "completion": ""} for i in range(5)])
    backend = builtin_backend("samples:s.jsonl", tmp_path)
    assert backend is not None
    plan = build_plan(backend, humaneval, "3-7", None)
    assert ids(plan.problems) == ["HumanEval/3", "HumanEval/4"]
    assert len(plan.notes) == 2


def test_unknown_spec_is_not_builtin() -> None:
    assert builtin_backend("vertex:gemini", Path.cwd()) is None  # openai:, hf:, python: are built in
    assert checksum(()) == checksum([])
