"""Pinned upstream files: cache, mirror, download with resume, sha256 verification.

Every file is addressed as ``https://github.com/<repo>/raw/<commit>/<path>`` and has a pinned
sha256 and size (``sources.json`` beside this module). :func:`fetch_file` puts it at
``<cache>/<repo>/<path>`` (the same layout as the mirror), from

1. the cache, if the file is there and its sha256 matches;
2. the mirror ``$EGRAFF_DATA_MIRROR`` (a directory laid out like ``../shared/datasets``), if set
   and the file is in it;
3. otherwise the web: ``$EGRAFF_DATA_BASE_URL`` (default ``https://github.com``) + the path above.
   An interrupted download leaves ``<file>.part``; the next call resumes it with an HTTP Range
   request.

A file is only ever renamed into its final place after its sha256 matched; a mismatch deletes the
partial data and raises :class:`ChecksumError` naming the file and both hashes.

Environment: ``EGRAFF_DATA`` (cache directory; default ``<user cache dir>/egraff/datasets``),
``EGRAFF_DATA_MIRROR``, ``EGRAFF_DATA_BASE_URL``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from egraff.files import with_default_permissions

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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(total: int, initial: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=label, disable=not enabled, leave=False)


def _verify_and_install(tmp: Path, dest: Path, remote: RemoteFile, origin: str) -> Path:
    actual = sha256_of(tmp)
    if actual != remote.sha256:
        tmp.unlink(missing_ok=True)
        raise ChecksumError(
            f"{remote.relative_path}: sha256 {actual} from {origin} does not match the pinned "
            f"{remote.sha256}; the file was not kept (fix or remove the source copy)"
        )
    os.replace(tmp, dest)
    return dest


def _copy_from_mirror(source: Path, dest: Path, remote: RemoteFile, progress: bool) -> Path:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src, \
                _progress(source.stat().st_size, 0, dest.name, progress) as bar:
            for block in iter(lambda: src.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))
        return _verify_and_install(with_default_permissions(Path(tmp)), dest, remote, f"mirror file {source}")
    finally:
        Path(tmp).unlink(missing_ok=True)


def _download(url: str, dest: Path, remote: RemoteFile, progress: bool, timeout: float) -> Path:
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > remote.size:  # cannot be a prefix of the pinned file
        part.unlink()
        have = 0
    request = urllib.request.Request(url, headers={"User-Agent": "egraff"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have == remote.size:  # the partial file is already complete
            return _verify_and_install(part, dest, remote, url)
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}; check the URL or EGRAFF_DATA_BASE_URL") from err
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{url}: cannot connect ({err}); "
                            "set EGRAFF_DATA_MIRROR to a local mirror when offline") from err
    with response:
        resumed = have and response.status == 206
        if not resumed:
            have = 0  # server ignored the range: start over
        with open(part, "ab" if resumed else "wb") as out, _progress(remote.size, have, dest.name, progress) as bar:
            try:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as err:
                raise DownloadError(f"{url}: transfer interrupted after {out.tell()} of {remote.size} bytes "
                                    f"({err}); run again to resume") from err
    got = part.stat().st_size
    if got < remote.size:
        raise DownloadError(f"{url}: transfer ended after {got} of {remote.size} bytes; run again to resume")
    return _verify_and_install(part, dest, remote, url)


def fetch_file(remote: RemoteFile, *, cache: Path | None = None, mirror: Path | None = None,
               base_url: str | None = None, progress: bool = True, timeout: float = 60.0) -> Path:
    """The verified local copy of ``remote`` in the cache (see the module docstring for the order)."""
    cache = Path(cache) if cache is not None else cache_dir()
    mirror = Path(mirror) if mirror is not None else mirror_dir()
    dest = cache / remote.relative_path
    if dest.is_file():
        actual = sha256_of(dest)
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
