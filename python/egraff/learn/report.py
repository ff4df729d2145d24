"""The report of an ``egraff learn`` run (``report.md``, ``report.html`` and PNGs), from its finished jobs:
per iteration the training set, the explorations' stability, the deviation's distribution and traces,
the frames labelled and the errors on held-out reference frames. :func:`learn_section` writes the same
section into another report (the demo's)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from egraff.analysis import plots
from egraff.files import atomic_write_text
from egraff.jobs import Job, job_step, summary_of
from egraff.learn.steps import DEVIATIONS

FIGURES = ("learning_progress.png", "deviation_histograms.png", "deviation_traces.png")
FAILURE_FIGURE = "first_failure.png"


def report_deps(result) -> dict[str, Job]:
    """The jobs a report reads, by role: per iteration i its selection ``select<i>``, member 0's training
    ``train<i>``, its evaluation ``evaluate<i>`` (with test frames) and its dataset ``data<i>`` (not the last)."""
    deps = {}
    for it in result.iterations:
        deps[f"select{it.index:03d}"] = it.selection
        deps[f"train{it.index:03d}"] = it.trains[0]
        if it.evaluation is not None:
            deps[f"evaluate{it.index:03d}"] = it.evaluation
        if it.data is not None:
            deps[f"data{it.index:03d}"] = it.data
    return deps


def report_spec(config, result) -> dict:
    return {"lo": config.trust.lo, "hi": config.trust.hi, "halt": config.trust.halt,
            "fraction_above_lo": config.convergence.fraction_above_lo,
            "max_iterations": config.convergence.max_iterations, "committee": config.committee.size,
            "max_force": config.select.max_force,
            "reference": config.reference.describe(), "iterations": len(result.iterations),
            "converged": result.converged, "stopped": result.stopped}


def learn_report_job(config, result) -> Job:
    return Job(write_learn_report, report_spec(config, result), report_deps(result), label="report")


def iteration_summaries(inputs: dict, count: int) -> list[dict]:
    """Per iteration: its selection's summary with ``n_train``, ``n_labelled`` (frames added to the training data),
    ``n_beyond_max_force`` (labelled but kept out) and, with test frames, the errors."""
    rows = []
    for i in range(count):
        summary = dict(summary_of(inputs[f"select{i:03d}"]))
        summary["n_train"] = summary_of(inputs[f"train{i:03d}"])["n_train"]
        data = summary_of(inputs[f"data{i:03d}"]) if f"data{i:03d}" in inputs else {}
        summary["n_labelled"] = data.get("n_new", 0)
        summary["n_beyond_max_force"] = len(data.get("beyond_max_force", []))
        if f"evaluate{i:03d}" in inputs:
            summary["errors"] = summary_of(inputs[f"evaluate{i:03d}"])
        rows.append(summary)
    return rows


def stable_fraction(summary: dict) -> float:
    return min(e["stable_ps"] / e["requested_ps"] for e in summary["explorations"])


def learn_section(doc, inputs: dict, spec: dict, directory: Path) -> list[str]:
    """The loop's table and figures in ``doc`` (a :class:`egraff.benchmark.report.Document`); returns the PNGs."""
    summaries = iteration_summaries(inputs, spec["iterations"])
    outcome = (f"converged after {len(summaries)} iteration(s)" if spec["converged"] else
               f"**stopped** after {len(summaries)} iteration(s): {spec['stopped']}" if spec.get("stopped") else
               f"**not converged** after {len(summaries)} iteration(s) (convergence.max_iterations = "
               f"{spec['max_iterations']})")
    doc.paragraph(f"Committee of {spec['committee']} models per iteration; frames with the committee's largest atomic "
                  f"force deviation max σ_F in [{spec['lo']:g}, {spec['hi']:g}) eV/Å are labelled by the reference "
                  f"({spec['reference']}); frames at or above {spec['hi']:g} eV/Å are the models' nonsense and are not "
                  f"labelled" + (f"; a labelled frame whose largest reference force exceeds {spec['max_force']:g} eV/Å is "
                                 "kept out of the training data" if spec.get("max_force") else "")
                  + (f"; an exploration stops when max σ_F passes {spec['halt']:g} eV/Å" if spec["halt"] else "")
                  + f". Done when every exploration runs its full length with at most {spec['fraction_above_lo']:.0%} "
                    f"of its frames at or above {spec['lo']:g} eV/Å: {outcome}.")
    has_errors = any("errors" in s for s in summaries)
    header = ["iteration", "training frames", "explorations stable", "shortest stable time (ps)",
              "frames ≥ lo", "accurate / candidate / failed", "frames added"]
    header += ["force MAE (eV/Å)", "energy MAE (meV/atom)"] if has_errors else []
    rows = []
    for s in summaries:
        explorations = s["explorations"]
        counts = s["counts"]
        row = [str(s["iteration"]), str(s["n_train"]),
               f"{sum(e['status'] == 'completed' for e in explorations)} / {len(explorations)}",
               f"{min(e['stable_ps'] for e in explorations):.3g} / {explorations[0]['requested_ps']:.3g}",
               f"{s['fraction_above_lo']:.1%}", f"{counts['accurate']} / {counts['candidate']} / {counts['failed']}",
               str(s["n_labelled"]) + (f" ({s['n_beyond_max_force']} over the force limit, not added)"
                                       if s.get("n_beyond_max_force") else "")]
        if has_errors:
            errors = s.get("errors", {})
            row += [f"{errors['force_mae']:.3g}" if errors else "n/a",
                    f"{errors['energy_mae_per_atom'] * 1000:.3g}" if errors else "n/a"]
        rows.append(row)
    doc.table(header, rows)
    failures = [f"iteration {s['iteration']}, {e['label']}: {e['failure_reason']}" for s in summaries
                for e in s["explorations"] if e["failure_reason"]]
    if failures:
        doc.paragraph("Explorations that stopped early: " + "; ".join(failures) + ".")

    iterations = [s["iteration"] for s in summaries]
    plots.learning_progress(iterations, [s["n_labelled"] for s in summaries], [stable_fraction(s) for s in summaries],
                            [s["errors"]["force_mae"] for s in summaries] if has_errors else None,
                            directory / FIGURES[0])
    traces = [np.load(inputs[f"select{i:03d}"] / DEVIATIONS) for i in iterations]
    plots.deviation_histograms(
        [(f"iteration {i}", np.concatenate([t[f"run{n}_max_devi_f"] for n in range(len(s["explorations"]))]))
         for i, t, s in zip(iterations, traces, summaries)], spec["lo"], spec["hi"], directory / FIGURES[1])
    plots.deviation_traces(
        [(f"iteration {i}", [(e["label"], t[f"run{n}_time_ps"], t[f"run{n}_max_devi_f"])
                             for n, e in enumerate(s["explorations"])]) for i, t, s in zip(iterations, traces, summaries)],
        spec["lo"], spec["hi"], spec["halt"], directory / FIGURES[2])
    first_failure = next(((i, t, n, e) for i, t, s in zip(iterations, traces, summaries)
                          for n, e in enumerate(s["explorations"]) if e["status"] == "failed"), None)
    figures = list(FIGURES)
    if first_failure is not None:  # the committee's warning before the first exploration that failed
        i, t, n, e = first_failure
        figures.append(FAILURE_FIGURE)
        plots.deviation_and_temperature(t[f"run{n}_time_ps"], t[f"run{n}_max_devi_f"], t[f"run{n}_thermo_time_ps"],
                                        t[f"run{n}_temperature"], spec["lo"], spec["hi"], spec["halt"], e["stable_ps"],
                                        directory / FAILURE_FIGURE)
    doc.image(FIGURES[0], "Per iteration: frames labelled and added, the shortest exploration's stable time over its "
                          "length, and the force error on held-out reference frames")
    doc.image(FIGURES[1], "Distribution of the explored frames' max σ_F per iteration, with the trust window")
    doc.image(FIGURES[2], "max σ_F against time in every exploration of every iteration")
    if first_failure is not None:
        i, _, _, e = first_failure
        doc.image(FAILURE_FIGURE, f"The first exploration that failed (iteration {i}, {e['label']}: {e['failure_reason']}): "
                                  "the committee's max σ_F and the temperature against time")
    return figures


@job_step("learn_report")
def write_learn_report(spec: dict, inputs: dict, directory: Path):
    """``report.md`` and ``report.html`` with the loop's table and figures, and ``summary.json``."""
    from egraff.benchmark.report import Document

    doc = Document("egraff learn")
    figures = learn_section(doc, inputs, spec, directory)
    md, page = doc.write(directory / "report")
    summary = {"converged": spec["converged"], "iterations": iteration_summaries(inputs, spec["iterations"])}
    atomic_write_text(directory / "summary.json", json.dumps(summary, indent=1, default=float) + "\n")
    return {"converged": spec["converged"], "iterations": spec["iterations"]}, [md.name, page.name, *figures,
                                                                                   "summary.json"]
