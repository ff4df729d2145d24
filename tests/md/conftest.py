"""Models and structures for the egraff.md tests: small, made here, nothing downloaded."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_model

REPO = Path(__file__).resolve().parents[2]
INPUTS = REPO / "inputs"

#: a message-passing toy with an O–H well at 1.01 Å and H–H at 1.57 Å: water-like enough to stay
#: liquid for the input tests (two layers, so 2 MPI ranks use the ghostmp mode)
WATER_TOY = dict(r_max=4.0, sigma=[[2.8, 0.9], [0.9, 1.4]], epsilon=[[0.007, 0.5], [0.5, 0.05]])


def fcc_argon_krypton(cells: int = 3, seed: int = 1):
    """4·cells³ atoms of jittered fcc Ar/Kr (a = 5.4 Å, every third atom Kr), periodic."""
    from ase.build import bulk

    atoms = bulk("Ar", "fcc", a=5.4, cubic=True).repeat(cells)
    atoms.symbols[::3] = "Kr"
    atoms.rattle(0.05, seed=seed)
    return atoms


def write_extxyz_system(directory: Path, name: str, atoms):
    from egraff.data import write_extxyz
    from egraff.md import SystemSource

    return SystemSource(name=name, file=str(write_extxyz(Path(directory) / f"{name}.extxyz", [atoms])))


def egraff_command(*args: str) -> list[str]:
    """The egraff CLI of this source tree, as a subprocess command line."""
    return [sys.executable, "-c", "from egraff.cli import app; app()", *args]


@pytest.fixture(scope="session")
def water_toy_file(model_dir) -> Path:
    from egraff.models.reference import message_passing_toy

    return write_model(model_dir, "water_toy.pt", message_passing_toy, ["O", "H"], **WATER_TOY)


@pytest.fixture(scope="session")
def tiny_file(model_dir):
    """Deployed tiny models of the model zoo (seeded; weights perturbed and energy scaled so that forces are
    ~0.1–1 eV/Å, like a trained model's), built on first use: tiny_file(architecture, elements)."""
    import torch

    from egraff.deploy import deploy
    from egraff.models import build

    cache = {}

    def make(architecture: str, elements: tuple[str, ...]) -> Path:
        key = (architecture, elements)
        if key not in cache:
            torch.manual_seed(7)
            model = build(architecture, elements, 4.0, preset="tiny", model_dtype="float64")
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(0.1 * torch.randn_like(parameter))
            model.set_energy_scale_shift(scale=1.0, shifts={e: -1.0 for e in elements})
            cache[key] = deploy(model.eval(), model_dir / f"tiny-{architecture}-{'-'.join(elements)}.pt")
        return cache[key]

    return make


@pytest.fixture
def fcc_system(tmp_path):
    return write_extxyz_system(tmp_path, "fcc", fcc_argon_krypton())


def positions_velocities(trajectory_path: Path):
    """[F, N, 3] unwrapped positions and velocities (Å/ps) of a LAMMPS dump or an egraff extxyz trajectory."""
    if trajectory_path.suffix == ".lammpstrj":
        from egraff.analysis import read_trajectory

        positions = read_trajectory(trajectory_path).positions
        frames = _dump_columns(trajectory_path, ("vx", "vy", "vz"))
        return positions, frames
    import ase.io

    from egraff.units import velocities_from_ase

    frames = ase.io.read(trajectory_path, index=":")
    return (np.array([a.positions for a in frames]),
            np.array([velocities_from_ase(a.get_velocities()) for a in frames]))


def _dump_columns(path: Path, names) -> np.ndarray:
    lines = path.read_text().splitlines()
    frames, i = [], 0
    while i < len(lines):
        n = int(lines[i + 3])
        columns = lines[i + 8].split()[2:]
        table = np.array([[float(v) if k != columns.index("element") else 0.0 for k, v in enumerate(row.split())]
                          for row in lines[i + 9:i + 9 + n]])
        table = table[np.argsort(table[:, columns.index("id")])]
        frames.append(table[:, [columns.index(c) for c in names]])
        i += 9 + n
    return np.array(frames)
