"""Running simulations: one spec → one directory → one record; a plan → a Dask pool of them.

Directory ``<root>/<spec.key()>/`` of a simulation:

- ``spec.json``     the spec (written first)
- ``trajectory.lammpstrj`` (LAMMPS) or ``trajectory.extxyz`` (ASE): unwrapped positions, velocities
- ``thermo.csv``    step, time, temperature, energies, pressure, volume, atoms (one row per check)
- ``log.lammps``    LAMMPS's log (LAMMPS engine)
- ``record.json``   written last, atomically: the simulation finished (completed or stopped by the watchdog)

While a simulation runs its trajectory and CSV carry a ``.partial`` suffix and grow frame by frame
(flushed, so they stay readable after a crash); they get their final names when it ends, before the
record. A directory without ``record.json`` belongs to an interrupted simulation: the next run wipes
it and starts that simulation again from its first step (no restart files). A directory with a record
is skipped. A simulation the watchdog stopped is finished too: its record says why and when.

:func:`run_simulation` is what a Dask graph calls — ``client.submit(run_simulation, spec, root)``;
:func:`run_plan` does that for a whole plan on a ``LocalCluster`` (or a given scheduler) with a
progress display.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from egraff.files import atomic_write_text
from egraff.md.state import PARTIAL, Outcome

RECORD = "record.json"
SPEC = "spec.json"
RECORD_VERSION = 1


def simulation_directory(spec, root: str | Path) -> Path:
    return Path(root) / spec.key()


def read_record(spec, root: str | Path) -> dict | None:
    """The record of a finished simulation, or None."""
    path = simulation_directory(spec, root) / RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def run_simulation(spec, root: str | Path) -> dict:
    """Run one simulation (unless its record exists) and return its record."""
    record = read_record(spec, root)
    if record is not None:
        return record
    directory = simulation_directory(spec, root)
    if directory.exists():  # interrupted earlier: start again from a clean directory
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
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
    record = _record(spec, outcome, wall, files)
    atomic_write_text(directory / RECORD, json.dumps(record, indent=1) + "\n")
    return record


def _run_engine(spec, directory: Path) -> Outcome:
    if spec.engine == "ase":
        from egraff.md.ase_engine import run_ase

        return run_ase(spec, directory)
    if spec.ranks == 1:
        from egraff.md.lammps_engine import run_lammps

        return run_lammps(spec, directory)
    return _run_lammps_mpi(spec, directory)


def _run_lammps_mpi(spec, directory: Path) -> Outcome:
    from egraff.md.lammps_engine import OUTCOME_FILE

    mpirun = Path(sys.executable).parent / "mpirun"
    command = [str(mpirun), "-np", str(spec.ranks), sys.executable, "-m", "egraff.md.lammps_engine",
               str(directory / SPEC), str(directory)]
    result = subprocess.run(command, capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1")))
    outcome_file = directory / OUTCOME_FILE
    if result.returncode != 0 or not outcome_file.is_file():
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"mpirun -np {spec.ranks} failed for {spec.label()}: " + " | ".join(tail))
    outcome = Outcome(**json.loads(outcome_file.read_text()))
    outcome_file.unlink()
    return outcome


def _record(spec, outcome: Outcome, wall: float, files: dict) -> dict:
    import egraff

    p = spec.protocol
    steps_per_s = outcome.steps_completed / outcome.md_wall_time_s if outcome.md_wall_time_s > 0 else None
    failed = outcome.failure_reason is not None
    return {
        "record_version": RECORD_VERSION,
        "key": spec.key(),
        "status": "failed" if failed else "completed",
        "failure_reason": outcome.failure_reason,
        "failure_step": outcome.failure_step,
        "time_to_failure_ps": outcome.failure_step * p.timestep_ps if failed else None,
        "model": spec.model, "model_sha256": spec.model_sha256,
        "system": spec.system.name, "system_source": spec.system.source, "system_sha256": spec.system_sha256,
        "frame": spec.frame, "n_atoms": outcome.n_atoms,
        "protocol": p.name, "ensemble": p.ensemble, "timestep_fs": p.timestep_fs,
        "temperature_K": spec.temperature, "seed": spec.seed, "engine": spec.engine, "ranks": spec.ranks,
        "steps_requested": p.steps, "steps_completed": outcome.steps_completed,
        "simulated_time_ps": outcome.steps_completed * p.timestep_ps,
        "wall_time_s": wall, "md_wall_time_s": outcome.md_wall_time_s,
        "steps_per_s": steps_per_s,
        "atom_steps_per_s": steps_per_s * outcome.n_atoms if steps_per_s else None,
        "files": files,
        "egraff_version": egraff.__version__,
    }


def run_plan(specs: Sequence, root: str | Path, *, workers: int = 1, scheduler: str | None = None,
             progress: bool = True) -> list[dict]:
    """Run every spec not yet finished, over a Dask pool; returns the records in ``specs`` order.

    ``workers`` processes on a ``LocalCluster`` (one thread each), or the cluster at ``scheduler``
    (an address such as ``tcp://host:8786``); ``workers=0`` runs them one after another in this process.
    A simulation that raises (rather than being stopped by the watchdog) gets no record; the others go on,
    and a RuntimeError naming it follows at the end.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    unique = list({spec.key(): spec for spec in specs}.values())
    pending = [spec for spec in unique if read_record(spec, root) is None]
    columns = (TextColumn("[bold]md[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    errors = []
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"{len(unique) - len(pending)} already finished", total=len(unique),
                            completed=len(unique) - len(pending))

        def done(spec, outcome):
            if isinstance(outcome, BaseException):  # no record: the next run of the plan retries it
                errors.append(f"{spec.label()}: {outcome}")
                description = f"{spec.system.name} {spec.temperature:g} K: error"
            elif outcome["status"] == "completed":
                description = f"{outcome['system']} {outcome['temperature_K']:g} K: completed"
            else:
                description = f"{outcome['system']} {outcome['temperature_K']:g} K: failed at step {outcome['failure_step']}"
            bar.update(task, advance=1, description=description)

        if pending and workers == 0 and scheduler is None:
            for spec in pending:
                try:
                    done(spec, run_simulation(spec, root))
                except Exception as err:
                    done(spec, err)
        elif pending:
            _run_on_dask(pending, root, workers, scheduler, done)
    if errors:
        raise RuntimeError(f"{len(errors)} simulation(s) raised an error (rerunning the plan retries them): "
                           + "; ".join(errors))
    return [read_record(spec, root) for spec in specs]


def _run_on_dask(pending, root: Path, workers: int, scheduler: str | None, done) -> None:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                  dashboard_address=None)
    try:
        with Client(scheduler or cluster) as client:
            futures = {client.submit(run_simulation, spec, str(root), key=f"egraff-md-{spec.key()}", pure=False): spec
                       for spec in pending}
            for future in as_completed(futures):
                done(futures[future], future.exception() or future.result())
    finally:
        if cluster is not None:
            cluster.close()
