"""Plans: a Dask pool runs them, finished simulations are skipped, a killed plan (one rank or MPI) resumes
losing only the interrupted simulation, duplicating nothing and leaving no process behind, and the records
say what happened."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import job_starts, kill_leader
from egraff.config import validate
from egraff.md import SimulationPlan, read_record, run_plan, simulation_directory, simulation_job

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
file = "{system.name}"
""")
    return path


def trajectory_steps(directory: Path) -> list[int]:
    lines = (directory / "trajectory.lammpstrj").read_text().splitlines()
    return [int(lines[i + 1]) for i, line in enumerate(lines) if line == "ITEM: TIMESTEP"]


def test_dask_pool_runs_a_plan_and_a_rerun_skips_it(lj_file, fcc_system, tmp_path):
    plan = validate(SimulationPlan, dict(models=[str(lj_file)], systems=[fcc_system], temperatures=[30, 60],
                                         seeds=[0, 1], overrides=QUICK))
    specs = plan.specs()
    assert len(specs) == 4 and len({simulation_job(s).key for s in specs}) == 4
    records = run_plan(specs, tmp_path / "runs", workers=2, progress=False)
    assert [r["status"] for r in records] == ["completed"] * 4
    for spec, record in zip(specs, records):
        assert record["key"] == simulation_job(spec).key and record["temperature_K"] == spec.temperature
        assert record["model_sha256"] == spec.model_sha256 and record["steps_completed"] == 300
        assert record["steps_per_s"] > 0 and record["atom_steps_per_s"] == pytest.approx(108 * record["steps_per_s"])
        # the set-up's first force call, timed apart from the MD loop
        assert 0 < record["first_step_wall_time_s"] < record["wall_time_s"] - record["md_wall_time_s"]
        assert trajectory_steps(simulation_directory(spec, tmp_path / "runs")) == list(range(0, 301, 50))
    # different seeds draw different velocities: the simulations really are different
    first = [np.genfromtxt(simulation_directory(s, tmp_path / "runs") / "thermo.csv", delimiter=",", names=True)
             for s in specs[:2]]
    assert first[0]["temperature_K"][0] == pytest.approx(30.0)
    assert first[0]["kinetic_energy_eV"][-1] != first[1]["kinetic_energy_eV"][-1]

    stamps = [(simulation_directory(s, tmp_path / "runs") / "record.json").stat().st_mtime_ns for s in specs]
    again = run_plan(specs, tmp_path / "runs", workers=2, progress=False)
    assert again == records
    assert stamps == [(simulation_directory(s, tmp_path / "runs") / "record.json").stat().st_mtime_ns for s in specs]


