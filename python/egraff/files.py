"""Files appear complete or not at all, and are known by their content: egraff's atomic writes and file hash,
and :class:`DataFormatError`, the one error for a data file (or structure) that cannot be read as frames.

A writer fills a temporary file in the target's folder, which then replaces the target in one
``os.replace``; on any failure the temporary file is removed and the old target stays untouched.
The finished file gets the mode a plain ``open`` would give (``mkstemp`` makes it private, 0600).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


class DataFormatError(ValueError):
    """A data file that cannot be turned into labelled frames; the message says what to fix. Raised by the
    readers of egraff.data and egraff.lammps_adaptor (which sit on different floors, hence its place here)."""


def with_default_permissions(path: Path) -> Path:
    """Give a ``mkstemp``/``mkdtemp`` result (private, 0600/0700) the mode a plain create would have."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~umask)
    return Path(path)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write; when the block ends without error it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        os.replace(with_default_permissions(temporary), path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary stream to write; when the block ends without error the file replaces ``path``."""
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        yield stream


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (files of any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
