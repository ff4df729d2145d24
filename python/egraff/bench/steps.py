"""The steps a job can be: ``step(spec, dependencies, directory) -> (summary, outputs)``.

``dependencies`` maps each role to the directory of the job that plays it; the step writes only
into ``directory`` and returns a JSON-able summary (stored in the job's record) and the output files
(relative to ``directory``) whose disappearance makes the job run again.

fetch → ``teacher`` (generate classical-teacher data; registry data is fetched by whichever step
reads it, through egraff.data's verified cache) → ``train`` → ``export`` → ``evaluate`` (static
errors on test frames) and ``md`` (egraff.md) or ``lammps_input`` (a file of inputs/ run with
``lmp``) → ``analyse`` (egraff.analysis against reference frames) → ``leaderboard`` / ``demo_report``.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from egraff.bench.frames import gather, teacher_of
from egraff.bench.scores import save_npz, static_errors, structure_errors
from egraff.files import atomic_write_text


MOLECULE_R_MAX = 10.0  # Å, range of a molecule's distance histogram h(r) (EGraFFBench's RDF range)
VIOLATION_FRAMES = 20  # model frames (evenly spaced) on which the teacher is evaluated for EV/FV


def summary_of(directory: Path) -> dict:
    """The summary in the completion record of the job in ``directory``."""
    return json.loads((Path(directory) / "done.json").read_text())["summary"]


def teacher(spec: dict, dependencies: dict, directory: Path):
    """Classical-teacher data (egraff.data.generate): ``spec = {system, protocol: {...}, options: {...}}``."""
    from egraff.data import generate

    generator = {"water": generate.water, "silicon": generate.silicon, "copper": generate.copper}[spec["system"]]
    protocol = replace(generate.DEFAULT_PROTOCOLS[spec["system"]], **spec.get("protocol", {}))
    runs = generator(directory / "data", protocol=protocol, progress=False, **spec.get("options", {}))
    outputs = [str((run / name).relative_to(directory)) for run in runs
               for name in ("frames.extxyz", "trajectory.extxyz", "start.data", "metadata.json")]
    return {"runs": [str(run.relative_to(directory)) for run in runs]}, outputs


def train(spec: dict, dependencies: dict, directory: Path):
    """Train ``spec["config"]`` (egraff.train sections) on ``spec["train"]``, validating on ``spec["val"]``."""
    import lightning.pytorch  # noqa: F401  (it sets its logger's level on import; quieten it after that)

    from egraff.data import frames_fingerprint, write_extxyz
    from egraff.deploy.export import load_checkpoint
    from egraff.train import load_config
    from egraff.train import train as run_training
    from egraff.train.config import merge, validate

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no GPU/TPU banners between progress lines
    frames = {role: gather(spec[role], dependencies) for role in ("train", "val")}
    for role, taken in frames.items():
        write_extxyz(directory / f"{role}.extxyz", taken)
    config = load_config(None, [f"data.train={directory / 'train.extxyz'}", f"data.val={directory / 'val.extxyz'}",
                                f"output.dir={directory / 'run'}", "train.progress=false"])
    config = merge(config, spec["config"])
    validate(config)
    result = run_training(config)
    model, _ = load_checkpoint(result.best_model)
    summary = {"epochs": result.epochs, "seconds": result.seconds, "best_val_loss": result.best_val_loss,
               "parameters": int(sum(p.numel() for p in model.parameters())),
               "n_train": len(frames["train"]), "n_val": len(frames["val"]),
               "train_fingerprint": frames_fingerprint(frames["train"]),
               "val_fingerprint": frames_fingerprint(frames["val"])}
    return summary, ["run/best_model.pt", "run/metrics.csv"]


def export(spec: dict, dependencies: dict, directory: Path):
    """The trained model's best checkpoint as a deployed file ``model.pt``."""
    from egraff.deploy import load_deployed
    from egraff.deploy.export import export_checkpoint

    export_checkpoint(dependencies["model"] / "run" / "best_model.pt", directory / "model.pt")
    _, metadata = load_deployed(directory / "model.pt")
    return {"architecture": metadata.architecture, "type_names": list(metadata.type_names), "r_max": metadata.r_max,
            "num_layers": metadata.num_layers}, ["model.pt"]


