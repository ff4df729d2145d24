"""The EGraFFBench evaluation end to end: ``egraff benchmark --preset smoke`` (or ``--plan plan.yaml``).

A plan (:mod:`egraff.benchmark.plan`, the study's tasks in :mod:`egraff.benchmark.tasks`, presets in
``plans/``) becomes a graph of jobs (:mod:`egraff.benchmark.graph`) — teacher data → train → export →
evaluate / md → analyze → leaderboard — run by the job engine :mod:`egraff.jobs` (in this process, on
a local Dask pool or on a Dask scheduler); :mod:`egraff.benchmark.steps` holds what each job does,
:mod:`egraff.benchmark.leaderboard` the output.
"""

from __future__ import annotations

from pathlib import Path


def prepare(plan_name: str, overrides=(), *, resolve: bool = False):
    """Check the plan and fetch (verify) its registry data; with ``resolve``, also read every registry frame
    source it names (each split, composition and cut), so a missing or short split fails here; returns
    (plan, leaderboard job)."""
    from egraff import data
    from egraff.benchmark.graph import plan_jobs
    from egraff.benchmark.plan import load_plan
    from egraff.data.download import DownloadError

    plan = load_plan(plan_name, overrides)
    for name in plan.registry_datasets():
        try:
            data.fetch(name, progress=False)
        except Exception as err:
            raise DownloadError(f"dataset {name} is not available ({str(err).splitlines()[0]}); set "
                                "EGRAFF_DATA_MIRROR to the dataset mirror or go online once to fill the cache") from None
    if resolve:
        resolve_sources(plan)
    return plan, plan_jobs(plan)


def resolve_sources(plan) -> None:
    """Read every registry frame source of the plan's cases (teacher frames exist only once generated)."""
    from egraff.config import ConfigError
    from egraff.data.frames import as_sources

    seen = set()
    for case in plan.cases:
        for role, sources in (("train", case.train), ("val", case.val), ("test", case.test),
                              *((f"reference {g}", s) for g, s in case.references.items())):
            for source in as_sources(sources):
                key = source.model_dump_json()
                if source.dataset is None or key in seen:
                    continue
                seen.add(key)
                try:
                    source.load()
                except ConfigError as err:
                    raise ConfigError(f"case {case.name}, {role} frames: {err}") from None


def describe(plan, leaderboard) -> str:
    """One line: the plan's size and its jobs by kind."""
    from egraff.jobs import graph

    jobs = graph([leaderboard])
    kinds = {kind: sum(j.kind == kind for j in jobs) for kind in dict.fromkeys(j.kind for j in jobs)}
    return (f"plan {plan.name}: {len(plan.cases)} cases x {len(plan.model_entries)} models x {len(plan.seeds)} seeds; "
            f"{len(jobs)} jobs ({', '.join(f'{n} {k}' for k, n in kinds.items())})")


def run_benchmark(plan_name: str, output: str | Path, *, overrides=(), workers: int = 2, scheduler: str | None = None,
                  progress: bool = True) -> Path:
    """Run (or reuse) every job of the plan under ``output/jobs``; returns the leaderboard's HTML file,
    also copied to ``output``. Raises :class:`egraff.jobs.JobFailed` when a job failed."""
    from egraff.jobs import publish, run_jobs

    _, leaderboard = prepare(plan_name, overrides)
    root = Path(output) / "jobs"
    run_jobs([leaderboard], root, workers=workers, scheduler=scheduler, progress=progress, title="benchmark")
    publish(leaderboard, root, output)
    return Path(output) / "leaderboard.html"
