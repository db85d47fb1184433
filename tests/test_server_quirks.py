"""What real servers do differently from OpenAI's API, taught to our imitation and checked through pytest.

``tests/test_transformers_serve.py`` finds these in ``transformers serve``: it keeps the stop string it
stopped at, refuses an unknown model name with FastAPI's ``{"detail": ...}`` body, answers a prompt
longer than its context with a bare plain-text 500, and decodes greedily at any temperature. Here
the imitation (``tests/openai_server.py``) does the same, in-process and fast, and the error bodies
of the servers the README names are read directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from pytest_humaneval.dataset import Dataset, load
from pytest_humaneval.generation.postprocess import COMPLETION_STOPS
from pytest_humaneval.generation.sameness import identical_answers_warning
from pytest_humaneval.models.openai_api import server_message

from .helpers import read_report
from .openai_server import FakeOpenAI

TASKS = "0-2"
TRAILER = "\nif __name__ == '__main__':\n    print('demo')\n"


@dataclass(frozen=True)
class Answer:
    """A sample as the identical-answers check reads it."""

    task_id: str
    raw: str | None


@pytest.fixture(scope="module")
def humaneval() -> Dataset:
    return load()


def table(humaneval: Dataset) -> dict[str, list[str]]:
    return {p.prompt: [p.canonical_solution + TRAILER] for p in humaneval.problems[:3]}


def run(pytester: pytest.Pytester, server: FakeOpenAI, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        f"--humaneval-base-url={server.url}",
        f"--humaneval-tasks={TASKS}",
        "--humaneval-prompt-style=completion",
        "--humaneval-cache-dir=none",
        "--humaneval-report=report.json",
        "--humaneval-concurrency=1",
        "-p",
        "no:xdist",
        *args,
    )


def test_a_kept_stop_string_gives_the_completion_a_dropped_one_gives(
    pytester: pytest.Pytester, humaneval: Dataset
) -> None:
    samples = {}
    for keep in (False, True):
        with FakeOpenAI(table(humaneval), keep_stop=keep) as server:
            run(pytester, server, "--humaneval-model=openai:m").assert_outcomes(passed=3)
        samples[keep] = read_report(pytester.path / "report.json")["samples"]
    stop = next(s for s in COMPLETION_STOPS if s in TRAILER)
    for dropped, kept in zip(samples[False], samples[True], strict=True):
        assert kept["raw"] == dropped["raw"] + stop  # the report keeps what each server sent
        assert kept["completion"] == dropped["completion"]


def test_a_refused_model_name_is_reported_with_the_message_inside_the_body(
    pytester: pytest.Pytester, humaneval: Dataset
) -> None:
    with FakeOpenAI(table(humaneval), pinned="served") as server:
        result = run(pytester, server, "--humaneval-model=openai:other")
        seen = server.total
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert seen == 1  # a 400 is not retried
    output = result.stdout.str() + result.stderr.str()
    assert (
        f"HumanEval/0 sample 0: completion request to {server.url} (model other): "
        "HTTP 400: this server serves 'served' only, not 'other'"
    ) in output


def test_a_bare_500_for_an_overlong_prompt_is_retried_then_reported(
    pytester: pytest.Pytester, humaneval: Dataset
) -> None:
    longest = max(len(p.prompt) for p in humaneval.problems[:3])
    with FakeOpenAI(table(humaneval), context=longest - 1) as server:
        result = run(pytester, server, "--humaneval-model=openai:m", "--humaneval-retries=1")
        refused = [s for s in server.seen if not s.answered]
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert len(refused) == 2
    task = next(p.task_id for p in humaneval.problems[:3] if len(p.prompt) == longest)
    output = result.stdout.str() + result.stderr.str()
    assert f"{task} sample 0: completion request to {server.url} (model m): failed after 2 attempts" in output
    assert "last answer: HTTP 500: Internal Server Error" in output


@pytest.mark.parametrize("greedy", [True, False], ids=["greedy-server", "sampling-server"])
def test_a_server_that_ignores_the_temperature_is_noticed(
    pytester: pytest.Pytester, humaneval: Dataset, greedy: bool
) -> None:
    answers = {p.prompt: [p.canonical_solution, "    return None\n"] for p in humaneval.problems[:3]}
    with FakeOpenAI(answers, greedy=greedy) as server:
        result = run(pytester, server, "--humaneval-model=openai:m", "--humaneval-n=2", "--humaneval-seed=0")
    result.assert_outcomes(passed=6 if greedy else 3, failed=0 if greedy else 3)
    warning = "*HumanEvalWarning: all 2 answers to each of the 3 problems are identical at temperature 0.8*"
    if greedy:
        result.stdout.fnmatch_lines([warning])
    else:
        result.stdout.no_fnmatch_line(warning)


def test_identical_answers_warn_only_when_sampled_and_all_alike() -> None:
    alike = [Answer("A", "x"), Answer("A", "x"), Answer("B", "y"), Answer("B", "y")]
    assert identical_answers_warning(alike, 0.8) is not None
    assert identical_answers_warning(alike, 0.0) is None  # greedy was asked for: a warning of its own
    assert identical_answers_warning([*alike, Answer("C", "z"), Answer("C", "w")], 0.8) is None
    assert identical_answers_warning([Answer("A", "x"), Answer("B", "y")], 0.8) is None  # n=1
    assert identical_answers_warning([Answer("A", None), Answer("A", None)], 0.8) is None  # not generated


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": {"message": "model not found", "type": "invalid_request_error"}}, "model not found"),
        (
            {"error": "Input validation error: too long", "error_type": "validation"},
            "Input validation error: too long",
        ),
        ({"detail": "Server is busy"}, "Server is busy"),
        (
            {"detail": [{"loc": ["body", "n"], "msg": "bad"}]},
            json.dumps([{"loc": ["body", "n"], "msg": "bad"}]),
        ),
        ({"object": "error", "message": "context too long", "code": 400}, "context too long"),
        ({"error": {"type": "server_error"}}, None),
        (["not", "an", "object"], None),
    ],
    ids=["openai", "tgi", "fastapi", "fastapi-validation", "old-vllm", "no-message", "a-list"],
)
def test_server_messages_in_every_shape(body: object, message: str | None) -> None:
    assert server_message(json.dumps(body)) == message


def test_a_body_that_is_not_json_has_no_message() -> None:
    assert server_message("Internal Server Error") is None
    assert server_message("") is None
