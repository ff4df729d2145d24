"""A checked plan as a job graph: teacher data → train → export → evaluate / md → analyze → leaderboard."""

from __future__ import annotations

import copy

from egraff.benchmark.leaderboard import write_leaderboard
from egraff.benchmark.plan import BenchmarkPlan
from egraff.benchmark.steps import (analyze_run, evaluate_on_test_frames, export_model, generate_teacher_data,
                                    run_model_md, train_model)
from egraff.benchmark.tasks import ISOLATED_MOLECULES, MOLECULAR, RDF_THRESHOLDS
from egraff.jobs import Job


def plan_jobs(plan: BenchmarkPlan) -> Job:
    """The job graph of a plan; returns the leaderboard job (everything else is upstream of it)."""
    teacher_jobs = {system: Job(generate_teacher_data, {"system": system, **entry.model_dump()}, label=system)
                    for system, entry in plan.teachers.items()}
    rows, deps = [], {}
    for case in plan.cases:
        data_deps = {"teacher": teacher_jobs[case.teacher]} if case.teacher else {}
        for model, config in plan.training_configs.items():
            for seed in plan.seeds:
                tag = f"{case.name}|{model}|{seed}"
                label = f"{model} on {case.name}"
                seeded = copy.deepcopy(config)
                seeded.setdefault("train", {})["seed"] = seed
                trained = Job(train_model, {"train": case.train, "val": case.val, "config": seeded}, data_deps,
                              label=label)
                exported = Job(export_model, {}, {"model": trained}, label=label)
                evaluated = Job(evaluate_on_test_frames, {"test": case.test}, {"model": exported, **data_deps},
                                label=label)
                simulated = Job(run_model_md, {"start": case.reference, "system": case.name.replace("/", "-"),
                                               "temperature": case.temperature, "protocol": plan.md.protocol,
                                               "overrides": plan.md.overrides, "seed": seed},
                                {"model": exported, **data_deps}, label=label)
                analyzed = Job(analyze_run, {"reference": case.reference, "phase_method": case.phase_method,
                                             "rdf_threshold": RDF_THRESHOLDS.get(case.dataset, 3.0),
                                             "bond_criterion": case.dataset in MOLECULAR,
                                             "rdf_criterion": case.dataset not in ISOLATED_MOLECULES,
                                             "diffusion": case.diffusion},
                               {"md": simulated, "model": exported, **data_deps}, label=label)
                for step, job in (("train", trained), ("evaluate", evaluated), ("md", simulated),
                                  ("analyze", analyzed)):
                    deps[f"{tag}|{step}"] = job
                rows.append({"tag": tag, "task": case.task, "case": case.name, "dataset": case.dataset,
                             "model": model, "seed": seed, "temperature_K": case.temperature})
    return Job(write_leaderboard, {"plan": plan.model_dump(mode="json", exclude_defaults=True), "rows": rows}, deps,
               label=plan.name)
