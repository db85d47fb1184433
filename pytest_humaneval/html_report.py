"""The HTML report: one self-contained page (inline CSS and SVG, no scripts, nothing fetched) built
from the JSON report's contents, so a browser can open it straight from a CI artifact."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from .passk import estimate_pass_at_k
from .sandbox import TAMPER_KINDS, Outcome

MAX_CURVE_POINTS = 200
PLOT_WIDTH, PLOT_HEIGHT = 640, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 20, 16, 44
CURRENT_COLOUR, BASELINE_COLOUR = "#1f5fbf", "#c2571a"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; } td, th { padding: .25em .6em; border: 1px solid #ddd; text-align: left; }
th { background: #f3f3f3; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.met { color: #176a2c; font-weight: bold; } .failed { color: #b00020; font-weight: bold; }
.grid { display: flex; flex-wrap: wrap; gap: 3px; }
.cell { width: 3.4em; font-size: .75em; text-align: center; border: 1px solid #999; }
.cell span { display: block; padding: .15em 0; }
.mark-regressed { outline: 2px solid #b00020; } .mark-improved { outline: 2px solid #176a2c; }
pre { background: #f7f7f7; padding: .5em; overflow-x: auto; margin: .3em 0; }
.meta td:first-child { font-weight: bold; } .warning { color: #8a5a00; }
"""


def render(report: Mapping[str, Any]) -> str:
    """The page for a report built by :func:`pytest_humaneval.report.build_report`."""
    baseline = report.get("baseline")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>HumanEval: {escape(str(report['model']))}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>HumanEval report: {escape(str(report['model']))}</h1>",
        _metadata(report),
        '<h2 id="summary">Summary</h2>',
        _summary_table(report),
        _counts(report),
        _gates(report.get("gates")),
        '<h2 id="plot">pass@k against k</h2>',
        _plot(report),
        '<h2 id="problems">Problems</h2>',
        _grid(report),
    ]
    if baseline is not None:
        parts.append(_baseline_section(baseline))
    parts.append(_tampering(report["samples"]))
    parts.append(_failing_samples(report["samples"]))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _metadata(report: Mapping[str, Any]) -> str:
    run = report.get("run") or {}
    dataset = report["dataset"]
    rows = [
        ("model", report["model"]),
        ("dataset", f"{dataset['name']} ({dataset['problems']} problems, sha256 {dataset['sha256']})"),
        ("started", run.get("started_at")),
        ("finished", run.get("finished_at")),
        ("git commit", run.get("git_commit") or "(not in a git repository)"),
        ("pytest-humaneval", report.get("plugin_version")),
    ]
    isolation = report.get("isolation")
    if isolation:  # reports written before the sandbox said how it is confined have none
        rows.append(("sandbox", isolation.get("summary", isolation.get("level"))))
        rows.extend(("sandbox note", note) for note in isolation.get("notes", []))
    rows.extend(("note", note) for note in report.get("notes", []))
    body = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="meta">{body}</table>'


def _summary_table(report: Mapping[str, Any]) -> str:
    compared = (report.get("baseline") or {}).get("pass_at_k", {})
    header = "<tr><th>metric</th><th>value</th><th>95% CI</th>"
    if report.get("baseline") is not None:
        header += "<th>baseline</th><th>change (95% CI)</th><th>p-value</th><th>test</th>"
    rows = [header + "</tr>"]
    for k, value in report["pass_at_k"].items():
        ci = report["pass_at_k_ci"][k]
        row = (
            f'<tr><td>pass@{escape(k)}</td><td class="num">{value:.4f}</td>'
            f'<td class="num">{ci["low"]:.4f} to {ci["high"]:.4f}</td>'
        )
        if report.get("baseline") is not None:
            if k in compared:
                c = compared[k]
                row += (
                    f'<td class="num">{c["baseline"]:.4f}</td>'
                    f'<td class="num">{c["delta"]:+.4f} '
                    f"({c['delta_ci'][0]:+.4f} to {c['delta_ci'][1]:+.4f})</td>"
                    f'<td class="num">{c["p_value"]:.4g}</td><td>{escape(c["test"])}</td>'
                )
            else:
                row += '<td colspan="4">not compared</td>'
        rows.append(row + "</tr>")
    for k, value in report.get("base_pass_at_k", {}).items():  # HumanEval+: pass@k above is the plus figure
        ci = report["base_pass_at_k_ci"][k]
        rows.append(
            f'<tr><td>base pass@{escape(k)}</td><td class="num">{value:.4f}</td>'
            f'<td class="num">{ci["low"]:.4f} to {ci["high"]:.4f}</td></tr>'
        )
    for k, why in report.get("pass_at_k_not_computed", {}).items():
        rows.append(f'<tr><td>pass@{escape(k)}</td><td colspan="7">not computed: {escape(why)}</td></tr>')
    return f'<table id="pass-at-k">{"".join(rows)}</table>'


