"""From a model's raw answer to the completion: the text that runs right after the prompt.

Real answers come in many shapes: a continuation of the prompt, a markdown code fence around the
whole function, prose before and after, a thinking block, helper functions before or after the
solution. :func:`extract` turns each into text such that ``prompt + completion`` is the program the
model meant, so a samples file written from it can be judged by the reference harness as well.
Plain Python, no pytest.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Completion-style models stop here: statements that only ever follow a finished solution. Not
# "\ndef " or "\nclass ": those would cut off helper functions the solution calls. Helpers a
# solution does not need are dropped by `extract` instead. At most four: OpenAI's API limit.
COMPLETION_STOPS: tuple[str, ...] = ("\nif __name__", "\nprint(", "\nassert ", "\n```")

CHAT_INSTRUCTION = (
    "Complete the Python function below. Answer with the complete function, including the "
    "signature and any imports or helper functions it uses, in a single ```python code block."
)

_THINK_TAGS = ("think", "thinking", "reasoning")
_FENCE = re.compile(r"^(```|~~~)[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^\1[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_IDENT = re.compile(r"[A-Za-z_]\w*")
_CODE_START = re.compile(r"^(?:async\s+def|def|class|import|from)\s|^@\w")
_DEF = re.compile(r"^(?:async\s+)?def\s+(\w+)\s*\(|^class\s+(\w+)\b")
_ASSIGN = re.compile(r"^(\w+)\s*(?::[^=]+)?=(?!=)")


def chat_message(prompt: str) -> str:
    """The one user message a chat model gets: a short instruction and the prompt, unchanged."""
    return f"{CHAT_INSTRUCTION}\n\n```python\n{prompt}```\n"


def strip_thinking(text: str) -> str:
    """Remove reasoning blocks (``<think>...</think>`` and kin), closed, unopened or left open."""
    for tag in _THINK_TAGS:
        text = re.sub(rf"<{tag}>.*?</{tag}>", "", text, flags=re.DOTALL | re.IGNORECASE)
        closing = text.lower().rfind(f"</{tag}>")
        if closing != -1:  # some servers drop the opening tag and keep the closing one
            text = text[closing + len(tag) + 3 :]
        opening = text.lower().find(f"<{tag}>")
        if opening != -1:  # ran out of tokens while thinking
            text = text[:opening]
    return text


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """Text up to the first stop sequence, as a server that honours `stop` returns it."""
    cut = len(text)
    for stop in stops:
        at = text.find(stop)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]


def extract(prompt: str, raw: str, style: str, entry_point: str | None = None) -> str:
    """The completion to run after `prompt`, from a model's `raw` answer in the given prompt style.

    `entry_point` names the function being completed; by default the last function of the prompt.
    """
    target = _target_name(prompt) or entry_point or ""
    text = strip_thinking(raw)
    if prompt and text.startswith(prompt):  # servers that echo the prompt
        text = text[len(prompt) :]
    if style == "completion" and not _starts_with_code_block(text, target):
        return _continuation(prompt, cut_at_stops(text, COMPLETION_STOPS), target)
    code = _code_of(text, target)
    if _definition_line(code, target) is not None:
        return _from_full_function(prompt, code, target)
    if code[:1].strip() and not _CODE_START.match(code):
        code = _indent(code, _body_indent(prompt, target))  # a bare body, written at column 0
    return _continuation(prompt, code, target)


# ---------------------------------------------------------------------------- finding the code


def _starts_with_code_block(text: str, target: str) -> bool:
    """A completion-style answer that is not a continuation: a fence, or the function written anew."""
    head = text.lstrip("\n")
    if head.startswith(("```", "~~~")):
        return True
    return bool(_CODE_START.match(head)) and _definition_line(head, target) is not None


def _code_of(text: str, target: str) -> str:
    """The code in an answer: the fenced block that defines the target, else the first, else the text."""
    blocks = [m.group(3) for m in _FENCE.finditer(text)]
    if blocks:
        defining = [b for b in blocks if _definition_line(b, target) is not None]
        return defining[-1] if defining else blocks[0]
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if _CODE_START.match(line):  # prose before the code is dropped; prose after, by _blocks
            return "".join(lines[number:])
    return text


def _definition_line(code: str, target: str) -> int | None:
    """Index of the line that defines `target` at the top level, or None."""
    if not target:
        return None
    pattern = re.compile(rf"^(?:async\s+)?def\s+{re.escape(target)}\s*\(")
    for number, line in enumerate(code.splitlines()):
        if pattern.match(line):
            return number
    return None


# ---------------------------------------------------------------------------- top-level blocks


@dataclass(frozen=True)
class _Block:
    """A top-level statement of the answer with the lines that belong to it."""

    text: str
    kind: str  # "def" (function or class), "assign", "import" or "other"
    names: frozenset[str]  # what it binds at module level

    @property
    def parses(self) -> bool:
        try:
            ast.parse(self.text)
        except (SyntaxError, ValueError):
            return False
        return True


def _split_top_level(code: str) -> tuple[str, list[_Block]]:
    """Split code into what precedes the first top-level statement (a body) and top-level blocks."""
    head: list[str] = []
    chunks: list[list[str]] = []
    in_string: str | None = None
    for line in code.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        starts = in_string is None and stripped[:1] not in ("", " ", "\t", "#", ")", "]", "}")
        if starts and chunks and _waits_for_definition(chunks[-1]):
            starts = False  # the def or class a decorator belongs to
        if starts:
            chunks.append([line])
        elif chunks:
            chunks[-1].append(line)
        else:
            head.append(line)
        in_string = _string_state(stripped, in_string)
    return "".join(head), [_classify("".join(chunk)) for chunk in chunks]


def _waits_for_definition(chunk: list[str]) -> bool:
    return chunk[0].startswith("@") and not any(_DEF.match(line) for line in chunk)


def _string_state(line: str, in_string: str | None) -> str | None:
    """Track triple-quoted strings across lines, so their column-0 lines start no block."""
    position = 0
    while True:
        if in_string is None:
            found = [(line.find(q, position), q) for q in ('"""', "'''") if line.find(q, position) != -1]
            if not found:
                return None
            at, quote = min(found)
            if "#" in line[position:at]:
                return None
            in_string, position = quote, at + 3
        else:
            at = line.find(in_string, position)
            if at == -1:
                return in_string
            in_string, position = None, at + 3


