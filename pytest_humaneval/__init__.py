"""pytest-humaneval: evaluate code-generation models on HumanEval as pytest items, with pass@k."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
