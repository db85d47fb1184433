"""A sample's control characters never reach the terminal or JUnit XML; the reports keep the exact text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

import pytest

from pytest_humaneval.printable import visible

from .helpers import read_report, write_jsonl

# What a sample would print to rewrite a CI log: clear the line, return to its start, claim a pass; BEL;
# a one-byte CSI (C1); a right-to-left override that reorders what follows.
FORGED = "\x1b[2K\r164 passed\x07\x9b2K\u202e"
SHOWN = "\\x1b[2K\\r164 passed\\x07\\x9b2K\\u202e"
RAW = ("\x1b", "\r", "\x07", "\x9b", "\u202e")
# The completion holds ESC, BEL, CSI and the override as they are; a CR cannot stand in a source line,
# so the program makes it from an escape.
COMPLETION = (
    "    message = '" + FORGED.replace("\r", "\\r") + "'\n    print(message)\n    raise ValueError(message)\n"
)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (FORGED, SHOWN),
        ("tab\tand\nnewline\x00\x7f\x85\u2028", "tab\tand\nnewline\\x00\\x7f\\x85\\u2028"),
        ("plain text, é, 中文, a\\x1b typed by hand", "plain text, é, 中文, a\\x1b typed by hand"),
    ],
)
def test_control_characters_are_shown_not_obeyed(text: str, shown: str) -> None:
    assert visible(text) == shown


def test_one_line_form_escapes_newlines_and_tabs_too() -> None:
    assert visible("a\tb\nc\r", multiline=False) == "a\\tb\\nc\\r"


def test_a_sample_cannot_rewrite_the_log(
    pytester: pytest.Pytester, tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # the short summary keeps the whole line
    assert compile("def add(a, b):\n" + COMPLETION, "c", "exec")  # the sample is valid Python
    write_jsonl(pytester.path / "s.jsonl", [{"task_id": "T/0", "completion": COMPLETION}])
    # A subprocess, whose output pytester keeps in files, byte for byte: its RunResult splits lines at
    # every CR and would hide one.
    result = pytester.runpytest_subprocess(
        "--humaneval-model=samples:s.jsonl",
        "--humaneval-dataset=problems.jsonl",
        "--humaneval-report=report.json",
        "--humaneval-html=report.html",
        "--junitxml=junit.xml",
        "--color=no",
        "--tb=short",  # the FAILURES section too, with the completion and the output
        "-p",
        "no:xdist",
        timeout=60,
    )
    result.assert_outcomes(failed=1)
    printed = ((pytester.path / "stdout").read_bytes() + (pytester.path / "stderr").read_bytes()).decode()
    assert "= humaneval =" in printed
    assert not [char for char in RAW if char in printed]
    assert f"FAILED humaneval::T/0[0] - T/0 sample 0: error: ValueError: {SHOWN} (candidate line 5" in printed
    assert f"\n{SHOWN}\n" in printed  # the sample output section
    assert f"message = '{SHOWN}'" in printed  # the completion section

    junit = (pytester.path / "junit.xml").read_bytes().decode()  # no newline translation
    assert not [char for char in RAW if char in junit]
    (failure,) = ET.fromstring(junit).iter("failure")
    for text in (failure.get("message", ""), failure.text or ""):
        assert SHOWN in text and not [char for char in RAW if char in text]
    for prop in ET.fromstring(junit).iter("property"):  # the outcome, as user_properties carry it
        assert not [char for char in RAW if char in prop.get("value", "")]

    (sample,) = read_report(pytester.path / "report.json")["samples"]
    assert (sample["error_type"], sample["message"], sample["stdout"]) == (
        "ValueError",
        FORGED,
        FORGED + "\n",
    )
    html = (pytester.path / "report.html").read_bytes().decode()
    assert escape(f"ValueError: {FORGED}") in html  # the exact text, escaped as HTML only


def test_a_lone_surrogate_in_a_message_breaks_neither_the_terminal_nor_the_reports(
    pytester: pytest.Pytester, tiny_dataset: Path
) -> None:
    # A message Python holds but UTF-8 cannot encode: written as it is, it stopped the run at its end.
    write_jsonl(
        pytester.path / "s.jsonl", [{"task_id": "T/0", "completion": "    raise ValueError('\\udc80')\n"}]
    )
    result = pytester.runpytest(
        "--humaneval-model=samples:s.jsonl",
        "--humaneval-dataset=problems.jsonl",
        "--humaneval-report=report.json",
        "--humaneval-results=results.jsonl",
        "--humaneval-html=report.html",
        "--junitxml=junit.xml",
        "-p",
        "no:xdist",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["FAILED humaneval::T/0[[]0[]] - T/0 sample 0: error: ValueError: \\udc80 *"])
    (sample,) = read_report(pytester.path / "report.json")["samples"]
    assert sample["message"] == "\udc80"
    assert "failed: \\udc80" in (pytester.path / "results.jsonl").read_text(encoding="utf-8")
    assert "ValueError: &#56448;" in (pytester.path / "report.html").read_text(encoding="utf-8")
