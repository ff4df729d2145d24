"""Plans: a Dask pool runs them, finished simulations are skipped, a killed plan resumes without losing or
duplicating anything, and the records say what happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from egraff.md import Plan, read_record, run_plan, simulation_directory

from .conftest import REPO, egraff_command, fcc_argon_krypton, write_extxyz_system

QUICK = {"steps": 300, "timestep_fs": 2.0, "dump_every": 50, "check_every": 50}


def plan_toml(path: Path, model: Path, system: Path, temperatures, overrides: dict, engine: str = "lammps") -> Path:
    settings = ", ".join(f"{k} = {v}" for k, v in overrides.items())
    path.write_text(f"""protocol = "nve"
engine = "{engine}"
models = ["{model}"]
temperatures = {list(temperatures)}
seeds = [0]
overrides = {{ {settings} }}

[[systems]]
name = "fcc"
path = "{system.name}"
""")
    return path


def trajectory_steps(directory: Path) -> list[int]:
    lines = (directory / "trajectory.lammpstrj").read_text().splitlines()
    return [int(lines[i + 1]) for i, line in enumerate(lines) if line == "ITEM: TIMESTEP"]


def test_dask_pool_runs_a_plan_and_a_rerun_skips_it(lj_file, fcc_system, tmp_path):
    plan = Plan(models=[str(lj_file)], systems=[fcc_system], temperatures=[30, 60], seeds=[0, 1], overrides=QUICK)
    specs = plan.specs()
    assert len(specs) == 4 and len({s.key() for s in specs}) == 4
    records = run_plan(specs, tmp_path / "runs", workers=2, progress=False)
    assert [r["status"] for r in records] == ["completed"] * 4
    for spec, record in zip(specs, records):
        assert record["key"] == spec.key() and record["temperature_K"] == spec.temperature
        assert record["model_sha256"] == spec.model_sha256 and record["steps_completed"] == 300
        assert record["steps_per_s"] > 0 and record["atom_steps_per_s"] == pytest.approx(108 * record["steps_per_s"])
        assert trajectory_steps(simulation_directory(spec, tmp_path / "runs")) == list(range(0, 301, 50))
    # different seeds draw different velocities: the simulations really are different
    first = [np.genfromtxt(simulation_directory(s, tmp_path / "runs") / "thermo.csv", delimiter=",", names=True)
             for s in specs[:2]]
    assert first[0]["temperature_K"][0] == pytest.approx(30.0)
    assert first[0]["kinetic_energy_eV"][-1] != first[1]["kinetic_energy_eV"][-1]

    stamps = {s.key(): (simulation_directory(s, tmp_path / "runs") / "record.json").stat().st_mtime_ns for s in specs}
    again = run_plan(specs, tmp_path / "runs", workers=2, progress=False)
    assert again == records
    assert stamps == {s.key(): (simulation_directory(s, tmp_path / "runs") / "record.json").stat().st_mtime_ns
                      for s in specs}


def test_killed_plan_resumes_skipping_finished_and_restarting_the_interrupted(lj_file, tmp_path):
    system = write_extxyz_system(tmp_path, "fcc", fcc_argon_krypton(cells=3))
    plan = plan_toml(tmp_path / "plan.toml", lj_file, Path(system.path), [40, 50, 60],
                     {"steps": 4000, "timestep_fs": 2.0, "dump_every": 100, "check_every": 100})
    root = tmp_path / "runs"
    command = egraff_command("md", "run", str(plan), "--root", str(root), "--workers", "0", "--no-progress")
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), OMP_NUM_THREADS="1")
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    interrupted = None
    while time.monotonic() < deadline and process.poll() is None:
        finished = sorted(root.glob("*/record.json"))
        running = [d for d in root.glob("*") if not (d / "record.json").exists()
                   and trajectory_frames(d / "trajectory.lammpstrj.partial") >= 3]
        if finished and running:
            os.killpg(process.pid, signal.SIGKILL)
            interrupted = running[0]
            break
        time.sleep(0.05)
    process.wait()
    assert interrupted is not None, "the plan finished (or failed) before it could be interrupted: " + \
        process.stdout.read().decode()[-2000:]
    finished_before = {p.parent.name: p.read_bytes() for p in root.glob("*/record.json")}
    assert interrupted.name not in finished_before
    # the killed simulation's partial trajectory is readable up to its last frame
    from egraff.analysis import read_trajectory

    partial = read_trajectory(interrupted / "trajectory.lammpstrj.partial")
    assert partial.n_frames >= 3 and partial.steps[0] == 0

    result = subprocess.run(egraff_command("md", "run", str(plan), "--root", str(root), "--workers", "1",
                                           "--no-progress"), env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    records = {p.parent.name: p for p in root.glob("*/record.json")}
    assert len(records) == 3 and len(list(root.iterdir())) == 3
    for key, content in finished_before.items():
        assert records[key].read_bytes() == content, "a finished simulation was run again"
    for key in records:
        directory = root / key
        assert not list(directory.glob("*.partial"))
        assert trajectory_steps(directory) == list(range(0, 4001, 100)), "frames lost or duplicated"
        thermo = np.genfromtxt(directory / "thermo.csv", delimiter=",", names=True)
        assert list(thermo["step"]) == list(range(0, 4001, 100))
        assert json.loads((directory / "record.json").read_text())["status"] == "completed"


def trajectory_frames(path: Path) -> int:
    return path.read_text().count("ITEM: TIMESTEP") if path.is_file() else 0


def test_plan_file_runs_with_the_ase_engine_too(lj_file, tmp_path):
    system = write_extxyz_system(tmp_path, "fcc", fcc_argon_krypton(cells=2))
    plan = plan_toml(tmp_path / "plan.toml", lj_file, Path(system.path), [60], QUICK)
    lammps_specs = Plan.from_file(plan).specs()
    ase_plan = Plan.from_file(plan)
    ase_plan.engine = "ase"
    ase_specs = ase_plan.specs()
    assert lammps_specs[0].key() != ase_specs[0].key()
    result = subprocess.run(egraff_command("md", "run", str(plan), "--root", str(tmp_path / "runs"), "--workers", "0",
                                           "--engine", "ase", "--no-progress"),
                            env=dict(os.environ, PYTHONPATH=str(REPO / "python"), OMP_NUM_THREADS="1"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = read_record(ase_specs[0], tmp_path / "runs")
    assert record["engine"] == "ase" and record["status"] == "completed"
    assert (simulation_directory(ase_specs[0], tmp_path / "runs") / "trajectory.extxyz").is_file()
    assert "completed" in result.stdout


def test_a_simulation_that_raises_gets_no_record_and_the_others_finish(lj_file, fcc_system, tmp_path):
    import shutil

    from egraff.md import single_spec

    doomed_model = shutil.copy(lj_file, tmp_path / "doomed.pt")
    good = single_spec(lj_file, fcc_system, 60.0, **QUICK)
    doomed = single_spec(doomed_model, fcc_system, 50.0, **QUICK)
    Path(doomed_model).unlink()  # vanishes between planning and running
    with pytest.raises(RuntimeError, match=r"1 simulation\(s\) raised an error .*doomed .*cannot open model file"):
        run_plan([doomed, good], tmp_path / "runs", workers=0, progress=False)
    assert read_record(good, tmp_path / "runs")["status"] == "completed"
    assert read_record(doomed, tmp_path / "runs") is None
