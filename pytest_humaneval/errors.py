"""The one exception type for bad input; the plugin turns it into pytest.UsageError."""

from __future__ import annotations


class HumanEvalInputError(ValueError):
    """An option, dataset or samples file is invalid. The message names the input and what is valid."""
