"""The download path against a local GitHub-like HTTP server: verify, resume, refuse, leave nothing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from egraff import data
from egraff.data.download import ChecksumError, DownloadError, RemoteFile, fetch_file

COMMIT = "0" * 40


def _published(root, content: bytes) -> RemoteFile:
    """A file 'published' under ``root`` in mirror layout, and its pinned description."""
    path = root / "someone" / "dataset" / "sets" / "frames.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return RemoteFile("someone/dataset", COMMIT, "sets/frames.bin", hashlib.sha256(content).hexdigest(), len(content))


def _leftovers(cache):
    return sorted(p.name for p in cache.rglob("*") if p.is_file())


@pytest.fixture
def payload() -> bytes:
    return np.random.default_rng(7).bytes(300_000)


def test_download_verifies_and_installs(tmp_path, serve, payload):
    remote = _published(tmp_path / "web", payload)
    server = serve(tmp_path / "web")
    cache = tmp_path / "cache"
    path = fetch_file(remote, cache=cache, base_url=server.base_url, progress=False)
    assert path == cache / "someone/dataset/sets/frames.bin"
    assert path.read_bytes() == payload
    assert server.requests[0]["path"] == f"/someone/dataset/raw/{COMMIT}/sets/frames.bin"
    assert _leftovers(cache) == ["frames.bin"]
    fetch_file(remote, cache=cache, base_url=server.base_url, progress=False)
    assert len(server.requests) == 1, "a verified cached file must not be downloaded again"


def test_truncated_download_resumes_with_range(tmp_path, serve, payload):
    remote = _published(tmp_path / "web", payload)
    server = serve(tmp_path / "web")
    url_path = f"/someone/dataset/raw/{COMMIT}/sets/frames.bin"
    server.cut_after[url_path] = 123_456
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="run again to resume"):
        fetch_file(remote, cache=cache, base_url=server.base_url, progress=False)
    part = cache / "someone/dataset/sets/frames.bin.part"
    assert part.stat().st_size == 123_456
    assert not (cache / "someone/dataset/sets/frames.bin").exists()

    path = fetch_file(remote, cache=cache, base_url=server.base_url, progress=False)
    assert server.requests[-1]["range"] == "bytes=123456-"
    assert path.read_bytes() == payload
    assert _leftovers(cache) == ["frames.bin"]


def test_server_without_range_support_restarts_cleanly(tmp_path, serve, payload):
    remote = _published(tmp_path / "web", payload)
    server = serve(tmp_path / "web")
    server.honour_range = False
    part = tmp_path / "cache/someone/dataset/sets/frames.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(payload[:1000])
    path = fetch_file(remote, cache=tmp_path / "cache", base_url=server.base_url, progress=False)
    assert path.read_bytes() == payload


def test_checksum_failure_names_file_and_hash_and_keeps_nothing(tmp_path, serve, payload):
    remote = _published(tmp_path / "web", payload)
    server = serve(tmp_path / "web")
    tampered = bytearray(payload)
    tampered[1000] ^= 0xFF
    server.override[f"/someone/dataset/raw/{COMMIT}/sets/frames.bin"] = bytes(tampered)
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError) as err:
        fetch_file(remote, cache=cache, base_url=server.base_url, progress=False)
    message = str(err.value)
    assert "someone/dataset/sets/frames.bin" in message and remote.sha256 in message
    assert _leftovers(cache) == []


def test_missing_file_on_server_is_a_clear_error(tmp_path, serve, payload):
    remote = _published(tmp_path / "web", payload)
    server = serve(tmp_path / "elsewhere")
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_file(remote, cache=tmp_path / "cache", base_url=server.base_url, progress=False)


def test_registry_dataset_downloads_from_served_mirror(tmp_path, serve, mirror, monkeypatch):
    """The real pinned URLs (host swapped for 127.0.0.1), then load with the documented counts."""
    server = serve(mirror)
    monkeypatch.setenv("EGRAFF_DATA_BASE_URL", server.base_url)
    paths = data.fetch("md17_ethanol", cache=tmp_path / "cache", progress=False)
    assert len(paths) == 3
    assert {r["path"].split("/raw/")[1].split("/", 1)[0] for r in server.requests} == \
        {"e4ee1e9022186e27568df690913cfab2b12295b0"}
    sizes = {split: len(data.load("md17_ethanol", split, cache=tmp_path / "cache", progress=False))
             for split in ("train", "val", "test")}
    assert sizes == {"train": 950, "val": 50, "test": 1000}
    assert len(server.requests) == 3, "load must use the verified cache, not download again"


def test_download_killed_with_sigkill_resumes_where_it_stopped(tmp_path, serve):
    """kill -9 in the middle of a slow download: the rerun asks only for the bytes after the ``.part`` prefix
    (every block written before the kill survives, and it is the file's own prefix), verifies the sha256,
    and leaves the final file and nothing else; before the rerun no file carries the final name."""
    payload = np.random.default_rng(8).bytes(1_500_000)
    remote = _published(tmp_path / "web", payload)
    server = serve(tmp_path / "web")
    server.throttle = (32_768, 0.02)  # ~1.6 MB/s: about a second for the whole file
    cache = tmp_path / "cache"
    part = cache / "someone/dataset/sets/frames.bin.part"
    code = ("import sys; from egraff.data.download import RemoteFile, fetch_file; "
            f"fetch_file(RemoteFile(*sys.argv[1:4], sys.argv[4], int(sys.argv[5])), cache=sys.argv[6], "
            "base_url=sys.argv[7], progress=False)")
    child = subprocess.Popen([sys.executable, "-c", code, remote.repo, remote.commit, remote.path, remote.sha256,
                              str(remote.size), str(cache), server.base_url])
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size >= 400_000):
            assert child.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline, "the download never got going"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    kept = part.read_bytes()
    assert 400_000 <= len(kept) < len(payload) and kept == payload[:len(kept)]
    assert _leftovers(cache) == ["frames.bin.part"]

    server.throttle = None
    path = fetch_file(remote, cache=cache, base_url=server.base_url, progress=False)
    assert server.requests[-1]["range"] == f"bytes={len(kept)}-"
    assert path.read_bytes() == payload
    assert _leftovers(cache) == ["frames.bin"]


def test_mirror_copy_continues_an_interrupted_part_and_verifies_it(tmp_path, payload):
    """A copy from the mirror killed midway leaves the same ``.part`` as a download and continues the same way:
    a good prefix is completed (and nothing else is left), a corrupt prefix fails the checksum and is removed."""
    remote = _published(tmp_path / "mirror", payload)
    cache = tmp_path / "cache"
    part = cache / "someone/dataset/sets/frames.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(payload[:100_000])
    path = fetch_file(remote, cache=cache, mirror=tmp_path / "mirror", progress=False)
    assert path.read_bytes() == payload and _leftovers(cache) == ["frames.bin"]
    path.unlink()
    part.write_bytes(b"\0" * 100_000)  # a prefix that is not the file's: only the checksum can tell
    with pytest.raises(ChecksumError, match="does not match the pinned"):
        fetch_file(remote, cache=cache, mirror=tmp_path / "mirror", progress=False)
    assert _leftovers(cache) == []
    assert fetch_file(remote, cache=cache, mirror=tmp_path / "mirror", progress=False).read_bytes() == payload
