"""The active-learning loop on the job engine: one iteration's jobs, run, judged, and the next iteration's.

Iteration i: ``committee.size`` members trained (seeds ``training.train.seed + k``; from iteration 1 on with
``retrain`` applied and, with ``committee.warm_start``, from the previous iteration's member k) and exported
→ one exploration per system × frame × temperature × seed, watched by the committee → the selection
(:mod:`egraff.learn.selection`) → if the loop is not done, one label job per selected frame and the
dataset of every frame labelled so far, which the next iteration trains on.

Every decision is read from finished job records (the selection's summary), and the jobs are named by
their content, so a rerun of the same config rebuilds the same graph, finds every finished job and
recomputes nothing; after ``kill -9`` at any point only the unfinished jobs run again. With
``workers``/``scheduler`` the same graph runs on Dask (committee members, explorations and labels of an
iteration in parallel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from egraff.config import ConfigError
from egraff.jobs import Job, JobEngine, JobFailed
from egraff.learn.config import LearnConfig
from egraff.learn.selection import empty_selection
from egraff.learn.steps import (DEVIATIONS, ITERATION_REPORT, SELECTED, collect_frames, explore, label_frame,
                                select_frames, train_member)


class EmptySelection(ConfigError):
    """An iteration that is not done found no frame in the trust window: the config must change."""


@dataclass
class Iteration:
    """The jobs of one iteration (``labels`` and ``data`` only when it is not the last)."""

    index: int
    trains: list[Job]
    exports: list[Job]
    explorations: list[Job]
    selection: Job
    evaluation: Job | None
    previous_data: Job | None = None  # every frame labelled before this iteration
    labels: list[Job] = field(default_factory=list)
    data: Job | None = None  # ... and with this iteration's
    summary: dict = field(default_factory=dict)  # the selection's


@dataclass
class LoopResult:
    iterations: list[Iteration]
    converged: bool
    stopped: str | None = None  # why the loop stopped before it converged or ran out of iterations

    @property
    def last(self) -> Iteration:
        return self.iterations[-1]


def _sources(sources) -> list[dict]:
    return [source.model_dump(exclude_defaults=True) for source in sources]


def iteration_jobs(config: LearnConfig, index: int, previous: Iteration | None, base: dict[str, Job]) -> Iteration:
    """The training, exploration, selection and evaluation jobs of iteration ``index``."""
    from egraff.benchmark.steps import evaluate_on_test_frames, export_model

    trains, exports = [], []
    for k in range(config.committee.size):
        deps = dict(base)
        if previous is not None:
            deps["added"] = previous.data
            if config.committee.warm_start:
                deps["previous"] = previous.trains[k]
        trains.append(Job(train_member, {"config": config.training_config(index, k), "train": _sources(config.data.train),
                                         "val": _sources(config.data.val)}, deps, label=f"iteration {index} model {k}"))
        exports.append(Job(export_model, {}, {"model": trains[-1]}, label=f"iteration {index} model {k}"))
    members = {f"member{k:02d}": job for k, job in enumerate(exports)}
    e = config.explore
    committee = {"every": config.deviation_every, "max_force_deviation": config.trust.halt}
    explorations = []
    for system in e.systems:
        for frame in e.frames:
            for temperature in e.temperatures:
                for seed in e.seeds:
                    label = f"{system.name}[{frame}] {temperature:g} K seed {seed}"
                    spec = {"system": system.model_dump(exclude_defaults=True), "frame": frame,
                            "temperature": float(temperature), "seed": seed, "protocol": e.protocol,
                            "overrides": e.overrides, "watchdog": e.watchdog.model_dump(), "committee": committee,
                            "label": label}
                    explorations.append(Job(explore, spec, {**members, **base}, label=f"iteration {index} {label}"))
    selection = Job(select_frames, {"iteration": index, "lo": config.trust.lo, "hi": config.trust.hi,
                                    "halt": config.trust.halt,
                                    "max_frames": config.select.max_frames,
                                    "fraction_above_lo": config.convergence.fraction_above_lo},
                    {f"explore{n:03d}": job for n, job in enumerate(explorations)}, label=f"iteration {index}")
    evaluation = None
    if config.data.test:
        evaluation = Job(evaluate_on_test_frames, {"test": _sources(config.data.test)}, {"model": exports[0], **base},
                         label=f"iteration {index} model 0")
    return Iteration(index, trains, exports, explorations, selection, evaluation,
                     previous_data=previous.data if previous is not None else None)


def label_jobs(config: LearnConfig, iteration: Iteration) -> None:
    """The label jobs of the iteration's selected frames and the dataset they join (set on ``iteration``)."""
    reference = config.reference.model_dump(exclude_defaults=True)
    iteration.labels = [Job(label_frame, {"reference": reference, "index": n}, {"selection": iteration.selection},
                            label=f"iteration {iteration.index} frame {n}")
                        for n in range(iteration.summary["n_selected"])]
    deps = {f"frame{n:03d}": job for n, job in enumerate(iteration.labels)}
    if iteration.previous_data is not None:
        deps["previous"] = iteration.previous_data
    iteration.data = Job(collect_frames, {"iteration": iteration.index, "max_force": config.select.max_force}, deps,
                         label=f"iteration {iteration.index}")


