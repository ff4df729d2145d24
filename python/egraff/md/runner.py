"""Running simulations: one spec → one job of egraff.jobs → one directory; a plan → a graph of them.

Directory of a simulation (``<root>/md/<key>/``, the key from :meth:`SimulationSpec.identity`):

- ``spec.json``     the spec (written first)
- ``trajectory.lammpstrj`` (LAMMPS) or ``trajectory.extxyz`` (ASE): unwrapped positions, velocities
- ``thermo.csv``    step, time, temperature, energies, pressure, volume, atoms (one row per check)
- ``log.lammps``    LAMMPS's log (LAMMPS engine)
- ``model_devi.out`` a committee's model deviation (DeePMD-kit's columns), when the spec has a committee
- ``record.json``   the job's record, written last: the simulation finished (completed or stopped by the
  watchdog); its ``summary`` says how

While a simulation runs its trajectory and CSV carry a ``.partial`` suffix and grow frame by frame
(flushed, so they stay readable after a crash); they get their final names when it ends, before the
record. A directory without a record belongs to an interrupted simulation: the next run wipes it and
starts that simulation again from its first step (no restart files). A simulation the watchdog
stopped is finished too: its summary says why and when.

:func:`simulate` runs one spec into a directory (what the benchmark's MD job calls);
:func:`run_plan` runs a plan's specs as jobs, in this process, on a Dask ``LocalCluster`` or on a given
scheduler, with a progress display.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from egraff import processes
from egraff.files import atomic_write_text
from egraff.jobs import Job, job_step, read_record as read_job_record, run_jobs
from egraff.md.plan import SimulationSpec
from egraff.md.state import PARTIAL, Outcome

SPEC = "spec.json"


def simulate(spec: SimulationSpec, directory: str | Path) -> dict:
    """Run ``spec`` into the empty ``directory``; returns its summary (status, failure, speed, ``files``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / SPEC, json.dumps(spec.to_dict(), indent=1) + "\n")
    started = time.perf_counter()
    outcome = _run_engine(spec, directory)
    wall = time.perf_counter() - started
    files = {}
    for partial in sorted(directory.glob(f"*{PARTIAL}")):
        final = partial.with_name(partial.name[: -len(PARTIAL)])
        os.replace(partial, final)
        files[final.name.split(".")[0]] = final.name  # "trajectory", "thermo"
    if (directory / "log.lammps").is_file():
        files["log"] = "log.lammps"
    return _summary(spec, outcome, wall, files)


@job_step("md")
def run_md(spec: dict, inputs: dict, directory: Path):
    """The job step of one simulation: ``spec`` is a :class:`SimulationSpec` as a dict."""
    summary = simulate(SimulationSpec.from_dict(spec), directory)
    return summary, [SPEC, *summary["files"].values()]


def simulation_job(spec: SimulationSpec) -> Job:
    return Job(run_md, spec.to_dict(), identity=spec.identity(), label=spec.label())


def simulation_directory(spec: SimulationSpec, root: str | Path) -> Path:
    return simulation_job(spec).directory(root)


def read_record(spec: SimulationSpec, root: str | Path) -> dict | None:
    """The summary of a finished simulation (with its job ``key``), or None."""
    record = read_job_record(simulation_job(spec), root)
    return None if record is None else {"key": record["key"], **record["summary"]}


def run_simulation(spec: SimulationSpec, root: str | Path) -> dict:
    """Run one simulation in this process (unless it finished before) and return its summary."""
    job = simulation_job(spec)
    record = run_jobs([job], root, progress=False)[job.key]
    return {"key": job.key, **record["summary"]}


def run_plan(specs: Sequence[SimulationSpec], root: str | Path, *, workers: int = 1, scheduler: str | None = None,
             progress: bool = True) -> list[dict]:
    """Run every spec not yet finished; returns their summaries in ``specs`` order.

    ``workers`` processes on a ``LocalCluster`` (one thread each), or the cluster at ``scheduler``
    (an address such as ``tcp://host:8786``); ``workers=0`` runs them one after another in this process.
    A simulation that raises (rather than being stopped by the watchdog) gets no record; the others go on,
    and :class:`egraff.jobs.JobFailed` naming it follows at the end."""
    jobs = [simulation_job(spec) for spec in specs]
    records = run_jobs(jobs, root, workers=workers, scheduler=scheduler, progress=progress, title="md")
    return [{"key": job.key, **records[job.key]["summary"]} for job in jobs]


def _run_engine(spec: SimulationSpec, directory: Path) -> Outcome:
    if spec.engine == "ase":
        from egraff.md.ase_engine import run_ase

        return run_ase(spec, directory)
    if spec.ranks == 1:
        from egraff.md.lammps_engine import run_lammps

        return run_lammps(spec, directory)
    return _run_lammps_mpi(spec, directory)


def _run_lammps_mpi(spec: SimulationSpec, directory: Path) -> Outcome:
    from egraff.md.lammps_engine import OUTCOME_FILE

    mpirun = Path(sys.executable).parent / "mpirun"
    command = [str(mpirun), "-np", str(spec.ranks), sys.executable, "-m", "egraff.md.lammps_engine",
               str(directory / SPEC), str(directory)]
    result = processes.run(command, capture_output=True, text=True,
                           env=dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1")))
    outcome_file = directory / OUTCOME_FILE
    if result.returncode != 0 or not outcome_file.is_file():
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"mpirun -np {spec.ranks} failed for {spec.label()}: " + " | ".join(tail))
    outcome = Outcome(**json.loads(outcome_file.read_text()))
    outcome_file.unlink()
    return outcome


def _summary(spec: SimulationSpec, outcome: Outcome, wall: float, files: dict) -> dict:
    import egraff

    p = spec.protocol
    steps_per_s = outcome.steps_completed / outcome.md_wall_time_s if outcome.md_wall_time_s > 0 else None
    failed = outcome.failure_reason is not None
    return {
        "status": "failed" if failed else "completed",
        "failure_reason": outcome.failure_reason,
        "failure_step": outcome.failure_step,
        "time_to_failure_ps": outcome.failure_step * p.timestep_ps if failed else None,
        "model": spec.model, "model_sha256": spec.model_sha256,
        "system": spec.system.name, "system_source": spec.system.source, "system_sha256": spec.system_sha256,
        "frame": spec.frame, "n_atoms": outcome.n_atoms,
        "protocol": p.name, "ensemble": p.ensemble, "timestep_fs": p.timestep_fs, "timestep_ps": p.timestep_ps,
        "temperature_K": spec.temperature, "seed": spec.seed, "engine": spec.engine, "ranks": spec.ranks,
        "steps_requested": p.steps, "steps_completed": outcome.steps_completed,
        "simulated_time_ps": outcome.steps_completed * p.timestep_ps,
        "requested_ps": p.steps * p.timestep_ps,
        "wall_time_s": wall, "md_wall_time_s": outcome.md_wall_time_s,
        "first_step_wall_time_s": outcome.first_step_wall_time_s,
        "steps_per_s": steps_per_s,
        "atom_steps_per_s": steps_per_s * outcome.n_atoms if steps_per_s else None,
        "files": files,
        "egraff_version": egraff.__version__,
    }
