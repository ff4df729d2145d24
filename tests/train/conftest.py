"""Small labelled data for training tests: rattled CuAu crystals labelled by ASE's EMT potential."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def emt_frames(n_frames: int, seed: int = 0, rattle: float = 0.08):
    import ase.build
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
        atoms.symbols[rng.choice(len(atoms), 6, replace=False)] = "Au"
        atoms.set_cell(atoms.cell.array * (1 + rng.uniform(-0.02, 0.02, (3, 3))), scale_atoms=True)
        atoms.positions += rng.normal(0, rattle, atoms.positions.shape)
        atoms.calc = EMT()
        labels = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces(), stress=atoms.get_stress())
        atoms.calc = SinglePointCalculator(atoms, **labels)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="session")
def emt_file(tmp_path_factory) -> Path:
    import ase.io

    path = tmp_path_factory.mktemp("emt") / "cuau.extxyz"
    ase.io.write(path, emt_frames(40), format="extxyz")
    return path


def base_overrides(data: Path, out: Path, **extra) -> list[str]:
    values = {"data.train": str(data), "output.dir": str(out), "model.r_max": 4.0, "train.max_epochs": 3,
              "train.progress": False, "train.batch_size": 4, **extra}
    return [f"{k}={v}" for k, v in values.items()]


def metrics(run_dir: Path) -> list[dict]:
    import csv

    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))
