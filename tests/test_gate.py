"""The gate, the baseline loader and the comparison, called directly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from pytest_humaneval.baseline import Baseline, check_compatible, compare, load_baseline
from pytest_humaneval.errors import HumanEvalInputError
from pytest_humaneval.gate import Threshold, check_fail_under, evaluate, parse_alpha, parse_thresholds
from pytest_humaneval.passk import aggregate
from pytest_humaneval.settings import resolve

SETTINGS = {"timeout": 3.0, "memory": 4 * 1024**3}


def test_thresholds_parse_from_flags_lines_and_commas() -> None:
    assert parse_thresholds("pass@1=0.62", "F", bare_allowed=False) == (Threshold(1, 0.62),)
    assert parse_thresholds("pass@1=0.6\npass@10=0.8, pass@100=1", "F", bare_allowed=False) == (
        Threshold(1, 0.6),
        Threshold(10, 0.8),
        Threshold(100, 1.0),
    )
    assert parse_thresholds("0.02", "M", bare_allowed=True) == (Threshold(None, 0.02),)


@pytest.mark.parametrize(
    ("text", "bare", "message"),
    [
        ("0.6", False, "F='0.6' is not of the form pass@K=VALUE, e.g. pass@1=0.62"),
        ("pass@1=1.5", False, "F='pass@1=1.5': '1.5' is not a number from 0 to 1"),
        ("pass@1=high", False, "F='pass@1=high': 'high' is not a number from 0 to 1"),
        ("pass@0=0.5", True, "F='pass@0=0.5' is not of the form pass@K=VALUE, e.g. pass@1=0.62 or 0.02"),
        ("-0.1", True, "F='-0.1': '-0.1' is not a number from 0 to 1"),
    ],
)
def test_bad_thresholds_name_the_flag_and_value(text: str, bare: bool, message: str) -> None:
    with pytest.raises(HumanEvalInputError) as excinfo:
        parse_thresholds(text, "F", bare_allowed=bare)
    assert str(excinfo.value).startswith(message)


@pytest.mark.parametrize("text", ["0", "1", "-0.5", "x", "nan"])
def test_bad_alpha(text: str) -> None:
    with pytest.raises(HumanEvalInputError, match="--humaneval-alpha="):
        parse_alpha(text)


def test_fail_under_met_missed_and_not_computed() -> None:
    pass_at_k = aggregate({"a": (2, 1), "b": (2, 2)}, (1, 5))
    met, missed, absent = check_fail_under(
        pass_at_k, parse_thresholds("pass@1=0.75 pass@1=0.8 pass@5=0.1", "F", bare_allowed=False)
    )
    assert met.met and met.line() == "gate met: pass@1 = 0.7500 >= 0.75"
    assert not missed.met
    assert missed.line() == (
        "gate FAILED: pass@1 = 0.7500 is below the threshold of --humaneval-fail-under=pass@1=0.8"
    )
    assert not absent.met and "pass@5 was not computed (needs at least 5 samples" in absent.message


def test_an_exact_tie_meets_the_gate_despite_float_rounding() -> None:
    pass_at_k = aggregate({"a": (3, 1), "b": (3, 2)}, (1,))  # (1/3 + 2/3) / 2, computed as products
    (result,) = check_fail_under(pass_at_k, (Threshold(1, 0.5),))
    assert result.met, result.message


def baseline_of(per_problem: dict[str, tuple[int, int]], sha: str = "abc") -> Baseline:
    return Baseline(
        path=Path("base.json"),
        model="old",
        dataset_name="D",
        dataset_sha256=sha,
        per_problem=per_problem,
        settings=dict(SETTINGS),
        plugin_version="0.1.0",
        schema_version=1,
    )


def test_comparison_lists_changes_and_the_gate_needs_a_large_and_significant_drop() -> None:
    before = {f"T/{i}": (1, 1) for i in range(40)}
    after = {f"T/{i}": (1, int(i >= 10)) for i in range(40)} | {"T/0": (1, 1)}  # T/1..T/9 regressed
    comparison = compare(baseline_of(before), after, (1,), SETTINGS, "0.1.0")
    assert [p.task_id for p in comparison.regressed] == [f"T/{i}" for i in range(1, 10)]
    assert comparison.improved == ()
    result = comparison.results[1]
    assert result.delta == pytest.approx(-9 / 40)
    assert result.p_value == pytest.approx(stats.binomtest(9, 9).pvalue)
    current = aggregate(after, (1,))
    big = evaluate(current, (), comparison, parse_thresholds("0.02", "M", bare_allowed=True), 0.05)
    assert not big.met
    assert "significantly at alpha 0.05" in big.lines()[0] and "exact McNemar test" in big.lines()[0]
    allowed = evaluate(current, (), comparison, parse_thresholds("pass@1=0.25", "M", bare_allowed=True), 0.05)
    assert allowed.met and "within the allowed drop of 0.25" in allowed.lines()[0]
    strict = evaluate(current, (), comparison, parse_thresholds("0.02", "M", bare_allowed=True), 0.001)
    assert strict.met and "not significantly at alpha 0.001" in strict.lines()[0]


def test_comparison_warns_about_differences_it_can_live_with() -> None:
    before = {"T/0": (1, 1), "T/1": (1, 0), "T/9": (1, 1)}
    after = {"T/0": (2, 1), "T/1": (2, 2), "T/2": (2, 0)}
    comparison = compare(baseline_of(before), after, (1, 2), {"timeout": 10.0, "memory": None}, "0.2.0")
    warnings = "\n".join(comparison.warnings)
    assert "baseline ran with timeout=3.0, this run with 10.0" in warnings
    assert "baseline ran with memory=4294967296, this run with None" in warnings
    assert "made by pytest-humaneval 0.1.0, this run by 0.2.0" in warnings
    assert "compared on the 2 problems both runs evaluated; 1 only in the baseline and 1 only" in warnings
    assert "samples per problem differ: baseline n=1, this run n=2" in warnings
    assert list(comparison.results) == [1]
    assert comparison.not_compared == {2: "needs at least 2 samples per problem in both runs"}
    assert [p.task_id for p in comparison.improved] == ["T/1"]
    assert [p.task_id for p in comparison.regressed] == ["T/0"]
    verdict = evaluate(aggregate(after, (1, 2)), (), comparison, (Threshold(2, 0.1),), 0.05)
    assert not verdict.met and "pass@2 was not compared with the baseline" in verdict.lines()[0]


def write(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_load_baseline_reads_a_report_and_refuses_other_files(tmp_path: Path) -> None:
    report = {
        "schema_version": 1,
        "model": "m",
        "dataset": {"name": "D", "sha256": "abc", "problems": 2},
        "settings": SETTINGS,
        "plugin_version": "0.1.0",
        "problems": [{"task_id": "T/0", "n": 2, "c": 1}, {"task_id": "T/1", "n": 2, "c": 0}],
    }
    baseline = load_baseline(write(tmp_path / "ok.json", report), 1)
    assert baseline.per_problem == {"T/0": (2, 1), "T/1": (2, 0)}
    check_compatible(baseline, "D", "abc", ["T/1"])
    with pytest.raises(HumanEvalInputError, match=r"different problem set \(D, sha256 abc\) than this run"):
        check_compatible(baseline, "E", "def", ["T/1"])
    with pytest.raises(HumanEvalInputError, match="evaluated none of this run's problems"):
        check_compatible(baseline, "D", "abc", ["T/7"])
    cases = [
        ("missing.json", None, "no such file"),
        ("bad.json", "{nope", "not JSON"),
        ("list.json", [1], "expected a JSON object"),
        ("newer.json", {**report, "schema_version": 99}, "schema_version 99 is newer"),
        ("fields.json", {"model": "m"}, "not a pytest-humaneval report"),
        ("counts.json", {**report, "problems": [{"task_id": "T/0", "n": 1, "c": 2}]}, "n=1, c=2"),
    ]
    for name, data, message in cases:
        path = tmp_path / name if data is None else write(tmp_path / name, data)
        with pytest.raises(HumanEvalInputError, match=message):
            load_baseline(path, 1)


def resolve_with(cli: dict[str, Any], ini: dict[str, Any] | None = None) -> Any:
    ini = ini or {}
    return resolve(cli.get, lambda name: ini.get(name, ""), {}, Path("/base"))


def test_settings_gates_from_repeated_flags_and_ini_lists() -> None:
    settings = resolve_with({"fail-under": ["pass@1=0.5", "pass@10=0.7"], "alpha": "0.01"})
    assert settings.fail_under == (Threshold(1, 0.5), Threshold(10, 0.7))
    assert settings.alpha == 0.01 and settings.gated
    from_ini = resolve_with({}, {"humaneval_fail_under": ["pass@1=0.4"], "humaneval_baseline": "b.json"})
    assert from_ini.fail_under == (Threshold(1, 0.4),) and from_ini.baseline == Path("/base/b.json")
    assert not resolve_with({"model": "canonical"}).gated
    with pytest.raises(HumanEvalInputError, match="--humaneval-max-drop needs --humaneval-baseline"):
        resolve_with({"max-drop": ["0.02"]})


def test_base_gates_parse_and_round_trip() -> None:
    # HumanEval+: a base: prefix names the base figure; the rest reads as for the headline figure.
    thresholds = parse_thresholds(
        "base:pass@1=0.9, pass@1=0.8 base:0.02", "--humaneval-max-drop", bare_allowed=True
    )
    assert [(t.k, t.value, t.base) for t in thresholds] == [
        (1, 0.9, True),
        (1, 0.8, False),
        (None, 0.02, True),
    ]
    assert [t.spec() for t in thresholds] == ["base:pass@1=0.9", "pass@1=0.8", "base:0.02"]
    with pytest.raises(HumanEvalInputError, match="not of the form"):
        parse_thresholds("base:0.5", "--humaneval-fail-under", bare_allowed=False)