@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_killed_plan_resumes_losing_only_the_interrupted_simulation(ranks, lj_file, tmp_path):
    """``kill -9`` of ``egraff md run`` alone (not its process group, as an OOM killer or a batch system's
    limit would): nothing it started survives (with 2 ranks, mpirun and its ranks), the rerun skips the
    finished simulations, redoes only the interrupted one, and every trajectory is whole."""
    system = write_extxyz_system(tmp_path, "fcc", fcc_argon_krypton(cells=3))
    plan = plan_toml(tmp_path / "plan.toml", lj_file, Path(system.file),
                     [40, 50, 60], {"steps": 4000, "timestep_fs": 2.0, "dump_every": 100, "check_every": 100})
    root = tmp_path / "runs"
    runs = root / "md"
    command = egraff_command("md", "run", str(plan), f"ranks={ranks}", "--root", str(root), "--workers", "0",
                             "--no-progress")
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), OMP_NUM_THREADS="1")
    process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    interrupted = None
    while time.monotonic() < deadline and process.poll() is None:
        finished = sorted(runs.glob("*/record.json"))
        running = [d for d in runs.glob("*") if d.is_dir() and not (d / "record.json").exists()
                   and trajectory_frames(d / "trajectory.lammpstrj.partial") >= 3]
        if finished and running:
            interrupted = running[0]
            break
        time.sleep(0.05)
    if interrupted is None:
        process.kill()
        pytest.fail("the plan finished (or failed) before it could be interrupted: " + process.stdout.read().decode()[-2000:])
    survivors = kill_leader(process)
    assert not survivors, f"processes outlived the killed egraff md run: {survivors}"
    finished_before = {p.parent.name: p.read_bytes() for p in runs.glob("*/record.json")}
    assert interrupted.name not in finished_before
    # the killed simulation's partial trajectory is readable up to its last frame
    from egraff.analysis import read_trajectory

    partial = read_trajectory(interrupted / "trajectory.lammpstrj.partial")
    assert partial.n_frames >= 3 and partial.steps[0] == 0

    result = subprocess.run(egraff_command("md", "run", str(plan), f"ranks={ranks}", "--root", str(root),
                                           "--workers", "1", "--no-progress"),
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    records = {p.parent.name: p for p in runs.glob("*/record.json")}
    assert len(records) == 3 and len(list(runs.iterdir())) == 3  # no directory or lock file left over
    for key, content in finished_before.items():
        assert records[key].read_bytes() == content, "a finished simulation was run again"
    starts = job_starts(root)
    assert starts == {**{key: 1 for key in records}, interrupted.name: 2}, "a simulation ran more often than needed"
    for key in records:
        directory = runs / key
        assert not list(directory.glob("*.partial"))
        assert trajectory_steps(directory) == list(range(0, 4001, 100)), "frames lost or duplicated"
        thermo = np.genfromtxt(directory / "thermo.csv", delimiter=",", names=True)
        assert list(thermo["step"]) == list(range(0, 4001, 100))
        record = json.loads((directory / "record.json").read_text())
        assert record["summary"]["status"] == "completed" and record["summary"]["ranks"] == ranks


def trajectory_frames(path: Path) -> int:
    return path.read_text().count("ITEM: TIMESTEP") if path.is_file() else 0


def test_plan_file_runs_with_the_ase_engine_too(lj_file, tmp_path):
    system = write_extxyz_system(tmp_path, "fcc", fcc_argon_krypton(cells=2))
    plan = plan_toml(tmp_path / "plan.toml", lj_file, Path(system.file), [60], QUICK)
    lammps_specs = SimulationPlan.from_file(plan).specs()
    ase_specs = SimulationPlan.from_file(plan, ["engine=ase"]).specs()
    assert simulation_job(lammps_specs[0]).key != simulation_job(ase_specs[0]).key
    result = subprocess.run(egraff_command("md", "run", str(plan), "--root", str(tmp_path / "runs"), "--workers", "0",
                                           "--engine", "ase", "--no-progress"),
                            env=dict(os.environ, PYTHONPATH=str(REPO / "python"), OMP_NUM_THREADS="1"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = read_record(ase_specs[0], tmp_path / "runs")
    assert record["engine"] == "ase" and record["status"] == "completed"
    assert 0 < record["first_step_wall_time_s"] < record["wall_time_s"] - record["md_wall_time_s"]
    assert (simulation_directory(ase_specs[0], tmp_path / "runs") / "trajectory.extxyz").is_file()
    assert "completed" in result.stdout


def test_a_simulation_that_raises_gets_no_record_and_the_others_finish(lj_file, fcc_system, tmp_path):
    import shutil

    from egraff.jobs import JobFailed
    from egraff.md import single_spec

    doomed_model = shutil.copy(lj_file, tmp_path / "doomed.pt")
    good = single_spec(lj_file, fcc_system, 60.0, **QUICK)
    doomed = single_spec(doomed_model, fcc_system, 50.0, **QUICK)
    Path(doomed_model).unlink()  # vanishes between planning and running
    with pytest.raises(JobFailed, match=r"1 job\(s\) failed; first: md doomed .*cannot open model file"):
        run_plan([doomed, good], tmp_path / "runs", workers=0, progress=False)
    assert read_record(good, tmp_path / "runs")["status"] == "completed"
    assert read_record(doomed, tmp_path / "runs") is None
