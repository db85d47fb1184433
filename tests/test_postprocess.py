"""Post-processing real shapes of model answers: each must give a completion that runs after the prompt.

Every case is judged for real: ``prompt + completion`` plus the problem's test runs in a fresh
namespace, so a completion that loses the body, a helper or an import fails here.
"""

from __future__ import annotations

import pytest

from pytest_humaneval.dataset import Dataset, Problem, load
from pytest_humaneval.generation.postprocess import (
    COMPLETION_STOPS,
    chat_message,
    cut_at_stops,
    extract,
    strip_thinking,
)


@pytest.fixture(scope="module")
def humaneval() -> Dataset:
    return load()


def passes(problem: Problem, completion: str) -> bool:
    namespace: dict[str, object] = {"__name__": "sample"}
    try:
        exec(problem.program(completion), namespace)
    except Exception:
        return False
    return True


def full_function(problem: Problem) -> str:
    return problem.prompt + problem.canonical_solution


def test_the_canonical_solutions_pass_as_they_are(humaneval: Dataset) -> None:
    for problem in humaneval.problems:
        assert extract(problem.prompt, problem.canonical_solution, "completion") == problem.canonical_solution
        assert passes(problem, problem.canonical_solution), problem.task_id


def test_every_problem_answered_with_a_fenced_full_function(humaneval: Dataset) -> None:
    """The commonest chat answer: prose, the whole prompt and solution in a fence, prose."""
    for problem in humaneval.problems:
        raw = (
            "Here is the completed function:\n\n```python\n"
            f"{full_function(problem)}```\n\nIt handles the edge cases described in the docstring."
        )
        completion = extract(problem.prompt, raw, "chat")
        assert passes(problem, completion), (problem.task_id, completion)


