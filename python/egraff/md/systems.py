"""Initial structures for simulations: frames of a file (LAMMPS data, extxyz, any ASE format) or of a dataset split.

A system is a named :class:`egraff.data.frames.FrameSource`; a simulation uses one of its frames.
Positions, cell, periodicity and, where the file has them, velocities (Å/ps, LAMMPS metal units)
come from the frame.
"""

from __future__ import annotations

import numpy as np

from egraff.config import ConfigError
from egraff.data.frames import FrameSource
from egraff.files import file_sha256
from egraff.units import velocities_from_ase

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

    def fingerprint(self, frames: list) -> str:
        """sha256 of the file (or of the dataset split's ``frames``), for the simulation's content hash."""
        if self.file is None:
            from egraff.data import frames_fingerprint

            return frames_fingerprint(frames)
        return file_sha256(self.file)

    def cuts(self) -> dict:
        """The settings that choose frames out of the source (part of a simulation's content hash)."""
        return {key: getattr(self, key) for key in CUTS}


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
