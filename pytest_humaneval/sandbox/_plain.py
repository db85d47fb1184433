"""Plain data across the sandbox boundary: builtin values only, as JSON with a few tags.

The trusted side calls the candidate with arguments and receives its return value as *data*, never as
objects of the candidate's making: whatever bytes the sandbox sends decode to ints, floats, strings,
bytes, None and lists, tuples, dicts, sets and frozensets of those, so no ``__eq__`` of the candidate's
can run in the trusted process. Stdlib only: the fork server imports this file too.

Encoding: None, bools, strings, floats and ints of moderate size are JSON scalars; every JSON object is a
tag: ``{"l": [...]}`` list, ``{"t": [...]}`` tuple, ``{"d": [[k, v], ...]}`` dict, ``{"s": [...]}`` set,
``{"f": [...]}`` frozenset, ``{"b": "hex"}`` bytes, ``{"c": [re, im]}`` complex, ``{"i": "hex"}`` an
int too long for JSON.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 200
_BIG_INT = 10**4000  # CPython refuses to parse longer decimal ints from text


class NotPlainData(TypeError):
    """A value that cannot cross the boundary as plain data."""


def to_tree(value: Any) -> Any:
    """The JSON-able tree for `value`; subclasses of builtin types and NumPy scalars become plain values."""
    return _to_tree(value, 0)


def from_tree(tree: Any) -> Any:
    """The plain value a tree (parsed JSON) stands for. Raises NotPlainData on anything else."""
    return _from_tree(tree, 0)


def encode(value: Any) -> str:
    """`to_tree` as JSON text."""
    return json.dumps(to_tree(value), separators=(",", ":"))


def _to_tree(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise NotPlainData(f"the value is nested more than {MAX_DEPTH} levels deep")
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is float:
        return value
    if kind is int:
        return value if -_BIG_INT < value < _BIG_INT else {"i": format(value, "x")}
    if kind is list:
        return {"l": _flat(value) or [_to_tree(v, depth + 1) for v in value]}
    if kind is tuple:
        return {"t": _flat(value) or [_to_tree(v, depth + 1) for v in value]}
    if kind is dict:
        return {"d": [[_to_tree(k, depth + 1), _to_tree(v, depth + 1)] for k, v in value.items()]}
    if kind is set:
        return {"s": [_to_tree(v, depth + 1) for v in value]}
    if kind is frozenset:
        return {"f": [_to_tree(v, depth + 1) for v in value]}
    if kind is bytes:
        return {"b": value.hex()}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    return _to_tree(_plain_equivalent(value), depth + 1)


_SCALARS = frozenset({str, float, bool, type(None)})
_NUMBERS = frozenset({int, float, bool})
_FLAT_FROM = 64  # items from which a sequence of scalars is checked for the fast path


def _flat(items: list[Any] | tuple[Any, ...]) -> list[Any] | None:
    """`items` as a list, when every item is its own tree (JSON scalars, moderate ints); else None.

    A fast path for long sequences (a million floats): the same tree, without a call per item.
    """
    if len(items) < _FLAT_FROM:
        return None
    kinds = set(map(type, items))
    if kinds <= _SCALARS or (kinds <= _NUMBERS and min(items) > -_BIG_INT and max(items) < _BIG_INT):
        return list(items)
    return None


def _plain_equivalent(value: Any) -> Any:
    """The builtin value a subclass instance or NumPy scalar stands for, or NotPlainData."""
    # Order matters: bool before int, and each through the base type's own conversion, so that an
    # overridden __eq__ or __str__ of the subclass plays no part in what crosses.
    if isinstance(value, bool):
        return bool(int.__int__(value))
    conversions: tuple[tuple[type, Any], ...] = (
        (int, int.__int__),
        (float, float.__float__),
        (str, str.__str__),
        (bytes, bytes),
        (complex, complex),
        (tuple, tuple),
        (list, list),
        (dict, dict),
        (frozenset, frozenset),
        (set, set),
    )
    for base, convert in conversions:
        if isinstance(value, base):
            return convert(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        item = value.item()
        if type(item) in (bool, int, float, complex, str, bytes):
            return item
    raise NotPlainData(f"a value of type {type(value).__qualname__} cannot cross the sandbox boundary")


def decode(text: str | bytes) -> Any:
    """`from_tree` of JSON text."""
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NotPlainData(f"malformed data from the sandbox: {exc}") from None
    return from_tree(tree)


def _from_tree(tree: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise NotPlainData(f"the value is nested more than {MAX_DEPTH} levels deep")
    kind = type(tree)
    if tree is None or kind is bool or kind is str or kind is float or kind is int:
        return tree
    if kind is not dict or len(tree) != 1:
        raise NotPlainData(f"malformed data from the sandbox: unexpected {kind.__name__}")
    ((tag, body),) = tree.items()
    try:
        if tag in ("l", "t", "s", "f"):
            body = _list(body)
            if len(body) >= _FLAT_FROM and not {list, dict} & set(map(type, body)):
                items = body  # JSON scalars stand for themselves
            else:
                items = [_from_tree(v, depth + 1) for v in body]
            return {"l": list, "t": tuple, "s": set, "f": frozenset}[tag](items)
        if tag == "d":
            pairs = [_list(pair) for pair in _list(body)]
            if any(len(pair) != 2 for pair in pairs):
                raise NotPlainData("malformed data from the sandbox: a dict entry is not a pair")
            return {_from_tree(k, depth + 1): _from_tree(v, depth + 1) for k, v in pairs}
        if tag == "b" and type(body) is str:
            return bytes.fromhex(body)
        if tag == "c":
            re, im = (float(_number(x)) for x in _list(body))
            return complex(re, im)
        if tag == "i" and type(body) is str:
            return int(body, 16)
    except (TypeError, ValueError) as exc:  # unhashable keys, bad hex, wrong arity
        raise NotPlainData(f"malformed data from the sandbox: {exc}") from None
    raise NotPlainData(f"malformed data from the sandbox: unknown tag {tag!r}")


def _list(body: Any) -> list[Any]:
    if type(body) is not list:
        raise NotPlainData("malformed data from the sandbox: expected a list")
    return body


def _number(x: Any) -> int | float:
    if type(x) not in (int, float):
        raise NotPlainData("malformed data from the sandbox: expected a number")
    return x  # type: ignore[no-any-return]
