"""Runs the canonical solutions on their inputs, in a child process: the expected outputs and their times.

A script (``python -I _reference.py SANDBOX_DIR OUT_DIR``), stdlib only, started by :mod:`.expected`.
It reads one JSON job from stdin, a list of ``[task_id, source, entry_point, base_inputs, plus_inputs]``;
for the i-th problem it writes ``OUT_DIR/i.pickle`` (``{"base": outputs, "plus": outputs}``, each output
made plain data as it would cross the sandbox boundary, see :mod:`..sandbox._plain`) and one JSON line
``{"task_id", "base_time", "plus_time"}``, or ``{"task_id", "error"}``. Each input is deep-copied
before the call and only the call is timed, as EvalPlus does. The canonical solution is the dataset's
code: trusted, but a broken dataset file must not hang or crash the pytest process, so it runs here.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import sys
import time
from typing import Any


def _run(source: str, entry_point: str, inputs: list[Any], plain: Any) -> tuple[list[Any], list[float]]:
    namespace: dict[str, Any] = {"__name__": "__reference__"}
    exec(compile(source, "<canonical>", "exec"), namespace)
    function = namespace[entry_point]
    outputs, times = [], []
    clock = time.perf_counter
    for number, arguments in enumerate(inputs):
        arguments = copy.deepcopy(arguments)
        started = clock()
        try:
            value = function(*arguments)
        except Exception as exc:
            raise RuntimeError(f"input #{number} raised {type(exc).__name__}: {exc}") from None
        times.append(clock() - started)
        outputs.append(plain(value))
    return outputs, times


def main() -> None:
    sys.path.insert(0, sys.argv[1])
    import _plain  # type: ignore[import-not-found]

    def plain(value: Any) -> Any:
        return _plain.from_tree(_plain.to_tree(value))

    sys.set_int_max_str_digits(0)
    job = json.load(sys.stdin)
    out = sys.stdout
    for index, (task_id, source, entry_point, base_inputs, plus_inputs) in enumerate(job):
        try:
            base, base_time = _run(source, entry_point, base_inputs, plain)
            plus, plus_time = _run(source, entry_point, plus_inputs, plain)
            with open(os.path.join(sys.argv[2], f"{index}.pickle"), "wb") as f:
                pickle.dump({"base": base, "plus": plus}, f, protocol=5)
            line: dict[str, Any] = {"task_id": task_id, "base_time": base_time, "plus_time": plus_time}
        except BaseException as exc:  # the next problem still runs; the caller reports this one
            line = {"task_id": task_id, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        out.write(json.dumps(line) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
