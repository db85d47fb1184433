"""HumanEval+'s release files: downloaded once from a real HTTP server on 127.0.0.1, pinned by hash."""

from __future__ import annotations

import gzip
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_humaneval.errors import HumanEvalInputError
from pytest_humaneval.plus.release import RELEASES, default_data_dir, fetch, mismatch

HUMANEVALPLUS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "humanevalplus"
FILES = {
    "HumanEvalPlus-v0.1.10.jsonl.gz": "HumanEvalPlus.jsonl.gz",
    "HumanEvalPlus-Mini-v0.1.10.jsonl.gz": "HumanEvalPlus-Mini.jsonl.gz",
}


class ReleaseServer:
    """Serves the shared HumanEval+ files under their release names; `body` replaces them when set."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.body: bytes | None = None
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                if name not in FILES:
                    self.send_error(404)
                    return
                data = server.body if server.body is not None else (HUMANEVALPLUS / FILES[name]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/releases/download/v0.1.10"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def release_server() -> Iterator[ReleaseServer]:
    if not HUMANEVALPLUS.is_dir():
        pytest.fail(f"{HUMANEVALPLUS} is missing: CI must run beside ../shared")
    server = ReleaseServer()
    yield server
    server.close()


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_a_release_is_downloaded_once_and_verified(
    release_server: ReleaseServer, tmp_path: Path, name: str
) -> None:
    release = RELEASES[name]
    path = fetch(release, tmp_path, release_server.url)
    assert path == tmp_path / release.file
    assert path.read_bytes() == (HUMANEVALPLUS / FILES[release.file]).read_bytes()
    assert mismatch(path, release) is None
    assert fetch(release, tmp_path, release_server.url) == path
    assert release_server.requests == [
        f"/releases/download/v0.1.10/{release.file}"
    ]  # the second came from the cache
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial file left


def test_a_download_that_does_not_match_is_refused_and_not_kept(
    release_server: ReleaseServer, tmp_path: Path
) -> None:
    release = RELEASES["humanevalplus"]
    release_server.body = gzip.compress(b'{"task_id": "HumanEval/0"}\n')
    with pytest.raises(HumanEvalInputError) as excinfo:
        fetch(release, tmp_path, release_server.url)
    message = str(excinfo.value)
    assert release.url(release_server.url) in message
    assert release.sha256 in message
    assert str(tmp_path / release.file) in message
    assert list(tmp_path.iterdir()) == []


def test_a_cached_file_that_does_not_match_names_the_hashes_and_the_way_out(tmp_path: Path) -> None:
    release = RELEASES["humanevalplus-mini"]
    (tmp_path / release.file).write_bytes(gzip.compress(b"not the release\n"))
    with pytest.raises(HumanEvalInputError) as excinfo:
        fetch(release, tmp_path, "http://127.0.0.1:9/nowhere")
    message = str(excinfo.value)
    assert release.sha256 in message and str(tmp_path / release.file) in message
    assert "Remove it" in message


def test_right_file_hash_with_wrong_content_is_caught_by_the_jsonl_hash(tmp_path: Path) -> None:
    release = RELEASES["humanevalplus-mini"]
    forged = type(release)(release.name, release.title, release.file, "0" * 64, release.jsonl_sha256)
    (tmp_path / release.file).write_bytes(b"x")
    assert "expected " + "0" * 64 in (mismatch(tmp_path / release.file, forged) or "")
    (tmp_path / release.file).write_bytes((HUMANEVALPLUS / "HumanEvalPlus.jsonl.gz").read_bytes())
    wrong_jsonl = type(release)(
        release.name, release.title, release.file, RELEASES["humanevalplus"].sha256, "1" * 64
    )
    assert "decompressed JSONL" in (mismatch(tmp_path / release.file, wrong_jsonl) or "")


def test_offline_the_error_names_the_url_the_hash_and_where_to_put_the_file(tmp_path: Path) -> None:
    # A port nothing listens on: the connection is refused at once, as when offline.
    release = RELEASES["humanevalplus"]
    with pytest.raises(HumanEvalInputError) as excinfo:
        fetch(release, tmp_path / "data", "http://127.0.0.1:9/releases")
    message = str(excinfo.value)
    assert "http://127.0.0.1:9/releases/HumanEvalPlus-v0.1.10.jsonl.gz" in message
    assert release.sha256 in message
    assert str(tmp_path / "data" / release.file) in message


def test_the_data_directory_follows_xdg_cache_home(tmp_path: Path) -> None:
    assert default_data_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "pytest-humaneval"
    assert default_data_dir({}).parts[-2:] == (".cache", "pytest-humaneval")