def evaluate(spec: dict, dependencies: dict, directory: Path):
    """Model predictions on the test frames (``predictions.npz``) and the static errors computed from them."""
    from egraff.deploy.calculator import EGraFFCalculator

    frames = gather(spec["test"], dependencies)
    calculator = EGraFFCalculator(dependencies["model"] / "model.pt")
    rows = {key: [] for key in ("energy_true", "energy_pred", "n_atoms", "forces_true", "forces_pred",
                                "stress_true", "stress_pred")}
    started = time.perf_counter()
    for atoms in frames:
        truth = atoms.calc.results
        copy = atoms.copy()
        copy.calc = calculator
        rows["energy_true"].append(truth["energy"])
        rows["energy_pred"].append(copy.get_potential_energy())
        rows["n_atoms"].append(len(atoms))
        rows["forces_true"].append(truth["forces"])
        rows["forces_pred"].append(copy.get_forces())
        has_stress = "stress" in truth and "stress" in calculator.results and all(atoms.pbc)
        rows["stress_true"].append(truth["stress"] if has_stress else np.full(6, np.nan))
        rows["stress_pred"].append(calculator.results["stress"] if has_stress else np.full(6, np.nan))
    seconds = time.perf_counter() - started
    save_npz(directory / "predictions.npz", **{key: np.concatenate(value) if key.startswith("forces") else
                                               np.array(value) for key, value in rows.items()})
    return {**static_errors(directory / "predictions.npz"), "n_test": len(frames),
            "ase_seconds_per_frame": seconds / len(frames)}, ["predictions.npz"]


def md(spec: dict, dependencies: dict, directory: Path):
    """One egraff.md simulation of the model from a frame of ``spec["start"]``."""
    from egraff.data import write_extxyz
    from egraff.md import SystemSource, run_simulation, single_spec

    start = gather(spec["start"], dependencies)[spec.get("frame", 0)]
    write_extxyz(directory / "start.extxyz", [start])
    system = SystemSource(spec["system"], path=str(directory / "start.extxyz"))
    simulation = single_spec(dependencies["model"] / "model.pt", system, spec["temperature"],
                             protocol=spec["protocol"], seed=spec.get("seed", 0), **spec.get("overrides", {}))
    record = run_simulation(simulation, directory / "simulation")
    trajectory = Path("simulation") / record["key"] / record["files"]["trajectory"]
    return {**record, "trajectory": str(trajectory), "timestep_ps": simulation.protocol.timestep_ps,
            "requested_ps": record["steps_requested"] * simulation.protocol.timestep_ps}, [str(trajectory)]


def lammps_data(spec: dict, dependencies: dict, directory: Path):
    """Frame ``spec["frame"]`` of ``spec["frames"]`` as ``start.data`` (atom_style atomic, masses, types in
    ``spec["type_names"]`` order): the start of an inputs/ script run on a dataset's structure."""
    from egraff.lammps_adaptor import write_lammps_data

    atoms = gather(spec["frames"], dependencies)[spec.get("frame", 0)]
    write_lammps_data(directory / "start.data", atoms, spec["type_names"])
    return {"n_atoms": len(atoms), "formula": atoms.get_chemical_formula()}, ["start.data"]


def lammps_input(spec: dict, dependencies: dict, directory: Path):
    """``lmp -in spec["input"] -var NAME VALUE ...`` with the deployed model, in ``directory``.

    ``spec["variables"]`` values may name a dependency file as ``{"role": ..., "path": ...}``.
    """
    variables = {name: str(dependencies[value["role"]] / value["path"]) if isinstance(value, dict) else str(value)
                 for name, value in spec["variables"].items()}
    command = [str(Path(sys.executable).parent / "lmp"), "-in", spec["input"], "-screen", "none", "-nocite"]
    for name, value in variables.items():
        command += ["-var", name, value]
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True)
    log = directory / f"{variables['out']}.log"
    text = log.read_text() if log.exists() else ""
    if result.returncode != 0:
        errors = [line for line in text.splitlines() + result.stdout.splitlines() if "ERROR" in line]
        raise RuntimeError(f"lmp -in {spec['input']} failed: {errors[-1] if errors else result.stderr[-400:]}")
    loop = [line.split() for line in text.splitlines() if line.startswith("Loop time of")][-1]
    seconds, steps, atoms = float(loop[3]), int(loop[8]), int(loop[11])
    timestep_ps = float(variables["dt"])
    failure = _thermo_failure(text, float(variables["temp"]))
    return {"command": " ".join(command), "steps": steps, "n_atoms": atoms, "md_wall_time_s": seconds,
            "steps_per_s": steps / seconds, "atom_steps_per_s": steps * atoms / seconds,
            "ns_per_day": steps * timestep_ps / 1000.0 / seconds * 86400.0,
            "status": "failed" if failure else "completed", "failure_reason": failure and failure[1],
            "time_to_failure_ps": failure and failure[0], "requested_ps": steps * timestep_ps,
            "timestep_ps": timestep_ps, "trajectory": f"{variables['out']}.dump"}, \
        [f"{variables['out']}.dump", f"{variables['out']}.log"]


