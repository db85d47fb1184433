"""The exception type for bad input (the plugin turns it into pytest.UsageError), and our warning."""

from __future__ import annotations


class HumanEvalInputError(ValueError):
    """An option, dataset or samples file is invalid. The message names the input and what is valid."""


class HumanEvalWarning(UserWarning):
    """Settings that run, but make the result mean less than it seems (e.g. n > 1 at temperature 0)."""
