"""The main job (``egraff demo`` / ``make demo``): offline water, from teacher data to a stable model.

1. **teacher data** — flexible SPC/Fw water (64 H2O) in LAMMPS with damped shifted-force Coulomb
   (``coulomb="dsf"``): the teacher is itself a local potential (every force term vanishes smoothly
   at 9 Å), so a short-range model's error is fitting error, not a missing long-range tail (with
   PPPM no local model can reproduce the labels). 200 NVT frames at 300 K for training and, from the
   last sampled state (``start.data``), the teacher's own NVE reference trajectory;
2. **iteration 0** of ``egraff learn`` (:mod:`egraff.learn.loop`): a committee of two small NequIPs (or
   Allegros, float32) trained on the first 180 frames (the last 20 validate), each exported; two LAMMPS
   explorations, at 300 K and 400 K (as long as the final run), from the teacher's start, driven by model 0 and
   watched by model 1 (``pair_style egraff committee``) and by Fu et al.'s bond criterion: the model
   fails within the run, and the committee's force deviation rises before it;
3. **the loop**: frames whose deviation lies in the trust window are labelled by the teacher and added,
   the committee is retrained (warm start) and explores again, until every exploration runs its full
   length with few uncertain frames (or ``iterations`` ran);
4. **the final model** (the last iteration's model 0) in the users' input:
   ``lmp -in inputs/water_md.in -var model model.pt -var data start.data`` — NVT at 300 K from the
   teacher's start; evaluated on the teacher's reference-trajectory frames (frames it never saw);
5. **analyze**: O–O/O–H/H–H RDFs of that run against the teacher's run from the same start (the
   teacher's is NVE from the thermalised state, the model's the input's NVT at the same 300 K; Wright's
   factor, JSD), ADF JSD, EV/FV (the teacher evaluated on the model's frames), stability (temperature
   limit and Fu et al.'s bond criterion), MD speed;
6. **report**: ``report.md`` + ``report.html`` with PNGs: the loop (iteration 0 failing, the deviation
   before the failure, frames added, stable time per iteration) and the final model's run.

Every step is a job of :mod:`egraff.jobs` on one engine (two worker processes: the committee trains and
explores in parallel): rerunning the demo reuses what is finished. ``--iterations 0`` skips the loop
(one model, as trained at iteration 0). ``--dataset water`` replaces the teacher by the registry's
192-atom DFT water set (train/val/test splits, the first test frame as the MD start, the DFT test frames
as the RDF reference); with no reference method to label new frames there is no loop, and EV/FV need a
reference potential and are n/a.
"""

from __future__ import annotations

from pathlib import Path

from egraff.demo_report import write_demo_report
from egraff.benchmark.steps import (analyze_run, evaluate_on_test_frames, export_model, generate_teacher_data,
                                    prepare_reference, run_lammps_input, train_model, write_lammps_data)
from egraff.config import ConfigError
from egraff.files import file_sha256
from egraff.jobs import Job, JobEngine, publish

TEACHER_RUN = "data/water/liquid-300K"
MODELS = ("nequip", "allegro")
TIMESTEP_PS = 0.0005
DUMP_EVERY = 20
#: the demo model: the tiny preset widened a little (egraff.models presets are for tests)
DEMO_SIZE = {"nequip": {"num_features": 16}, "allegro": {}}
#: the teacher's frames (job role ``teacher``): the first 180 sampled for training, the last 20 for validation,
#: and 40 of its NVE reference trajectory as test frames
DEMO_FRAMES = {"train": {"teacher": "teacher", "take": [0, 180]}, "val": {"teacher": "teacher", "take": [180, 200]},
               "test": {"teacher": "teacher", "trajectory": True, "n": 40}}
