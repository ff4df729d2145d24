"""Initial structures for simulations: frames of a file (LAMMPS data, extxyz, any ASE format) or of a dataset split.

A system is a named :class:`egraff.data.frames.FrameSource`; a simulation uses one of its frames.
Positions, cell, periodicity and, where the file has them, velocities (Å/ps, LAMMPS metal units)
come from the frame.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from egraff.config import ConfigError
from egraff.data.frames import LAMMPS_DATA_SUFFIXES, FrameSource

#: the cuts of a source, which change what its frame indices point at
CUTS = ("take", "fold", "val_fraction", "fold_seed", "n", "seed")


class StructureError(ValueError):
    """A system that cannot be read, with a sentence saying what to fix."""


class SystemSource(FrameSource):
    """Where a system's frames come from (any frame source: ``file``, ``dataset``, ``teacher``), and its name."""

    name: str
    bond_reference: str | None = None  # molecules: trajectory whose mean bond lengths the watchdog compares to

    @property
    def source(self) -> str:
        return self.file if self.file is not None else self.describe()

    def frames(self) -> list:
        """Every frame as ``ase.Atoms`` (velocities in ``atoms.arrays['lammps_velocities']`` where the file has them)."""
        try:
            frames, _ = self.load()
        except (ConfigError, LookupError, ValueError, OSError) as err:
            raise StructureError(f"system {self.name!r}: {err}") from None
        for atoms in frames:
            _take_velocities(atoms)
        return frames

    def read_file(self, path: Path) -> list:
        if path.is_file() and path.suffix in LAMMPS_DATA_SUFFIXES:
            return [_read_lammps_data(path, self.type_names)]
        return super().read_file(path)

    def fingerprint(self, frames: list) -> str:
        """sha256 of the file (or of the dataset split's ``frames``), for the simulation's content hash."""
        if self.file is None:
            from egraff.data import frames_fingerprint

            return frames_fingerprint(frames)
        return file_sha256(self.file)

    def cuts(self) -> dict:
        """The settings that choose frames out of the source (part of a simulation's content hash)."""
        return {key: getattr(self, key) for key in CUTS}


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_lammps_data(path: Path, type_names) -> "ase.Atoms":
    """A LAMMPS data file (atomic or full style, metal units) with its Velocities section, if any."""
    import ase.io
    from ase.data import atomic_numbers

    unknown = [n for n in type_names if n not in atomic_numbers]
    if unknown:
        raise StructureError(f"{path}: {', '.join(unknown)} are not element names; give one element per atom type")
    text = path.read_text()
    style = "full" if "Atoms # full" in text else "atomic"
    try:
        atoms = ase.io.read(path, format="lammps-data", atom_style=style, units="metal",
                            Z_of_type={t + 1: atomic_numbers[n] for t, n in enumerate(type_names)})
    except Exception as err:
        raise StructureError(f"{path}: not a readable LAMMPS data file ({err})") from None
    if "Velocities" not in text:
        atoms.arrays.pop("momenta", None)  # ASE may fill zeros; "no velocities" must stay distinguishable
    _take_velocities(atoms)
    return atoms


def _take_velocities(atoms) -> None:
    """Move the frame's momenta (if any) to ``arrays['lammps_velocities']`` in Å/ps."""
    from egraff.md.state import ASE_TIME_PER_PS

    if atoms.has("momenta"):
        atoms.arrays["lammps_velocities"] = atoms.get_velocities() * ASE_TIME_PER_PS
        del atoms.arrays["momenta"]


def is_molecule(atoms) -> bool:
    """Non-periodic along every axis; a partly periodic cell is not supported by the engines."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.any() and not pbc.all():
        raise StructureError(f"a structure periodic along some axes only (pbc {pbc.tolist()}) is not supported; "
                           "make it fully periodic or fully non-periodic")
    return not pbc.any()
