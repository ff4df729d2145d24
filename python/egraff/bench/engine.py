"""Jobs named by content, run once: the execution engine of ``egraff bench`` and ``egraff demo``.

A :class:`Job` is a step kind (a function in :data:`egraff.bench.steps.STEPS`), a JSON-able spec and
the jobs it depends on. Its directory is ``<root>/<kind>/<key>``, where the key is a sha256 of the
kind, the spec and the keys of its dependencies: two plans that share a step share its directory.

A job is *fresh*, and skipped, when its directory holds its completion record ``done.json`` (written
last, atomically), every output file the record lists still exists, and the record says it consumed
exactly the outputs its dependencies hold now (each record carries a random ``produced`` id, new
every time the step runs). So rerunning a plan does no work; deleting one model's checkpoint reruns
that training job and then, because its ``produced`` id changed, exactly the jobs downstream of it;
a killed run leaves directories without records, which the next run wipes and redoes.

:func:`run_jobs` runs a graph in this process one job after another (``workers=0``, no Dask needed),
on a Dask ``LocalCluster`` of ``workers`` processes with one thread each, or on an existing Dask
scheduler (``scheduler="tcp://host:8786"``, e.g. a dask-jobqueue ``SLURMCluster``'s address): the
same graph of the same pure functions in every case.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from egraff.files import atomic_path, atomic_write_text

RECORD = "done.json"
ENGINE_VERSION = 1


class JobFailed(RuntimeError):
    """One or more jobs of a graph raised; the message names the first and its error."""


@dataclass(eq=False)
class Job:
    kind: str  # a step of egraff.bench.steps.STEPS
    spec: dict  # everything the step computes from (JSON-able); paths inside are inputs, not outputs
    deps: dict = field(default_factory=dict)  # role -> Job
    label: str = ""  # what the progress display shows

    def __post_init__(self):
        payload = {"engine": ENGINE_VERSION, "kind": self.kind, "spec": self.spec,
                   "deps": {role: job.key for role, job in sorted(self.deps.items())}}
        self.key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def directory(self, root: str | Path) -> Path:
        return Path(root) / self.kind / self.key

    def describe(self) -> str:
        return f"{self.kind} {self.label or self.key}"


def read_record(job: Job, root: str | Path) -> dict | None:
    path = job.directory(root) / RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def is_fresh(record: dict | None, directory: Path, consumed: dict) -> bool:
    return (record is not None and record["inputs"] == consumed
            and all((directory / name).exists() for name in record["outputs"]))


def execute(job: Job, root: str, *dependency_records: dict) -> dict:
    """Run ``job`` unless it is fresh; return its record (with ``ran``: whether it ran now)."""
    from egraff.bench.steps import STEPS

    directory = job.directory(root)
    consumed = {role: record["produced"] for role, record in zip(sorted(job.deps), dependency_records)}
    record = read_record(job, root)
    if is_fresh(record, directory, consumed):
        return {**record, "ran": False}
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    dependencies = {role: job.deps[role].directory(root) for role in job.deps}
    started = time.perf_counter()
    summary, outputs = STEPS[job.kind](job.spec, dependencies, directory)
    record = {"kind": job.kind, "key": job.key, "label": job.label, "spec": job.spec, "inputs": consumed,
              "produced": uuid.uuid4().hex, "seconds": time.perf_counter() - started, "outputs": list(outputs),
              "summary": summary, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_text(directory / RECORD, json.dumps(record, indent=1, default=float) + "\n")
    return {**record, "ran": True}


def publish(job: Job, root: str | Path, destination: str | Path) -> list[Path]:
    """Copy the output files of the finished ``job`` into ``destination``, each atomically."""
    directory, destination = job.directory(root), Path(destination)
    copies = []
    for name in json.loads((directory / RECORD).read_text())["outputs"]:
        target = destination / Path(name).name
        with atomic_path(target) as temporary:
            shutil.copyfile(directory / name, temporary)
        copies.append(target)
    return copies


def graph(jobs: Sequence[Job]) -> list[Job]:
    """Every job needed by ``jobs`` (dependencies included), each key once, dependencies first."""
    ordered, seen = [], set()

    def visit(job):
        if job.key in seen:
            return
        for role in sorted(job.deps):
            visit(job.deps[role])
        seen.add(job.key)
        ordered.append(job)

    for job in jobs:
        visit(job)
    return ordered


def run_jobs(jobs: Sequence[Job], root: str | Path, *, workers: int = 0, scheduler: str | None = None,
             progress: bool = True, title: str = "jobs") -> dict[str, dict]:
    """Run the graph of ``jobs``; returns {key: record} for every job of the graph.

    Raises :class:`JobFailed` after the rest of the graph has run when any job raised.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # absolute: jobs hand paths to each other and to programs (lmp) that run in other directories
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    ordered = graph(jobs)
    records, failures = {}, {}
    columns = (TextColumn(f"[bold]{title}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("starting", total=len(ordered))

        def finished(job: Job, record: dict | None, error: BaseException | None):
            if error is not None:
                failures[job.key] = (job, error)
                text = f"[red]{job.describe()} failed[/]"
            else:
                records[job.key] = record
                text = f"{job.describe()} {'done' if record['ran'] else '(cached)'}"
            bar.update(task, advance=1, description=text)

        if workers == 0 and scheduler is None:
            for job in ordered:
                bar.update(task, description=f"running {job.describe()}")
                _run_here(job, str(root), records, finished)
        else:
            _run_on_dask(ordered, str(root), workers, scheduler, finished)
    if failures:
        job, error = next(iter(failures.values()))
        raise JobFailed(f"{len(failures)} job(s) failed; first: {job.describe()} in {job.directory(root)}: "
                        f"{type(error).__name__}: {error}")
    return records


def _run_here(job: Job, root: str, records: dict, finished: Callable) -> None:
    failed = [role for role, dep in job.deps.items() if dep.key not in records]
    if failed:
        finished(job, None, RuntimeError(f"its dependency {job.deps[failed[0]].describe()} failed"))
        return
    try:
        record = execute(job, root, *[records[job.deps[role].key] for role in sorted(job.deps)])
    except Exception as err:  # the rest of the graph goes on; run_jobs raises at the end
        finished(job, None, err)
        return
    finished(job, record, None)


def _run_on_dask(ordered: list[Job], root: str, workers: int, scheduler: str | None, finished: Callable) -> None:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None if scheduler else LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                                                  dashboard_address=None)
    try:
        with Client(scheduler or cluster) as client:
            futures = {}
            for job in ordered:
                futures[job.key] = client.submit(execute, job, root,
                                                 *[futures[job.deps[role].key] for role in sorted(job.deps)],
                                                 key=f"egraff-{job.kind}-{job.key}", pure=False)
            by_future = {future.key: job for job, future in zip(ordered, futures.values())}
            for future in as_completed(list(futures.values())):
                job = by_future[future.key]
                if future.status == "error":
                    finished(job, None, future.exception())
                else:
                    finished(job, future.result(), None)
    finally:
        if cluster is not None:
            cluster.close()
