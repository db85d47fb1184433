"""The HTML report opened in a real browser: Debian's headless Chromium renders and dumps the page.

On CI (where `CI` is set) a missing Chromium fails the test; `.ci/run` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from .helpers import ADD_PROBLEM, NEG_PROBLEM, read_report, write_jsonl

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps trying network connections that are closed here.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package before the tests")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (still filtered) pixel rows of a PNG file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    position, idat, width, height = 8, b"", 0, 0
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    return width, height, zlib.decompress(idat)


def test_html_report_renders_in_chromium(pytester: pytest.Pytester, tmp_path: Path) -> None:
    write_jsonl(pytester.path / "problems.jsonl", [ADD_PROBLEM, NEG_PROBLEM])
    good_add, good_neg = ADD_PROBLEM["canonical_solution"], NEG_PROBLEM["canonical_solution"]
    baseline_rows = [{"task_id": "T/0", "completion": good_add}] * 3 + [
        {"task_id": "T/1", "completion": good_neg}
    ] * 3
    current_rows = [
        {"task_id": "T/0", "completion": good_add},
        {"task_id": "T/0", "completion": "    return a - b  # <script>alert(1)</script>\n"},
        {"task_id": "T/0", "completion": "    raise ValueError('boom & bust')\n"},
        {"task_id": "T/1", "completion": good_neg},
        {"task_id": "T/1", "completion": "    return x\n"},
        {"task_id": "T/1", "completion": good_neg},
    ]
    write_jsonl(pytester.path / "before.jsonl", baseline_rows)
    write_jsonl(pytester.path / "after.jsonl", current_rows)
    # In-process, without xdist: the page is written from the report, however its samples ran.
    common = ("--humaneval-dataset=problems.jsonl", "--humaneval-k=1,2,3", "-p", "no:xdist")
    first = pytester.runpytest(
        "--humaneval-model=samples:before.jsonl", "--humaneval-report=before.json", *common
    )
    assert first.ret == pytest.ExitCode.OK
    result = pytester.runpytest(
        "--humaneval-model=samples:after.jsonl",
        "--humaneval-baseline=before.json",
        "--humaneval-fail-under=pass@1=0.5",
        "--humaneval-html=out/report.html",
        "--humaneval-report=after.json",
        *common,
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["HTML report written to *out/report.html"])
    page = pytester.path / "out" / "report.html"
    source = page.read_text(encoding="utf-8")
    # Self-contained: nothing is fetched (the only URL is the SVG namespace), no script runs.
    assert re.findall(r"https?://[^\"' ]+", source) == ["http://www.w3.org/2000/svg"]
    assert "<script" not in source and "<link" not in source and "@import" not in source

    dom = browse(page, tmp_path / "profile-dom", "--dump-dom").stdout
    assert "<title>HumanEval: samples:after.jsonl</title>" in dom
    plot = re.search(r'<svg id="pass-at-k-plot".*?</svg>', dom, re.DOTALL)
    assert plot is not None, "the pass@k plot is missing"
    assert len(re.findall(r'<polyline class="curve"', plot.group(0))) == 2  # this run and the baseline
    report = read_report(pytester.path / "after.json")
    assert len(re.findall(r'<line class="ci"', plot.group(0))) == len(report["pass_at_k"]) == 3
    failing = [s for s in report["samples"] if not s["passed"]]
    rows = re.findall(
        r'<tr class="failing-sample"><td>(.*?)</td><td class="num">(\d+)</td><td>(\w+)</td>', dom
    )
    assert rows == [(s["task_id"], str(s["sample"]), s["outcome"]) for s in failing]
    assert len(rows) == 3
    assert "error: ValueError: boom &amp; bust" in dom  # the error, escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # a completion is text, never markup
    assert dom.count('class="cell mark-regressed"') == 2  # both problems lost a passing sample
    assert re.search(r"<h2 id=\"gates\">Gates: <span class=\"met\">met</span>", dom)
    # The sandbox's level and layers, as the JSON report has them.
    assert f"<td>sandbox</td><td>{report['isolation']['summary']}</td>" in dom

    shot = tmp_path / "report.png"
    browse(page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,1600")
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1200, 1600)
    # A blank page compresses to a handful of distinct byte values; text, colours and the plot do not.
    assert len(set(pixels)) > 100