def test_continuation_stops_before_trailing_code_but_keeps_helpers(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/0"]
    raw = (
        "    return _any_close(sorted(numbers), threshold)\n"
        "\n\n"
        "def _any_close(ordered, threshold):\n"
        "    return any(b - a < threshold for a, b in zip(ordered, ordered[1:]))\n"
        "\n\n"
        "def main():\n"
        "    print(has_close_elements([1.0, 2.0], 0.5))\n"
        "\n\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    completion = extract(problem.prompt, raw, "completion")
    assert "def _any_close" in completion
    assert "def main" not in completion and "__main__" not in completion
    assert passes(problem, completion)


def test_a_helper_truncated_by_max_tokens_is_dropped(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/0"]
    raw = (
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
        "\n\ndef unused(x):\n    return (x +\n"
    )
    completion = extract(problem.prompt, raw, "completion")
    assert "unused" not in completion
    assert passes(problem, completion)


def test_thinking_block_with_code_inside_is_ignored(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/2"]  # truncate_number
    raw = (
        "<think>\nThe user wants the decimal part. Maybe:\n```python\ndef truncate_number(number):\n"
        "    return 0\n```\nNo, that's wrong: it should be number % 1.0.\n</think>\n\n"
        "```python\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n```"
    )
    completion = extract(problem.prompt, raw, "chat")
    assert completion == "    return number % 1.0\n"
    assert passes(problem, completion)


def test_reasoning_whose_opening_tag_the_server_dropped(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/2"]
    raw = "Okay, so number % 1.0 gives it.\n</think>\n\n```python\n    return number % 1.0\n```\n"
    assert passes(problem, extract(problem.prompt, raw, "chat"))


def test_unfinished_thinking_leaves_nothing_to_run() -> None:
    assert strip_thinking("<think>\nlet me see, def f(): return 1") == ""
    assert strip_thinking("a<THINKING>x</THINKING>b") == "ab"


def test_chat_answer_with_imports_and_a_helper_before_the_function(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/13"]  # greatest_common_divisor
    raw = (
        "Sure! We can lean on the standard library.\n\n"
        "```python\nimport math\n\n\ndef _gcd(a, b):\n    return math.gcd(a, b)\n\n\n"
        "def greatest_common_divisor(a: int, b: int) -> int:\n"
        '    """Return a greatest common divisor of two integers a and b"""\n'
        "    return _gcd(a, b)\n\n\n"
        "print(greatest_common_divisor(3, 5))\n```\n"
    )
    completion = extract(problem.prompt, raw, "chat")
    assert completion.startswith("    return _gcd(a, b)\n")
    assert "import math" in completion and "def _gcd" in completion and "print(" not in completion
    assert passes(problem, completion)


def test_full_function_indented_with_two_spaces_is_reindented(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/2"]
    raw = (
        "```py\ndef truncate_number(number: float) -> float:\n"
        "  whole = int(number)\n  return number - whole\n```"
    )
    completion = extract(problem.prompt, raw, "chat")
    assert completion == "    whole = int(number)\n    return number - whole\n"
    assert passes(problem, completion)


def test_prose_and_code_without_fences(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/2"]
    raw = (
        "The decimal part is what remains after removing the integer part:\n\n"
        "def truncate_number(number: float) -> float:\n    return number - int(number)\n\n"
        "This works for any positive float.\n"
    )
    assert passes(problem, extract(problem.prompt, raw, "chat"))


def test_chat_answer_with_only_the_body(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/2"]
    assert (
        extract(problem.prompt, "```python\nreturn number % 1.0\n```", "chat") == "    return number % 1.0\n"
    )
    assert passes(problem, extract(problem.prompt, "```python\n    return number % 1.0\n```", "chat"))


def test_several_code_blocks_pick_the_one_that_defines_the_function(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/2"]
    raw = (
        "First, an example:\n```python\n>>> truncate_number(3.5)\n0.5\n```\n"
        "The implementation:\n```python\ndef truncate_number(number):\n    return number % 1.0\n```\n"
        "And a test:\n```python\nassert truncate_number(1.25) == 0.25\n```\n"
    )
    assert extract(problem.prompt, raw, "chat") == "    return number % 1.0\n"


def test_completion_model_that_rewrites_the_prompt(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/7"]  # filter_by_substring, prompt starts with an import
    raw = full_function(problem) + "\n\n\ndef test():\n    assert filter_by_substring([], 'a') == []\n"
    completion = extract(problem.prompt, raw, "completion")
    assert completion.strip() == problem.canonical_solution.strip()
    assert passes(problem, completion)


def test_helpers_the_prompt_defines_are_not_replaced(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/38"]  # decode_cyclic; the prompt defines encode_cyclic
    raw = (
        "```python\ndef encode_cyclic(s: str):\n    return 'broken'\n\n\n"
        "def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n```"
    )
    completion = extract(problem.prompt, raw, "chat")
    assert "broken" not in completion
    assert passes(problem, completion)


def test_an_empty_or_docstring_only_answer_gives_no_code(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/2"]
    assert extract(problem.prompt, "", "completion") == ""
    stub = '```python\ndef truncate_number(number):\n    """Nothing."""\n```'
    assert extract(problem.prompt, stub, "chat") == ""


def test_future_imports_and_unused_imports_are_not_appended(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/2"]
    raw = (
        "```python\nfrom __future__ import annotations\nimport numpy as np\n\n"
        "def truncate_number(number: float) -> float:\n    return number % 1.0\n```"
    )
    assert extract(problem.prompt, raw, "chat") == "    return number % 1.0\n"


def test_stop_sequences_and_the_chat_message(humaneval: Dataset) -> None:
    assert "\ndef " not in COMPLETION_STOPS and len(COMPLETION_STOPS) <= 4
    assert cut_at_stops("    return 1\nprint(f())\n", COMPLETION_STOPS) == "    return 1"
    prompt = humaneval["HumanEval/0"].prompt
    assert prompt in chat_message(prompt)  # the prompt goes in whole, never stripped


@pytest.mark.parametrize(
    "raw",
    [
        '```python\n"""\ndef has_close_elements(numbers, threshold):\n"""\nreturn True\n```',  # in a string
        "@cache\nreturn 1\ndef has_close_elements(numbers, threshold): return True\n",  # stray decorator
        "```\n<think>print(1)\n</think>print(1)\nclass X:\n@dec\nreturn 1\n",
        "\x00\r\n\té```~~~",
        "def has_close_elements(",  # cut off by max_tokens inside the signature
    ],
)
def test_odd_answers_give_a_completion_not_an_exception(humaneval: Dataset, raw: str) -> None:
    problem = humaneval["HumanEval/0"]
    for style in ("chat", "completion"):
        assert isinstance(extract(problem.prompt, raw, style), str)


def test_one_line_function(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/2"]
    raw = "```python\ndef truncate_number(number: float) -> float: return number % 1.0\n```"
    assert extract(problem.prompt, raw, "chat") == "    return number % 1.0\n"


def test_imports_the_solution_uses_are_kept_wherever_they_are(humaneval: Dataset) -> None:
    problem = humaneval["HumanEval/13"]  # greatest_common_divisor
    raw = (
        "```python\nfrom math import *\nfrom functools import lru_cache\nimport os\n\n\n@lru_cache(None)\n"
        "def _g(a, b):\n    return gcd(a, b)\n\n\n"
        "def greatest_common_divisor(a: int, b: int) -> int:\n    return _g(a, b)\n```"
    )
    completion = extract(problem.prompt, raw, "chat")
    assert "from math import *" in completion and "from functools import lru_cache" in completion
    assert "import os" not in completion
    assert passes(problem, completion)
