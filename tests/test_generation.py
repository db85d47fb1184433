"""Generation end to end: the `openai:` backend against a real HTTP server on 127.0.0.1, through pytest.

The server (``tests/openai_server.py``) answers from a table and misbehaves on cue. Each test runs
pytest through pytester, as a user would, and checks the verdicts, the retries the server saw, and
that no sample was asked for twice. Generation happens once, on the process that plans the run, so
the tests run pytest in-process without xdist; one runs under xdist, to show that workers never
generate, and the rest use a subprocess only where they need a fresh interpreter or a signal.
"""

from __future__ import annotations

import fnmatch
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_humaneval.dataset import Dataset, Problem, load

from .helpers import read_report
from .openai_server import FakeOpenAI, Fault

TIMEOUT = 120  # seconds a whole pytester run may take before the test fails, not a performance bound
TASKS = "0-5"
WRONG = "    return None\n"


@pytest.fixture(scope="module")
def humaneval() -> Dataset:
    return load()


def problems(humaneval: Dataset) -> list[Problem]:
    return list(humaneval.problems[:6])


def completion_table(humaneval: Dataset) -> dict[str, list[str]]:
    """Seed 0 (sample 0) is right, seed 1 (sample 1) is wrong; trailing code the stops must remove."""
    return {
        p.prompt: [p.canonical_solution + "\n\nif __name__ == '__main__':\n    print('demo')\n", WRONG]
        for p in problems(humaneval)
    }


def chat_table(humaneval: Dataset) -> dict[str, list[str]]:
    """Answers as chat models give them: prose, the whole function in a fence, more prose."""
    return {
        p.prompt: [
            f"Here you go:\n\n```python\n{p.prompt}{p.canonical_solution}```\n\nThis runs in linear time.",
            f"<think>Hmm.</think>\n```python\n{WRONG}```",
        ]
        for p in problems(humaneval)
    }


def openai_args(server: FakeOpenAI) -> tuple[str, ...]:
    return (
        "--humaneval-model=openai:test-model",
        f"--humaneval-base-url={server.url}",
        f"--humaneval-tasks={TASKS}",
        "--humaneval-n=2",
        "--humaneval-seed=0",
        "--humaneval-k=1,2",
        "--humaneval-report=report.json",
    )


def run(pytester: pytest.Pytester, server: FakeOpenAI, *args: str) -> pytest.RunResult:
    """In-process, without xdist; the server runs on a thread of this process and answers meanwhile."""
    return pytester.runpytest(*openai_args(server), "-p", "no:xdist", *args)


def outcomes(pytester: pytest.Pytester) -> dict[tuple[str, int], bool]:
    report = read_report(pytester.path / "report.json")
    return {(s["task_id"], s["sample"]): s["passed"] for s in report["samples"]}


def expected(humaneval: Dataset) -> dict[tuple[str, int], bool]:
    return {(p.task_id, i): i == 0 for p in problems(humaneval) for i in range(2)}


