"""The demo's report (``egraff demo``): the active-learning loop (iteration 0 failing, the committee's
deviation before the failure, frames added, stable time per iteration) and the final model's training
curve, parity, RDFs, metrics table and MD speed, as ``report.md`` and ``report.html`` from the demo's
finished jobs."""

from __future__ import annotations

import json
from pathlib import Path

from egraff.analysis import plots
from egraff.benchmark.report import Document, number
from egraff.benchmark.steps import thermo_columns
from egraff.files import atomic_write_text
from egraff.jobs import job_step, summary_of


@job_step("demo_report", version=2)
def write_demo_report(spec: dict, inputs: dict, directory: Path):
    """The demo report from the finished jobs: the loop (``spec["learn"]``, :func:`egraff.learn.report.learn_section`;
    None: no loop) and the final model's training curve, parity, RDFs, metrics table, speed."""
    from egraff.learn.report import iteration_summaries, learn_section

    train = summary_of(inputs["train"])
    static = summary_of(inputs["evaluate"])
    run = summary_of(inputs["md"])
    metrics = summary_of(inputs["analyze"])
    plots.training_curve(inputs["train"] / "run" / "metrics.csv", directory / "training_curve.png")
    plots.parity(inputs["evaluate"] / "predictions.npz", directory / "parity.png")
    thermo = thermo_columns(inputs["md"] / "water_md.log")
    plots.md_thermo(thermo["Time"], thermo["Temp"], thermo["PotEng"], metrics["stable_ps"], 300.0,
                      directory / "md.png")
    pairs = ["O-O", "H-O", "H-H"]
    plots.rdf_overlays([(f"{pair} RDF: WF {partial_wright_factor(inputs, pair)}", inputs["analyze"] /
                           "distributions.npz", [pair]) for pair in pairs], directory / "rdf.png")
    doc = Document(f"egraff demo: {spec['model']} water in LAMMPS")
    learn_figures, loop = [], None
    if spec.get("learn"):
        iterations = iteration_summaries(inputs, spec["learn"]["iterations"])
        first = min(iterations[0]["explorations"], key=lambda e: e["stable_ps"])
        loop = {"iterations": len(iterations), "converged": spec["learn"]["converged"],
                "stopped": spec["learn"].get("stopped"),
                "frames_added": sum(s["n_labelled"] for s in iterations),
                "stable_ps_first": [e["stable_ps"] for e in iterations[0]["explorations"]],
                "stable_ps_last": [e["stable_ps"] for e in iterations[-1]["explorations"]]}
        doc.paragraph(f"**Iteration 0's model** ran {number(first['stable_ps'])} of {number(first['requested_ps'])} ps "
                      f"in its shortest exploration ({first['failure_reason'] or 'no failure'}). After "
                      f"{len(iterations) - 1} round(s) of labelling ({loop['frames_added']} frames added by the teacher), "
                      f"**the final model** ran {'its' if metrics['stable_ps'] >= run['requested_ps'] else 'only'} "
                      f"{number(metrics['stable_ps'])} of {number(run['requested_ps'])} ps of `water_md.in` stably "
                      f"({metrics['stability_criterion']}); the loop "
                      + ("converged." if loop["converged"] else f"stopped: {loop['stopped']}." if loop["stopped"]
                         else f"did not converge in {len(iterations)} iteration(s)."))
        doc.heading("Active learning: from a failing model to a stable one")
        learn_figures = learn_section(doc, inputs, spec["learn"], directory)
        doc.heading("The final model")
    doc.paragraph(f"Data: **{spec['dataset']}**. Model: **{spec['model']}**, {train['parameters']} parameters, "
                  f"trained {train['epochs']} epochs on {train['n_train']} frames ({train['seconds']:.0f} s), "
                  f"validated on {train['n_val']}. MD: `{run['command'].split(' -screen')[0].split('/')[-1]}` "
                  f"({run['steps']} steps of {run['timestep_ps'] * 1000:g} fs, {run['n_atoms']} atoms).")
    doc.heading("Numbers")
    rows = [["energy MAE (meV/atom)", number(static["energy_mae_per_atom"] * 1000)],
            ["force MAE / RMSE (eV/Å)", f"{number(static['force_mae'])} / {number(static['force_rmse'])}"],
            ["RDF Wright's factor (total)", number(metrics["rdf_wright_factor"])],
            ["RDF Jensen–Shannon divergence, bits (total)", number(metrics["rdf_jsd_base2"])],
            ["ADF Jensen–Shannon divergence, bits (mean over triplets)", number(metrics["adf_jsd_base2"])],
            ["energy violation EV (geometric mean)", number(metrics["energy_violation"])],
            ["force violation FV (geometric mean)", number(metrics["force_violation"])],
            ["stable time (ps) / run length (ps)", f"{number(metrics['stable_ps'])} / {number(run['requested_ps'])} "
                                                  f"({metrics['stability_criterion']})"],
            ["MD speed", f"{run['steps_per_s']:.1f} steps/s, {run['ns_per_day']:.3g} ns/day, "
                         f"{1e6 / run['atom_steps_per_s']:.1f} µs per atom-step"]]
    doc.table(["quantity", "value"], rows)
    doc.paragraph("WF (Wright's factor) and JSD compare the model's frame-averaged g(r) with the reference's on "
                  "EGraFFBench's grid (0.05 Å bins); both are 0 for identical RDFs. EV and FV are egraff's "
                  "reconstruction of EGraFFBench's energy and force violations: the reference potential evaluated "
                  "on the model's own MD frames (0 = identical, 1 = opposite). The run is stable until the first "
                  "of: temperature above 5 × 300 K, an O–H bond 0.5 Å off its mean reference length (Fu et al.'s "
                  "bond criterion; their RDF criterion's 1 ps windows are too coarse for a run this short). RDF, ADF, "
                  f"EV and FV use the stable part "
                  f"({number(metrics['analyzed_ps'])} ps).")
    doc.heading("Figures")
    doc.image("training_curve.png", "Training: loss and validation force MAE per epoch")
    doc.image("parity.png", "Parity on frames the model never saw: energy per atom and force components")
    doc.image("rdf.png", "Partial RDFs, model MD (solid) against the reference (dashed)")
    doc.image("md.png", "The model's MD run: temperature (log scale) and potential energy, end of the stable part")
    md, page = doc.write(directory / "report")
    summary = {"static": static, "metrics": metrics, "md": {k: run[k] for k in ("steps_per_s", "ns_per_day")},
               "train": train, "learn": loop}
    atomic_write_text(directory / "summary.json", json.dumps(summary, indent=1, default=float) + "\n")
    return summary, [md.name, page.name, "training_curve.png", "parity.png", "rdf.png", "md.png", "summary.json",
                     *learn_figures]


def partial_wright_factor(inputs: dict, pair: str) -> str:
    """Wright's factor of one partial RDF, from the stored distributions."""
    import numpy as np

    from egraff.analysis import wright_factor

    d = np.load(inputs["analyze"] / "distributions.npz")
    return f"{wright_factor(d[f'rdf_{pair}_g'], d[f'rdf_{pair}_g_ref']):.3g}"
