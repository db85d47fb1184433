"""Retrying a request that failed for a passing reason: exponential backoff, honouring Retry-After."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

MAX_WAIT = 120.0  # a Retry-After longer than this is cut short: the run would look hung


class TransientError(Exception):
    """A failure worth retrying (429, 5xx, a timeout, a dropped connection), with the server's answer."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GenerationError(Exception):
    """Generation cannot go on; the message names the sample, the problem and the server's answer."""


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: base * 2**attempt, at most `cap`, with jitter so clients spread out."""

    retries: int = 5
    base: float = 0.5
    cap: float = 30.0

    def delay(
        self, attempt: int, retry_after: float | None, rng: Callable[[], float] = random.random
    ) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_WAIT)
        return float(min(self.cap, self.base * 2**attempt) * (0.5 + rng() / 2))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def with_retries(
    call: Callable[[], T],
    what: str,
    backoff: Backoff,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`, retrying TransientError; after the last retry, raise GenerationError naming `what`."""
    attempt = 0
    while True:
        try:
            return call()
        except TransientError as exc:
            if attempt >= backoff.retries:
                tries = f"{attempt + 1} attempt" + ("s" if attempt else "")
                raise GenerationError(f"{what}: failed after {tries}; last answer: {exc}") from None
            sleep(backoff.delay(attempt, exc.retry_after))
            attempt += 1
