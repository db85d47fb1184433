"""The completion cache: raw model answers on disk, one line per finished sample, so runs resume.

A cache file holds the answers of one model setup (backend, model, server, prompt style, sampling);
each line is keyed by everything that decides one answer (that setup, the exact prompt sent, the
sample's sampling settings and its index). Lines are appended as samples finish, so a run that is
killed loses at most the samples in flight; a torn last line is ignored on reading. Raw answers are
stored, not completions: a better post-processor re-reads the same cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

FORMAT = 1


def digest(value: Any) -> str:
    """sha256 of a JSON-able value, independent of dict order."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class CompletionCache:
    """Raw answers of one model setup, read once and appended to as samples finish."""

    def __init__(self, directory: Path, setup: Mapping[str, Any]) -> None:
        self.setup = dict(setup)
        self.setup_digest = digest({"format": FORMAT, **self.setup})
        self.path = directory / f"{self.setup_digest[:32]}.jsonl"
        self._out: IO[str] | None = None

    def key(self, payload: Any, sampling: Mapping[str, Any], index: int) -> str:
        """The key of one sample: the setup, what was sent, how it was sampled, and which sample."""
        return digest({"setup": self.setup_digest, "prompt": payload, "sampling": sampling, "index": index})

    def load(self) -> dict[str, str]:
        """Every answer on disk, by key."""
        answers: dict[str, str] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return answers
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill
            if isinstance(record, dict) and isinstance(record.get("raw"), str) and "key" in record:
                answers[str(record["key"])] = record["raw"]
        return answers

    def add(self, key: str, task_id: str, index: int, raw: str) -> None:
        """Append one finished sample; it is on disk when this returns."""
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists()
            self._out = self.path.open("a", encoding="utf-8")
            if new:  # for people reading the cache: what these answers came from
                self._write({"setup": self.setup})
        self._write({"key": key, "task_id": task_id, "index": index, "raw": raw})

    def _write(self, record: Mapping[str, Any]) -> None:
        assert self._out is not None
        self._out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