# Under xdist only, in a subprocess: that workers never generate shows in the server's counts. Retries
# and sampling happen where generation does, the same in every mode; the pool of sandboxes only judges.
def test_completion_style_with_faults_retries_and_generates_each_sample_once(
    pytester: pytest.Pytester, humaneval: Dataset
) -> None:
    prompts = [p.prompt for p in problems(humaneval)]
    faults = {
        prompts[0]: [Fault("status", 429, retry_after="1")],
        prompts[1]: [Fault("status", 500), Fault("status", 503)],
        prompts[2]: [Fault("drop")],
        prompts[3]: [Fault("slow", seconds=0.5)],
        prompts[4]: [Fault("stall", seconds=5)],  # past --humaneval-request-timeout: a timeout
    }
    with FakeOpenAI(completion_table(humaneval), faults) as server:
        result = pytester.runpytest_subprocess(
            *openai_args(server),
            "--humaneval-prompt-style=completion",
            "--humaneval-request-timeout=2.5",  # generous: a busy machine must not time out the others
            "--humaneval-cache-dir=none",
            "-n",
            "2",
            timeout=TIMEOUT,
        )
        answered = server.answered()
        seen = list(server.seen)
    result.assert_outcomes(passed=6, failed=6)
    result.stdout.fnmatch_lines(
        ["pass@1: 0.5000  (95% CI *, 6 problems, n=2)", "pass@2: 1.0000  (95% CI *, 6 problems, n=2)"]
    )
    assert outcomes(pytester) == expected(humaneval)
    # Every sample answered exactly once: retries repeat failed requests only, workers never generate.
    assert answered == {(prompt, seed): 1 for prompt in prompts for seed in (0, 1)}
    assert len(seen) == 12 + 1 + 2 + 1 + 1  # the answers, plus each injected failure once
    assert all(s.endpoint == "/v1/completions" for s in seen)
    assert all(s.body["stop"] and "\ndef " not in s.body["stop"] for s in seen)
    assert {s.body["temperature"] for s in seen} == {0.8} and {s.body["top_p"] for s in seen} == {0.95}
    # The 429's Retry-After was honoured: the same sample came back no sooner than a second later.
    first, *rest = [s for s in seen if s.prompt == prompts[0]]
    retry = next(s for s in rest if s.seed == first.seed)
    assert retry.at - first.at >= 1.0
    # The report keeps the raw answer beside what ran.
    report = read_report(pytester.path / "report.json")
    sample = next(s for s in report["samples"] if s["task_id"] == "HumanEval/0" and s["sample"] == 0)
    assert sample["completion"] == humaneval["HumanEval/0"].canonical_solution + "\n"
    assert sample["raw"].startswith(humaneval["HumanEval/0"].canonical_solution)


def test_chat_style_is_the_default_for_openai_and_extracts_the_code(
    pytester: pytest.Pytester, humaneval: Dataset
) -> None:
    with FakeOpenAI(chat_table(humaneval)) as server:
        result = run(pytester, server, "--humaneval-cache-dir=none")
        seen = list(server.seen)
    result.assert_outcomes(passed=6, failed=6)
    assert outcomes(pytester) == expected(humaneval)
    assert len(seen) == 12 and all(s.endpoint == "/v1/chat/completions" for s in seen)
    message = seen[0].body["messages"][-1]["content"]
    assert seen[0].prompt is not None and seen[0].prompt in message  # the prompt, whole


def test_greedy_by_default_for_one_sample_and_samples_file_round_trip(
    pytester: pytest.Pytester, humaneval: Dataset
) -> None:
    with FakeOpenAI(chat_table(humaneval)) as server:
        result = pytester.runpytest(
            "--humaneval-model=openai:test-model",
            f"--humaneval-base-url={server.url}",
            f"--humaneval-tasks={TASKS}",
            "--humaneval-save-samples=out/samples.jsonl",
            "--humaneval-cache-dir=none",
        )
        seen = list(server.seen)
    result.assert_outcomes(passed=6)
    assert {(s.body["temperature"], s.body["top_p"], s.body.get("seed")) for s in seen} == {(0.0, 1.0, None)}
    assert {s.body["max_tokens"] for s in seen} == {2048}
    lines = [json.loads(line) for line in (pytester.path / "out" / "samples.jsonl").read_text().splitlines()]
    assert [line["task_id"] for line in lines] == [p.task_id for p in problems(humaneval)]
    assert all(set(line) == {"task_id", "completion"} for line in lines)
    again = pytester.runpytest("--humaneval-model=samples:out/samples.jsonl", "-p", "no:cacheprovider")
    again.assert_outcomes(passed=6)


