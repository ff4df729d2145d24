"""The EGraFFBench evaluation end to end: ``egraff bench --preset smoke`` (or ``--plan plan.yaml``).

A plan (:mod:`egraff.bench.plan`, presets in ``plans/``) becomes a graph of jobs — teacher data
(fetch) → train → export → evaluate / md → analyse → leaderboard — run by :mod:`egraff.bench.engine`;
:mod:`egraff.bench.steps` holds what each job does and :mod:`egraff.bench.leaderboard` the output.

Why Dask (``dask.distributed``) and not Parsl or Snakemake:

- the jobs are Python functions with Python arguments (configs, frame sources, records), not shell
  commands with files as their only interface; Dask submits them as they are (``client.submit(f,
  job, *dependency_futures)``), where Snakemake wants a rule per step with file patterns and a
  wildcard scheme for case × model × seed, and would run Python through scripts or ``run:`` blocks;
- one graph, three places to run it: in this process (no Dask at all), a ``LocalCluster`` of worker
  processes, or any scheduler address — a dask-jobqueue ``SLURMCluster`` on a cluster — with no
  change to the plan or the code; Parsl offers the same range but through its own executor and
  provider configuration and app decorators, and adds no feature the benchmark needs;
- caching is ours either way: each job's directory is named by a content hash of its spec and of its
  dependencies' keys, with a completion record written last (``engine``), so Dask needs no
  persistent state and a killed run resumes from the records on disk; Snakemake's mtime-based
  rerun logic would fight that (and reruns on touched files), Parsl's memoisation is per process
  unless its checkpoint files are managed too;
- ``egraff md`` batches (egraff.md.run_plan) already run on Dask: one engine for simulations and
  benchmark, and ``md`` jobs call egraff.md's ``run_simulation`` directly.
"""

from __future__ import annotations

from pathlib import Path


class BenchError(ValueError):
    """A benchmark that cannot run (bad plan, missing data) or that failed, in one sentence."""


def registry_datasets(plan) -> list[str]:
    """The registry datasets a plan reads."""
    names = []
    for case in plan.cases:
        for source in case.train + case.val + case.test:
            if "dataset" in source and source["dataset"] not in names:
                names.append(source["dataset"])
    return names


def prepare(plan_name: str):
    """Check the plan and fetch (verify) its registry data; returns (plan, leaderboard job)."""
    from egraff import data
    from egraff.bench.plan import PlanError, load_plan, plan_jobs

    try:
        plan = load_plan(plan_name)
    except PlanError as err:
        raise BenchError(str(err)) from None
    for name in registry_datasets(plan):
        try:
            data.fetch(name, progress=False)
        except Exception as err:
            raise BenchError(f"dataset {name} is not available ({str(err).splitlines()[0]}); set EGRAFF_DATA_MIRROR "
                             "to the dataset mirror or go online once to fill the cache") from None
    return plan, plan_jobs(plan)


def describe(plan, leaderboard) -> str:
    """One line: the plan's size and its jobs by kind."""
    from egraff.bench.engine import graph

    jobs = graph([leaderboard])
    kinds = {kind: sum(j.kind == kind for j in jobs) for kind in dict.fromkeys(j.kind for j in jobs)}
    return (f"plan {plan.name}: {len(plan.cases)} cases x {len(plan.models)} models x {len(plan.seeds)} seeds; "
            f"{len(jobs)} jobs ({', '.join(f'{n} {k}' for k, n in kinds.items())})")


def run_bench(plan_name: str, output: str | Path, *, workers: int = 2, scheduler: str | None = None,
              progress: bool = True) -> Path:
    """Run (or reuse) every job of the plan under ``output/jobs``; returns the leaderboard's HTML file,
    also copied to ``output``."""
    import importlib.util

    from egraff.bench.engine import JobFailed, publish, run_jobs

    if (workers or scheduler) and importlib.util.find_spec("distributed") is None:
        raise BenchError("Dask is not installed: `pip install dask distributed`, or run in this process with --workers 0")
    _, leaderboard = prepare(plan_name)
    root = Path(output) / "jobs"
    try:
        run_jobs([leaderboard], root, workers=workers, scheduler=scheduler, progress=progress, title="bench")
    except JobFailed as err:
        raise BenchError(str(err)) from None
    publish(leaderboard, root, output)
    return Path(output) / "leaderboard.html"
