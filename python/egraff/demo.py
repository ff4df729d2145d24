"""The main job (``egraff demo`` / ``make demo``): offline water, from teacher data to an MD report.

1. **teacher data** — flexible SPC/Fw water (64 H2O) in LAMMPS with damped shifted-force Coulomb
   (``coulomb="dsf"``): the teacher is itself a local potential (every force term vanishes smoothly
   at 9 Å), so a short-range model's error is fitting error, not a missing long-range tail (with
   PPPM no local model can reproduce the labels). 200 NVT frames at 300 K for training and, from the
   last sampled state (``start.data``), the teacher's own NVE reference trajectory;
2. **train** a small NequIP (or Allegro) with egraff.train on the first 180 frames (20 for validation);
3. **export** it to a deployed file; **evaluate** it on the teacher's reference-trajectory frames
   (frames it never saw);
4. **MD**: ``lmp -in inputs/water_md.in -var model model.pt -var data start.data`` — NVT at 300 K
   from the teacher's start;
5. **analyze**: O–O/O–H/H–H RDFs of the model run against the teacher's run from the same start
   (the teacher's is NVE from the thermalised state, the model's the input's NVT at the same 300 K;
   Wright's factor, JSD), ADF JSD, EV/FV (the teacher evaluated on the model's frames), stability
   (temperature limit and Fu et al.'s bond criterion), MD speed;
6. **report**: ``report.md`` + ``report.html`` with PNGs.

The steps are jobs of :mod:`egraff.jobs` (steps from :mod:`egraff.benchmark.steps`, the report from
:mod:`egraff.benchmark.demo_report`): rerunning the demo reuses what is finished.
``--dataset water`` replaces the teacher by the registry's 192-atom DFT water set (train/val/test
splits, the first test frame as the MD start, the DFT test frames as the RDF reference; EV/FV need a
reference potential and are then n/a).
"""

from __future__ import annotations

from pathlib import Path

from egraff.benchmark.demo_report import write_demo_report
from egraff.benchmark.steps import (analyze_run, evaluate_on_test_frames, export_model, generate_teacher_data,
                                    prepare_reference, run_lammps_input, train_model, write_lammps_data)
from egraff.config import ConfigError
from egraff.files import file_sha256
from egraff.jobs import Job, publish, run_jobs

TEACHER_RUN = "data/water/liquid-300K"
MODELS = ("nequip", "allegro")
TIMESTEP_PS = 0.0005
DUMP_EVERY = 20


def demo_jobs(inputs: Path, *, dataset: str | None = None, model: str = "nequip", epochs: int = 20,
              steps: int = 4000) -> Job:
    """The job graph of the demo; returns its last job (the report)."""
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
    config = {"model": {"architecture": model, "preset": "tiny", "r_max": 4.5,
                        "hyperparameters": DEMO_SIZE[model]},
              "train": {"max_epochs": epochs, "batch_size": 4, "seed": 123},
              "optim": {"lr": 0.01, "plateau_patience": 3}, "loss": {"energy_weight": 1.0, "force_weight": 10.0}}
    if dataset is None:
        teacher = Job(generate_teacher_data,
                      {"system": "water", "options": {"temperatures": [300.0], "coulomb": "dsf", "n_molecules": 64},
                       "protocol": {"n_frames": 200, "trajectory_steps": steps, "trajectory_every": DUMP_EVERY}},
                      label="SPC/Fw water (DSF) at 300 K")
        deps = md_deps = {"teacher": teacher}  # frames and the MD start both come from the teacher
        train_source = {"teacher": "teacher", "take": [0, 180]}
        val_source = {"teacher": "teacher", "take": [180, 200]}
        reference = {"teacher": "teacher", "trajectory": True}
        start = {"role": "teacher", "path": f"{TEACHER_RUN}/start.data"}
        test = {**reference, "n": 40}
    else:
        train_source, val_source = {"dataset": dataset, "split": "train"}, {"dataset": dataset, "split": "val"}
        reference = test = {"dataset": dataset, "split": "test"}
        deps, md_deps = {}, {"start": Job(write_lammps_data, {"frames": reference, "frame": 0,
                                                              "type_names": ["O", "H"]},
                                          label=f"{dataset} test frame 0")}
        start = {"role": "start", "path": "start.data"}
    trained = Job(train_model, {"train": train_source, "val": val_source, "config": config}, deps, label=model)
    exported = Job(export_model, {}, {"model": trained}, label=model)
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
    return Job(write_demo_report, {"dataset": dataset or "teacher: SPC/Fw water, DSF Coulomb", "model": model},
               {"train": trained, "evaluate": evaluated, "md": simulated, "analyze": analyzed},
               label="report")


#: the demo model: the tiny preset widened a little (egraff.models presets are for tests)
DEMO_SIZE = {"nequip": {"num_features": 16}, "allegro": {}}


def run_demo(output: Path, inputs: Path, *, progress: bool = True, **options) -> Path:
    """Run (or reuse) every job of the demo under ``output/jobs``; the report is ``output/report.html``."""
    report_job = demo_jobs(inputs, **options)
    root = Path(output) / "jobs"
    run_jobs([report_job], root, workers=0, progress=progress, title="demo")
    publish(report_job, root, output)
    return Path(output) / "report.html"
