"""Model backends: where completions come from. One module per backend, behind one Protocol.

Re-exports only: the interface lives in :mod:`.protocol` (which backends import) and the table of
built-in backends in :mod:`.builtins`.
"""

from __future__ import annotations

from .builtins import BUILTIN_SPECS, BUILTINS, MODEL_HELP, Builtin, builtin_backend
from .protocol import Backend, Completion, GenerationOptions, GenerationRequest, Origin, PromptStyle, Sampling

__all__ = [
    "BUILTINS",
    "BUILTIN_SPECS",
    "MODEL_HELP",
    "Backend",
    "Builtin",
    "Completion",
    "GenerationOptions",
    "GenerationRequest",
    "Origin",
    "PromptStyle",
    "Sampling",
    "builtin_backend",
]