def run_jobs_reporting_input_errors(engine: JobEngine, jobs: list[Job]) -> dict:
    """``engine.run(jobs)``; a job that failed on bad input (a :class:`ConfigError`, e.g. a reference that
    fails on a frame) is reported as that error, its sentence intact."""
    try:
        return engine.run(jobs)
    except JobFailed as err:
        if isinstance(err.__cause__, ConfigError):
            raise err.__cause__ from None
        raise


def run_loop(config: LearnConfig, engine: JobEngine, base: dict[str, Job] | None = None) -> LoopResult:
    """Iterate until the loop is done (``convergence``), ``convergence.max_iterations`` ran, or an iteration
    that is not done selected nothing to label (``stopped`` says why); ``base`` are jobs the frame sources
    name by role (e.g. ``{"teacher": teacher_job}``)."""
    base = dict(base or {})
    iterations: list[Iteration] = []
    for index in range(config.convergence.max_iterations):
        previous = iterations[-1] if iterations else None
        iteration = iteration_jobs(config, index, previous, base)
        wanted = [iteration.selection] + ([iteration.evaluation] if iteration.evaluation else [])
        records = run_jobs_reporting_input_errors(engine, wanted)
        iteration.summary = records[iteration.selection.key]["summary"]
        iterations.append(iteration)
        if iteration.summary["converged"]:
            return LoopResult(iterations, True)
        if index + 1 == config.convergence.max_iterations:
            break
        if iteration.summary["n_selected"] == 0:
            return LoopResult(iterations, False, empty_selection(iteration.summary["counts"], config.trust.lo,
                                                                 config.trust.hi, index))
        label_jobs(config, iteration)
        run_jobs_reporting_input_errors(engine, [iteration.data])
    return LoopResult(iterations, False)


@dataclass
class LearnResult:
    converged: bool
    iterations: int
    report: Path
    models: list[Path]  # the last iteration's committee, member 0 first


def run_learn(config: LearnConfig, output: str | Path, *, workers: int = 0, scheduler: str | None = None,
              progress: bool = True) -> LearnResult:
    """``egraff learn``: the loop under ``output/jobs``, each iteration's models, data and deviation traces
    under ``output/iterations/<i>``, and ``output/report.html`` (with ``report.md`` and PNGs)."""
    from egraff.jobs import publish
    from egraff.learn.report import learn_report_job

    output = Path(output)
    with JobEngine(output / "jobs", workers=workers, scheduler=scheduler, progress=progress, title="learn") as engine:
        result = run_loop(config, engine)
        if result.stopped:
            raise EmptySelection(result.stopped)
        report = learn_report_job(config, result)
        engine.run([report])
    publish_iterations(result, engine.root, output / "iterations")
    publish(report, engine.root, output)
    models = sorted((output / "iterations" / f"{result.last.index:03d}" / "models").glob("model_*.pt"))
    return LearnResult(result.converged, len(result.iterations), output / "report.html", models)


def publish_iterations(result: LoopResult, root: Path, destination: Path) -> None:
    """Each iteration's committee (``models/model_<k>.pt``), report, deviation traces and selection (``selection/``,
    ``explore/<n>/model_devi.out``) and the labelled frames so far (``data/added.extxyz``), copied out of
    the job directories."""
    import shutil

    from egraff.files import atomic_path

    def copy(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as temporary:
            shutil.copyfile(source, temporary)

    for iteration in result.iterations:
        where = destination / f"{iteration.index:03d}"
        for k, job in enumerate(iteration.exports):
            copy(job.directory(root) / "model.pt", where / "models" / f"model_{k}.pt")
        for name in (SELECTED, DEVIATIONS, *ITERATION_REPORT):
            copy(iteration.selection.directory(root) / name, where / "selection" / name)
        for n, job in enumerate(iteration.explorations):
            for name in ("model_devi.out", "thermo.csv"):
                copy(job.directory(root) / name, where / "explore" / f"{n:03d}" / name)
        if iteration.data is not None:
            copy(iteration.data.directory(root) / "added.extxyz", where / "data" / "added.extxyz")
