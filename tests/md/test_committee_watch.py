"""A simulation watched by a committee (egraff.md, LAMMPS engine): ``model_devi.out`` holds the deviation that
the ASE calculator computes from the same files on the same frames, and a deviation above the limit stops
the run where it passes, whether inside a watchdog chunk or at its last step."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.md import run_simulation, simulation_directory, single_spec

PROTOCOL = dict(protocol="nve", steps=40, timestep_fs=2.0, dump_every=10, check_every=10)


def test_deviation_file_matches_the_ase_committee(lj_file, mp2_file, fcc_system, tmp_path):
    from ase import Atoms

    from egraff.analysis import read_trajectory
    from egraff.deploy.calculator import EGraFFCalculator

    spec = single_spec(lj_file, fcc_system, 60.0, seed=3, committee={"members": [str(mp2_file)], "every": 10},
                       **PROTOCOL)
    record = run_simulation(spec, tmp_path)
    directory = simulation_directory(spec, tmp_path)
    assert record["status"] == "completed" and record["files"]["model_devi"] == "model_devi.out"
    rows = np.loadtxt(directory / "model_devi.out", ndmin=2)
    trajectory = read_trajectory(directory / record["files"]["trajectory"])
    assert list(rows[:, 0]) == list(trajectory.steps) == [0, 10, 20, 30, 40]
    calculator = EGraFFCalculator([str(lj_file), str(mp2_file)])
    for k in range(len(rows)):  # the committee called on five frames in a row
        atoms = Atoms(symbols=list(trajectory.symbols), positions=trajectory.positions[k], cell=trajectory.cells[k],
                      pbc=trajectory.pbc)
        atoms.calc = calculator
        atoms.get_potential_energy()
        for column, key in ((4, "max_force_deviation"), (5, "min_force_deviation"), (6, "avg_force_deviation")):
            # the dump keeps positions to ~1e-6 relative: the deviations agree to that
            assert rows[k, column] == pytest.approx(calculator.results[key], rel=1e-4), (k, key)
    assert rows[:, 4].min() > 1e-3  # two different models: a deviation that proves something


@pytest.mark.parametrize("every, halted_at", [(5, 5), (10, 10)])  # inside a 10-step chunk; at its last step
def test_deviation_above_the_limit_stops_the_run(lj_file, mp2_file, fcc_system, tmp_path, every, halted_at):
    spec = single_spec(lj_file, fcc_system, 60.0, seed=3, committee={"members": [str(mp2_file)], "every": every,
                                                                       "max_force_deviation": 1e-3}, **PROTOCOL)
    record = run_simulation(spec, tmp_path)
    assert record["status"] == "failed" and record["failure_step"] == halted_at
    assert record["failure_reason"].startswith("committee force deviation ") \
        and record["failure_reason"].endswith(" eV/Å > 0.001 eV/Å (the largest over the atoms)")
