"""Teacher-generated data: labelled frames and exact reference trajectories from LAMMPS.

DFT sets cannot give an exact long trajectory from a chosen initial condition; a classical teacher
can, so trajectory metrics (energy/force violation, RDF, stability) get a ground truth. Each
generator runs, for every requested (phase, temperature):

1. preparation under Nosé–Hoover NVT (deterministic given the seed): melting and holding for
   liquids, melting and a linear quench for amorphous solids, thermalisation for crystals;
2. **sampling**: ``n_frames`` frames every ``sample_every`` steps of NVT at the temperature →
   ``frames.extxyz`` (energy, forces, stress, velocities; positions as LAMMPS holds them);
3. **reference trajectory**: from the last sampled state, ``trajectory_steps`` steps of NVE,
   saved every ``trajectory_every`` steps → ``trajectory.extxyz`` (unwrapped positions,
   velocities, labels, ``total_energy`` in ``info``), starting from ``start.data`` (LAMMPS data
   file with velocities, ``atom_style atomic``, types in ``type_names`` order) so that an ML
   potential run with ``fix nve`` and the same timestep starts from the identical state;
4. ``metadata.json``: provenance (teacher, potential file sha256, LAMMPS commands, phase,
   temperature, seed, timestep, protocol, counts, frames fingerprint, versions).

A run writes ``<out_dir>/<system>/<phase>-<T>K/``; it is built in a temporary sibling directory
and renamed when complete, so an interrupted run leaves nothing that looks finished.

Frames carry ``info`` keys ``system``, ``phase``, ``temperature`` (target, K), ``step``, so
out-of-distribution tasks are a filter: train on ``temperature <= 600`` and test above, or train
on fcc/hcp and test on bcc. :func:`load_generated` does that filtering and records the result.

API (sizes are small by default; raise them for production sets)::

    generate.silicon(out_dir, phases=("diamond", "liquid", "amorphous"), temperatures=None, ...)
    generate.copper(out_dir, phases=("fcc", "bcc", "hcp", "liquid"), temperatures=None, ...)
    generate.water(out_dir, temperatures=(300.0,), n_molecules=64, coulomb="pppm", ...)
    load_generated(root, system=None, phases=None, temperatures=None)  -> DatasetSplit
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from egraff.data.formats import read_extxyz, write_extxyz
from egraff.data.teacher import Teacher, eam_copper, spcfw_water, stillinger_weber_silicon, water_molecule
from egraff.files import atomic_write_text, file_sha256, with_default_permissions
from egraff.lammps_adaptor import write_lammps_data
from egraff.progress import progress_bar

SILICON_DEFAULT_T = {"diamond": (300.0, 600.0, 900.0, 1200.0), "liquid": (1800.0, 2200.0, 2600.0),
                     "amorphous": (300.0, 600.0, 900.0)}
COPPER_DEFAULT_T = {"fcc": (300.0, 600.0, 900.0), "bcc": (300.0, 600.0, 900.0), "hcp": (300.0, 600.0, 900.0),
                    "liquid": (1500.0, 1800.0, 2100.0)}


@dataclass(frozen=True)
class Protocol:
    """MD settings of one generated run (times in steps of ``timestep_fs``)."""

    timestep_fs: float = 1.0
    melt_temperature: float | None = None  # K; liquids and amorphous solids are melted first
    melt_steps: int = 2000
    quench_steps: int = 5000  # amorphous: linear quench from the melt to the target temperature
    equilibration_steps: int = 1000
    n_frames: int = 100
    sample_every: int = 20
    trajectory_steps: int = 1000
    trajectory_every: int = 10
    thermostat_damping_steps: int = 100  # Nosé–Hoover damping time in steps
    seed: int = 1


DEFAULT_PROTOCOLS = {
    "silicon": Protocol(melt_temperature=3500.0),
    "copper": Protocol(timestep_fs=2.0, melt_temperature=2500.0),
    # flexible O–H bonds need 0.5 fs; 2 ps of thermalisation after minimising the grid start
    "water": Protocol(timestep_fs=0.5, equilibration_steps=4000, n_frames=200, sample_every=10,
                      trajectory_steps=1000, thermostat_damping_steps=200),
}


def _supercell(unit, min_atoms: int):
    """The smallest near-cubic repetition of ``unit`` (orthogonal cell) with at least ``min_atoms`` atoms."""
    lengths = unit.cell.lengths()
    target = lengths.max()
    while True:
        reps = [max(1, round(target / length)) for length in lengths]
        if len(unit) * math.prod(reps) >= min_atoms:
            return unit.repeat(reps)
        target += lengths.min() / 2


def _water_box(n_molecules: int, density: float, seed: int):
    """``n_molecules`` SPC/Fw molecules at their equilibrium geometry, random orientations, on a cubic grid."""
    from ase import Atoms, units
    from ase.data import atomic_masses

    mass = (atomic_masses[8] + 2 * atomic_masses[1]) / units.mol  # g per molecule
    side = (n_molecules * mass / density * 1e24) ** (1 / 3)  # Å, from g/cm³
    per_side = math.ceil(n_molecules ** (1 / 3))
    spacing = side / per_side
    body = water_molecule()
    rng = np.random.default_rng(seed)
    positions = []
    grid = np.array([(i, j, k) for i in range(per_side) for j in range(per_side) for k in range(per_side)])
    for site in grid[:n_molecules]:
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # a random rotation
        positions.append((site + 0.5) * spacing + body @ q.T)
    return Atoms("OHH" * n_molecules, positions=np.concatenate(positions), cell=[side] * 3, pbc=True)


def _run_directory_name(phase: str, temperature: float) -> str:
    return f"{phase}-{temperature:g}K"


def generate_run(out_dir: str | Path, teacher: Teacher, system: str, phase: str, temperature: float, atoms,
                 protocol: Protocol, *, minimize: bool = False, overwrite: bool = False,
                 progress: bool = True) -> Path:
    """One (phase, temperature) run of a teacher from the structure ``atoms``; see the module docstring."""
    import egraff

    final = Path(out_dir) / system / _run_directory_name(phase, temperature)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} exists; remove it or pass overwrite=True")
    final.parent.mkdir(parents=True, exist_ok=True)
    work = with_default_permissions(Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")))
    if protocol.melt_temperature is None:  # nothing to melt: record no melt or quench steps
        protocol = replace(protocol, melt_steps=0, quench_steps=0)
    p = protocol
    damping = p.thermostat_damping_steps * p.timestep_fs / 1000.0  # ps
    info = {"system": system, "phase": phase, "temperature": float(temperature), "teacher": teacher.name}
    try:
        with teacher.session(atoms, timestep_fs=p.timestep_fs) as run, \
                progress_bar(p.melt_steps + p.quench_steps + p.equilibration_steps + p.n_frames * p.sample_every
                             + p.trajectory_steps, f"{system} {phase} {temperature:g} K", enabled=progress) as advance:
            if minimize:  # starting structures built by hand can have close contacts
                run.command("minimize 1.0e-6 1.0e-4 200 2000", "reset_timestep 0")
            start_t = p.melt_temperature or temperature
            run.command(f"velocity all create {start_t} {p.seed} mom yes rot no dist gaussian")
            stages = []
            if p.melt_temperature:
                stages.append((p.melt_temperature, p.melt_temperature, p.melt_steps))
                if p.quench_steps:
                    stages.append((p.melt_temperature, temperature, p.quench_steps))
            stages.append((temperature, temperature, p.equilibration_steps))
            for t_start, t_stop, steps in stages:
                run.command(f"fix egraff_nvt all nvt temp {t_start} {t_stop} {damping}")
                run.run(steps)
                run.command("unfix egraff_nvt")
                advance(steps)
            run.command(f"fix egraff_nvt all nvt temp {temperature} {temperature} {damping}")
            frames = []
            for _ in range(p.n_frames):
                run.run(p.sample_every)
                frames.append(run.snapshot())
                frames[-1].info.update(info)
                advance(p.sample_every)
            run.command("unfix egraff_nvt")
            start = run.snapshot(unwrap=True)
            write_lammps_data(work / "start.data", start, teacher.type_names, velocities=run.velocities_metal())
            run.command("fix egraff_nve all nve")
            trajectory = [start]
            for _ in range(p.trajectory_steps // p.trajectory_every):
                run.run(p.trajectory_every)
                trajectory.append(run.snapshot(unwrap=True))
                advance(p.trajectory_every)
            for atoms_ in trajectory:
                atoms_.info.update(info, time_fs=(atoms_.info["step"] - start.info["step"]) * p.timestep_fs)
            lammps_version = run.lmp.version()
        write_extxyz(work / "frames.extxyz", frames)
        write_extxyz(work / "trajectory.extxyz", trajectory)
        from egraff.data.datasets import frames_fingerprint

        metadata = {
            "system": system, "phase": phase, "temperature_K": float(temperature), "n_atoms": len(atoms),
            "type_names": list(teacher.type_names), "teacher": teacher.provenance(), "protocol": asdict(protocol),
            "ensemble": {"frames": "NVT Nose-Hoover", "trajectory": "NVE velocity Verlet"},
            "files": {"frames": "frames.extxyz", "trajectory": "trajectory.extxyz (unwrapped positions)",
                      "start": "start.data (atom_style atomic, metal units, with velocities)"},
            "n_frames": len(frames), "n_trajectory_frames": len(trajectory),
            "frames_fingerprint": frames_fingerprint(frames),
            "units": {"energy": "eV", "length": "Angstrom", "forces": "eV/Angstrom",
                      "stress": "eV/Angstrom^3 (ASE sign: -virial/volume)"},
            "lammps_version": lammps_version, "egraff_version": egraff.__version__,
        }
        atomic_write_text(work / "metadata.json", json.dumps(metadata, indent=1) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
        return final
    finally:
        if work.exists():
            shutil.rmtree(work)


def _phases_and_temperatures(phases: Sequence[str], temperatures, defaults: dict) -> list[tuple[str, float]]:
    unknown = [p for p in phases if p not in defaults]
    if unknown:
        raise ValueError(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(defaults)}")
    return [(phase, float(t)) for phase in phases for t in (temperatures or defaults[phase])]


def silicon(out_dir: str | Path, *, phases: Sequence[str] = ("diamond", "liquid", "amorphous"),
            temperatures: Sequence[float] | None = None, min_atoms: int = 64, protocol: Protocol | None = None,
            overwrite: bool = False, progress: bool = True) -> list[Path]:
    """Stillinger–Weber silicon at the diamond density: crystal, liquid (melt, hold) and amorphous (melt, quench)."""
    from ase.build import bulk

    protocol = protocol or DEFAULT_PROTOCOLS["silicon"]
    crystal = _supercell(bulk("Si", "diamond", a=5.431, cubic=True), min_atoms)
    runs = []
    for phase, temperature in _phases_and_temperatures(phases, temperatures, SILICON_DEFAULT_T):
        run_protocol = _phase_protocol(protocol, phase, crystalline=("diamond",))
        runs.append(generate_run(out_dir, stillinger_weber_silicon(), "silicon", phase, temperature, crystal,
                                 run_protocol, overwrite=overwrite, progress=progress))
    return runs


def copper(out_dir: str | Path, *, phases: Sequence[str] = ("fcc", "bcc", "hcp", "liquid"),
           temperatures: Sequence[float] | None = None, min_atoms: int = 96, protocol: Protocol | None = None,
           potential_file: str = "Cu_u3.eam", overwrite: bool = False, progress: bool = True) -> list[Path]:
    """EAM copper in fcc, bcc and hcp at the fcc atomic volume, and liquid (melted fcc).

    bcc is mechanically unstable for this potential and may transform during the run; that is the
    point of an "unseen phase" test set, and ``phase`` records the starting structure.
    """
    from ase.build import bulk

    protocol = protocol or DEFAULT_PROTOCOLS["copper"]
    a_fcc = 3.615
    volume = a_fcc ** 3 / 4  # Å³ per atom, kept for every phase
    units = {"fcc": bulk("Cu", "fcc", a=a_fcc, cubic=True),
             "bcc": bulk("Cu", "bcc", a=(2 * volume) ** (1 / 3), cubic=True),
             # ideal hcp (c/a = √(8/3)) has a³/√2 per atom
             "hcp": bulk("Cu", "hcp", a=(math.sqrt(2) * volume) ** (1 / 3), covera=math.sqrt(8 / 3),
                         orthorhombic=True)}
    units["liquid"] = units["fcc"]
    runs = []
    for phase, temperature in _phases_and_temperatures(phases, temperatures, COPPER_DEFAULT_T):
        run_protocol = _phase_protocol(protocol, phase, crystalline=("fcc", "bcc", "hcp"))
        runs.append(generate_run(out_dir, eam_copper(potential_file), "copper", phase, temperature,
                                 _supercell(units[phase], min_atoms), run_protocol, overwrite=overwrite,
                                 progress=progress))
    return runs


def water(out_dir: str | Path, *, temperatures: Sequence[float] = (300.0,), n_molecules: int = 64,
          density: float = 0.997, coulomb: str = "pppm", protocol: Protocol | None = None, overwrite: bool = False,
          progress: bool = True) -> list[Path]:
    """Liquid SPC/Fw water (64–216 molecules typical) at ``density`` g/cm³; see :func:`egraff.data.teacher.spcfw_water`.

    The timestep defaults to 0.5 fs (flexible O–H bonds). Molecules start on a grid with random
    orientations and are energy-minimised before thermalisation.
    """
    protocol = protocol or DEFAULT_PROTOCOLS["water"]
    teacher = spcfw_water(coulomb=coulomb)
    runs = []
    for temperature in temperatures:
        box = _water_box(n_molecules, density, protocol.seed)
        runs.append(generate_run(out_dir, teacher, "water", "liquid", float(temperature), box, protocol,
                                 minimize=True, overwrite=overwrite, progress=progress))
    return runs


def _phase_protocol(protocol: Protocol, phase: str, crystalline: Sequence[str]) -> Protocol:
    """Crystals start from the lattice; liquids are melted first, amorphous solids also quenched."""
    if phase in crystalline:
        return replace(protocol, melt_temperature=None, melt_steps=0, quench_steps=0)
    if not protocol.melt_temperature:
        raise ValueError(f"the {phase} phase is made by melting: give the protocol a melt_temperature")
    return protocol if phase == "amorphous" else replace(protocol, quench_steps=0)


def generated_runs(root: str | Path) -> list[Path]:
    """Completed run directories (with ``metadata.json``) under ``root``."""
    return sorted(p.parent for p in Path(root).glob("**/metadata.json") if not p.parent.name.startswith("."))


def load_generated(root: str | Path, *, system: str | None = None, phases: Iterable[str] | None = None,
                   temperatures: Iterable[float] | None = None, trajectory: bool = False):
    """Frames (or NVE reference trajectories) of generated runs under ``root``, filtered, as a DatasetSplit."""
    from egraff.data.datasets import DatasetSplit, frames_fingerprint

    phases = set(phases) if phases is not None else None
    temperatures = {float(t) for t in temperatures} if temperatures is not None else None
    frames, sources = [], []
    for run in generated_runs(root):
        meta = json.loads((run / "metadata.json").read_text())
        if (system and meta["system"] != system) or (phases is not None and meta["phase"] not in phases) or \
                (temperatures is not None and meta["temperature_K"] not in temperatures):
            continue
        path = run / ("trajectory.extxyz" if trajectory else "frames.extxyz")
        taken = read_extxyz(path)
        frames += taken
        sources.append({"path": str(path), "sha256": file_sha256(path), "frames": len(taken),
                        "phase": meta["phase"], "temperature_K": meta["temperature_K"], "teacher": meta["teacher"]})
    if not frames:
        raise FileNotFoundError(f"no generated runs under {root} match system={system}, phases={phases}, "
                                f"temperatures={temperatures}; run `egraff data generate` first")
    record = {"dataset": f"generated:{Path(root).resolve()}", "system": system,
              "phases": sorted(phases) if phases else None,
              "temperatures": sorted(temperatures) if temperatures else None, "trajectory": trajectory,
              "n_frames": len(frames), "fingerprint": frames_fingerprint(frames), "sources": sources}
    return DatasetSplit(frames, record)
