"""Fixtures for the data tests: the dataset mirror, an isolated cache, a local HTTP server."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_data_env(tmp_path, monkeypatch):
    """No test reads or writes the user's cache, or reaches the network by accident."""
    monkeypatch.setenv("EGRAFF_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("EGRAFF_DATA_MIRROR", raising=False)
    monkeypatch.setenv("EGRAFF_DATA_BASE_URL", "http://127.0.0.1:9")  # discard port: fails fast


@pytest.fixture(scope="session")
def mirror_cache(mirror, tmp_path_factory) -> dict:
    """load()/fetch options reading from the mirror into one cache shared by the session."""
    return {"cache": tmp_path_factory.mktemp("mirror-cache"), "mirror": mirror, "progress": False}


class _GitHubLikeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``<root>/<owner>/<repo>/<path>`` at ``/<owner>/<repo>/raw/<commit>/<path>``, with Range."""

    server: "FileServer"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        parts = self.path.lstrip("/").split("/")
        self.server.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if len(parts) < 5 or parts[2] != "raw":
            self.send_error(404)
            return
        local = self.server.root / parts[0] / parts[1] / "/".join(parts[4:])
        if not local.is_file():
            self.send_error(404)
            return
        body = self.server.override.get(self.path, local.read_bytes())
        start = 0
        requested = self.headers.get("Range")
        if requested and self.server.honour_range:
            start = int(requested.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        cut = self.server.cut_after.pop(self.path, None)
        if cut is not None:  # simulate a dropped connection: promise everything, send part
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        size, pause = self.server.throttle or (len(payload) or 1, 0.0)
        try:
            for start in range(0, len(payload), size):  # a slow link: blocks of `size` bytes, `pause` s apart
                self.wfile.write(payload[start:start + size])
                self.wfile.flush()
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (killed)
            self.close_connection = True


class FileServer(http.server.ThreadingHTTPServer):
    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _GitHubLikeHandler)
        self.root = Path(root)
        self.requests: list[dict] = []
        self.cut_after: dict[str, int] = {}  # url path -> bytes sent before dropping (once)
        self.override: dict[str, bytes] = {}  # url path -> bytes served instead of the file
        self.honour_range = True
        self.throttle: tuple[int, float] | None = None  # (bytes per block, seconds between blocks)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve():
    """``serve(root)`` starts a GitHub-like file server for ``root`` in a thread; stopped after the test."""
    servers = []

    def start(root: Path) -> FileServer:
        server = FileServer(root)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
