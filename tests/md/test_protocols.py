"""Protocol presets: the thermostats hold the plan temperature in both engines; EGraFFBench starts from its
first ten frames; the literature numbers are the ones in the notes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from egraff.config import ConfigError, validate
from egraff.md import (PROTOCOLS, SimulationPlan, SystemSource, run_simulation, simulation_directory,
                       simulation_job, single_spec)

from .conftest import REPO, fcc_argon_krypton, write_extxyz_system


@pytest.mark.parametrize("engine", ["lammps", "ase"])
@pytest.mark.parametrize("protocol, settings", [
    ("fu-water", {"thermostat_steps": 20}),   # Nosé–Hoover (chain in ASE)
    ("egraffbench", {"friction_per_ps": 5.0, "dump_every": 100}),  # Langevin, stronger friction to equilibrate fast
])
def test_thermostat_brings_a_cold_crystal_to_the_plan_temperature(engine, protocol, settings, lj_file, tmp_path):
    system = write_extxyz_system(tmp_path, "fcc", fcc_argon_krypton(cells=2))  # no velocities in the file: starts cold
    spec = single_spec(lj_file, system, 50.0, engine=engine, protocol=protocol, steps=2000, timestep_fs=2.0,
                       check_every=20, initial_velocities="zero", **settings)
    record = run_simulation(spec, tmp_path / "runs")
    assert record["status"] == "completed"
    thermo = np.genfromtxt(simulation_directory(spec, tmp_path / "runs") / "thermo.csv", delimiter=",", names=True)
    assert thermo["temperature_K"][0] == 0.0
    late = thermo["temperature_K"][thermo["step"] >= 1000]
    assert late.mean() == pytest.approx(50.0, rel=0.2)


def test_egraffbench_starts_from_the_first_ten_frames(lj_file, tmp_path):
    from egraff.data import write_extxyz

    frames = [fcc_argon_krypton(cells=2, seed=k) for k in range(12)]
    system = SystemSource(name="frames", file=str(write_extxyz(tmp_path / "frames.extxyz", frames)))
    specs = validate(SimulationPlan, dict(models=[str(lj_file)], systems=[system], temperatures=[520],
                                         protocol="egraffbench")).specs()
    assert [s.frame for s in specs] == list(range(10))
    assert len({simulation_job(s).key for s in specs}) == 10
    p = specs[0].protocol
    assert (p.ensemble, p.timestep_fs, p.steps, p.initial_velocities) == ("langevin", 1.0, 1000, "file")
    assert p.friction_per_ps == pytest.approx(0.4911, rel=1e-3)  # ASE friction 5e-3 per 10.18 fs


def test_fu_protocols_match_the_paper():
    table = {name: (p.ensemble, p.timestep_fs, p.steps * p.timestep_fs / 1000)
             for name, p in PROTOCOLS.items() if name.startswith("fu-")}
    assert table == {"fu-md17": ("nose-hoover", 0.5, 300.0), "fu-water": ("nose-hoover", 1.0, 500.0),
                     "fu-lips": ("nose-hoover", 0.25, 50.0)}  # ensemble, fs, ps


def test_dataset_split_as_a_system(lj_file, tmp_path, monkeypatch):
    mirror = REPO.parent / "shared" / "datasets"
    if not mirror.is_dir() and not os.environ.get("EGRAFF_DATA_MIRROR"):
        pytest.skip("no local dataset mirror")
    monkeypatch.setenv("EGRAFF_DATA_MIRROR", os.environ.get("EGRAFF_DATA_MIRROR", str(mirror)))
    system = SystemSource(name="ethanol", dataset="md17_ethanol:test")
    with pytest.raises(ConfigError, match="knows elements Ar Kr but system 'ethanol' contains C H O"):
        validate(SimulationPlan, dict(models=[str(lj_file)], systems=[system], temperatures=[500],
                                      protocol="egraffbench")).specs()
