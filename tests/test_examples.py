"""The CI example in conftest_examples/ci_gate: its conftest.py against a real OpenAI-compatible HTTP
server on 127.0.0.1 (answering like vLLM's /v1/completions), gated by its pyproject.toml table."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pytest_humaneval.dataset import load

from .helpers import read_report

EXAMPLE = Path(__file__).resolve().parent.parent / "conftest_examples" / "ci_gate"
WRONG_TASK = "HumanEval/2"  # half of its samples are wrong


class CompletionsHandler(BaseHTTPRequestHandler):
    """POST /v1/completions: `n` choices for a HumanEval prompt, the reference solution (or, for
    WRONG_TASK, a wrong body in every other choice)."""

    solutions: ClassVar[dict[str, tuple[str, str]]] = {}  # prompt -> (task id, canonical solution)
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        task_id, solution = self.solutions[body["prompt"]]
        texts = ["    return 0\n" if task_id == WRONG_TASK and i % 2 else solution for i in range(body["n"])]
        payload = {"choices": [{"index": i, "text": t} for i, t in reversed(list(enumerate(texts)))]}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def completions_server() -> Iterator[str]:
    CompletionsHandler.solutions = {p.prompt: (p.task_id, p.canonical_solution) for p in load().problems}
    CompletionsHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), CompletionsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_ci_example_gates_a_served_model(
    pytester: pytest.Pytester, completions_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest((EXAMPLE / "conftest.py").read_text())
    (pytester.path / "pyproject.toml").write_text((EXAMPLE / "pyproject.toml").read_text())
    monkeypatch.setenv("HUMANEVAL_OPENAI_BASE_URL", completions_server)
    monkeypatch.setenv("HUMANEVAL_SAMPLES", "10")
    # Under xdist, in a subprocess, as the example's workflow runs it (-n auto); its conftest.py loads on
    # the workers too.
    result = pytester.runpytest_subprocess(
        "--humaneval-model=vllm:my-org/coder", "--humaneval-tasks=0-2", "-n", "2", timeout=120
    )
    # 5 failing samples, but the gates in pyproject.toml are met: the build passes.
    result.assert_outcomes(passed=25, failed=5)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["gate met: pass@1 = 0.8333 >= 0.62", "gate met: pass@10 = 1.0000 >= 0.8"])
    assert [r["n"] for r in CompletionsHandler.requests] == [10, 10, 10]
    assert {r["model"] for r in CompletionsHandler.requests} == {"my-org/coder"}
    report = read_report(pytester.path / "humaneval" / "report.json")
    assert report["settings"]["fail_under"] == ["pass@1=0.62", "pass@10=0.8"]
    assert report["gates"]["met"] is True
    assert (pytester.path / "humaneval" / "report.html").is_file()

    # The same model against its own report as baseline, as the workflow does on a pull request; in-process,
    # for the comparison does not depend on how the samples ran.
    (pytester.path / "baseline.json").write_bytes((pytester.path / "humaneval" / "report.json").read_bytes())
    again = pytester.runpytest(
        "--humaneval-model=vllm:my-org/coder",
        "--humaneval-tasks=0-2",
        "--humaneval-baseline=baseline.json",
        "--humaneval-max-drop=pass@1=0.02",
        "-p",
        "no:xdist",
    )
    assert again.ret == pytest.ExitCode.OK
    again.stdout.fnmatch_lines(
        ["regressed: 0", "improved: 0", "gate met: pass@1 * within the allowed drop of 0.02"]
    )
