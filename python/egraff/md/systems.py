"""Initial structures for simulations: frames of a file (LAMMPS data, extxyz, any ASE format) or of a dataset split.

A system names where its frames come from; a simulation uses one frame. Positions, cell, periodicity
and, where the file has them, velocities (Å/ps, LAMMPS metal units) come from the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egraff.files import file_sha256
from egraff.units import velocities_from_ase

LAMMPS_DATA_SUFFIXES = (".data", ".lmp", ".lammps")


class StructureError(ValueError):
    """A system that cannot be read, with a sentence saying what to fix."""


@dataclass(frozen=True)
class SystemSource:
    """Where a system's frames come from: ``path`` (a file) or ``dataset`` ("name:split", egraff.data)."""

    name: str
    path: str | None = None
    dataset: str | None = None
    type_names: tuple[str, ...] | None = None  # LAMMPS data files: the element of type 1, 2, ...
    bond_reference: str | None = None  # molecules: trajectory whose mean bond lengths the watchdog compares to

    def __post_init__(self):
        if (self.path is None) == (self.dataset is None):
            raise StructureError(f"system {self.name!r}: give exactly one of `path` (a structure file) or "
                                 "`dataset` (\"name:split\", e.g. \"3bpa:test\")")
        if self.type_names is not None:
            object.__setattr__(self, "type_names", tuple(self.type_names))
        if self.path is not None and Path(self.path).suffix in LAMMPS_DATA_SUFFIXES and not self.type_names:
            raise StructureError(f"system {self.name!r}: {self.path} is a LAMMPS data file; give `type_names` "
                                 "(the element of each atom type, in type order, e.g. [\"O\", \"H\"])")

    @property
    def source(self) -> str:
        return self.path if self.path is not None else f"dataset:{self.dataset}"

    def frames(self) -> list:
        """Every frame as ``ase.Atoms`` (velocities in ``atoms.arrays['lammps_velocities']`` where the file has them)."""
        if self.dataset is not None:
            return _dataset_frames(self.name, self.dataset)
        path = Path(self.path)
        if not path.is_file():
            raise StructureError(f"system {self.name!r}: structure file {path} does not exist")
        if path.suffix in LAMMPS_DATA_SUFFIXES:
            return [_read_lammps_data(path, self.type_names)]
        import ase.io

        try:
            frames = ase.io.read(path, index=":")
        except Exception as err:
            raise StructureError(f"system {self.name!r}: {path} is not a structure file ASE can read ({err})") from None
        for atoms in frames:
            _take_velocities(atoms)
        return frames

    def fingerprint(self, frames: list) -> str:
        """sha256 of the file (or of the dataset split's ``frames``), for the simulation's content hash."""
        if self.dataset is not None:
            from egraff.data import frames_fingerprint

            return frames_fingerprint(frames)
        return file_sha256(self.path)


def _dataset_frames(name: str, reference: str) -> list:
    from egraff import data

    dataset, _, split = reference.partition(":")
    if not split:
        raise StructureError(f"system {name!r}: dataset {reference!r} needs a split, e.g. \"{dataset}:test\"")
    try:
        return list(data.load(dataset, split))
    except Exception as err:
        raise StructureError(f"system {name!r}: dataset {reference} is not available ({err})") from None


def _read_lammps_data(path: Path, type_names) -> "ase.Atoms":
    """A LAMMPS data file (atomic or full style, metal units) with its Velocities section, if any."""
    from egraff.lammps_adaptor import read_lammps_data

    try:
        atoms = read_lammps_data(path, type_names)
    except ValueError as err:
        raise StructureError(str(err)) from None
    _take_velocities(atoms)
    return atoms


def _take_velocities(atoms) -> None:
    """Move the frame's momenta (if any) to ``arrays['lammps_velocities']`` in Å/ps."""
    if atoms.has("momenta"):
        atoms.arrays["lammps_velocities"] = velocities_from_ase(atoms.get_velocities())
        del atoms.arrays["momenta"]


def is_molecule(atoms) -> bool:
    """Non-periodic along every axis; a partly periodic cell is not supported by the engines."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.any() and not pbc.all():
        raise StructureError(f"a structure periodic along some axes only (pbc {pbc.tolist()}) is not supported; "
                           "make it fully periodic or fully non-periodic")
    return not pbc.any()