#: the loop's settings for the demo's committee of two (max σ_F in eV/Å; a fresh pair of demo models
#: disagrees by 0.15-0.35 eV/Å on the teacher's own frames, and by > 0.6 eV/Å shortly before a collapse)
DEMO_LEARN = {"committee": {"size": 2}, "trust": {"lo": 0.35, "hi": 1.2, "halt": 2.0},
              # the teacher's 300 K frames have forces up to 4.3 eV/Å; a labelled frame above 10 eV/Å is a broken
              # molecule that the bonded teacher labels with its harmonic bonds (up to 320 eV/Å seen)
              "select": {"max_frames": 30, "max_force": 10.0}, "convergence": {"fraction_above_lo": 0.1}}
EXPLORE_DUMP_EVERY = 10  # a model that fails within 0.2 ps leaves few frames before it: dump (and watch) often


def training_config(model: str, epochs: int) -> dict:
    # float32: 1.3x faster to train on a CPU than float64, and the budget is training
    return {"model": {"architecture": model, "preset": "tiny", "r_max": 4.5, "dtype": "float32",
                      "hyperparameters": DEMO_SIZE[model]},
            "train": {"max_epochs": epochs, "batch_size": 4, "seed": 123},
            "optim": {"lr": 0.01, "plateau_patience": 3}, "loss": {"energy_weight": 1.0, "force_weight": 10.0}}


