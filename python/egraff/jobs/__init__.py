"""Jobs named by content, run once, resumed after any interruption: the one engine under ``egraff md run``,
``egraff benchmark``, ``egraff demo`` (and ``egraff learn``).

A :class:`Job` is a step function, a JSON-able spec and the jobs it depends on (by role). Its
directory is ``<root>/<kind>/<key>``, the key a sha256 of the step's identity (qualified name and
version), the spec and the keys of its dependencies; the completion record ``record.json`` is written
last, atomically. The engine imports no step: every job carries its own.

::

    from egraff.jobs import Job, job_step, run_jobs

    @job_step("square")
    def square(spec, inputs, directory):          # inputs: {role: directory of that dependency}
        (directory / "out.txt").write_text(str(spec["x"] ** 2))
        return {"x": spec["x"]}, ["out.txt"]      # summary (into the record), output files

    records = run_jobs([Job(square, {"x": 3})], "runs", workers=2)   # {key: record}

    with JobEngine("runs", workers=2) as engine:  # a graph that grows as results come in
        first = engine.run(jobs)
        more = engine.run(next_jobs(first))

Modules: ``job`` (Job, keys, step marking), ``engine`` (freshness, records, journal, local and Dask
execution, progress), ``lock`` (one writer per job directory).
"""

from egraff.jobs.engine import (JobEngine, JobFailed, graph, publish, read_journal, read_record, run_jobs,
                                summary_of)
from egraff.jobs.job import RECORD, Job, job_step
from egraff.jobs.lock import JobBusy

__all__ = ["RECORD", "Job", "JobBusy", "JobEngine", "JobFailed", "graph", "job_step", "publish", "read_journal",
           "read_record", "run_jobs", "summary_of"]
