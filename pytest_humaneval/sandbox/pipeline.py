"""Calls of the candidate that a test is sure to make first, read from its source: sent before it asks.

HumanEval's tests mostly open with a run of ``assert candidate(<literals>) == <literal>`` lines. The
arguments of those calls do not depend on any earlier answer, so the judge can send them all at once
when the candidate's module is ready and take the answers as the test asks for them, instead of one
round trip per call (see :class:`judge._RemoteCandidate`). The child still answers the requests one at
a time, in order, exactly as it would have received them one by one.

Nothing here decides a verdict. The prediction is only a guess at the first requests the test makes;
the judge compares each request the test really makes, byte for byte, with the next predicted one, and
when they differ (the test took another path) the sample runs again from the start, one call at a time.
A predicted call the test never makes (it failed before) is run by the child and its answer ignored.

What counts as predicted: the statements at the top of ``check``, in order, while each is ``pass``, a
docstring or an ``assert`` whose test calls the candidate (by the parameter's name or the entry point's)
only with literal arguments, never inside ``and``/``or``, a conditional expression, a comprehension or a
lambda. The first statement of any other kind ends the prediction. An assert's message is never
predicted: it runs only when the assert fails, which ends the test.
"""

from __future__ import annotations

import ast
import functools
from typing import Any

from . import wire
from ._plain import NotPlainData, to_tree

# At most this many bytes of predicted requests: they must fit in the socket's buffer, so that sending
# them never waits on a child that is busy answering the first.
MAX_PREDICTED_BYTES = 1 << 15


@functools.lru_cache(maxsize=1024)
def predicted_requests(test_source: str, entry_point: str) -> tuple[bytes, ...]:
    """The call frames the test's ``check`` is sure to send first, in order (empty when none are)."""
    try:
        module = ast.parse(test_source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return ()
    check = _check_function(module)
    if check is None:
        return ()
    names = {check.args.args[0].arg, entry_point}
    frames: list[bytes] = []
    size = 0
    for statement in check.body:
        calls = _statement_calls(statement, names)
        if calls is None:
            break
        for args, kwargs in calls:
            try:
                data = wire.frame(wire.call(to_tree(args), to_tree(kwargs)))
            except (NotPlainData, ValueError, TypeError, RecursionError):
                return tuple(frames)
            size += len(data)
            if size > MAX_PREDICTED_BYTES:
                return tuple(frames)
            frames.append(data)
    return tuple(frames)


def _check_function(module: ast.Module) -> ast.FunctionDef | None:
    """The last top-level ``def check(x)`` with one plain positional parameter, as exec would keep it."""
    found = None
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            found = node
    if found is None or found.decorator_list:
        return None
    args = found.args
    if len(args.args) != 1 or args.posonlyargs or args.vararg or args.kwonlyargs or args.kwarg:
        return None
    return found


Call = tuple[tuple[Any, ...], dict[str, Any]]


def _statement_calls(statement: ast.stmt, names: set[str]) -> list[Call] | None:
    """The candidate calls `statement` surely makes, in order; None when it ends the prediction."""
    if isinstance(statement, ast.Pass):
        return []
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return []  # a docstring or a bare constant
    if not isinstance(statement, ast.Assert):
        return None
    calls: list[Call] = []
    if not _collect(statement.test, names, calls):
        return None
    return calls


# Expressions whose candidate calls may not run, or not in the order of their fields: a call inside one
# ends the prediction. A dict display evaluates its keys and values interleaved; a named expression,
# await or yield is never worth the analysis in a test.
_UNORDERED = (
    ast.BoolOp, ast.IfExp, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
    ast.Dict, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom,
)  # fmt: skip


def _collect(node: ast.AST, names: set[str], calls: list[Call]) -> bool:
    """Append the candidate calls of expression `node` in evaluation order; False if unpredictable."""
    if isinstance(node, ast.Name):  # the candidate itself, not called here: whoever gets it may call it
        return node.id not in names
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
        call = _literal_call(node)
        if call is None:
            return False
        calls.append(call)
        return True
    if isinstance(node, _UNORDERED):
        return not _mentions(node, names)
    if isinstance(node, ast.Compare) and len(node.ops) > 1:  # a chain stops at its first false link
        return (
            _collect(node.left, names, calls)
            and _collect(node.comparators[0], names, calls)
            and not any(_mentions(each, names) for each in node.comparators[1:])
        )
    return all(_collect(child, names, calls) for child in ast.iter_child_nodes(node))


def _literal_call(node: ast.Call) -> Call | None:
    """The arguments of a call whose every argument is a literal; None otherwise."""
    try:
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            return None
        args = tuple(ast.literal_eval(arg) for arg in node.args)
        kwargs = {}
        for keyword in node.keywords:
            if keyword.arg is None:  # **mapping
                return None
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return args, kwargs


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(each, ast.Name) and each.id in names for each in ast.walk(node))
