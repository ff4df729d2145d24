"""One writer per job directory, also across processes, hosts sharing a file system, and reruns.

While a job runs, ``<root>/<kind>/<key>.lock`` (beside its directory, which a rerun may wipe) is held
with ``flock`` and names its owner (PID, start time, host). The kernel releases the lock when the
owner dies, however it dies, so a rerun after ``kill -9`` takes it and redoes the job; a rerun that
finds the owner alive (another ``egraff`` still running the same job, e.g. on a cluster) is refused
with a sentence naming the owner, instead of wiping a directory someone is writing.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from egraff.processes import is_alive, owner

#: after its owner died, how long a lock may stay held by the owner's children on their way out
ORPHAN_GRACE_S = 30.0


class JobBusy(RuntimeError):
    """Another process is running the job."""


def _holder(fd: int) -> dict | None:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "null")
    except ValueError:
        return None


@contextmanager
def job_lock(path: str | Path, what: str) -> Iterator[None]:
    """Hold the lock file ``path`` for the block; ``what`` names the job in the refusal."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + ORPHAN_GRACE_S
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            alive = is_alive(holder) if holder else True
            if alive is False and time.monotonic() < deadline:
                time.sleep(0.2)  # its owner is gone: the kernel is taking down what it started
                continue
            raise JobBusy(_busy(what, path, holder, alive)) from None
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)  # a finishing owner removed the file after we opened it: lock the new one
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({**owner(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode(), 0)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # before the release, so that a waiter sees the path gone
        os.close(fd)


def _busy(what: str, path: Path, holder: dict | None, alive: bool | None) -> str:
    if holder is None:
        return f"{what} is being run by another process (it holds {path}); wait for it to finish, then run again"
    who = f"process {holder['pid']} on {holder['host']} (since {holder.get('since', '?')})"
    if alive is False:
        return (f"{what} is still locked although its owner, {who}, has exited: a process it started holds "
                f"{path}; stop it (`fuser {path}` names it), then run again")
    return f"{what} is being run by {who}; wait for it to finish or stop it, then run again"
