"""The job steps of ``egraff learn`` (``step(spec, inputs, directory) -> (summary, outputs)``, see
:func:`egraff.jobs.job_step`); :mod:`egraff.learn.loop` chains them, iteration after iteration:

:func:`train_member` (× committee size; export: :func:`egraff.benchmark.steps.export_model`) →
:func:`explore` (× systems, frames, temperatures, seeds: LAMMPS MD watched by the committee) →
:func:`select_frames` (trust window, cap, convergence) → :func:`label_frame` (× selected frames) →
:func:`collect_frames` (the labelled frames so far: the next iteration's extra training data).
Frame sources name teacher data by the role of a dependency (:mod:`egraff.data.frames`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from egraff.config import merge
from egraff.data.frames import gather
from egraff.files import atomic_write_text
from egraff.jobs import job_step, summary_of

ADDED = "added.extxyz"  # a dataset job's frames: every frame the loop labelled so far
SELECTED = "selected.extxyz"  # a selection job's frames to label (no labels)
LABELLED = "labelled.extxyz"
DEVIATIONS = "deviations.npz"  # a selection job's traces: per exploration, deviation and temperature against time
#: a selection job's report of its iteration: numbers, figure, and the page showing both
ITERATION_REPORT = ("selection.json", "deviation.png", "iteration.md", "iteration.html")


@job_step("learn_train")
def train_member(spec: dict, inputs: dict, directory: Path):
    """One committee member: egraff.train with ``spec["config"]`` on ``spec["train"]`` plus the frames labelled
    so far (``inputs["added"]``), validated on ``spec["val"]``; warm-started from the previous iteration's
    member (``inputs["previous"]``) when there is one. Writes ``run/`` as the benchmark's train step does."""
    import lightning.pytorch  # noqa: F401  (it sets its logger's level on import; quieten it after that)

    from egraff.benchmark.steps import training_summary
    from egraff.data import read_extxyz
    from egraff.train import train
    from egraff.train.config import validate

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    frames = {role: gather(spec[role], inputs) for role in ("train", "val")}
    added = read_extxyz(inputs["added"] / ADDED) if "added" in inputs else []
    frames["train"] += added
    config = merge(spec["config"], {"output": {"dir": str(directory / "run")}, "train": {"progress": False}})
    if "previous" in inputs:
        config["model"]["initial_weights"] = str(inputs["previous"] / "run" / "best_model.pt")
    result = train(validate(config, frames_given=True), frames=frames)
    return {**training_summary(result, frames), "n_added": len(added), "seed": config["train"]["seed"],
            "warm_start": "previous" in inputs}, ["run/best_model.pt", "run/metrics.csv"]


@job_step("learn_explore")
def explore(spec: dict, inputs: dict, directory: Path):
    """One exploration: egraff.md's LAMMPS simulation of committee member 0 (``inputs["member00"]``) from frame
    ``spec["frame"]`` of ``spec["system"]``, the other members (``member01`` ...) watching it: their deviation
    in ``model_devi.out``, the run stopped (``fix halt``) when it passes ``spec["committee"]["max_force_deviation"]``."""
    from egraff.data import write_extxyz
    from egraff.md import SystemSource, simulate, single_spec

    source = SystemSource.model_validate(spec["system"])
    write_extxyz(directory / "start.extxyz", [gather(source, inputs)[spec["frame"]]])
    system = SystemSource(name=source.name, file=str(directory / "start.extxyz"), bond_reference=source.bond_reference)
    members = [str(inputs[role] / "model.pt") for role in sorted(inputs) if role.startswith("member")]  # member00, member01, ...
    simulation = single_spec(members[0], system, spec["temperature"], protocol=spec["protocol"], seed=spec["seed"],
                             watchdog=spec["watchdog"], committee={**spec["committee"], "members": members[1:]},
                             **spec["overrides"])
    summary = simulate(simulation, directory)
    return {**summary, "label": spec["label"]}, ["start.extxyz", *summary["files"].values()]


