"""A real HTTP server on 127.0.0.1 that speaks OpenAI's /v1/completions and /v1/chat/completions.

It answers from a table (prompt -> answers; the request's seed picks the answer, so sample i of a run
with ``--humaneval-seed=0`` gets answer i) and can be told to misbehave for a prompt's first
requests: 429 with Retry-After, 500, a slow answer, a connection dropped without an answer. It counts
every request, so tests can check that retries happened and that nothing was generated twice.

By default it answers as OpenAI's API does. It can also answer as ``transformers serve`` does (see
``tests/test_transformers_serve.py``): keep the stop string it stopped at (``keep_stop``), refuse
every model name but the one it is pinned to with FastAPI's ``{"detail": ...}`` body (``pinned``),
answer a prompt longer than it can take with a bare, plain-text 500 (``context``, in characters), and
decode greedily whatever the temperature and seed: every sample gets the first answer (``greedy``).
Used by the tests and by ``bench/bench_generation.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fault:
    """What the server does instead of answering at once.

    `kind` is "status" (answer with that HTTP status), "drop" (close the connection without an
    answer), "slow" (answer after `seconds`) or "stall" (close it after `seconds`, with no answer).
    """

    kind: str
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0


@dataclass
class Seen:
    """One request as the server saw it."""

    endpoint: str
    prompt: str | None  # the table's prompt it was for; None if none matched
    seed: int | None
    at: float
    answered: bool
    body: dict[str, Any] = field(default_factory=dict)


class FakeOpenAI:
    def __init__(
        self,
        answers: Mapping[str, Sequence[str]],
        faults: Mapping[str, Sequence[Fault]] | None = None,
        latency: float = 0.0,
        *,
        keep_stop: bool = False,
        pinned: str | None = None,
        context: int | None = None,
        greedy: bool = False,
    ) -> None:
        self.answers = {prompt: list(texts) for prompt, texts in answers.items()}
        self.faults = {prompt: list(fs) for prompt, fs in (faults or {}).items()}
        self.latency = latency
        self.keep_stop = keep_stop
        self.pinned = pinned
        self.context = context
        self.greedy = greedy
        self.seen: list[Seen] = []
        self.hold_after: int | None = None  # answer this many, then hang until released
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ what the tests read

    def answered(self) -> Counter[tuple[str | None, int | None]]:
        """Successful answers per (prompt, seed)."""
        with self._lock:
            return Counter((s.prompt, s.seed) for s in self.seen if s.answered)

    def requests_for(self, prompt: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.prompt == prompt]

    @property
    def total(self) -> int:
        with self._lock:
            return len(self.seen)

    # ------------------------------------------------------------------ serving

    def find_prompt(self, text: str, exact: bool) -> str | None:
        if exact:
            return text if text in self.answers else None
        return next((p for p in self.answers if p in text), None)

    def respond(self, endpoint: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """Decide the answer: (status, headers, JSON body), or status 0 to drop the connection."""
        chat = endpoint.endswith("/chat/completions")
        if chat:
            messages = body.get("messages") or [{}]
            prompt = self.find_prompt(str(messages[-1].get("content", "")), exact=False)
        else:
            prompt = self.find_prompt(str(body.get("prompt", "")), exact=True)
        seed = body.get("seed")
        with self._lock:
            attempt = self._attempts[prompt or ""]
            self._attempts[prompt or ""] += 1
            planned = self.faults.get(prompt or "", [])
            fault = planned[attempt] if attempt < len(planned) else None
            hold = self.hold_after is not None and sum(s.answered for s in self.seen) >= self.hold_after
            record = Seen(endpoint, prompt, seed, time.monotonic(), False, body)
            self.seen.append(record)
        if hold:
            self.release.wait()
            return 0, {}, None
        if self.latency:
            time.sleep(self.latency)
        if fault is not None and fault.kind in ("drop", "stall"):
            time.sleep(fault.seconds)
            return 0, {}, None
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            error = {"error": {"message": f"injected {fault.status}", "type": "injected"}}
            return fault.status, headers, error
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if self.pinned is not None and body.get("model") != self.pinned:
            detail = f"this server serves {self.pinned!r} only, not {body.get('model')!r}"
            return 400, {}, {"detail": detail}
        sent = json.dumps(body.get("messages")) if chat else str(body.get("prompt", ""))
        if self.context is not None and len(sent) > self.context:
            return 500, {}, "Internal Server Error"
        if prompt is None:
            return 400, {}, {"error": {"message": "no such prompt in the table", "type": "invalid_request"}}
        texts = self.answers[prompt]
        text = texts[0] if self.greedy else texts[(seed or 0) % len(texts)]
        if not chat:
            text = _stopped(text, body.get("stop") or [], self.keep_stop)
        with self._lock:
            record.answered = True
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice.update(text=text, logprobs=None)
        return (
            200,
            {},
            {
                "id": f"fake-{len(self.seen)}",
                "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [choice],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


def _stopped(text: str, stops: Sequence[str], keep: bool) -> str:
    """The text up to where the first stop string in it begins, or with `keep`, ends."""
    found = [(text.find(stop), stop) for stop in stops if stop in text]
    if not found:
        return text
    at, stop = min(found)
    return text[: at + len(stop)] if keep else text[:at]


def _handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers
        # Headers and body go out in two writes; with Nagle's algorithm on, the body then waits for
        # the client's delayed ACK (40 ms). Real servers (uvicorn, ...) set TCP_NODELAY too.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                body = {}
            headers: dict[str, str] = {}
            payload: Any
            if self.path.rstrip("/") not in ("/v1/completions", "/v1/chat/completions"):
                status, payload = 404, {"error": {"message": f"no route {self.path}"}}
            else:
                status, headers, payload = server.respond(self.path.rstrip("/"), body)
            if status == 0:
                self.close_connection = True  # drop: no status line, no body
                return
            plain = isinstance(payload, str)  # a bare text body, as a crashed web app sends
            data = (payload if plain else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8" if plain else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