def _classify(text: str) -> _Block:
    lines = text.splitlines()
    heading = next((line for line in lines if not line.startswith(("@", " ", "\t", ")"))), lines[0])
    match = _DEF.match(heading)
    if match:
        return _Block(text, "def", frozenset({match.group(1) or match.group(2)}))
    if heading.startswith(("import ", "from ")):
        return _Block(text, "import", frozenset(_imported_names(text)))
    match = _ASSIGN.match(heading)
    if match:
        return _Block(text, "assign", frozenset({match.group(1)}))
    return _Block(text, "other", frozenset())


def _imported_names(text: str) -> set[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            return set()  # only legal at the top of a file, never after the prompt
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
    return names


def _needed(blocks: Iterable[_Block], uses: str, exclude: set[str]) -> list[_Block]:
    """The definitions and imports that code using the identifiers in `uses` needs, transitively."""
    candidates = [b for b in blocks if b.kind != "other" and b.names and not b.names & exclude and b.parses]
    wanted = set(_IDENT.findall(uses)) | {"*"}  # a star import may provide any name: always kept
    kept: list[_Block] = []
    changed = True
    while changed:
        changed = False
        for block in candidates:
            if block not in kept and block.names & wanted:
                kept.append(block)
                wanted |= set(_IDENT.findall(block.text))
                changed = True
    return [b for b in candidates if b in kept]  # in the answer's order


def _join(body: str, extras: Sequence[_Block]) -> str:
    if body and not body.endswith("\n"):
        body += "\n"
    if not extras:
        return body
    return body + "\n" + "\n".join(b.text.rstrip("\n") + "\n" for b in extras)


# ---------------------------------------------------------------------------- the two shapes


def _continuation(prompt: str, code: str, target: str) -> str:
    """An answer that continues the prompt: keep the body and the top-level code it needs."""
    if prompt and not prompt.endswith("\n") and "\n" in code:
        first, rest = code.split("\n", 1)  # the model finished the prompt's last line
        body, blocks = _split_top_level(rest)
        body = first + "\n" + body
    else:
        body, blocks = _split_top_level(code)
    return _join(body if body.strip() else "", _needed(blocks, body, _defined_in(prompt, target)))


def _from_full_function(prompt: str, code: str, target: str) -> str:
    """An answer that writes the whole function: its body, re-indented to the prompt's, and its helpers."""
    _, blocks = _split_top_level(code)
    defining = [b for b in blocks if target in b.names and b.kind == "def"]
    if not defining:  # the def line sits inside a string or a stray decorator's block
        return _continuation(prompt, code, target)
    function = next((b for b in reversed(defining) if b.parses), defining[-1])
    body = _body_of(function.text, target)
    body = _reindent(body, _body_indent(prompt, target))
    others = [b for b in blocks if b is not function]
    return _join(body, _needed(others, body, _defined_in(prompt, target)))


def _body_of(function: str, target: str) -> str:
    """The statements of `target` after its signature and docstring, as written."""
    try:
        tree = ast.parse(function)
    except (SyntaxError, ValueError):
        tree = None
    lines = function.splitlines(keepends=True)
    node = None
    if tree is not None:
        node = next((n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None)
    if node is None:  # truncated: everything after the signature line
        start = next((i for i, line in enumerate(lines) if line.rstrip().endswith(":")), 0) + 1
        return "".join(lines[start:])
    statements = node.body
    if (
        statements
        and isinstance(statements[0], ast.Expr)
        and isinstance(statements[0].value, ast.Constant)
        and isinstance(statements[0].value.value, str)
    ):
        if len(statements) == 1:
            return ""  # only a docstring: the model wrote no code
        statements = statements[1:]
    first = statements[0]
    if first.lineno == node.lineno:  # def f(x): return x
        line = lines[first.lineno - 1]
        return "    " + line[first.col_offset :].strip() + "\n"
    start = first.lineno - 1
    if statements is not node.body:  # comments between the docstring and the code are kept
        start = node.body[0].end_lineno or start
    end = node.end_lineno or len(lines)
    return "".join(lines[start:end])


def _defined_in(prompt: str, target: str) -> set[str]:
    """Names the prompt defines itself: an answer's copies of them are not used."""
    names = {target}
    for line in prompt.splitlines():
        match = _DEF.match(line)
        if match:
            names.add(match.group(1) or match.group(2))
    return names


def _target_name(prompt: str) -> str | None:
    """The function a prompt asks for: the last function it opens."""
    names = [m.group(1) for m in map(_DEF.match, prompt.splitlines()) if m and m.group(1)]
    return names[-1] if names else None


def _body_indent(prompt: str, target: str) -> str:
    """The indentation of the target's body in the prompt (its docstring's), else four spaces more."""
    lines = prompt.splitlines()
    at = _definition_line(prompt, target)
    if at is None:
        return "    "
    def_indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    signature_done = False
    for line in lines[at:]:
        if not signature_done:
            signature_done = line.rstrip().endswith(":")
            continue
        if line.strip():
            indent = line[: len(line) - len(line.lstrip())]
            if len(indent) > len(def_indent):
                return indent
    return def_indent + "    "


def _indent(code: str, indent: str) -> str:
    return "".join(indent + line if line.strip() else line for line in code.splitlines(keepends=True))


def _reindent(body: str, indent: str) -> str:
    """Shift a body from its own indentation to `indent`, keeping relative indentation."""
    lines = body.splitlines(keepends=True)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        return ""
    own = first[: len(first) - len(first.lstrip())]
    if own == indent:
        return body
    out = []
    for line in lines:
        if line.startswith(own):
            out.append(indent + line[len(own) :])
        else:
            out.append(line)
    return "".join(out)