def learn_config(model: str, epochs: int, steps: int, iterations: int):
    """The :class:`egraff.learn.LearnConfig` of the demo's loop on the teacher job (role ``teacher``)."""
    from egraff.config import validate
    from egraff.learn.config import LearnConfig

    raw = {"data": DEMO_FRAMES,
           "training": training_config(model, epochs),
           "retrain": {"train": {"max_epochs": max(1, epochs // 4)}, "optim": {"lr": 0.005}},
           "explore": {"systems": [{"name": "water", "teacher": "teacher", "trajectory": True}], "frames": [0],
                       # 400 K beside the final run's 300 K: rare 300 K events come sooner (the 300 K-only
                       # loop's model failed at 10.8 ps at 300 K and 2.3 ps at 400 K)
                       "temperatures": [300.0, 400.0], "seeds": [0], "protocol": "fu-water",
                       "overrides": {"steps": steps, "timestep_fs": TIMESTEP_PS * 1000,
                                     "dump_every": EXPLORE_DUMP_EVERY, "check_every": EXPLORE_DUMP_EVERY},
                       # Fu et al.'s bond criterion, as the final analysis judges the run (the box is periodic)
                       "watchdog": {"bond_check": True}},
           "reference": {"teacher": "water-spcfw", "options": {"coulomb": "dsf"}},
           **DEMO_LEARN}
    raw["convergence"] = {**raw["convergence"], "max_iterations": max(1, iterations)}
    return validate(LearnConfig, raw, context={"frames_given": True})


def _check(inputs: Path, dataset: str | None, model: str, epochs: int, steps: int, iterations: int) -> Path:
    from egraff.data import dataset_names

    input_file = (Path(inputs) / "water_md.in").resolve()
    if not input_file.is_file():
        raise ConfigError(f"{input_file} not found: run the demo from the egraff checkout or pass --inputs")
    if model not in MODELS:
        raise ConfigError(f"the demo trains nequip or allegro (strictly local, fast on a CPU), not {model!r}")
    if dataset is not None and dataset not in dataset_names():
        raise ConfigError(f"unknown dataset {dataset!r}; use a registry name such as water (egraff data list)")
    if epochs < 1 or steps < 200:
        raise ConfigError("give at least 1 epoch and 200 MD steps (the RDFs need frames)")
    if iterations < 0:
        raise ConfigError(f"--iterations {iterations}: give 0 (no loop) or more")
    return input_file


def teacher_job(steps: int) -> Job:
    return Job(generate_teacher_data,
               {"system": "water", "options": {"temperatures": [300.0], "coulomb": "dsf", "n_molecules": 64},
                "protocol": {"n_frames": 200, "trajectory_steps": steps, "trajectory_every": DUMP_EVERY}},
               label="SPC/Fw water (DSF) at 300 K")


def final_jobs(input_file: Path, trained: Job, exported: Job, *, dataset: str | None, teacher: Job | None,
               steps: int, model: str, learn: dict | None = None, learn_deps: dict | None = None) -> Job:
    """The final model's evaluation, ``water_md.in`` run and analysis, and the report; returns the report."""
    if dataset is None:
        deps = md_deps = {"teacher": teacher}  # frames and the MD start both come from the teacher
        reference, test = {"teacher": "teacher", "trajectory": True}, DEMO_FRAMES["test"]
        start = {"role": "teacher", "path": f"{TEACHER_RUN}/start.data"}
    else:
        reference = test = {"dataset": dataset, "split": "test"}
        deps, md_deps = {}, {"start": Job(write_lammps_data, {"frames": reference, "frame": 0,
                                                              "type_names": ["O", "H"]},
                                          label=f"{dataset} test frame 0")}
        start = {"role": "start", "path": "start.data"}
    evaluated = Job(evaluate_on_test_frames, {"test": test}, {"model": exported, **deps}, label="test frames")
    variables = {"model": {"role": "model", "path": "model.pt"}, "data": start, "steps": steps, "temp": 300,
                 "dt": TIMESTEP_PS, "dump_every": DUMP_EVERY, "thermo_every": 100, "out": "water_md"}
    simulated = Job(run_lammps_input, {"input": str(input_file), "input_sha256": file_sha256(input_file),
                                       "variables": variables}, {"model": exported, **md_deps}, label="water_md.in")
    # Fu et al.'s RDF criterion judges 1 ps windows: too coarse for a 2 ps run; the O-H bonds are sharp
    frames = Job(prepare_reference, {"frames": reference, "starts": 1, "start_every": 1},
                 deps, label="reference frames")
    analyzed = Job(analyze_run, {"reference": reference, "bond_criterion": True, "rdf_criterion": False},
                   {"md": simulated, "model": exported, "reference": frames, **deps}, label="model vs reference")
    return Job(write_demo_report, {"dataset": dataset or "teacher: SPC/Fw water, DSF Coulomb", "model": model,
                                   "learn": learn},
               {"train": trained, "evaluate": evaluated, "md": simulated, "analyze": analyzed, **(learn_deps or {})},
               label="report")


def run_demo(output: Path, inputs: Path, *, dataset: str | None = None, model: str = "nequip", epochs: int = 20,
             steps: int = 4000, iterations: int = 5, progress: bool = True) -> Path:
    """Run (or reuse) every job of the demo under ``output/jobs``; the report is ``output/report.html``, the
    loop's iterations (committees, deviation traces, labelled frames) under ``output/iterations``."""
    from egraff.learn.loop import publish_iterations, run_loop
    from egraff.learn.report import report_deps, report_spec

    input_file = _check(inputs, dataset, model, epochs, steps, iterations)
    root = Path(output) / "jobs"
    looping = dataset is None and iterations > 0
    teacher = teacher_job(steps) if dataset is None else None
    with JobEngine(root, workers=2 if looping else 0, progress=progress, title="demo") as engine:
        if looping:
            config = learn_config(model, epochs, steps, iterations)
            result = run_loop(config, engine, base={"teacher": teacher})
            last = result.last
            report = final_jobs(input_file, last.trains[0], last.exports[0], dataset=None, teacher=teacher,
                                steps=steps, model=model, learn=report_spec(config, result),
                                learn_deps=report_deps(result))
        else:
            if dataset is None:
                train, val, deps = DEMO_FRAMES["train"], DEMO_FRAMES["val"], {"teacher": teacher}
            else:
                train, val, deps = {"dataset": dataset, "split": "train"}, {"dataset": dataset, "split": "val"}, {}
            trained = Job(train_model, {"train": train, "val": val, "config": training_config(model, epochs)},
                          deps, label=model)
            exported = Job(export_model, {}, {"model": trained}, label=model)
            report = final_jobs(input_file, trained, exported, dataset=dataset, teacher=teacher, steps=steps,
                                model=model)
        engine.run([report])
    if looping:
        publish_iterations(result, root, Path(output) / "iterations")
    publish(report, root, output)
    return Path(output) / "report.html"
