"""The `hf:NAME_OR_PATH` backend: a local Hugging Face transformers causal language model.

The device is chosen automatically (CUDA, then Apple's MPS, then the CPU). Prompts are generated in
batches of ``--humaneval-concurrency`` (default 8), padded on the left so that every row's prompt
ends where generation starts, with the attention mask passed along. Prompts go in unchanged; chat
style wraps them in the tokenizer's chat template.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import defaults
from ..errors import HumanEvalInputError
from ..generation.backend import GeneratingBackend, import_extra
from ..generation.prompting import Job, resolve_style
from ..generation.retry import GenerationError
from .protocol import GenerationRequest, PromptStyle

DEFAULT_BATCH = defaults.CONCURRENCY["hf"]


class HuggingFaceBackend(GeneratingBackend):
    def __init__(self, spec: str) -> None:
        self.name = spec
        self.model = spec.removeprefix("hf:")
        if not self.model:
            raise HumanEvalInputError(
                f"--humaneval-model={spec!r} names no model; use hf:NAME_OR_PATH, e.g. hf:./my-model"
            )
        import_extra("torch", "hf", spec)
        import_extra("transformers", "hf", spec)

    @classmethod
    def from_spec(cls, spec: str, base_dir: Path) -> HuggingFaceBackend:
        return cls(spec)  # a relative path is resolved against the request's base_dir, at load

    def generator(self, request: GenerationRequest) -> HuggingFaceGenerator:
        options = request.options
        local = options.base_dir / self.model
        return HuggingFaceGenerator(
            str(local) if local.exists() else self.model,
            style=options.prompt_style,
            batch_size=options.concurrency or DEFAULT_BATCH,
            quiet=not options.progress,
        )


class HuggingFaceGenerator:
    parallel = 1  # one batch at a time: the batch is the parallelism

    def __init__(self, name_or_path: str, *, style: PromptStyle, batch_size: int, quiet: bool = True) -> None:
        import torch
        import transformers

        if quiet:  # no loading bars in CI logs; on a terminal they show that something happens
            transformers.utils.logging.disable_progress_bar()

        self.name_or_path = name_or_path
        self.batch_size = batch_size
        self._torch = torch
        self.device = _pick_device(torch)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(name_or_path)
            dtype = (
                torch.bfloat16 if self.device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
            )
            self.model = transformers.AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise HumanEvalInputError(f"--humaneval-model=hf:{name_or_path}: cannot load it: {exc}") from None
        self.model.to(self.device)
        self.model.eval()
        self.tokenizer.padding_side = "left"  # generation continues right after each prompt
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        resolved = resolve_style(style, "chat" if has_template else "completion")
        if resolved == "chat" and not has_template:
            raise HumanEvalInputError(
                f"--humaneval-prompt-style=chat: the tokenizer of {name_or_path} has no chat template; "
                "use --humaneval-prompt-style=completion"
            )
        self.style = resolved
        self.dtype = str(dtype).removeprefix("torch.")

    def setup(self) -> dict[str, Any]:
        return {
            "backend": "hf",
            "model": self.name_or_path,
            "revision": _fingerprint(self.name_or_path, self.model),
            "device": self.device,
            "dtype": self.dtype,
        }

    def generate(self, jobs: Sequence[Job]) -> list[str]:
        torch = self._torch
        sampling = jobs[0].sampling  # a run samples every job alike, but for the seed
        if self.style == "chat":
            texts = [
                self.tokenizer.apply_chat_template(j.payload, add_generation_prompt=True, tokenize=False)
                for j in jobs
            ]
            encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        else:
            encoded = self.tokenizer([j.prompt_text for j in jobs], return_tensors="pt", padding=True)
        encoded = encoded.to(self.device)
        settings: dict[str, Any] = {
            "max_new_tokens": sampling.max_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sampling.temperature > 0:
            settings.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            settings.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if sampling.stop:
            settings.update(stop_strings=list(sampling.stop), tokenizer=self.tokenizer)
        if jobs[0].sampling.seed is not None:
            torch.manual_seed(jobs[0].sampling.seed)
        try:
            with torch.inference_mode():
                output = self.model.generate(**encoded, **settings)
        except (RuntimeError, ValueError) as exc:
            task_ids = sorted({j.problem.task_id for j in jobs})
            raise GenerationError(
                f"hf:{self.name_or_path} failed on a batch of {len(jobs)} ({', '.join(task_ids)}): {exc}"
            ) from exc
        start = encoded["input_ids"].shape[1]  # left padding: every row's answer starts here
        return [
            str(text) for text in self.tokenizer.batch_decode(output[:, start:], skip_special_tokens=True)
        ]


def _pick_device(torch: Any) -> str:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _fingerprint(name_or_path: str, model: Any) -> str:
    """What tells two versions of a model apart: the hub commit, or the local files' sizes and times."""
    commit = getattr(model.config, "_commit_hash", None)
    path = Path(name_or_path)
    if not path.is_dir():
        return str(commit)
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest() + os.pathsep + str(commit)
