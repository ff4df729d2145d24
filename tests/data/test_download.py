"""The download path against a local GitHub-like HTTP server: verify, resume, refuse, leave nothing."""

from __future__ import annotations

import hashlib

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