# One mode: the cache is read and written where generation happens; under xdist that is the controller,
# as the test above shows.
def test_a_second_run_is_served_from_the_cache(pytester: pytest.Pytester, humaneval: Dataset) -> None:
    with FakeOpenAI(completion_table(humaneval)) as server:
        first = run(pytester, server, "--humaneval-prompt-style=completion")
        after_first = server.total
        first_outcomes = outcomes(pytester)
        second = run(pytester, server, "--humaneval-prompt-style=completion")
        after_second = server.total
        run(pytester, server, "--humaneval-prompt-style=completion", "--humaneval-temperature=0.5")
        after_changed = server.total
    first.assert_outcomes(passed=6, failed=6)
    second.assert_outcomes(passed=6, failed=6)
    assert after_first == 12
    assert after_second == after_first  # zero requests
    assert outcomes(pytester) == first_outcomes == expected(humaneval)
    assert after_changed == after_first + 12  # a different temperature is a different sample
    # By default the cache lives in pytest's cache directory.
    assert list((pytester.path / ".pytest_cache" / "d" / "humaneval").glob("*.jsonl"))


def cache_lines(directory: Path) -> int:
    return sum(
        1
        for file in directory.glob("*.jsonl")
        for line in file.read_text().splitlines()
        if line.endswith("}") and '"key"' in line
    )


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_run_stopped_midway_resumes_with_only_the_missing_samples(
    pytester: pytest.Pytester, humaneval: Dataset, stop: signal.Signals
) -> None:
    args = [
        sys.executable,
        "-m",
        "pytest",
        "--humaneval-model=openai:test-model",
        f"--humaneval-tasks={TASKS}",
        "--humaneval-n=2",
        "--humaneval-seed=0",
        "--humaneval-prompt-style=completion",
        "--humaneval-concurrency=1",
        "--humaneval-cache-dir=cache",
        "-p",
        "no:xdist",
    ]
    with FakeOpenAI(completion_table(humaneval)) as server:
        server.hold_after = 5  # answer five samples, then hang: the run is stuck mid-generation
        process = subprocess.Popen(
            [*args, f"--humaneval-base-url={server.url}"],
            cwd=pytester.path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while (
                server.total < 6 or cache_lines(pytester.path / "cache") < 5
            ) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert cache_lines(pytester.path / "cache") == 5
        finally:
            process.send_signal(stop)
            # Ctrl-C does not wait for the request in flight, which the server holds until released.
            process.wait(timeout=TIMEOUT)
        assert process.returncode == (
            -signal.SIGKILL if stop == signal.SIGKILL else pytest.ExitCode.INTERRUPTED
        )
        server.hold_after = None
        server.release.set()
        before = server.total
        # The stopped run needed a process of its own to stop; the one that resumes does not.
        result = pytester.runpytest(*args[3:], f"--humaneval-base-url={server.url}")
        resumed = server.seen[before:]
        answered = server.answered()
    result.assert_outcomes(passed=6, failed=6)
    assert len(resumed) == 12 - 5  # only the samples the killed run had not finished
    assert all(count == 1 for count in answered.values()) and len(answered) == 12


def test_a_persistent_failure_ends_the_run_and_keeps_finished_samples(
    pytester: pytest.Pytester, humaneval: Dataset
) -> None:
    prompts = [p.prompt for p in problems(humaneval)]
    with FakeOpenAI(completion_table(humaneval), {prompts[3]: [Fault("status", 500)] * 100}) as server:
        args = ("--humaneval-prompt-style=completion", "--humaneval-retries=2", "--humaneval-cache-dir=cache")
        failed = run(pytester, server, *args, "-p", "no:xdist")
        failing = [s for s in server.seen if s.prompt == prompts[3]]
        server.faults.clear()  # the server comes back
        before = server.total
        resumed = run(pytester, server, *args)
        again = server.seen[before:]
    assert failed.ret == pytest.ExitCode.INTERRUPTED
    output = failed.stdout.str() + failed.stderr.str()
    assert "humaneval: generation failed: HumanEval/3 sample " in output
    assert "failed after 3 attempts; last answer: HTTP 500:" in output and "injected 500" in output
    assert not any(s.answered for s in failing) and len(failing) >= 3
    resumed.assert_outcomes(passed=6, failed=6)
    # The other problems' samples finished before the failure and were kept: only HumanEval/3 is asked.
    assert sorted(s.seed for s in again if s.seed is not None) == [0, 1]
    assert {s.prompt for s in again} == {prompts[3]}


def test_greedy_sampling_with_several_samples_warns(pytester: pytest.Pytester, humaneval: Dataset) -> None:
    with FakeOpenAI(completion_table(humaneval)) as server:
        result = run(
            pytester,
            server,
            "--humaneval-prompt-style=completion",
            "--humaneval-temperature=0",
            "--humaneval-cache-dir=none",
        )
    result.assert_outcomes(passed=6, failed=6)
    result.stdout.fnmatch_lines(
        ["*HumanEvalWarning: --humaneval-n=2 with --humaneval-temperature=0: greedy*"]
    )


def test_a_missing_client_names_the_extra_to_install(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(openai="raise ImportError('simulated: the openai package is not installed')")
    # A subprocess: this interpreter has loaded the real openai package, which the fake must shadow.
    result = pytester.runpytest_subprocess("--humaneval-model=openai:gpt-x", timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --humaneval-model=openai:gpt-x needs the openai package*"
            'pip install "pytest-humaneval[[]openai[]]"'
        ]
    )


def test_openai_without_a_key_or_server_says_what_to_set(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = pytester.runpytest("--humaneval-model=openai:gpt-x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *needs a key: set OPENAI_API_KEY*--humaneval-base-url*"])


def test_the_server_address_from_the_environment(
    pytester: pytest.Pytester, humaneval: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAI(chat_table(humaneval)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        result = pytester.runpytest(
            "--humaneval-model=openai:test-model", "--humaneval-tasks=0", "-p", "no:cacheprovider"
        )
        assert server.total == 1
    result.assert_outcomes(passed=1)


PYTHON_MODEL = """
from pytest_humaneval.dataset import load

SOLUTIONS = {p.prompt: p.prompt + p.canonical_solution for p in load().problems}
CALLS = []


def complete(prompt, sampling):
    CALLS.append(sampling.seed)
    if sampling.seed == 1:
        return "I am not sure."
    return "```python\\n" + SOLUTIONS[prompt] + "```"


def broken(prompt, sampling):
    raise RuntimeError("model not loaded")
"""


@pytest.fixture
def python_model(pytester: pytest.Pytester) -> Iterator[None]:
    pytester.makepyfile(mymodel=PYTHON_MODEL)
    yield


# One mode: the function is called where generation happens, like any backend's.
@pytest.mark.usefixtures("python_model")
def test_python_callable_backend(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--humaneval-model=python:mymodel:complete",
        "--humaneval-tasks=0-3",
        "--humaneval-n=2",
        "--humaneval-seed=0",
        "--humaneval-k=1",
        "-p",
        "no:xdist",
    )
    result.assert_outcomes(passed=4, failed=4)
    result.stdout.fnmatch_lines(
        ["model: python:mymodel:complete", "pass@1: 0.5000  (95% CI *, 4 problems, n=2)"]
    )


@pytest.mark.usefixtures("python_model")
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "python:mymodel:broken",
            "Exit: humaneval: generation failed: HumanEval/0 sample 0: *RuntimeError: model not loaded",
        ),
        (
            "python:mymodel:absent",
            "ERROR: --humaneval-model='python:mymodel:absent': module 'mymodel' has no function*",
        ),
        (
            "python:nomodule:f",
            "ERROR: --humaneval-model='python:nomodule:f': cannot import module 'nomodule'*",
        ),
        ("python:mymodel", "ERROR: --humaneval-model='python:mymodel' is not python:MODULE:FUNCTION*"),
    ],
)
def test_python_callable_errors(pytester: pytest.Pytester, spec: str, message: str) -> None:
    result = pytester.runpytest(f"--humaneval-model={spec}", "--humaneval-tasks=0")
    assert result.ret in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERRUPTED)
    assert fnmatch.filter(result.stderr.lines + result.stdout.lines, message), result.stderr.str()


def test_a_bad_generation_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhumaneval_top_p = 2\n")
    result = pytester.runpytest("--humaneval-model=canonical")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: humaneval_top_p='2' is not a number in (0, 1]; use e.g. 0.95 or 1"])
