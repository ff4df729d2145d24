"""Pinned upstream files: cache, mirror, download with resume, sha256 verification.

Every file is addressed as ``https://github.com/<repo>/raw/<commit>/<path>`` and has a pinned
sha256 and size (``sources.json`` beside this module). :func:`fetch_file` puts it at
``<cache>/<repo>/<path>`` (the same layout as the mirror), from

1. the cache, if the file is there and its sha256 matches;
2. the mirror ``$EGRAFF_DATA_MIRROR`` (a directory laid out like ``../shared/datasets``), if set
   and the file is in it;
3. otherwise the web: ``$EGRAFF_DATA_BASE_URL`` (default ``https://github.com``) + the path above.

Either way the bytes go to ``<file>.part`` first, flushed block by block. An interrupted transfer —
a dropped connection, Ctrl-C, ``kill -9`` — leaves that prefix, and the next call continues after
it (an HTTP Range request; an offset into the mirror copy), losing at most the block in flight. A
lock on the ``.part`` file keeps two processes fetching the same file from interleaving their bytes.
A file is only ever renamed into its final place after its sha256 matched; a mismatch deletes the
partial data and raises :class:`ChecksumError` naming the file and both hashes.

Environment: ``EGRAFF_DATA`` (cache directory; default ``<user cache dir>/egraff/datasets``),
``EGRAFF_DATA_MIRROR``, ``EGRAFF_DATA_BASE_URL``.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from egraff.files import file_sha256, with_default_permissions
from egraff.progress import progress_bar

DEFAULT_BASE_URL = "https://github.com"
CHUNK = 1 << 16


class ChecksumError(RuntimeError):
    """A file whose sha256 differs from the pinned one."""


class DownloadError(RuntimeError):
    """A file that could not be obtained (network, missing in the mirror, incomplete transfer)."""


@dataclass(frozen=True)
class RemoteFile:
    repo: str  # owner/name on GitHub
    commit: str
    path: str  # path inside the repository
    sha256: str
    size: int

    @property
    def relative_path(self) -> Path:
        """Where the file lives under a cache or mirror root."""
        return Path(self.repo) / self.path

    def url(self, base_url: str | None = None) -> str:
        base = (base_url or os.environ.get("EGRAFF_DATA_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        return f"{base}/{self.repo}/raw/{self.commit}/{self.path}"


@lru_cache(maxsize=1)
def _sources() -> dict:
    return json.loads((Path(__file__).with_name("sources.json")).read_text())


def repository_info(repo: str) -> dict:
    """Commit and licence note of a pinned repository."""
    entry = _sources()["repositories"][repo]
    return {"commit": entry["commit"], "licence": entry["licence"]}


def remote_file(repo: str, path: str) -> RemoteFile:
    """The pinned file ``path`` of ``repo`` (an error if it is not pinned in ``sources.json``)."""
    entry = _sources()["repositories"][repo]
    try:
        pinned = entry["files"][path]
    except KeyError:
        raise KeyError(f"{repo}/{path} is not a pinned file in egraff's sources.json") from None
    return RemoteFile(repo, entry["commit"], path, pinned["sha256"], pinned["bytes"])


def cache_dir() -> Path:
    if os.environ.get("EGRAFF_DATA"):
        return Path(os.environ["EGRAFF_DATA"]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("egraff")) / "datasets"


def mirror_dir() -> Path | None:
    value = os.environ.get("EGRAFF_DATA_MIRROR")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DownloadError(f"EGRAFF_DATA_MIRROR={value} is not a directory; unset it or point it to a dataset mirror")
    return path


def _verify_and_install(part: Path, dest: Path, remote: RemoteFile, origin: str) -> Path:
    actual = file_sha256(part)
    if actual != remote.sha256:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{remote.relative_path}: sha256 {actual} from {origin} does not match the pinned "
            f"{remote.sha256}; the file was not kept (fix or remove the source copy)"
        )
    os.replace(with_default_permissions(part), dest)
    return dest


def _append_to_part(dest: Path, remote: RemoteFile, transfer, origin: str) -> Path:
    """Lock ``<dest>.part``, let ``transfer(handle, have)`` append the bytes after the ``have`` already
    there (it may truncate to start over), then verify and install. Holding the lock, a second process
    finds the finished file or continues where the first stopped."""
    part = dest.with_name(dest.name + ".part")
    with open(part, "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if dest.is_file():  # another process finished it while we waited
            return dest
        have = handle.tell()
        if have > remote.size:  # cannot be a prefix of the pinned file
            _start_over(handle)
            have = 0
        try:
            transfer(handle, have)
        finally:
            if handle.tell() == 0:  # nothing to resume from: leave no empty file behind
                part.unlink(missing_ok=True)
        got = handle.tell()
        if got < remote.size:
            raise DownloadError(f"{origin}: transfer ended after {got} of {remote.size} bytes; run again to resume")
        return _verify_and_install(part, dest, remote, origin)


def _start_over(handle) -> None:
    handle.truncate(0)
    handle.seek(0)


def _copy_blocks(source, handle, remote: RemoteFile, have: int, progress: bool, origin: str) -> None:
    """Append ``source``'s blocks to ``handle``, flushing each so that a kill loses at most one block."""
    with progress_bar(remote.size, remote.relative_path.name, enabled=progress, initial=have, unit="bytes") as advance:
        try:
            for block in iter(lambda: source.read(CHUNK), b""):
                handle.write(block)
                handle.flush()
                advance(len(block))
        except (OSError, http.client.HTTPException) as err:
            raise DownloadError(f"{origin}: transfer interrupted after {handle.tell()} of {remote.size} bytes "
                                f"({err}); run again to resume") from err