def _exploration_traces(directory: Path) -> dict:
    """An exploration's deviation rows, dumped frames and thermo, from its files."""
    from egraff.analysis import read_trajectory

    run = summary_of(directory)
    rows = np.loadtxt(directory / run["files"]["model_devi"], ndmin=2)
    thermo = np.genfromtxt(directory / run["files"]["thermo"], delimiter=",", names=True)
    trajectory = read_trajectory(directory / run["files"]["trajectory"], timestep=run["timestep_ps"])
    deviation_at = dict(zip(rows[:, 0].astype(int), rows[:, 4]))
    dumped = np.array([step in deviation_at for step in trajectory.steps])
    frame_devi_f = np.array([deviation_at[s] for s in trajectory.steps[dumped]])
    if run["failure_step"] is not None:  # the frames where the watchdog found the run broken: never labelled
        frame_devi_f[trajectory.steps[dumped] >= run["failure_step"]] = np.nan
    # nor frames that training would refuse (fused atoms: a committee that agrees on nonsense can miss them)
    frame_devi_f[[_fused(trajectory, frame) for frame in np.flatnonzero(dumped)]] = np.nan
    return {"run": run, "steps": rows[:, 0].astype(int), "max_devi_f": rows[:, 4], "trajectory": trajectory,
            "frames": np.flatnonzero(dumped), "frame_devi_f": frame_devi_f,
            "thermo_time_ps": np.atleast_1d(thermo["time_ps"]), "temperature": np.atleast_1d(thermo["temperature_K"])}


def _fused(trajectory, frame: int) -> bool:
    """Whether two atoms of the frame are closer than egraff.train accepts (:data:`egraff.train.data.MIN_DISTANCE`)."""
    from ase import Atoms

    from egraff.train.data import MIN_DISTANCE

    atoms = Atoms(positions=trajectory.positions[frame], cell=trajectory.cells[frame], pbc=trajectory.pbc)
    distances = atoms.get_all_distances(mic=bool(trajectory.pbc.any()))
    np.fill_diagonal(distances, np.inf)
    return bool(distances.min() < MIN_DISTANCE)


@job_step("learn_select", version=2)
def select_frames(spec: dict, inputs: dict, directory: Path):
    """The frames to label from the explorations (``inputs["explore000"]`` ...): candidates of the trust window
    ``[spec["lo"], spec["hi"])`` (:mod:`egraff.learn.selection`), at most ``spec["max_frames"]``, as
    ``selected.extxyz``; the deviation traces as ``deviations.npz``; whether the loop is done. The iteration's
    report: ``selection.json`` (stability, trust classes and frames selected per exploration) and
    ``deviation.png`` (max σ_F of every exploration against time, with the trust window), both on the page
    ``iteration.md`` / ``iteration.html``."""
    from ase import Atoms

    from egraff.analysis import plots
    from egraff.data import write_extxyz
    from egraff.benchmark.scores import save_npz
    from egraff.learn.selection import class_counts, is_converged, select_candidates

    lo, hi = spec["lo"], spec["hi"]
    runs = [_exploration_traces(inputs[role]) for role in sorted(inputs)]
    chosen = select_candidates([r["frame_devi_f"] for r in runs], lo, hi, spec["max_frames"])
    frames, traces = [], {}
    for n, (run_index, k) in enumerate(chosen):
        r = runs[run_index]
        t = r["trajectory"]
        frame = r["frames"][k]
        atoms = Atoms(symbols=list(t.symbols), positions=t.positions[frame], cell=t.cells[frame], pbc=t.pbc)
        if all(t.pbc):
            atoms.wrap()
        atoms.info.update(iteration=spec["iteration"], exploration=r["run"]["label"], step=int(t.steps[frame]),
                          time_ps=float(t.steps[frame] * t.timestep), max_force_deviation=float(r["frame_devi_f"][k]),
                          selected=n)
        frames.append(atoms)
    explorations = []
    for n, r in enumerate(runs):
        run = r["run"]
        traces.update({f"run{n}_time_ps": r["steps"] * run["timestep_ps"], f"run{n}_max_devi_f": r["max_devi_f"],
                       f"run{n}_thermo_time_ps": r["thermo_time_ps"], f"run{n}_temperature": r["temperature"]})
        explorations.append({
            "label": run["label"], "status": run["status"], "failure_reason": run["failure_reason"],
            "stable_ps": run["time_to_failure_ps"] if run["status"] == "failed" else run["simulated_time_ps"],
            "requested_ps": run["requested_ps"], "temperature_K": run["temperature_K"],
            "counts": class_counts([r["max_devi_f"]], lo, hi), "max_devi_f": float(np.nanmax(r["max_devi_f"])),
            "selected": sum(1 for i, _ in chosen if i == n)})
    counts = class_counts([r["max_devi_f"] for r in runs], lo, hi)
    completed = all(e["status"] == "completed" for e in explorations)
    write_extxyz(directory / SELECTED, frames)
    save_npz(directory / DEVIATIONS, **traces)
    plots.deviation_traces([(f"iteration {spec['iteration']}: {len(frames)} frames selected",
                             [(e["label"] + ("" if e["status"] == "completed" else f" (stopped at {e['stable_ps']:.3g} ps)"),
                               traces[f"run{n}_time_ps"], traces[f"run{n}_max_devi_f"])
                              for n, e in enumerate(explorations)])],
                           lo, hi, spec["halt"], directory / ITERATION_REPORT[1], columns=1)
    summary = {"iteration": spec["iteration"], "lo": lo, "hi": hi, "explorations": explorations, "counts": counts,
               "fraction_above_lo": (counts["candidate"] + counts["failed"]) / max(sum(counts.values()), 1),
               "all_completed": completed,
               "converged": is_converged(completed, counts, spec["fraction_above_lo"]),
               "n_selected": len(frames)}
    atomic_write_text(directory / ITERATION_REPORT[0], json.dumps(summary, indent=1) + "\n")
    _iteration_page(summary, spec["halt"], directory / "iteration")
    return summary, [SELECTED, DEVIATIONS, *ITERATION_REPORT]