def thermo_table(log: str) -> np.ndarray:
    """Rows of the ``step time temp ...`` thermo blocks of a LAMMPS log, as floats [rows, columns]."""
    rows, width, columns = [], None, 3
    for line in log.splitlines():
        words = line.split()
        if words[:3] == ["Step", "Time", "Temp"]:
            width = columns = len(words)
            continue
        if width is not None and len(words) == width:
            try:
                rows.append([float(w) for w in words])
                continue
            except ValueError:
                pass
        width = None
    return np.array(rows).reshape(-1, columns)


def _thermo_failure(log: str, temperature: float) -> tuple[float, str] | None:
    """(time in ps, reason) of the first thermo row whose temperature is non-finite or above egraff.md's
    watchdog limit (5 × the target), or None."""
    from egraff.md import WatchdogLimits

    limit = WatchdogLimits().max_temperature_factor * temperature
    for row in thermo_table(log):
        if not math.isfinite(row[2]) or row[2] > limit:
            return float(row[1]), f"temperature {row[2]:.4g} K above {limit:.4g} K (5 x the target)"
    return None


def analyse(spec: dict, dependencies: dict, directory: Path):
    """The model's trajectory against reference frames: RDF/ADF (WF, JSD), EV/FV, stability, phases.

    ``spec["distance_histogram"]``: an isolated molecule, whose all-pairs distance histogram h(r)
    (Fu et al.) is compared instead of g(r) (stored under the same "rdf_total" keys)."""
    from egraff.analysis import ADF, DistanceHistogram, compare_rdfs, read_trajectory
    from egraff.data import write_extxyz

    run = summary_of(dependencies["md"])
    model_traj = read_trajectory(dependencies["md"] / run["trajectory"], timestep=run["timestep_ps"])
    reference_frames = gather(spec["reference"], dependencies)
    write_extxyz(directory / "reference.extxyz", reference_frames)
    reference = read_trajectory(directory / "reference.extxyz", timestep=_frame_timestep_ps(reference_frames))
    metrics = {"status": run["status"], "requested_ps": run["requested_ps"],
               "atom_steps_per_s": run.get("atom_steps_per_s")}
    metrics.update(_stability(model_traj, reference, run, spec))
    if metrics["failure_frame"] is not None:  # structure and violations of the physical part of the run only
        model_traj = model_traj[: max(metrics["failure_frame"], 2)]
    metrics["analysed_ps"] = float(model_traj.times[-1])
    arrays = {}
    elements = reference.elements
    if spec.get("distance_histogram"):  # an isolated molecule: h(r) of all its atom pairs takes g(r)'s place
        histograms = [DistanceHistogram(t, r_max=MOLECULE_R_MAX, n_bins=int(MOLECULE_R_MAX / 0.05)).run().results
                      for t in (model_traj, reference)]
        arrays.update({"rdf_total_r": histograms[0].bins, "rdf_total_g": histograms[0].hr,
                       "rdf_total_g_ref": histograms[1].hr})
    else:
        pairs = [f"{a}-{b}" for i, a in enumerate(elements) for b in elements[i:]]
        for key, entry in compare_rdfs(model_traj, reference, pairs=pairs).items():
            arrays.update({f"rdf_{key}_r": entry["r"], f"rdf_{key}_g": entry["g"], f"rdf_{key}_g_ref": entry["g_ref"]})
    # every triplet at natural bond cutoffs; those absent from one of the runs are left out of the mean JSD
    triplets = [f"{a}-{b}-{c}" for b in elements for i, a in enumerate(elements) for c in elements[i:]]
    model_adf, reference_adf = (ADF(t, triplets).run().results for t in (model_traj, reference))
    for key, p in model_adf.adf.items():
        arrays.update({f"adf_{key}_theta": model_adf.bins, f"adf_{key}_p": p, f"adf_{key}_p_ref": reference_adf.adf[key]})
    save_npz(directory / "distributions.npz", **arrays)
    metrics.update(structure_errors(directory / "distributions.npz"))
    metrics.update(_violations(model_traj, spec, dependencies))
    if spec.get("phase_method"):
        metrics.update(_crystal_fractions(model_traj, reference, spec["phase_method"]))
    if spec.get("diffusion"):
        metrics.update(_diffusion(model_traj, reference))
    atomic_write_text(directory / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    return metrics, ["distributions.npz", "metrics.json", "reference.extxyz"]


def _frame_timestep_ps(frames) -> float | None:
    """MD timestep of frames that carry ``step`` and ``time_fs`` (a teacher's reference trajectory), else None."""
    if len(frames) < 2 or not all(k in f.info for f in frames[:2] for k in ("step", "time_fs")):
        return None
    first, second = frames[0].info, frames[1].info
    return (second["time_fs"] - first["time_fs"]) / (second["step"] - first["step"]) / 1000.0


def _diffusion(model_traj, reference) -> dict:
    """Self-diffusion coefficients (Å²/ps, mean over elements) of the model run and of the reference
    trajectory (NaN where a trajectory is too short for the MSD fit or has no time information)."""
    from egraff.analysis import MSD

    def coefficient(trajectory):
        try:
            diffusion = MSD(trajectory).run().results.diffusion
        except ValueError:
            return float("nan")
        return float(np.mean([d for element, d in diffusion.items() if element != "all"]))

    return {"diffusion_model": coefficient(model_traj),
            "diffusion_ref": coefficient(reference) if reference.timestep else float("nan")}


def _violations(model_traj, spec: dict, dependencies: dict) -> dict:
    """EV/FV variant (b): the teacher on the model's own frames (teacher data only; NaN for DFT data)."""
    from egraff.analysis import energy_violation, force_violation, geometric_mean
    from egraff.deploy.calculator import EGraFFCalculator

    teacher_potential = teacher_of(spec["reference"], dependencies)
    if teacher_potential is None:
        return {"energy_violation": float("nan"), "force_violation": float("nan")}
    stride = max(1, model_traj.n_frames // VIOLATION_FRAMES)
    frames = [model_traj.atoms(i) for i in range(0, model_traj.n_frames, stride)]
    labels = teacher_potential.label(frames)
    calculator = EGraFFCalculator(dependencies["model"] / "model.pt")
    model_energy, model_forces = [], []
    for atoms in frames:
        atoms.calc = calculator
        model_energy.append(atoms.get_potential_energy())
        model_forces.append(atoms.get_forces())
    ev = energy_violation(np.array(model_energy), np.array([a.get_potential_energy() for a in labels]))
    fv = force_violation(np.array(model_forces), np.array([a.get_forces() for a in labels]))
    return {"energy_violation": geometric_mean(ev), "force_violation": geometric_mean(fv)}


def _stability(model_traj, reference, run: dict, spec: dict) -> dict:
    """Stable time: the earliest of the run's own failure (egraff.md's watchdog, or the temperature limit
    on a LAMMPS log), Fu et al.'s bond criterion (``spec["bond_criterion"]``; default: non-periodic systems)
    and their RDF criterion (``spec["rdf_criterion"]``; default: periodic systems) when the run is long
    enough for its 1 ps windows."""
    from egraff.analysis import bond_stability, rdf_stability

    failures = []
    if run["time_to_failure_ps"] is not None:
        failures.append((run["time_to_failure_ps"], "watchdog: " + str(run.get("failure_reason"))))
    checks = []
    if spec.get("bond_criterion", not model_traj.pbc.any()):
        checks.append(lambda: bond_stability(model_traj, reference))
    if spec.get("rdf_criterion", model_traj.pbc.any()):
        checks.append(lambda: rdf_stability(model_traj, reference, threshold=spec.get("rdf_threshold", 3.0)))
    checked = ["watchdog"]
    for check in checks:
        try:
            result = check()
        except ValueError:  # e.g. too short for the RDF windows: the other criteria decide
            continue
        checked.append(result.criterion)
        if result.failure_frame is not None:
            failures.append((result.stable_time, f"{result.criterion} criterion"))
    stable, criterion = min(failures) if failures else (run["requested_ps"], f"no failure ({', '.join(checked)})")
    times = model_traj.times
    failure_frame = int(np.searchsorted(times, stable)) if failures else None
    return {"stable_ps": float(stable), "stability_criterion": criterion, "failure_frame": failure_frame,
            "stable_fraction": float(stable / run["requested_ps"])}


def _crystal_fractions(model_traj, reference, method: str) -> dict:
    """Fraction of atoms in any crystalline structure (not "Other"), model's last frame vs reference mean."""
    from egraff.analysis import PhaseFractions

    def crystalline(trajectory):
        fractions = PhaseFractions(trajectory, method=method).run().results
        other = fractions.structures.index("Other")
        return 1.0 - fractions.fractions[:, other]

    return {"crystalline_fraction": float(crystalline(model_traj[[-1]])[0]),
            "crystalline_fraction_ref": float(np.mean(crystalline(reference)))}


def _leaderboard(spec, dependencies, directory):
    from egraff.bench.leaderboard import write_leaderboard

    return write_leaderboard(spec, dependencies, directory)


def _demo_report(spec, dependencies, directory):
    from egraff.demo import write_report

    return write_report(spec, dependencies, directory)


STEPS = {"teacher": teacher, "train": train, "export": export, "evaluate": evaluate, "md": md,
         "lammps_data": lammps_data, "lammps_input": lammps_input, "analyse": analyse, "leaderboard": _leaderboard, "demo_report": _demo_report}

