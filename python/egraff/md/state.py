"""What both engines share: the initial state of a spec, the thermo CSV and the outcome of a run.

Both engines start from the same positions, masses and velocities (drawn here, in Python, from the
spec's seed), so a LAMMPS run and an ASE run of the same spec differ only by the engine.
Temperatures use 3N − 3 degrees of freedom in both (LAMMPS's `compute temp` default) and LAMMPS's
metal constants (:mod:`egraff.units`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from egraff.md.watchdog import THERMO_COLUMNS
from egraff.units import BOLTZ, FTM2V, kinetic_temperature

PARTIAL = ".partial"  # suffix of files still being written by a running simulation


def initial_state(spec):
    """The spec's frame as ``ase.Atoms`` with standard masses and ``arrays['lammps_velocities']`` (Å/ps) set."""
    atoms = spec.system.frames()[spec.frame]
    masses = atoms.get_masses()
    choice = spec.protocol.initial_velocities
    if choice == "maxwell":
        velocities = maxwell_velocities(masses, spec.temperature, spec.seed)
    elif choice == "file" and "lammps_velocities" in atoms.arrays:
        velocities = atoms.arrays["lammps_velocities"]
    else:  # "zero", or "file" on a frame without velocities (EGraFFBench: runs start cold)
        velocities = np.zeros((len(atoms), 3))
    atoms.arrays["lammps_velocities"] = np.ascontiguousarray(velocities, dtype=np.float64)
    return atoms


def maxwell_velocities(masses: np.ndarray, temperature: float, seed: int) -> np.ndarray:
    """Gaussian velocities (Å/ps) with zero total momentum, scaled to exactly ``temperature`` over 3N − 3 dof."""
    rng = np.random.default_rng(seed)
    masses = np.asarray(masses, dtype=np.float64)[:, None]
    velocities = rng.normal(size=(len(masses), 3)) * np.sqrt(BOLTZ * temperature / masses * FTM2V)
    velocities -= (masses * velocities).sum(axis=0) / masses.sum()
    current = kinetic_temperature(masses[:, 0], velocities)
    return velocities * math.sqrt(temperature / current) if current > 0 else velocities


class ThermoCSV:
    """Thermo rows appended and flushed one by one to ``thermo.csv.partial`` (readable after a crash)."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / f"thermo.csv{PARTIAL}"
        self._handle = open(self.path, "w", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(THERMO_COLUMNS)
        self._handle.flush()

    def write(self, row: dict) -> None:
        self._writer.writerow([repr(float(row[c])) if c != "step" else int(row[c]) for c in THERMO_COLUMNS])
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


@dataclass
class Outcome:
    """What an engine reports back to the runner."""

    n_atoms: int
    steps_completed: int
    failure_reason: str | None = None
    failure_step: int | None = None
    md_wall_time_s: float = 0.0  # time in the MD loop (set-up excluded)
    # the set-up's step-0 force evaluation: the first model call, where loading and warm-up are paid
    first_step_wall_time_s: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)
