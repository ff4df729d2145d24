"""A checked plan as a job graph: teacher data → train → export → evaluate, and per reference group and MD
start: md (and, against a ground-truth trajectory, nve) → analyze; then the leaderboard."""

from __future__ import annotations

import copy

from egraff.benchmark.leaderboard import write_leaderboard
from egraff.benchmark.plan import BenchmarkPlan
from egraff.benchmark.steps import (analyze_run, evaluate_on_test_frames, export_model, generate_teacher_data,
                                    prepare_reference, run_model_md, run_model_nve_from_reference, train_model)
from egraff.benchmark.tasks import ISOLATED_MOLECULES, MOLECULAR, RDF_THRESHOLDS
from egraff.jobs import Job


def plan_jobs(plan: BenchmarkPlan) -> Job:
    """The job graph of a plan; returns the leaderboard job (everything else is upstream of it).

    Each reference group of a case starts ``initial_frames`` MD runs (the study's ``--init_conf_N``) per model
    and seed; their MD seeds are ``seed * 1000 + start``, so the starts are independent runs."""
    teacher_jobs = {system: Job(generate_teacher_data, {"system": system, **entry.model_dump()}, label=system)
                    for system, entry in plan.teachers.items()}
    protocol = plan.md_protocol()
    starts = protocol.initial_frames
    violation_ps = plan.md.violation_ps or protocol.steps * protocol.timestep_ps
    rows, deps, references = [], {}, {}
    for case in plan.cases:
        data_deps = {"teacher": teacher_jobs[case.teacher]} if case.teacher else {}
        groups = {}
        for group, sources in case.references.items():
            groups[group] = Job(prepare_reference, {"frames": sources, "starts": starts,
                                                    "start_every": plan.md.start_every},
                                data_deps, label=f"{case.name} {group}")
            references[f"{case.name}|{group}|reference"] = groups[group]
        for model in plan.model_entries:
            setup = plan.training_setup(model, case)
            for seed in plan.seeds:
                tag = f"{case.name}|{model}|{seed}"
                label = f"{model} on {case.name}"
                seeded = copy.deepcopy(setup.sections)
                seeded.setdefault("train", {})["seed"] = seed
                trained = Job(train_model, {"train": case.train, "val": case.val, "config": seeded,
                                            **({"warmup_steps": setup.warmup_steps} if setup.warmup_steps else {})},
                              data_deps, label=label)
                exported = Job(export_model, {}, {"model": trained}, label=label)
                evaluated = Job(evaluate_on_test_frames, {"test": case.test}, {"model": exported, **data_deps},
                                label=label)
                deps.update({f"{tag}|train": trained, f"{tag}|evaluate": evaluated})
                runs = []
                for group, reference in groups.items():
                    for start in range(starts):
                        run = f"{tag}|{group}|{start}"
                        where = {"model": exported, "reference": reference}
                        simulated = Job(run_model_md, {"start": start, "system": case.name.replace("/", "-"),
                                                       "temperature": case.temperature, "protocol": plan.md.protocol,
                                                       "overrides": plan.md.overrides, "seed": seed * 1000 + start},
                                        where, label=f"{label} start {start}")
                        inputs = {"md": simulated, **where, **data_deps}
                        if not case.teacher:
                            inputs["nve"] = Job(run_model_nve_from_reference,
                                                {"start": start, "system": case.name.replace("/", "-"),
                                                 "temperature": case.temperature, "length_ps": violation_ps},
                                                where, label=f"{label} start {start}")
                        analyzed = Job(analyze_run, {"reference": case.references[group],
                                                     "phase_method": case.phase_method,
                                                     "rdf_threshold": RDF_THRESHOLDS.get(case.dataset, 3.0),
                                                     "bond_criterion": case.dataset in MOLECULAR,
                                                     "rdf_criterion": case.dataset not in ISOLATED_MOLECULES,
                                                     "diffusion": case.diffusion},
                                       inputs, label=f"{label} start {start}")
                        deps.update({f"{run}|md": simulated, f"{run}|analyze": analyzed})
                        if "nve" in inputs:
                            deps[f"{run}|nve"] = inputs["nve"]
                        runs.append({"group": group, "start": start, "role": run})
                rows.append({"tag": tag, "task": case.task, "case": case.name, "dataset": case.dataset,
                             "model": model, "seed": seed, "temperature_K": case.temperature, "runs": runs})
    cases = [{"name": c.name, "notes": c.notes, "references": {g: f"{c.name}|{g}|reference" for g in c.references}}
             for c in plan.cases]
    training = {model: {case.name: _training_summary(plan.training_setup(model, case)) for case in plan.cases}
                for model in plan.model_entries}
    return Job(write_leaderboard, {"plan": plan.model_dump(mode="json", exclude_defaults=True), "rows": rows,
                                   "cases": cases, "training": training,
                                   "protocol": protocol.model_dump(mode="json"), "violation_ps": violation_ps},
               {**deps, **references}, label=plan.name)


def _training_summary(setup) -> dict:
    from egraff.benchmark.recipes import describe

    return {"origin": setup.origin, "settings": describe(setup.resolved, setup.warmup_steps),
            "deviations": setup.deviations}
