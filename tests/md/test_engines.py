"""LAMMPS and ASE run the same simulation from the same deployed file: same start, same integrator
(velocity Verlet), 200 steps — the trajectories agree to 1e-8 Å; and several MPI ranks give the
trajectory of one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from egraff.md import run_simulation, simulation_directory, simulation_job, single_spec

from .conftest import fcc_argon_krypton, positions_velocities, write_extxyz_system

NVE = dict(protocol="nve", steps=200, timestep_fs=2.0, dump_every=50, check_every=50)


def run_both_engines(model, system, root: Path, **protocol):
    runs = {}
    for engine in ("lammps", "ase"):
        spec = single_spec(model, system, 60.0, engine=engine, seed=3, **protocol)
        record = run_simulation(spec, root)
        assert record["status"] == "completed", record["failure_reason"]
        assert record["steps_completed"] == protocol["steps"]
        runs[engine] = positions_velocities(simulation_directory(spec, root) / record["files"]["trajectory"])
    return runs


@pytest.mark.parametrize("model", ["lj", "nequip", "mace"])
def test_lammps_and_ase_nve_trajectories_agree(model, lj_file, tiny_file, tmp_path):
    if model == "lj":
        model_file, atoms = lj_file, fcc_argon_krypton(cells=3)  # 108 atoms
    else:
        model_file, atoms = tiny_file(model, ("Ar", "Kr")), fcc_argon_krypton(cells=2)  # 32 atoms
    system = write_extxyz_system(tmp_path, "fcc", atoms)
    runs = run_both_engines(model_file, system, tmp_path / "runs", **NVE)
    (x_lmp, v_lmp), (x_ase, v_ase) = runs["lammps"], runs["ase"]
    assert x_lmp.shape == x_ase.shape == (5, len(atoms), 3)  # steps 0, 50, ..., 200
    moved = np.abs(x_lmp[-1] - x_lmp[0]).max()
    assert moved > 0.05, f"atoms moved only {moved} Å: the comparison would prove nothing"
    assert np.abs(x_lmp - x_ase).max() <= 1e-8
    assert np.abs(v_lmp - v_ase).max() <= 1e-6  # Å/ps; velocities ~ 1-10 Å/ps


def test_thermo_csv_columns_agree_between_engines(lj_file, fcc_system, tmp_path):
    root = tmp_path / "runs"
    run_both_engines(lj_file, fcc_system, root, **NVE)
    tables = []
    for engine in ("lammps", "ase"):
        spec = single_spec(lj_file, fcc_system, 60.0, engine=engine, seed=3, **NVE)
        tables.append(np.genfromtxt(simulation_directory(spec, root) / "thermo.csv", delimiter=",", names=True))
    lammps, ase = tables
    assert list(lammps["step"]) == [0, 50, 100, 150, 200]
    assert lammps["temperature_K"][0] == pytest.approx(60.0, rel=1e-12)
    for column in ("temperature_K", "potential_energy_eV", "kinetic_energy_eV", "total_energy_eV", "pressure_bar"):
        assert np.allclose(lammps[column], ase[column], rtol=1e-7, atol=1e-9), column
    # NVE: total energy conserved to far better than the kinetic energy's swings
    assert np.ptp(lammps["total_energy_eV"]) < 0.1 * np.ptp(lammps["kinetic_energy_eV"])


@pytest.mark.mpi
def test_two_mpi_ranks_give_the_single_rank_trajectory(lj_file, fcc_system, tmp_path):
    specs = {ranks: single_spec(lj_file, fcc_system, 60.0, ranks=ranks, seed=3, **NVE) for ranks in (1, 2)}
    assert simulation_job(specs[1]).key == simulation_job(specs[2]).key  # ranks are a resource, not physics
    trajectories = {}
    for ranks, spec in specs.items():
        root = tmp_path / f"ranks{ranks}"
        record = run_simulation(spec, root)
        assert record["status"] == "completed" and record["ranks"] == ranks
        trajectories[ranks] = positions_velocities(simulation_directory(spec, root) / "trajectory.lammpstrj")[0]
        assert not (simulation_directory(spec, root) / "outcome.json").exists()
    log = (simulation_directory(specs[2], tmp_path / "ranks2") / "log.lammps").read_text()
    assert "2 by 1 by 1 MPI processor grid" in log or "1 by 2 by 1" in log or "1 by 1 by 2" in log
    assert np.abs(trajectories[1] - trajectories[2]).max() <= 1e-9


def test_spec_round_trips_through_json(lj_file, fcc_system, tmp_path):
    from egraff.md import SimulationSpec

    spec = single_spec(lj_file, fcc_system, 60.0, **NVE)
    again = SimulationSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and simulation_job(again).key == simulation_job(spec).key
