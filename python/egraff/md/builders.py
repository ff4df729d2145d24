"""Data files for ``inputs/``: how each shipped structure was made, reproducibly, and the ones made on demand.

- ``water``: liquid water, 64 molecules (192 atoms) at 0.997 g/cm³, equilibrated for 2 ps at 300 K
  with the SPC/Fw teacher of :func:`egraff.data.generate.water` (LAMMPS, seed 1); its ``start.data``
  (atom types O H, with velocities) is the file, with a title line that says how it was made. The
  run is chaotic, so a rebuild on another CPU (another libm code path) gives another, equally valid,
  liquid: the test compares the deterministic parts exactly and the structure statistically.
- ``ethanol``: an MD17-style molecule (C2H6O, ASE's G2 geometry) centred in a 20 Å box, as a LAMMPS
  data file (types C H O) and as extxyz without periodicity (for ``egraff md`` plans).
- ``lips`` / ``gete``: the first frame of the EGraFFBench LiPS validation / GeTe test split
  (types Li P S / Ge Te), rotated into LAMMPS's cell orientation. Not shipped (their licences are
  unclear): ``egraff md write-data lips -o inputs/data/lips.data`` writes them from egraff.data.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

WATER_SEED = 1
MOLECULE_BOX = 20.0  # Å

#: element order (LAMMPS types 1, 2, ...) of each data file; the inputs' pair_coeff lines use the same
TYPE_NAMES = {"water": ("O", "H"), "ethanol": ("C", "H", "O"), "lips": ("Li", "P", "S"), "gete": ("Ge", "Te")}
DATASET_FRAMES = {"lips": ("lips", "val"), "gete": ("gete", "test")}


def water(path: str | Path, n_molecules: int = 64) -> Path:
    """The water box; its title line records how it was made (the test rebuilds it from that)."""
    from egraff.data import generate
    from egraff.files import atomic_write_text

    protocol = generate.Protocol(timestep_fs=0.5, equilibration_steps=4000, n_frames=1, sample_every=1,
                                 trajectory_steps=0, trajectory_every=1, thermostat_damping_steps=200, seed=WATER_SEED)
    with tempfile.TemporaryDirectory() as scratch:
        (run,) = generate.water(scratch, n_molecules=n_molecules, protocol=protocol, progress=False)
        text = (run / "start.data").read_text()
    return atomic_write_text(path, water_title(n_molecules) + text[text.index("\n"):])


def water_title(n_molecules: int) -> str:
    return (f"LAMMPS data file written by egraff md write-data water: {n_molecules} SPC/Fw molecules (PPPM) at "
            f"0.997 g/cm3, minimised, 4000 steps of 0.5 fs Nose-Hoover NVT at 300 K, seed {WATER_SEED}")


def ethanol(path: str | Path) -> Path:
    """``path`` with suffix .data: LAMMPS data file; .xyz/.extxyz: extxyz, non-periodic."""
    from ase.build import molecule

    from egraff.data import write_extxyz
    from egraff.lammps_adaptor import write_lammps_data

    atoms = molecule("CH3CH2OH")
    atoms.set_cell([MOLECULE_BOX] * 3)
    atoms.center()
    atoms.pbc = False  # inputs/molecule_md.in runs the data file's box shrink-wrapped
    path = Path(path)
    if path.suffix == ".data":
        return write_lammps_data(path, atoms, TYPE_NAMES["ethanol"])
    return write_extxyz(path, [atoms])


def dataset_frame(name: str, path: str | Path, frame: int = 0) -> Path:
    """Frame ``frame`` of the dataset split behind ``name`` (lips, gete) as a LAMMPS data file (turned into
    LAMMPS's cell orientation by the writer)."""
    from egraff import data
    from egraff.lammps_adaptor import write_lammps_data

    dataset, split = DATASET_FRAMES[name]
    return write_lammps_data(Path(path), data.load(dataset, split)[frame], TYPE_NAMES[name])


BUILDERS = {"water": water, "ethanol": ethanol}
NAMES = (*BUILDERS, *DATASET_FRAMES)


def write_data(name: str, path: str | Path) -> Path:
    if name in DATASET_FRAMES:
        return dataset_frame(name, path)
    if name not in BUILDERS:
        raise ValueError(f"unknown data file {name!r}; choose one of {', '.join(NAMES)}")
    return BUILDERS[name](path)
