"""The HumanEval+ release files: pinned by hash, downloaded once into a cache directory, verified.

EvalPlus publishes HumanEval+ as gzipped JSONL release assets. Each file this plugin knows is pinned by
the sha256 of the file and of its decompressed JSONL, so a run judges exactly the problems its report
names. Nothing is downloaded when the file is already in the cache; offline, or when a file does not
match, the error names the URL, the expected hash and where to put the file.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..errors import HumanEvalInputError

BASE_URL = "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10"
DOWNLOAD_TIMEOUT = 60.0  # seconds without progress before a download is given up
CHUNK = 1 << 16


@dataclass(frozen=True)
class Release:
    """One pinned HumanEval+ file."""

    name: str  # the --humaneval-dataset name
    title: str  # the dataset's name in reports
    file: str  # the release asset, and the file's name in the cache
    sha256: str  # of the file as downloaded
    jsonl_sha256: str  # of its decompressed JSONL

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.file}"


RELEASES: Mapping[str, Release] = {
    release.name: release
    for release in (
        Release(
            "humanevalplus",
            "HumanEval+ v0.1.10 (EvalPlus)",
            "HumanEvalPlus-v0.1.10.jsonl.gz",
            "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101",
            "42526ec0e7d5f3ee0b06d6ced98f8c8bae3d76519151bfb3d36f79010645bd7f",
        ),
        Release(
            "humanevalplus-mini",
            "HumanEval+ Mini v0.1.10 (EvalPlus)",
            "HumanEvalPlus-Mini-v0.1.10.jsonl.gz",
            "91486741f1627101021fbe50523df08eebb5b0bf5e804b633dcd5ca3c14dbd2f",
            "78fbba8865b20c5a979cda6e02fd72538e1762e65980af7d1a6e93c3e87e93af",
        ),
    )
}


def default_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CACHE_HOME/pytest-humaneval``, else ``~/.cache/pytest-humaneval``."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-humaneval"


def fetch(release: Release, data_dir: Path, base_url: str = BASE_URL, progress: bool = False) -> Path:
    """The verified local copy of `release` in `data_dir`, downloaded first if it is not there."""
    path = data_dir / release.file
    url = release.url(base_url)
    if not path.is_file():
        _download(url, path, release, progress)
    problem = mismatch(path, release)
    if problem is not None:
        raise HumanEvalInputError(
            f"{path} is not {release.file} of HumanEval+ v0.1.10: {problem}. Remove it and run again to "
            f"download it from {url}, or put the right file there (sha256 {release.sha256})"
        )
    return path


def mismatch(path: Path, release: Release) -> str | None:
    """What is wrong with the file at `path` as a copy of `release`, or None when both hashes match."""
    data = path.read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != release.sha256:
        return f"its sha256 is {found}, expected {release.sha256}"
    try:
        found = hashlib.sha256(gzip.decompress(data)).hexdigest()
    except (OSError, EOFError) as exc:
        return f"it does not decompress ({exc})"
    if found != release.jsonl_sha256:
        return f"its decompressed JSONL has sha256 {found}, expected {release.jsonl_sha256}"
    return None


def _download(url: str, path: Path, release: Release, progress: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, partial.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            bar = _Bar(release.file, total, sys.stderr if progress else None)
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.advance(len(chunk))
            bar.close()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise HumanEvalInputError(
            f"could not download HumanEval+ from {url} ({exc}). Without network access, download that "
            f"file elsewhere and put it at {path} (sha256 {release.sha256}), or point "
            "--humaneval-plus-url at a server that has it"
        ) from None
    problem = mismatch(partial, release)
    if problem is not None:
        partial.unlink(missing_ok=True)
        raise HumanEvalInputError(
            f"the file downloaded from {url} is not {release.file} of HumanEval+ v0.1.10: {problem}; "
            f"put the right file at {path} (sha256 {release.sha256})"
        )
    partial.replace(path)


class _Bar:
    """A one-line download bar on a terminal; silent when `stream` is None or not a terminal."""

    def __init__(self, name: str, total: int, stream: TextIO | None) -> None:
        self.name = name
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None and stream.isatty() else None

    def advance(self, count: int) -> None:
        self.done += count
        if self.stream is None:
            return
        shown = f"{self.done / 1e6:.1f} MB"
        if self.total:
            filled = int(30 * self.done / self.total)
            shown = f"[{'#' * filled}{'.' * (30 - filled)}] {shown} of {self.total / 1e6:.1f} MB"
        self.stream.write(f"\rhumaneval: downloading {self.name} {shown}  ")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()
