"""Data files for ``inputs/``: how each shipped structure was made, reproducibly, and the ones made on demand.

- ``water``: liquid water, 64 molecules (192 atoms) at 0.997 g/cm³, equilibrated for 2 ps at 300 K
  with the SPC/Fw teacher of :func:`egraff.data.generate.water` (LAMMPS, seed 1); its ``start.data``
  (atom types O H, with velocities) is the file.
- ``ethanol``: an MD17-style molecule (C2H6O, ASE's G2 geometry) centred in a 20 Å box, as a LAMMPS
  data file (types C H O) and as extxyz without periodicity (for ``egraff md`` plans).
- ``lips`` / ``gete``: the first frame of the EGraFFBench LiPS validation / GeTe test split
  (types Li P S / Ge Te), rotated into LAMMPS's cell orientation. Not shipped (their licences are
  unclear): ``egraff md write-data lips -o inputs/data/lips.data`` writes them from egraff.data.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

WATER_SEED = 1
MOLECULE_BOX = 20.0  # Å

#: element order (LAMMPS types 1, 2, ...) of each data file; the inputs' pair_coeff lines use the same
TYPE_NAMES = {"water": ("O", "H"), "ethanol": ("C", "H", "O"), "lips": ("Li", "P", "S"), "gete": ("Ge", "Te")}
DATASET_FRAMES = {"lips": ("lips", "val"), "gete": ("gete", "test")}


def water(path: str | Path, n_molecules: int = 64) -> Path:
    from egraff.data import generate

    protocol = generate.Protocol(timestep_fs=0.5, equilibration_steps=4000, n_frames=1, sample_every=1,
                                 trajectory_steps=0, trajectory_every=1, thermostat_damping_steps=200, seed=WATER_SEED)
    with tempfile.TemporaryDirectory() as scratch:
        (run,) = generate.water(scratch, n_molecules=n_molecules, protocol=protocol, progress=False)
        return Path(shutil.copyfile(run / "start.data", path))


def ethanol(path: str | Path) -> Path:
    """``path`` with suffix .data: LAMMPS data file; .xyz/.extxyz: extxyz, non-periodic."""
    from ase.build import molecule

    from egraff.data import write_extxyz
    from egraff.data.teacher import write_lammps_data

    atoms = molecule("CH3CH2OH")
    atoms.set_cell([MOLECULE_BOX] * 3)
    atoms.center()
    path = Path(path)
    if path.suffix == ".data":
        atoms.pbc = True  # the data file needs a box; inputs/molecule_md.in makes it non-periodic
        return write_lammps_data(path, atoms, TYPE_NAMES["ethanol"])
    atoms.pbc = False
    return write_extxyz(path, [atoms])


def dataset_frame(name: str, path: str | Path, frame: int = 0) -> Path:
    """Frame ``frame`` of the dataset split behind ``name`` (lips, gete) as a LAMMPS data file."""
    from ase import Atoms
    from ase.calculators.lammps import Prism

    from egraff import data
    from egraff.data.teacher import write_lammps_data

    dataset, split = DATASET_FRAMES[name]
    atoms = data.load(dataset, split)[frame]
    prism = Prism(atoms.cell.array)
    xhi, yhi, zhi, xy, xz, yz = prism.get_lammps_prism()
    cell = np.array([[xhi, 0, 0], [xy, yhi, 0], [xz, yz, zhi]])
    rotated = Atoms(atoms.get_chemical_symbols(), positions=prism.vector_to_lammps(atoms.positions), cell=cell, pbc=True)
    return write_lammps_data(Path(path), rotated, TYPE_NAMES[name])


BUILDERS = {"water": water, "ethanol": ethanol}
NAMES = (*BUILDERS, *DATASET_FRAMES)


def write_data(name: str, path: str | Path) -> Path:
    if name in DATASET_FRAMES:
        return dataset_frame(name, path)
    if name not in BUILDERS:
        raise ValueError(f"unknown data file {name!r}; choose one of {', '.join(NAMES)}")
    return BUILDERS[name](path)
