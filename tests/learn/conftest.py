"""Data for the egraff.learn tests: a 16-atom silicon cell labelled by the Stillinger–Weber teacher, made here."""

from __future__ import annotations

from pathlib import Path

import pytest

SILICON_LEARN = """\
data:
  train: {file: si.extxyz, fold: train, val_fraction: 0.25}
  val: {file: si.extxyz, fold: val, val_fraction: 0.25}
training:
  model: {architecture: nequip, preset: tiny, r_max: 4.0}
  train: {max_epochs: 2, batch_size: 4, early_stopping_patience: null}
committee: {size: 2}
explore:
  systems: [{name: si, file: start.extxyz}]
  temperatures: [600]
  protocol: nve
  overrides: {steps: 40, dump_every: 10, check_every: 10}
trust: {lo: 0.1, hi: 0.4}
select: {max_frames: 2}
convergence: {max_iterations: 2}
reference: {teacher: silicon-sw}
"""


def rattled_silicon(count: int, seed: int = 0) -> list:
    """``count`` 16-atom diamond silicon cells, each rattled a little more than the one before."""
    from ase.build import bulk

    base = bulk("Si", "diamond", a=5.43, cubic=True).repeat((2, 1, 1))
    frames = []
    for k in range(count):
        atoms = base.copy()
        atoms.rattle(0.02 + 0.01 * k, seed=seed + k)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="session")
def silicon_dir(tmp_path_factory) -> Path:
    """si.extxyz (12 labelled frames), start.extxyz (its first) and learn.yaml (SILICON_LEARN)."""
    from egraff.data import write_extxyz
    from egraff.data.teacher import TEACHERS

    directory = tmp_path_factory.mktemp("silicon")
    frames = TEACHERS["silicon-sw"]().label(rattled_silicon(12))
    write_extxyz(directory / "si.extxyz", frames)
    write_extxyz(directory / "start.extxyz", frames[:1])
    (directory / "learn.yaml").write_text(SILICON_LEARN)
    return directory
