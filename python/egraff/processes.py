"""Child processes that die with their parent, who is alive, and how this process keeps its memory.

egraff starts programs that write into a job's directory (``mpirun`` for multi-rank simulations,
``lmp`` for the inputs/ scripts). If egraff is killed (``kill -9``, a batch system's time limit)
they must not go on writing into a directory the next run wipes: :func:`run` starts them with Linux's
``PR_SET_PDEATHSIG`` set to SIGKILL, so the kernel kills them when the thread that started them ends.
``mpirun`` (MPICH's hydra) takes its proxy and ranks down with it. Dask worker processes of a
``LocalCluster`` already exit when their parent does (distributed.process watches a pipe to it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys

PR_SET_PDEATHSIG = 1

# resolved before any fork: the child only makes the call
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True) if sys.platform == "linux" else None


# glibc mallopt parameters (malloc.h) and the values libegraff_runtime.so also sets in LAMMPS
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
# every block up to 2 GiB from the heap, never trimmed: at 10^5 atoms a model call's tensors reach
# hundreds of MiB, and any threshold they cross faults gigabytes back in every step
_KEEP_FREED = ((_M_MMAP_THRESHOLD, 2**31 - 1), (_M_TRIM_THRESHOLD, -1), (_M_TOP_PAD, 64 << 20))


def keep_freed_memory() -> None:
    """Make glibc's malloc keep freed blocks in this process instead of returning them to the kernel.

    Training and model calls allocate and free the same large tensors every step; returned to the
    kernel, they are faulted back in page by page. Dask's nanny makes it worse: it starts workers with
    MALLOC_TRIM_THRESHOLD_=65536, which also fixes the mmap threshold at 128 KiB, and a training epoch
    of the demo's NequIP then takes 1.9x as long (bench/allocator.py). Idempotent; no-op off glibc."""
    if _libc is None or not hasattr(_libc, "mallopt"):
        return
    for parameter, value in _KEEP_FREED:
        _libc.mallopt(parameter, value)


def _die_with(parent: int):
    def preexec():
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    """``subprocess.run(command, **options)`` for a child that the kernel kills if this process dies."""
    if _libc is not None:
        options["preexec_fn"] = _die_with(os.getpid())
    return subprocess.run(command, **options)


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/PID/stat), or None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return int(fields[19])  # field 22 of stat; the rsplit dropped the first two


def owner() -> dict:
    """This process, as :func:`is_alive` can recognise it later (a PID alone may be reused)."""
    return {"pid": os.getpid(), "start_time": start_time(os.getpid()), "host": socket.gethostname()}


def is_alive(process: dict) -> bool | None:
    """Whether the process described by :func:`owner` still runs; None when it ran on another host."""
    if process.get("host") != socket.gethostname():
        return None
    return start_time(int(process["pid"])) == process.get("start_time")