def _copy_from_mirror(source: Path, dest: Path, remote: RemoteFile, progress: bool) -> Path:
    def transfer(handle, have):
        with open(source, "rb") as src:
            src.seek(have)
            _copy_blocks(src, handle, remote, have, progress, f"mirror file {source}")

    return _append_to_part(dest, remote, transfer, f"mirror file {source}")


def _download(url: str, dest: Path, remote: RemoteFile, progress: bool, timeout: float) -> Path:
    def transfer(handle, have):
        if have == remote.size:  # complete but not yet verified (killed before the rename)
            return
        request = urllib.request.Request(url, headers={"User-Agent": "egraff"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as err:
            raise DownloadError(f"{url}: HTTP {err.code} {err.reason}; check the URL or EGRAFF_DATA_BASE_URL") from err
        except (urllib.error.URLError, OSError) as err:
            raise DownloadError(f"{url}: cannot connect ({err}); "
                                "set EGRAFF_DATA_MIRROR to a local mirror when offline") from err
        with response:
            if have and response.status != 206:  # the server ignored the range: start over
                _start_over(handle)
                have = 0
            _copy_blocks(response, handle, remote, have, progress, url)

    return _append_to_part(dest, remote, transfer, url)


def fetch_file(remote: RemoteFile, *, cache: Path | None = None, mirror: Path | None = None,
               base_url: str | None = None, progress: bool = True, timeout: float = 60.0) -> Path:
    """The verified local copy of ``remote`` in the cache (see the module docstring for the order)."""
    cache = Path(cache) if cache is not None else cache_dir()
    mirror = Path(mirror) if mirror is not None else mirror_dir()
    dest = cache / remote.relative_path
    if dest.is_file():
        actual = file_sha256(dest)
        if actual != remote.sha256:
            raise ChecksumError(
                f"{dest}: cached file has sha256 {actual}, expected {remote.sha256}; delete it and fetch again"
            )
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if mirror is not None and (mirror / remote.relative_path).is_file():
        return _copy_from_mirror(mirror / remote.relative_path, dest, remote, progress)
    try:
        return _download(remote.url(base_url), dest, remote, progress, timeout)
    except DownloadError as err:
        if mirror is None:
            raise
        raise DownloadError(f"{remote.relative_path} is not in the mirror {mirror}, "
                            f"and downloading it failed: {err}") from err