def _counts(report: Mapping[str, Any]) -> str:
    counts = ", ".join(f"{count} {escape(kind)}" for kind, count in report["counts"].items())
    return (
        f"<p>{report['samples_run']} samples run: {counts}. Problems solved: "
        f"{report['problems_solved']} of {report['problems_evaluated']}.</p>"
    )


def _gates(gates: Mapping[str, Any] | None) -> str:
    if gates is None:
        return ""
    verdict = '<span class="met">met</span>' if gates["met"] else '<span class="failed">FAILED</span>'
    items = "".join(
        f'<li><span class="{"met" if g["met"] else "failed"}">{"met" if g["met"] else "FAILED"}</span> '
        f"<code>{escape(g['gate'])}</code>: {escape(g['message'])}</li>"
        for g in gates["gates"]
    )
    return f'<h2 id="gates">Gates: {verdict}</h2><ul>{items}</ul>'


def pass_at_k_curve(counts: Sequence[tuple[int, int]]) -> list[tuple[int, float]]:
    """Mean pass@k for k from 1 to the smallest n (at most MAX_CURVE_POINTS values of k, spread evenly
    on a log scale)."""
    if not counts:
        return []
    top = min(n for n, _ in counts)
    if top <= MAX_CURVE_POINTS:
        ks = list(range(1, top + 1))
    else:
        ks = sorted(
            {round(math.exp(i * math.log(top) / (MAX_CURVE_POINTS - 1))) for i in range(MAX_CURVE_POINTS)}
        )
    return [(k, sum(estimate_pass_at_k(n, c, k) for n, c in counts) / len(counts)) for k in ks]


