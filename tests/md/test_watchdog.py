"""The stability watchdog stops bad simulations, records why and when, and leaves a readable trajectory."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.md import run_simulation, simulation_directory, single_spec

from conftest import write_model
from .conftest import INPUTS, fcc_argon_krypton, write_extxyz_system

ENGINES = ["lammps", "ase"]


def finished(spec, root):
    record = run_simulation(spec, root)
    directory = simulation_directory(spec, root)
    thermo = np.genfromtxt(directory / "thermo.csv", delimiter=",", names=True)
    assert not list(directory.glob("*.partial")), "a finished simulation keeps no .partial files"
    return record, directory, thermo


@pytest.fixture(scope="module")
def scaled_up_lj(tmp_path_factory):
    """The Ar/Kr Lennard-Jones model with its energy scaled up 300 times: far too stiff for its crystal at 60 K."""
    from egraff.models.reference import ARGON_KRYPTON, lennard_jones

    scaled = dict(ARGON_KRYPTON, epsilon=300 * np.array(ARGON_KRYPTON["epsilon"]))
    return write_model(tmp_path_factory.mktemp("bad"), "lj_x300.pt", lennard_jones, ["Ar", "Kr"], **scaled)


@pytest.mark.parametrize("engine", ENGINES)
def test_scaled_up_energy_stops_on_temperature_and_keeps_the_partial_trajectory(engine, scaled_up_lj, tmp_path):
    from egraff.analysis import read_trajectory

    system = write_extxyz_system(tmp_path, "fcc", fcc_argon_krypton(cells=2))
    spec = single_spec(scaled_up_lj, system, 60.0, engine=engine, protocol="nve", steps=2000, timestep_fs=2.0,
                       dump_every=10, check_every=10)
    record, directory, thermo = finished(spec, tmp_path / "runs")

    assert record["status"] == "failed"
    assert record["failure_reason"].startswith("temperature exploded")
    step = record["failure_step"]
    assert 0 < step < 2000 and step % 10 == 0
    assert record["steps_completed"] == step
    assert record["time_to_failure_ps"] == pytest.approx(step * 0.002)
    # the thermo log ends at the failing check, whose temperature is over the limit (5 × 60 K); the one before is not
    assert thermo["step"][-1] == step and thermo["temperature_K"][-1] > 300 >= thermo["temperature_K"][-2]
    trajectory = read_trajectory(directory / record["files"]["trajectory"], timestep=0.002)
    assert list(trajectory.steps) == list(range(0, step + 1, 10))
    assert np.isfinite(trajectory.positions).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_untrained_model_breaks_bonds_of_a_molecule(engine, tiny_file, tmp_path):
    """Fu et al.'s criterion, with the temperature and energy limits out of the way: the run stops at the first
    check where a bond is 0.5 Å off its initial length — the analysis module, run on the saved trajectory
    afterwards, agrees on the frame."""
    from egraff.analysis import bond_stability, read_trajectory
    from egraff.md import SystemSource

    model = tiny_file("nequip", ("C", "H", "O"))
    system = SystemSource(name="ethanol", file=str(INPUTS / "data" / "ethanol.xyz"))
    spec = single_spec(model, system, 500.0, engine=engine, protocol="fu-md17", steps=4000, dump_every=10,
                       check_every=10, watchdog={"max_temperature_factor": 1e6, "max_energy_rise_per_atom": 1e6})
    record, directory, _ = finished(spec, tmp_path / "runs")

    assert record["status"] == "failed", "the untrained model kept ethanol intact for 2 ps"
    assert record["failure_reason"].startswith("bond-length criterion")
    trajectory = read_trajectory(directory / record["files"]["trajectory"], timestep=0.0005)
    assert trajectory.steps[-1] == record["failure_step"]
    if engine == "lammps":  # LAMMPS dumps carry no periodicity: the molecule's box is only shrink-wrapped
        trajectory.pbc[:] = False
    stability = bond_stability(trajectory, trajectory[[0]])
    assert stability.failure_frame == trajectory.n_frames - 1
    assert stability.error[-1] > 0.5 >= stability.error[:-1].max()


@pytest.mark.parametrize("engine", ENGINES)
def test_non_finite_energy_stops_the_run_at_once(engine, lj_file, tmp_path):
    atoms = fcc_argon_krypton(cells=2)
    atoms.positions[1] = atoms.positions[0]  # two atoms on one site: infinite Lennard-Jones energy
    system = write_extxyz_system(tmp_path, "overlap", atoms)
    spec = single_spec(lj_file, system, 60.0, engine=engine, protocol="nve", steps=100, check_every=10, dump_every=10)
    record, directory, _ = finished(spec, tmp_path / "runs")
    assert record["status"] == "failed" and record["failure_step"] == 0
    assert "non-finite" in record["failure_reason"]
    assert (directory / "record.json").is_file()


def test_atoms_lost_from_the_box_stop_the_run(water_toy_file, tmp_path):
    """At 5000 K the toy's hydrogens jump across the periodic box within one step; LAMMPS (`thermo_modify lost
    warn`) drops them and the watchdog stops the run at the next check — long before the temperature limit."""
    from egraff.md import SystemSource

    system = SystemSource(name="water", file=str(INPUTS / "data" / "water_64.data"), type_names=["O", "H"])
    spec = single_spec(water_toy_file, system, 5000.0, protocol="fu-water", steps=400, seed=0)
    record, _, thermo = finished(spec, tmp_path / "runs")
    assert record["status"] == "failed" and record["failure_reason"].startswith("atoms lost:")
    assert thermo["atoms"][-1] < 192 and (thermo["atoms"][:-1] == 192).all()
    assert thermo["temperature_K"].max() < 5 * 5000