def _iteration_page(summary: dict, halt: float | None, path: Path) -> None:
    """``iteration.md`` and ``iteration.html``: each exploration's outcome and the frames chosen to label."""
    from egraff.benchmark.report import Document

    lo, hi = summary["lo"], summary["hi"]
    doc = Document(f"egraff learn: iteration {summary['iteration']}")
    doc.paragraph(f"{summary['n_selected']} frame(s) selected to label (max σ_F in [{lo:g}, {hi:g}) eV/Å); "
                  f"{summary['fraction_above_lo']:.1%} of the explored frames at or above {lo:g} eV/Å; "
                  + ("every exploration ran its full length" if summary["all_completed"] else
                     "an exploration stopped early") + ("; the loop is done." if summary["converged"] else "."))
    doc.table(["exploration", "outcome", "stable (ps)", "largest max σ_F (eV/Å)", "accurate / candidate / failed",
               "selected"],
              [[e["label"], "completed" if e["status"] == "completed" else f"stopped: {e['failure_reason']}",
                f"{e['stable_ps']:.3g} / {e['requested_ps']:.3g}", f"{e['max_devi_f']:.3g}",
                f"{e['counts']['accurate']} / {e['counts']['candidate']} / {e['counts']['failed']}", str(e["selected"])]
               for e in summary["explorations"]])
    doc.image(ITERATION_REPORT[1], "max σ_F against time in each exploration, with the trust window"
                                   + (f" and the halt at {halt:g} eV/Å" if halt else ""))
    doc.write(path)


@job_step("learn_label")
def label_frame(spec: dict, inputs: dict, directory: Path):
    """Frame ``spec["index"]`` of the selection (``inputs["selection"]``) labelled by ``spec["reference"]``."""
    from egraff.data import read_extxyz, write_extxyz
    from egraff.learn.config import ReferenceSection
    from egraff.learn.reference import label

    atoms = read_extxyz(inputs["selection"] / SELECTED)[spec["index"]]
    labelled = label(ReferenceSection.model_validate(spec["reference"]), atoms, directory)
    write_extxyz(directory / LABELLED, [labelled])
    return {"exploration": atoms.info["exploration"], "step": int(atoms.info["step"]),
            "energy": labelled.get_potential_energy()}, [LABELLED]


@job_step("learn_data", version=2)
def collect_frames(spec: dict, inputs: dict, directory: Path):
    """Every frame the loop labelled so far: the previous iteration's (``inputs["previous"]``) and this one's
    (``inputs["frame000"]`` ...), as ``added.extxyz`` — except this iteration's frames whose largest reference
    force exceeds ``spec["max_force"]`` (eV/Å; None: no limit), listed in the summary as ``beyond_max_force``."""
    from egraff.data import read_extxyz, write_extxyz

    frames = read_extxyz(inputs["previous"] / ADDED) if "previous" in inputs else []
    new = [atoms for role in sorted(inputs) if role.startswith("frame") for atoms in read_extxyz(inputs[role] / LABELLED)]
    cap = spec.get("max_force")
    largest = [float(np.linalg.norm(atoms.get_forces(), axis=1).max()) for atoms in new]
    kept = [atoms for atoms, force in zip(new, largest) if cap is None or force <= cap]
    beyond = [{"exploration": atoms.info.get("exploration"), "step": int(atoms.info.get("step", -1)),
               "max_force": force} for atoms, force in zip(new, largest) if cap is not None and force > cap]
    write_extxyz(directory / ADDED, frames + kept)
    return {"iteration": spec["iteration"], "n_new": len(kept), "n_frames": len(frames) + len(kept),
            "max_force": cap, "beyond_max_force": beyond}, [ADDED]
