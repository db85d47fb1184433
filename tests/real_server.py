"""A real OpenAI-compatible server that is not ours, and a recording proxy in front of it.

:class:`TransformersServe` runs ``transformers serve`` (the ``transformers[serving]`` extra: FastAPI
and uvicorn) as a subprocess on 127.0.0.1, offline, pinned to a local model directory, and stops it at
the end. :class:`RecordingProxy` is a real HTTP server on 127.0.0.1 that forwards every request to it
unchanged and keeps each exchange, so tests count requests and read exactly what the server sent.
Used by ``tests/test_transformers_serve.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .helpers import free_port

READY_SECONDS = 180.0  # importing transformers and loading the model, on a busy 2-core machine


class TransformersServe:
    """``transformers serve MODEL_DIR`` on 127.0.0.1, offline; its log goes to a file beside the model."""

    def __init__(self, model: Path, home: Path) -> None:
        self.model = model
        self.home = home  # HF_HOME: no cache of the user's is read or written
        self.port = free_port()
        self.log = home / "transformers-serve.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> TransformersServe:
        env = {
            **os.environ,
            "HF_HOME": str(self.home),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "DO_NOT_TRACK": "1",
        }
        command = [
            sys.executable,
            "-m",
            "transformers.cli.transformers",
            "serve",
            str(self.model),  # pinned: the server serves this model and refuses other names
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--device",
            "cpu",
            "--log-level",
            "info",
        ]
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        health = f"http://127.0.0.1:{self.port}/health"
        while True:
            try:
                with urllib.request.urlopen(health, timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert self._process is not None
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve did not start; its log:\n{self.read_log()[-4000:]}")
            time.sleep(0.2)

    def read_log(self) -> str:
        return self.log.read_text(errors="replace")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on Ctrl-C
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


@dataclass(frozen=True)
class Exchange:
    """One request as the proxy forwarded it, and the server's answer as it came back."""

    path: str
    request: dict[str, Any]
    status: int
    body: bytes

    def answer(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The first choice's text: a completion's, or a chat answer's message content."""
        choice = self.answer()["choices"][0]
        return str(choice["message"]["content"] if "message" in choice else choice["text"])


class RecordingProxy:
    """Forwards POSTs on 127.0.0.1 to `upstream` (``http://127.0.0.1:PORT``) and records each exchange."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _forwarder(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def since(self, start: int) -> list[Exchange]:
        with self._lock:
            return self.exchanges[start:]

    @property
    def total(self) -> int:
        with self._lock:
            return len(self.exchanges)


def _forwarder(proxy: RecordingProxy) -> type[BaseHTTPRequestHandler]:
    class Forwarder(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=600)
            try:
                upstream.request("POST", self.path, body=data, headers={"Content-Type": "application/json"})
                answer = upstream.getresponse()
                body = answer.read()
                status, content_type = answer.status, answer.getheader("Content-Type", "application/json")
            finally:
                upstream.close()
            proxy.record(Exchange(self.path, json.loads(data or b"{}"), status, body))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Forwarder