def _plot(report: Mapping[str, Any]) -> str:
    current = [(p["n"], p["c"]) for p in report["problems"]]
    series = [("this run: " + str(report["model"]), CURRENT_COLOUR, pass_at_k_curve(current))]
    baseline = report.get("baseline")
    if baseline is not None:
        before = [(p["baseline"]["n"], p["baseline"]["c"]) for p in baseline["problems"]]
        series.append(("baseline: " + str(baseline["model"]), BASELINE_COLOUR, pass_at_k_curve(before)))
    top_k = max((k for _, _, curve in series for k, _ in curve), default=1)
    log_x = top_k > 10
    inner_w = PLOT_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    inner_h = PLOT_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(k: float) -> float:
        if log_x:
            return MARGIN_LEFT + inner_w * math.log(k) / math.log(top_k)
        span = max(top_k - 1, 1)
        return MARGIN_LEFT + inner_w * ((k - 1) / span if top_k > 1 else 0.5)

    def y(value: float) -> float:
        return MARGIN_TOP + inner_h * (1 - value)

    out = [
        f'<svg id="pass-at-k-plot" xmlns="http://www.w3.org/2000/svg" width="{PLOT_WIDTH}" '
        f'height="{PLOT_HEIGHT}" viewBox="0 0 {PLOT_WIDTH} {PLOT_HEIGHT}" role="img" '
        'aria-label="pass@k against k">',
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{inner_w}" height="{inner_h}" fill="#fcfcfc" '
        'stroke="#999"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + inner_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#e2e2e2"/><text x="{MARGIN_LEFT - 6}" y="{y(tick) + 4:.1f}" font-size="11" '
            f'text-anchor="end">{tick:.2f}</text>'
        )
    x_ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= top_k] if log_x else None
    if x_ticks is None:
        step = max(1, math.ceil(top_k / 10))
        x_ticks = list(range(1, top_k + 1, step))
    for tick in x_ticks:
        out.append(
            f'<text x="{x(tick):.1f}" y="{MARGIN_TOP + inner_h + 16}" font-size="11" '
            f'text-anchor="middle">{tick}</text>'
        )
    out.append(
        f'<text x="{MARGIN_LEFT + inner_w / 2}" y="{PLOT_HEIGHT - 8}" font-size="12" text-anchor="middle">'
        f"k{' (log scale)' if log_x else ''}</text>"
        f'<text x="14" y="{MARGIN_TOP + inner_h / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {MARGIN_TOP + inner_h / 2})">pass@k</text>'
    )
    for index, (label, colour, curve) in enumerate(series):
        points = " ".join(f"{x(k):.1f},{y(v):.1f}" for k, v in curve)
        if len(curve) > 1:
            out.append(
                f'<polyline class="curve" points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for k, v in curve:
            if len(curve) == 1:
                out.append(f'<circle cx="{x(k):.1f}" cy="{y(v):.1f}" r="4" fill="{colour}"/>')
        legend_y = MARGIN_TOP + 14 + 16 * index
        out.append(
            f'<rect x="{MARGIN_LEFT + 10}" y="{legend_y - 9}" width="12" height="4" fill="{colour}"/>'
            f'<text x="{MARGIN_LEFT + 28}" y="{legend_y - 4}" font-size="12">{escape(label)}</text>'
        )
    for k_text, ci in report["pass_at_k_ci"].items():
        k = int(k_text)
        value = report["pass_at_k"][k_text]
        out.append(
            f'<line class="ci" x1="{x(k):.1f}" x2="{x(k):.1f}" '
            f'y1="{y(ci["low"]):.1f}" y2="{y(ci["high"]):.1f}" '
            f'stroke="{CURRENT_COLOUR}" stroke-width="2"/><circle class="point" cx="{x(k):.1f}" '
            f'cy="{y(value):.1f}" r="3.5" fill="white" stroke="{CURRENT_COLOUR}" stroke-width="2">'
            f"<title>pass@{k} = {value:.4f} (95% CI {ci['low']:.4f} to {ci['high']:.4f})</title></circle>"
        )
    out.append("</svg>")
    caption = "<p>Lines: mean pass@k over problems for every k up to the smallest n; bars: 95% bootstrap "
    caption += "intervals at the reported k.</p>"
    return "".join(out) + caption


def _colour(share: float) -> str:
    """Red (none passed) through yellow to green (all passed)."""
    hue = 120 * share
    return f"hsl({hue:.0f}, 70%, 72%)"


def _grid(report: Mapping[str, Any]) -> str:
    changes: dict[str, Mapping[str, Any]] = {}
    marks: dict[str, str] = {}
    baseline = report.get("baseline")
    if baseline is not None:
        changes = {p["task_id"]: p["baseline"] for p in baseline["problems"]}
        marks.update((p["task_id"], "regressed") for p in baseline["regressed"])
        marks.update((p["task_id"], "improved") for p in baseline["improved"])
    cells = []
    for problem in report["problems"]:
        task_id, n, c = problem["task_id"], problem["n"], problem["c"]
        label = task_id.rsplit("/", 1)[-1]
        title = f"{task_id}: {c}/{n} passed"
        rows = f'<span style="background:{_colour(c / n)}">{escape(label)}</span>'
        before = changes.get(task_id)
        if before is not None:
            title += f"; baseline {before['c']}/{before['n']}"
            rows += f'<span style="background:{_colour(before["c"] / before["n"])}">base</span>'
        mark = marks.get(task_id)
        if mark:
            title += f" ({mark})"
        css = f"cell mark-{mark}" if mark else "cell"
        cells.append(f'<div class="{css}" title="{escape(title)}" data-task="{escape(task_id)}">{rows}</div>')
    legend = "Each cell is a problem, coloured by the share of its samples that passed (red none, green all)"
    if baseline is not None:
        legend += (
            "; top half this run, bottom half the baseline; red outline regressed, green outline improved"
        )
    return f'<p>{legend}.</p><div class="grid" id="problem-grid">{"".join(cells)}</div>'


def _baseline_section(baseline: Mapping[str, Any]) -> str:
    parts = [
        '<h2 id="baseline">Against the baseline</h2>',
        f"<p>Baseline {escape(str(baseline['model']))} from <code>{escape(str(baseline['path']))}</code>; "
        f"{baseline['problems_compared']} problems compared.</p>",
    ]
    for warning in baseline["warnings"]:
        parts.append(f'<p class="warning">Warning: {escape(warning)}</p>')
    for label in ("regressed", "improved"):
        rows = "".join(
            f"<tr><td>{escape(p['task_id'])}</td>"
            f'<td class="num">{p["baseline"]["c"]}/{p["baseline"]["n"]}</td>'
            f'<td class="num">{p["current"]["c"]}/{p["current"]["n"]}</td></tr>'
            for p in baseline[label]
        )
        parts.append(f"<h3>{label.capitalize()}: {len(baseline[label])}</h3>")
        if rows:
            parts.append(
                f'<table id="{label}"><tr><th>problem</th><th>baseline passed</th>'
                "<th>this run passed</th></tr>"
                f"{rows}</table>"
            )
    return "".join(parts)


def _tampering(samples: Sequence[Mapping[str, Any]]) -> str:
    """Every sample the sandbox saw tamper, passed or not, with what each kind means."""
    tampered = [s for s in samples if s.get("tampering")]
    rows = "".join(
        f'<tr class="tampering-sample"><td>{escape(s["task_id"])}</td><td class="num">{s["sample"]}</td>'
        f"<td>{escape(s['outcome'])}</td><td>{escape(', '.join(s['tampering']))}</td></tr>"
        for s in tampered
    )
    seen = sorted({kind for s in tampered for kind in s["tampering"]})
    legend = "".join(
        f"<li><code>{escape(kind)}</code>: {escape(TAMPER_KINDS.get(kind, 'unknown kind'))}</li>"
        for kind in seen
    )
    table = ""
    if rows:
        table = (
            '<table id="tampering"><tr><th>problem</th><th>sample</th><th>outcome</th><th>tampering</th></tr>'
            f"{rows}</table><ul>{legend}</ul>"
        )
    return f'<h2 id="tampering-samples">Tampering: {len(tampered)} samples</h2>{table}'


def _failing_samples(samples: Sequence[Mapping[str, Any]]) -> str:
    failing = [s for s in samples if not s["passed"]]
    rows = []
    for s in failing:
        outcome = Outcome.from_json(dict(s))
        detail = f"<details><summary>completion</summary><pre>{escape(s['completion'])}</pre>"
        if s.get("stdout"):
            detail += f"<p>output</p><pre>{escape(s['stdout'])}</pre>"
        detail += "</details>"
        rows.append(
            f'<tr class="failing-sample"><td>{escape(s["task_id"])}</td><td class="num">{s["sample"]}</td>'
            f"<td>{escape(s['outcome'])}</td><td>{escape(outcome.describe())}{detail}</td></tr>"
        )
    table = ""
    if rows:
        table = (
            '<table id="failing-samples"><tr><th>problem</th><th>sample</th><th>outcome</th>'
            "<th>error</th></tr>"
            f"{''.join(rows)}</table>"
        )
    return f'<h2 id="failures">Failing samples: {len(failing)}</h2>{table}'
