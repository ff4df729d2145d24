"""The same simulation in ASE (as EGraFFBench ran its MD) on the same deployed file, for cross-checks.

``EGraFFCalculator`` evaluates the model; VelocityVerlet, Langevin (EGraFFBench) or a Nosé–Hoover
chain integrate. The trajectory is extxyz (positions never wrapped, so unwrapped; momenta, energy,
forces, ``step`` and ``time_ps`` per frame), appended and flushed frame by frame.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from egraff.md.state import PARTIAL, Outcome, ThermoCSV, initial_state
from egraff.md.systems import is_molecule
from egraff.md.watchdog import Watchdog
from egraff.units import (ASE_TIME_PER_PS, NKTV2P, kinetic_energy, kinetic_temperature, velocities_from_ase,
                          velocities_to_ase)

TRAJECTORY = "trajectory.extxyz"


def _dynamics(spec, atoms):
    from ase.md.langevin import Langevin
    from ase.md.nose_hoover_chain import NoseHooverChainNVT
    from ase.md.verlet import VelocityVerlet

    p = spec.protocol
    dt = p.timestep_ps * ASE_TIME_PER_PS
    if p.ensemble == "nve":
        return VelocityVerlet(atoms, timestep=dt)
    if p.ensemble == "langevin":
        from ase.constraints import FixCom

        atoms.set_constraint(FixCom())  # no centre-of-mass drift, like LAMMPS's `fix langevin ... zero yes`
        return Langevin(atoms, timestep=dt, temperature_K=spec.temperature, friction=p.friction_per_ps / ASE_TIME_PER_PS,
                        fixcm=False, rng=np.random.default_rng(spec.seed))
    if p.ensemble == "nose-hoover":
        return NoseHooverChainNVT(atoms, timestep=dt, temperature_K=spec.temperature, tdamp=p.thermostat_steps * dt)
    raise ValueError(f"the ASE engine does not run the {p.ensemble} ensemble; use engine lammps")


def _thermo_row(atoms, step: int, timestep_ps: float, molecule: bool) -> dict:
    masses, velocities = atoms.get_masses(), velocities_from_ase(atoms.get_velocities())
    pe = float(atoms.get_potential_energy())
    ke = kinetic_energy(masses, velocities)
    if molecule:
        pressure, volume = float("nan"), float("nan")
    else:
        volume = atoms.get_volume()
        pressure = (2.0 * ke - np.trace(atoms.get_stress(voigt=False)) * volume) / (3.0 * volume) * NKTV2P
    return {"step": step, "time_ps": step * timestep_ps, "temperature_K": kinetic_temperature(masses, velocities),
            "potential_energy_eV": pe, "kinetic_energy_eV": ke, "total_energy_eV": pe + ke,
            "pressure_bar": pressure, "volume_A3": volume, "atoms": len(atoms)}


def _write_frame(handle, atoms, step: int, timestep_ps: float, scratch: Path) -> None:
    """Append one frame at full precision (egraff.data's writer; ASE's keeps 8 decimals) and flush."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from egraff.data import write_extxyz

    frame = atoms.copy()
    frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
    frame.info.update(step=step, time_ps=step * timestep_ps)
    handle.write(write_extxyz(scratch, [frame]).read_text())
    handle.flush()


def run_ase(spec, directory: Path) -> Outcome:
    """Run ``spec`` with ASE, writing ``trajectory.extxyz.partial`` and ``thermo.csv.partial`` into ``directory``."""
    from egraff.deploy import EGraFFCalculator

    directory = Path(directory)
    p = spec.protocol
    atoms = initial_state(spec)
    atoms.set_velocities(velocities_to_ase(atoms.arrays.pop("lammps_velocities")))
    atoms.calc = EGraFFCalculator(spec.model)
    molecule = is_molecule(atoms)
    dynamics = _dynamics(spec, atoms)
    thermo = ThermoCSV(directory)
    scratch = directory / ".frame.extxyz"

    def observe(row):
        thermo.write(row)
        return watchdog.check(row, lambda: (atoms.positions, atoms.cell.array, atoms.pbc))

    with open(directory / f"{TRAJECTORY}{PARTIAL}", "w") as trajectory:
        try:
            set_up = time.perf_counter()
            failure, done = _evaluate(atoms.get_forces), 0
            first_step = time.perf_counter() - set_up
            if failure is None:
                row = _thermo_row(atoms, 0, p.timestep_ps, molecule)
                watchdog = Watchdog(spec, atoms, row["potential_energy_eV"])
                _write_frame(trajectory, atoms, 0, p.timestep_ps, scratch)
                failure = observe(row)
            start = time.perf_counter()
            while failure is None and done < p.steps:
                # advance to the next dump or check step, whichever comes first
                target = min(done + p.dump_every - done % p.dump_every, done + p.check_every - done % p.check_every,
                             p.steps)
                failure = _evaluate(dynamics.run, target - done)
                if failure is not None:
                    break
                done = target
                if done % p.dump_every == 0:
                    _write_frame(trajectory, atoms, done, p.timestep_ps, scratch)
                if done % p.check_every == 0 or done == p.steps:
                    failure = observe(_thermo_row(atoms, done, p.timestep_ps, molecule))
            wall = time.perf_counter() - start
        finally:
            thermo.close()
            scratch.unlink(missing_ok=True)
    return Outcome(n_atoms=len(atoms), steps_completed=done, failure_reason=failure,
                   failure_step=done if failure else None, md_wall_time_s=wall, first_step_wall_time_s=first_step)


def _evaluate(function, *args) -> str | None:
    """Call ``function``; the reason the model failed (an exception inside it), or None."""
    try:
        function(*args)
    except Exception as err:
        text = str(err).strip()
        return f"model evaluation failed: {text.splitlines()[0] if text else type(err).__name__}"
    return None
