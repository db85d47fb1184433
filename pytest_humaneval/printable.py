"""Sample text made safe for a terminal or a CI log: control characters shown, never obeyed.

A sample decides what its error message, its output and its completion contain. Printed verbatim, ANSI
escapes, carriage returns, backspaces and BEL let it rewrite the log a person reads (clear a line,
print a fake ``164 passed``), and bidirectional-text controls let it reorder what a line appears to
say. Everything of a sample's that goes to the terminal or into JUnit XML goes through :func:`visible`;
the JSON and HTML reports keep the exact text.

Backslashes are left alone: ``\\x1b`` typed by a sample and an escaped ESC look alike, and both are
harmless text.
"""

from __future__ import annotations

# Bidirectional-text controls (Unicode's "Trojan Source" set), and the line and paragraph separators,
# which some viewers break lines at.
_FORMAT_CONTROLS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029)
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# C0 controls, DEL, C1 controls (0x9b is a one-byte CSI to some terminals), the format controls, and
# lone surrogates, which no terminal encoding can write (printing one would stop pytest).
_CODES = (*range(0x20), *range(0x7F, 0xA0), *_FORMAT_CONTROLS, *range(0xD800, 0xE000))
_TABLE = {code: _escape(code) for code in _CODES}
_KEEP_LAYOUT = dict(_TABLE)
del _KEEP_LAYOUT[ord("\n")], _KEEP_LAYOUT[ord("\t")]


def visible(text: str, *, multiline: bool = True) -> str:
    """`text` with every control character written as an escape (``\\x1b``, ``\\r``, ``\\u202e``).

    With `multiline` (the default), newlines and tabs stay as they are, for code and output shown as
    blocks; without it they are escaped too, for a one-line message.
    """
    return text.translate(_KEEP_LAYOUT if multiline else _TABLE)
