"""A one-line progress bar for generation, on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class Progress:
    """Counts finished samples and redraws at most ten times a second; silent when not enabled."""

    def __init__(self, total: int, done: int = 0, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = done
        self.cached = done
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > done
        self.started = time.monotonic()
        self._drawn = 0.0

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.enabled and (now - self._drawn >= 0.1 or self.done == self.total):
            self._drawn = now
            self.stream.write("\r" + self.line(now))
            self.stream.flush()

    def line(self, now: float) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(WIDTH * fraction)
        generated = self.done - self.cached
        elapsed = max(now - self.started, 1e-9)
        rate = generated / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = f"{left:.0f} s left" if left != float("inf") else "..."
        return (
            f"humaneval: generating [{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total} "
            f"({self.cached} cached) {rate:.1f}/s {eta}  "
        )

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
