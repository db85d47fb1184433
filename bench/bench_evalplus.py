"""HumanEval+ end to end: EvalPlus 0.3.1 and pytest-humaneval on the same samples file, in one run.

Both harnesses judge the same programs (prompt + completion; a samples file's ``solution`` fields are
dropped for EvalPlus, which would run them instead) on the same HumanEval+ file, with 2 workers each:
``evalplus.evaluate humaneval --parallel 2``, and ``pytest -n 2`` and ``pytest -p no:xdist
--humaneval-jobs=2`` (one pytest process, two sandboxes). Each runs cold (its expected-output
cache empty: both compute the canonical solutions' outputs first) and then warm (that cache kept), and
the bench prints each wall time, the ratio EvalPlus / plugin for each, and how many samples the two
harnesses judged differently (base and plus).

Last, a floor no harness can go below: the samples that pass HumanEval+ must be run on every base and
plus input whatever the harness, so the bench runs just that, with no isolation, no comparison and no
process per sample (each program compiled and called in one of `--workers` processes). Samples that
fail cost something before their first failing input; the floor leaves that out, so it is a lower
bound. EvalPlus's time divided by the floor is the best ratio any harness could reach on that file.

EvalPlus is not a dependency of this project: install it in a virtualenv of its own and name its
interpreter, e.g.

    python3 -m venv .venv-evalplus && .venv-evalplus/bin/pip install evalplus==0.3.1
    python bench/bench_evalplus.py --evalplus-python .venv-evalplus/bin/python \\
        --samples ../shared/data/real-samples/ldb-reflexion-seed/samples.jsonl
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
DEFAULT_SAMPLES = SHARED / "real-samples" / "ldb-reflexion-seed" / "samples.jsonl"
DEFAULT_DATASET = SHARED / "humanevalplus" / "HumanEvalPlus.jsonl.gz"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def run_evalplus(python: str, samples: Path, dataset: Path, cache: Path, workers: int) -> tuple[float, Any]:
    env = {**os.environ, "HUMANEVAL_OVERRIDE_PATH": str(dataset), "XDG_CACHE_HOME": str(cache)}
    command = [python, "-m", "evalplus.evaluate", "humaneval", "--samples", str(samples)]
    command += ["--parallel", str(workers), "--i-just-wanna-run"]
    results_file = samples.with_name(samples.stem + "_eval_results.json")
    results_file.unlink(missing_ok=True)  # else EvalPlus asks on stdin whether to overwrite it
    started = time.perf_counter()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"EvalPlus failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    results = json.loads(results_file.read_text())
    return seconds, results


def run_plugin(
    samples: Path, dataset: Path, data_dir: Path, parallel: list[str], workdir: Path
) -> tuple[float, Any]:
    """One pytest run; `parallel` is how it uses the workers (``-n 2``, or ``--humaneval-jobs=2``)."""
    report = workdir / "report.json"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-header", *parallel]
    command += [f"--humaneval-model=samples:{samples}", f"--humaneval-dataset={dataset}"]
    command += [f"--humaneval-data-dir={data_dir}", f"--humaneval-report={report}"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"pytest failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, json.loads(report.read_text())


def differences(evalplus: Any, plugin: Any) -> list[str]:
    """Samples the two harnesses judged differently, as 'task#index: evalplus base/plus vs ours'."""
    theirs = {}
    for task_id, rows in evalplus["eval"].items():
        for index, row in enumerate(rows):
            base = row["base_status"] == "pass"
            theirs[(task_id, index)] = (base, base and row["plus_status"] == "pass")
    found = []
    for sample in plugin["samples"]:
        key = (sample["task_id"], sample["sample"])
        ours = ("base" in sample.get("parts_passed", []), sample["passed"])
        if theirs.get(key) != ours:
            found.append(
                f"{key[0]}#{key[1]}: EvalPlus {theirs.get(key)} vs plugin {ours} ({sample['message'][:120]})"
            )
    return found


def _run_all_inputs(job: tuple[str, str, list[Any]]) -> float:
    """Seconds to run one program on all its inputs, in this process, unisolated (the floor)."""
    source, entry_point, inputs = job
    started = time.perf_counter()
    namespace: dict[str, Any] = {"__name__": "__floor__"}
    exec(compile(source, "<floor>", "exec"), namespace)
    function = namespace[entry_point]
    for arguments in inputs:
        function(*copy.deepcopy(arguments))
    return time.perf_counter() - started


def floor(dataset: Path, samples: Path, plugin: Any, workers: int) -> tuple[float, int]:
    """Wall seconds for `workers` processes to run every input of every sample that passed plus."""
    problems = {record["task_id"]: record for record in read_jsonl(dataset)}
    completions: dict[tuple[str, int], str] = {}
    seen: dict[str, int] = {}
    for record in read_jsonl(samples):
        index = seen[record["task_id"]] = seen.get(record["task_id"], -1) + 1
        completions[(record["task_id"], index)] = record["completion"]
    jobs = []
    for sample in plugin["samples"]:
        if sample["passed"]:
            problem = problems[sample["task_id"]]
            source = problem["prompt"] + completions[(sample["task_id"], sample["sample"])]
            jobs.append((source, problem["entry_point"], problem["base_input"] + problem["plus_input"]))
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for _ in pool.imap_unordered(_run_all_inputs, jobs):
            pass
    return time.perf_counter() - started, len(jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--evalplus-python", required=True, help="Interpreter of a virtualenv with evalplus==0.3.1"
    )
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-evalplus-") as scratch:
        root = Path(scratch)
        samples = root / "samples.jsonl"  # the same programs for both: prompt + completion
        with samples.open("w", encoding="utf-8") as out:
            for record in read_jsonl(args.samples):
                out.write(
                    json.dumps({"task_id": record["task_id"], "completion": record["completion"]}) + "\n"
                )
        count = sum(1 for _ in samples.open())
        print(
            f"{count} samples from {args.samples}, HumanEval+ file {args.dataset}, "
            f"{args.workers} workers each"
        )
        for label in ("cold", "warm"):
            if label == "cold":
                shutil.rmtree(root / "evalplus-cache", ignore_errors=True)
                shutil.rmtree(root / "plugin-data", ignore_errors=True)
            theirs, evalplus = run_evalplus(
                args.evalplus_python, samples, args.dataset, root / "evalplus-cache", args.workers
            )
            print(f"{label}: EvalPlus 0.3.1 --parallel {args.workers}: {theirs:.1f} s")
            modes = {
                f"-n {args.workers}": ["-n", str(args.workers)],
                f"-p no:xdist --humaneval-jobs={args.workers}": [
                    "-p",
                    "no:xdist",
                    f"--humaneval-jobs={args.workers}",
                ],
            }
            for mode, parallel in modes.items():
                if label == "cold":
                    shutil.rmtree(root / "plugin-data", ignore_errors=True)
                ours, plugin = run_plugin(samples, args.dataset, root / "plugin-data", parallel, root)
                print(f"{label}: pytest-humaneval {mode}: {ours:.1f} s, ratio {theirs / ours:.2f}x")
                found = differences(evalplus, plugin)
                print(f"{label}: {len(found)} samples judged differently (base, plus)")
                for line in found:
                    print(f"  {line}")
                warm = (theirs, ours, plugin)
        theirs, ours, plugin = warm  # the last warm run's
        seconds, passing = floor(args.dataset, samples, plugin, args.workers)
        print(
            f"floor: the {passing} passing samples on all their inputs, unisolated, "
            f"{args.workers} processes: "
            f"{seconds:.1f} s; the plugin (warm, last mode) is {ours / seconds:.2f}x the floor; "
            f"EvalPlus / floor = {theirs / seconds:.2f}x, the best ratio any harness could reach here"
        )


if __name__ == "__main__":
    main()
