"""The `openai:MODEL` backend: any server that speaks OpenAI's completions or chat-completions API.

The base URL comes from ``--humaneval-base-url``, else ``OPENAI_BASE_URL``, else OpenAI's; the key from
``OPENAI_API_KEY`` (local servers accept any). Requests run ``--humaneval-concurrency`` at a time, one
sample each, so every sample is cached on its own. The client's own retries are off: ours honour
Retry-After and end with an error that quotes the server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import defaults
from ..errors import HumanEvalInputError
from ..generation.backend import GeneratingBackend, import_extra
from ..generation.prompting import Job, Style, resolve_style
from ..generation.retry import Backoff, GenerationError, TransientError, parse_retry_after, with_retries
from .protocol import GenerationRequest

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_CONCURRENCY = defaults.CONCURRENCY["openai"]
ANSWER_CHARS = 500  # how much of a server's error body goes into a message


class OpenAIBackend(GeneratingBackend):
    def __init__(self, spec: str) -> None:
        self.name = spec
        self.model = spec.removeprefix("openai:")
        if not self.model:
            raise HumanEvalInputError(
                f"--humaneval-model={spec!r} names no model; use openai:MODEL, e.g. openai:gpt-4o-mini"
            )
        import_extra("openai", "openai", spec)

    @classmethod
    def from_spec(cls, spec: str, base_dir: Path) -> OpenAIBackend:
        return cls(spec)

    def generator(self, request: GenerationRequest) -> OpenAIGenerator:
        options = request.options
        base_url = (options.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            if base_url == OPENAI_URL:
                raise HumanEvalInputError(
                    f"--humaneval-model={self.name} talks to {OPENAI_URL}, which needs a key: set "
                    "OPENAI_API_KEY, or point --humaneval-base-url at your own server"
                )
            key = "none"  # self-hosted servers usually want no key, but the client wants one
        return OpenAIGenerator(
            model=self.model,
            base_url=base_url,
            api_key=key,
            # Base models behind a server need completion style; chat is what most served models are.
            style=resolve_style(options.prompt_style, "chat"),
            parallel=options.concurrency or DEFAULT_CONCURRENCY,
            timeout=options.request_timeout,
            backoff=Backoff(retries=options.retries),
        )


class OpenAIGenerator:
    batch_size = 1

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str,
        style: str,
        parallel: int,
        timeout: float,
        backoff: Backoff,
    ) -> None:
        import openai

        self.model = model
        self.base_url = base_url
        self.style: Style = "chat" if style == "chat" else "completion"
        self.parallel = parallel
        self.backoff = backoff
        self._openai = openai
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)

    def setup(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self.model, "base_url": self.base_url}

    def generate(self, jobs: Sequence[Job]) -> list[str]:
        return [self._one(job) for job in jobs]

    def close(self) -> None:
        """Close the client's pooled connections (called by ``GeneratingBackend.complete``)."""
        self.client.close()

    def _one(self, job: Job) -> str:
        what = (
            f"{job.problem.task_id} sample {job.index}: {self.style} request to {self.base_url} "
            f"(model {self.model})"
        )
        return with_retries(lambda: self._request(job, what), what, self.backoff)

    def _request(self, job: Job, what: str) -> str:
        openai = self._openai
        sampling = job.sampling
        common: dict[str, Any] = {
            "model": self.model,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            common["seed"] = sampling.seed
        try:
            if self.style == "chat":
                messages: Any = job.payload  # a list of {"role", "content"} dicts, as the API takes
                chat = self.client.chat.completions.create(messages=messages, **common)
                choices: Sequence[Any] = chat.choices
                text = choices[0].message.content if choices else None
            else:
                completion = self.client.completions.create(
                    prompt=job.prompt_text, stop=list(sampling.stop) or None, **common
                )
                choices = completion.choices
                text = choices[0].text if choices else None
        except openai.APIStatusError as exc:
            answer = f"HTTP {exc.status_code}: {_body(exc.response)}"
            if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
                retry_after = _retry_after(exc.response.headers)
                raise TransientError(answer, retry_after) from None
            raise _permanent(what, answer) from None
        except openai.APITimeoutError:
            raise TransientError("no answer within the request timeout") from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise TransientError(f"connection failed: {type(cause).__name__}: {cause}") from None
        if not choices:
            raise _permanent(what, "the answer has no choices")
        return text or ""


def _body(response: Any) -> str:
    try:
        text = str(response.text)
    except Exception:
        text = "(unreadable body)"
    return (server_message(text) or text)[:ANSWER_CHARS].strip() or "(empty body)"


def server_message(body: str) -> str | None:
    """The message of a JSON error body, in whichever shape the server writes it; None if it has none.

    OpenAI, vLLM and llama.cpp's server write ``{"error": {"message": ...}}``; TGI
    ``{"error": "..."}``; FastAPI apps such as ``transformers serve`` ``{"detail": ...}``; older vLLM
    ``{"object": "error", "message": ...}``. Bodies that are not JSON (a bare "Internal Server Error")
    are quoted as they are by the caller.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    for found in (error, data.get("detail"), data.get("message")):
        if isinstance(found, str) and found.strip():
            return found
        if found:  # FastAPI's validation errors: a list of dicts
            return json.dumps(found)
    return None


def _retry_after(headers: Any) -> float | None:
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return float(milliseconds) / 1000
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


def _permanent(what: str, answer: str) -> Exception:
    return GenerationError(f"{what}: {answer}")
