"""Plain data across the sandbox boundary: builtin and a few standard-library values, as JSON with tags.

The trusted side calls the candidate with arguments and receives its return value as *data*, never as
objects of the candidate's making: whatever bytes the sandbox sends decode to ints, floats, strings,
bytes, None and lists, tuples, dicts, sets and frozensets of those, and to a few standard-library value
types rebuilt here from their parts (Fraction, Decimal, range, bytearray, deque, dict views), so no
``__eq__`` of the candidate's can run in the trusted process. Subclasses of the builtin types cross as
their base value, read through the base type's own conversion; subclasses of the standard-library types
(the candidate's own classes) do not cross at all. Stdlib only: the fork server imports this file too.

An iterator (a generator, ``map``, ``zip``, anything whose type has ``__next__``, see `is_iterator`) does
not cross either:
where the caller passes a `handles` function, it stands for the iterator by a number, ``{"h": n}``, and
the other side asks for its items one at a time (see :mod:`.judge` and :mod:`.forkserver`).

Encoding: None, bools, strings, floats and ints of moderate size are JSON scalars; every JSON object is a
tag: ``{"l": [...]}`` list, ``{"t": [...]}`` tuple, ``{"d": [[k, v], ...]}`` dict, ``{"s": [...]}`` set,
``{"f": [...]}`` frozenset, ``{"b": "hex"}`` bytes, ``{"c": [re, im]}`` complex, ``{"i": "hex"}`` an
int too long for JSON; and ``{"ba": "hex"}`` bytearray, ``{"fr": [numerator, denominator]}`` Fraction,
``{"dec": "text"}`` Decimal, ``{"r": [start, stop, step]}`` range, ``{"dq": [maxlen, [...]]}`` deque,
``{"dk": [...]}``, ``{"dv": [...]}`` and ``{"di": [[k, v], ...]}`` the views of a dict, ``{"h": n}`` an
iterator's handle.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

MAX_DEPTH = 200
_BIG_INT = 10**4000  # CPython refuses to parse longer decimal ints from text
# Rebuilding a Fraction reduces it, which takes time quadratic in its size: refuse parts longer than
# this many bits (about CPython's 4,300-digit limit on int-to-str conversion), so that no answer can
# keep the trusted side busy for long.
MAX_FRACTION_BITS = 1 << 14
_KEYS: type = type({}.keys())
_VALUES: type = type({}.values())
_ITEMS: type = type({}.items())

# Where a side can stand for an object by a number: value -> handle or None (to_tree), handle -> value
# (from_tree, NotPlainData for a number it does not know).
ToHandle = Callable[[Any], int | None]
FromHandle = Callable[[int], Any]


class NotPlainData(TypeError):
    """A value that cannot cross the boundary as plain data."""


def to_tree(value: Any, handles: ToHandle | None = None) -> Any:
    """The JSON-able tree for `value`; subclasses of builtin types and NumPy scalars become plain values.

    A value that is none of those crosses as ``{"h": handles(value)}`` where `handles` gives a number.
    """
    return _to_tree(value, 0, handles)


def from_tree(tree: Any, handles: FromHandle | None = None) -> Any:
    """The plain value a tree (parsed JSON) stands for, ``handles(n)`` for a handle (refused without it).

    Raises NotPlainData on anything else.
    """
    return _from_tree(tree, 0, handles)


def is_iterator(value: Any) -> bool:
    """Whether a handle can stand for `value`: an iterator whose truth is the default one, true.

    The other side's stand-in is true and has no length, as every standard-library iterator; an iterator
    class of the candidate's with ``__bool__`` or ``__len__`` would answer ``bool()`` otherwise.
    """
    kind = type(value)
    return hasattr(kind, "__next__") and not hasattr(kind, "__bool__") and not hasattr(kind, "__len__")


def encode(value: Any) -> str:
    """`to_tree` as JSON text."""
    return json.dumps(to_tree(value), separators=(",", ":"))


def _to_tree(value: Any, depth: int, handles: ToHandle | None) -> Any:
    if depth > MAX_DEPTH:
        raise NotPlainData(f"the value is nested more than {MAX_DEPTH} levels deep")
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is float:
        return value
    if kind is int:
        return value if -_BIG_INT < value < _BIG_INT else {"i": format(value, "x")}
    depth += 1
    if kind is list:
        return {"l": _flat(value) or [_to_tree(v, depth, handles) for v in value]}
    if kind is tuple:
        return {"t": _flat(value) or [_to_tree(v, depth, handles) for v in value]}
    if kind is dict:
        return {"d": [[_to_tree(k, depth, handles), _to_tree(v, depth, handles)] for k, v in value.items()]}
    if kind is set:
        return {"s": [_to_tree(v, depth, handles) for v in value]}
    if kind is frozenset:
        return {"f": [_to_tree(v, depth, handles) for v in value]}
    if kind is bytes:
        return {"b": value.hex()}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    return _standard_tree(value, kind, depth, handles)


def _standard_tree(value: Any, kind: type, depth: int, handles: ToHandle | None) -> Any:
    """The tree of a standard-library value, a handle, or that of the plain value `value` stands for.

    Exact types only: their parts are read through their attributes, which a subclass (the candidate's
    own class) could override, so a subclass goes on to `_plain_equivalent`, which refuses it.
    """
    if kind is Fraction:
        return {"fr": [_to_tree(value.numerator, depth, None), _to_tree(value.denominator, depth, None)]}
    if kind is Decimal:
        return {"dec": str(value)}
    if kind is range:
        return {"r": [_to_tree(n, depth, None) for n in (value.start, value.stop, value.step)]}
    if kind is bytearray:
        return {"ba": value.hex()}
    if kind is deque:
        return {"dq": [value.maxlen, [_to_tree(v, depth, handles) for v in value]]}
    if kind is _KEYS:
        return {"dk": [_to_tree(v, depth, handles) for v in value]}
    if kind is _VALUES:
        return {"dv": [_to_tree(v, depth, handles) for v in value]}
    if kind is _ITEMS:
        return {"di": [[_to_tree(k, depth, handles), _to_tree(v, depth, handles)] for k, v in value]}
    try:
        plain = _plain_equivalent(value)
    except NotPlainData:
        handle = handles(value) if handles is not None else None
        if handle is None:
            raise
        return {"h": handle}
    return _to_tree(plain, depth, handles)


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
        (bytearray, bytearray),
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


def decode(text: str | bytes, handles: FromHandle | None = None) -> Any:
    """`from_tree` of JSON text."""
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NotPlainData(f"malformed data from the sandbox: {exc}") from None
    return from_tree(tree, handles)


def _from_tree(tree: Any, depth: int, handles: FromHandle | None) -> Any:
    if depth > MAX_DEPTH:
        raise NotPlainData(f"the value is nested more than {MAX_DEPTH} levels deep")
    kind = type(tree)
    if tree is None or kind is bool or kind is str or kind is float or kind is int:
        return tree
    if kind is not dict or len(tree) != 1:
        raise NotPlainData(f"malformed data from the sandbox: unexpected {kind.__name__}")
    ((tag, body),) = tree.items()
    depth += 1
    try:
        if tag in _SEQUENCES:
            body = _list(body)
            if len(body) >= _FLAT_FROM and not {list, dict} & set(map(type, body)):
                items = body  # JSON scalars stand for themselves
            else:
                items = [_from_tree(v, depth, handles) for v in body]
            return _SEQUENCES[tag](items)
        if tag == "d":
            return dict(_pairs(body, depth, handles))
        if tag == "b" and type(body) is str:
            return bytes.fromhex(body)
        if tag == "c":
            re, im = (float(_number(x)) for x in _list(body))
            return complex(re, im)
        if tag == "i" and type(body) is str:
            return int(body, 16)
        return _standard_value(tag, body, depth, handles)
    except (TypeError, ValueError, ArithmeticError) as exc:  # unhashable keys, bad hex, wrong arity
        raise NotPlainData(f"malformed data from the sandbox: {exc}") from None


def _standard_value(tag: str, body: Any, depth: int, handles: FromHandle | None) -> Any:
    """The standard-library value or the handle's object a tree with a rarer tag stands for."""
    if tag == "fr":
        numerator, denominator = (_integer(_from_tree(n, depth, None)) for n in _list(body))
        if max(numerator.bit_length(), denominator.bit_length()) > MAX_FRACTION_BITS:
            raise NotPlainData(f"a Fraction with parts longer than {MAX_FRACTION_BITS} bits cannot cross")
        return Fraction(numerator, denominator)
    if tag == "dec" and type(body) is str:
        return Decimal(body)
    if tag == "r":
        start, stop, step = (_integer(_from_tree(n, depth, None)) for n in _list(body))
        return range(start, stop, step)
    if tag == "ba" and type(body) is str:
        return bytearray.fromhex(body)
    if tag == "dq":
        maxlen, items = _list(body)
        if maxlen is not None:
            _integer(maxlen)
        return deque([_from_tree(v, depth, handles) for v in _list(items)], maxlen)
    if tag == "dk":
        return dict.fromkeys([_from_tree(v, depth, handles) for v in _list(body)]).keys()
    if tag == "dv":
        return dict(enumerate([_from_tree(v, depth, handles) for v in _list(body)])).values()
    if tag == "di":
        pairs = _pairs(body, depth, handles)
        items = dict(pairs)
        if len(items) != len(pairs):
            raise NotPlainData("malformed data from the sandbox: a dict's items repeat a key")
        return items.items()
    if tag == "h" and handles is not None:
        return handles(_integer(body))
    raise NotPlainData(f"malformed data from the sandbox: unknown tag {tag!r}")


_SEQUENCES: dict[str, Callable[[list[Any]], Any]] = {"l": list, "t": tuple, "s": set, "f": frozenset}


def _pairs(body: Any, depth: int, handles: FromHandle | None) -> list[tuple[Any, Any]]:
    pairs = [_list(pair) for pair in _list(body)]
    if any(len(pair) != 2 for pair in pairs):
        raise NotPlainData("malformed data from the sandbox: a dict entry is not a pair")
    return [(_from_tree(k, depth, handles), _from_tree(v, depth, handles)) for k, v in pairs]


def _list(body: Any) -> list[Any]:
    if type(body) is not list:
        raise NotPlainData("malformed data from the sandbox: expected a list")
    return body


def _integer(x: Any) -> int:
    if type(x) is not int:
        raise NotPlainData("malformed data from the sandbox: expected an integer")
    return x


def _number(x: Any) -> int | float:
    if type(x) not in (int, float):
        raise NotPlainData("malformed data from the sandbox: expected a number")
    return x  # type: ignore[no-any-return]
