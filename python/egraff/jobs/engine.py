"""Running job graphs: freshness, records, the journal, in this process or on Dask, with progress.

A job is *fresh*, and skipped, when its directory holds its record, every output file the record
lists still exists, and the record says it consumed exactly the outputs its dependencies hold now
(each record carries a random ``produced`` id, new every time the step runs). So rerunning a graph
does no work; deleting one output reruns that job and then, because its ``produced`` id changed,
exactly the jobs downstream of it. A job killed in any way leaves a directory without a record: the
next run wipes it and redoes that job alone (its lock, :mod:`egraff.jobs.lock`, says whether the
killed owner is really gone).

``<root>/journal.jsonl`` gets one line each time a job starts, finishes or fails (kind, key, PID,
host, time): what ran, when and how often.

Execution: in this process one job after another (``workers=0``, no Dask needed), on a Dask
``LocalCluster`` of ``workers`` processes with one thread each, or on an existing Dask scheduler
(``scheduler="tcp://host:8786"``, e.g. a dask-jobqueue ``SLURMCluster``'s address): the same graph of
the same functions in every case. Why Dask: the steps are Python functions with Python arguments,
submitted as they are (``client.submit(execute, job, *dependency_futures)``); one graph runs here, on a
local pool or on a batch cluster without changes; and caching stays ours (content keys and records on
disk), so Dask needs no persistent state and a killed run resumes from the records.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable, Sequence

from egraff.files import atomic_path, atomic_write_text
from egraff.jobs.job import RECORD, Job, step_identity
from egraff.jobs.lock import job_lock
from egraff.processes import keep_freed_memory, owner

JOURNAL = "journal.jsonl"


class JobFailed(RuntimeError):
    """One or more jobs of a graph raised; the message names the first and its error."""


def read_record(job: Job, root: str | Path) -> dict | None:
    path = job.directory(root) / RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def summary_of(directory: str | Path) -> dict:
    """The summary in the record of the finished job in ``directory`` (what a step reads of its inputs)."""
    return json.loads((Path(directory) / RECORD).read_text())["summary"]


def is_fresh(record: dict | None, directory: Path, consumed: dict) -> bool:
    return (record is not None and record["inputs"] == consumed
            and all((directory / name).exists() for name in record["outputs"]))


def _journal(root: Path, event: str, job: Job, **extra) -> None:
    line = json.dumps({"event": event, "kind": job.kind, "key": job.key, "label": job.label, **owner(),
                       "time": time.time(), **extra}) + "\n"
    fd = os.open(root / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one short O_APPEND write: lines of parallel workers never interleave
    finally:
        os.close(fd)


def read_journal(root: str | Path) -> list[dict]:
    path = Path(root) / JOURNAL
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def execute(job: Job, root: str | Path, *dependency_records: dict) -> dict:
    """Run ``job`` unless it is fresh; return its record (with ``ran``: whether it ran now)."""
    root = Path(root)
    directory = job.directory(root)
    consumed = {role: record["produced"] for role, record in zip(sorted(job.deps), dependency_records)}
    record = read_record(job, root)
    if is_fresh(record, directory, consumed):
        return {**record, "ran": False}
    with job_lock(directory.with_name(f"{job.key}.lock"), f"job {job.describe()} ({directory})"):
        record = read_record(job, root)  # another process may have finished it meanwhile
        if is_fresh(record, directory, consumed):
            return {**record, "ran": False}
        if directory.exists():  # an interrupted or outdated run: start from a clean directory
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        _journal(root, "start", job)
        keep_freed_memory()  # a Dask worker starts with a malloc that returns every freed tensor
        started = time.perf_counter()
        try:
            summary, outputs = job.step(job.spec, {role: job.deps[role].directory(root) for role in job.deps},
                                        directory)
            missing = [name for name in outputs if not (directory / name).exists()]
            if missing:
                raise RuntimeError(f"step {job.kind} did not write its output(s) {', '.join(missing)}")
        except BaseException as err:
            _journal(root, "fail", job, error=f"{type(err).__name__}: {err}")
            raise
        record = {"kind": job.kind, "key": job.key, "step": step_identity(job.step), "label": job.label,
                  "spec": job.spec, "inputs": consumed, "produced": uuid.uuid4().hex,
                  "seconds": time.perf_counter() - started, "outputs": list(outputs), "summary": summary,
                  "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write_text(directory / RECORD, json.dumps(record, indent=1, default=float) + "\n")
        _journal(root, "finish", job)
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


class JobEngine:
    """Where graphs run: this process (``workers=0``), a local Dask pool, or a Dask scheduler.

    Use it as a context manager and call :meth:`run` as often as needed (a graph that grows as results
    come in: ``egraff learn``); the Dask cluster lives as long as the engine."""

    def __init__(self, root: str | Path, *, workers: int = 0, scheduler: str | None = None, progress: bool = True,
                 title: str = "jobs"):
        # absolute: jobs hand paths to each other and to programs (lmp) that run in other directories
        self.root = Path(root).resolve()
        self.workers, self.scheduler, self.progress, self.title = workers, scheduler, progress, title
        self._client = self._cluster = None

    def __enter__(self) -> "JobEngine":
        self.root.mkdir(parents=True, exist_ok=True)
        if self.workers or self.scheduler:
            from dask.distributed import Client, LocalCluster

            if self.scheduler is None:
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None)
            self._client = Client(self.scheduler or self._cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def run(self, jobs: Sequence[Job]) -> dict[str, dict]:
        """Run the graph of ``jobs``; returns {key: record} for every job of it.

        Raises :class:`JobFailed` after the rest of the graph has run when any job raised."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        ordered = graph(jobs)
        records, failures = {}, {}
        columns = (TextColumn(f"[bold]{self.title}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.description}"))
        with Progress(*columns, disable=not self.progress) as bar:
            task = bar.add_task("starting", total=len(ordered))

            def finished(job: Job, record: dict | None, error: BaseException | None):
                if error is not None:
                    failures[job.key] = (job, error)
                    text = f"[red]{job.describe()} failed[/]"
                else:
                    records[job.key] = record
                    text = f"{job.describe()} {'done' if record['ran'] else '(cached)'}"
                bar.update(task, advance=1, description=text)

            if self._client is None:
                for job in ordered:
                    bar.update(task, description=f"running {job.describe()}")
                    self._run_here(job, records, finished)
            else:
                self._run_on_dask(ordered, records, finished)
        if failures:
            job, error = next(iter(failures.values()))
            raise JobFailed(f"{len(failures)} job(s) failed; first: {job.describe()} in {job.directory(self.root)}: "
                            f"{type(error).__name__}: {error}") from error  # callers may report the error itself
        return records

    def _run_here(self, job: Job, records: dict, finished: Callable) -> None:
        lost = _lost_dependency(job, records)
        if lost is not None:
            finished(job, None, lost)
            return
        try:
            record = execute(job, self.root, *[records[job.deps[role].key] for role in sorted(job.deps)])
        except Exception as err:  # the rest of the graph goes on; run raises at the end
            finished(job, None, err)
            return
        finished(job, record, None)

    def _run_on_dask(self, ordered: list[Job], records: dict, finished: Callable) -> None:
        """Submit each job once its dependencies have finished, with their records as plain values: a job
        handed futures of its dependencies is placed beside their results, and two long jobs could then
        queue on one worker while the other idles (seen: a committee's members trained one after the other)."""
        from dask.distributed import wait

        waiting, running, settled = list(ordered), {}, set()  # settled: finished or failed
        while waiting or running:
            for job in [job for job in waiting if all(dep.key in settled for dep in job.deps.values())]:
                waiting.remove(job)
                lost = _lost_dependency(job, records)
                if lost is not None:
                    settled.add(job.key)
                    finished(job, None, lost)
                    continue
                future = self._client.submit(execute, job, str(self.root),
                                             *[records[job.deps[role].key] for role in sorted(job.deps)],
                                             key=f"egraff-{job.kind}-{job.key}", pure=False)
                running[future] = job
            if not running:
                continue
            done, _ = wait(list(running), return_when="FIRST_COMPLETED")
            for future in done:
                job = running.pop(future)
                settled.add(job.key)
                if future.status == "error":
                    finished(job, None, future.exception())
                else:
                    finished(job, future.result(), None)


def _lost_dependency(job: Job, records: dict) -> RuntimeError | None:
    """The error of a job one of whose dependencies failed (has no record), or None."""
    lost = [role for role, dep in job.deps.items() if dep.key not in records]
    return RuntimeError(f"its dependency {job.deps[lost[0]].describe()} failed") if lost else None


def run_jobs(jobs: Sequence[Job], root: str | Path, *, workers: int = 0, scheduler: str | None = None,
             progress: bool = True, title: str = "jobs") -> dict[str, dict]:
    """Run the graph of ``jobs`` under ``root`` (see :class:`JobEngine`); returns {key: record}."""
    with JobEngine(root, workers=workers, scheduler=scheduler, progress=progress, title=title) as engine:
        return engine.run(jobs)
