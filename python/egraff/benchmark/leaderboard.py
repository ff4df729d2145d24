"""The leaderboard step: one row per (case, model, seed), one table per task, plots and provenance.

Static errors are recomputed here from each ``predictions.npz`` and structure errors from each
``distributions.npz`` (:mod:`egraff.benchmark.scores`); the CSV names those files (relative to the job
root) so a reader — and ``tests/benchmark`` — can recompute those numbers. The rest (stability, Wright's
factor over all frames and before the failure, EV/FV, phases, diffusion) is the analyze step's summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from egraff.benchmark.report import Document, number
from egraff.benchmark.scores import static_errors, structure_errors
from egraff.files import atomic_write_text
from egraff.jobs import job_step, summary_of

COLUMNS = [  # (CSV column, table header, digits or None for text)
    ("energy_mae_per_atom", "E MAE (eV/atom)", 3), ("energy_mae_total", "E MAE (eV)", 3), ("force_mae", "F MAE (eV/Å)", 3),
    ("force_rmse", "F RMSE (eV/Å)", 3), ("stress_mae", "S MAE (eV/Å³)", 3), ("parameters", "params", None),
    ("train_seconds", "train (s)", 3), ("us_per_atom_step", "MD µs/atom-step", 3),
    ("stable_ps", "stable (ps)", 3), ("requested_ps", "run length (ps)", 3),
    ("wright_factor_all_frames", "WF all frames", 3), ("wright_factor_before_failure", "WF before failure", 3),
    ("rdf_jsd_base2", "JSD RDF (bits)", 3), ("adf_jsd_base2", "JSD ADF (bits)", 3), ("energy_violation", "EV", 3),
    ("force_violation", "FV", 3), ("crystalline_fraction", "crystalline (model)", 3),
    ("crystalline_fraction_ref", "crystalline (ref)", 3), ("diffusion_model", "D model (Å²/ps)", 3),
    ("diffusion_ref", "D ref (Å²/ps)", 3),
]


def leaderboard_rows(spec: dict, inputs: dict) -> list[dict]:
    rows = []
    for entry in spec["rows"]:
        tag = entry["tag"]
        train = summary_of(inputs[f"{tag}|train"])
        run = summary_of(inputs[f"{tag}|md"])
        analysis = summary_of(inputs[f"{tag}|analyze"])
        predictions = inputs[f"{tag}|evaluate"] / "predictions.npz"
        distributions = inputs[f"{tag}|analyze"] / "distributions.npz"
        root = predictions.parents[2]
        rows.append({
            **{k: entry[k] for k in ("task", "case", "dataset", "model", "seed", "temperature_K")},
            **static_errors(predictions), "parameters": train["parameters"], "train_seconds": train["seconds"],
            "us_per_atom_step": 1e6 / run["atom_steps_per_s"] if run.get("atom_steps_per_s") else float("nan"),
            "md_status": run["status"], "stable_ps": analysis["stable_ps"], "requested_ps": analysis["requested_ps"],
            "stable_fraction": analysis["stable_fraction"],
            **structure_errors(distributions),
            **{k: analysis.get(k, float("nan")) for k in ("wright_factor_all_frames", "wright_factor_before_failure",
                                                          "energy_violation", "force_violation",
                                                          "crystalline_fraction", "crystalline_fraction_ref",
                                                          "diffusion_model", "diffusion_ref")},
            "train_fingerprint": train["train_fingerprint"],
            "predictions": str(predictions.relative_to(root)), "distributions": str(distributions.relative_to(root)),
        })
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


@job_step("leaderboard")
def write_leaderboard(spec: dict, inputs: dict, directory: Path):
    """The leaderboard of a plan's rows (``spec["rows"]``), from the jobs each row names in ``inputs``."""
    rows = leaderboard_rows(spec, inputs)
    write_csv(directory / "leaderboard.csv", rows)
    atomic_write_text(directory / "plan.yaml", yaml.safe_dump(spec["plan"], sort_keys=False))
    atomic_write_text(directory / "provenance.json", json.dumps(_provenance(rows), indent=1) + "\n")
    figures = [_rdf_overlays(rows, inputs, spec, directory / "rdf_overlays.png"),
               _stability_bars(rows, directory / "stability.png"),
               _error_vs_stability(rows, directory / "error_vs_stability.png")]
    doc = Document(f"EGraFFBench leaderboard: {spec['plan'].get('name', 'plan')}")
    doc.paragraph(spec["plan"].get("description", ""))
    doc.paragraph("Static errors on each case's test frames; MD with egraff.md in LAMMPS from the first reference "
                  "frame; WF / JSD compare the model run's RDF (ADF) with the reference frames' on EGraFFBench's grid "
                  "(isolated molecules: g(r) without periodic images, in the reference's box); WF is given over all "
                  "frames of the run, as the study reports it, and over the frames before its failure; JSD and the "
                  "CSV's rdf_wright_factor are of the frames before the failure; EV / FV are the "
                  "teacher evaluated on the model's frames (teacher data only); stable time is the watchdog's "
                  "time to failure, or Fu et al.'s bond / RDF criterion when that fails earlier. "
                  "`leaderboard.csv` holds every number with the files it was computed from.")
    for task in dict.fromkeys(r["task"] for r in rows):
        doc.heading(task.replace("_", " "))
        shown = [c for c in COLUMNS if any(np.isfinite(float(r[c[0]])) for r in rows if r["task"] == task)]
        doc.table(["case", "model", "seed"] + [c[1] for c in shown],
                  [[r["case"].split("/", 1)[1], r["model"], r["seed"]] +
                   [number(r[c[0]], c[2]) if c[2] else number(r[c[0]]) for c in shown]
                   for r in rows if r["task"] == task])
    doc.heading("Figures")
    for figure, caption in zip(figures, ("Total RDF of each model's run (solid) over the reference (dashed)",
                                         "Stable fraction of each MD run (stable time / run length)",
                                         "Force error against stability: does a low force MAE predict stable MD?")):
        doc.image(figure, caption)
    md, page = doc.write(directory / "leaderboard")
    outputs = ["leaderboard.csv", md.name, page.name, "plan.yaml", "provenance.json"] + [f.name for f in figures]
    return {"rows": len(rows)}, outputs


def _provenance(rows: list[dict]) -> dict:
    import importlib.metadata as metadata

    import egraff

    versions = {"egraff": egraff.__version__}
    for dist in ("torch", "lammps", "e3nn", "nequip", "nequip-allegro", "mace-torch", "torchmd-net", "ase", "dask"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    fingerprints = {f"{r['case']}|{r['model']}|{r['seed']}": r["train_fingerprint"] for r in rows}
    return {"versions": versions, "training_data_fingerprints": fingerprints}


def _rdf_overlays(rows, inputs, spec, path: Path) -> Path:
    from egraff.analysis.plots import rdf_overlays

    panels = [(f"{r['model']} · {r['case']}", inputs[f"{e['tag']}|analyze"] / "distributions.npz", ["total"])
              for r, e in zip(rows, spec["rows"])]
    return rdf_overlays(panels, path, columns=len({r["model"] for r in rows}))


def _stability_bars(rows, path: Path) -> Path:
    from egraff.analysis.plots import new_figure, save_figure

    cases = list(dict.fromkeys(r["case"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    figure, axes = new_figure(1, 1, size=(max(6.0, 1.6 * len(cases)), 4.0))
    ax = axes[0, 0]
    width = 0.8 / len(models)
    for m, model in enumerate(models):
        fractions = [np.mean([r["stable_fraction"] for r in rows if r["case"] == case and r["model"] == model])
                     for case in cases]
        ax.bar(np.arange(len(cases)) + m * width, fractions, width, label=model)
    ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2, [c.replace("/", "\n") for c in cases], fontsize=8)
    ax.set(ylabel="stable fraction of the run", ylim=(0, 1.05), title="MD stability")
    ax.legend(fontsize=8, ncols=min(len(models), 6))
    return save_figure(figure, path)


def _error_vs_stability(rows, path: Path) -> Path:
    from egraff.analysis.plots import new_figure, save_figure

    figure, axes = new_figure(1, 1, size=(6.0, 4.2))
    ax = axes[0, 0]
    markers = dict(zip(dict.fromkeys(r["task"] for r in rows), "osD^v"))
    for m, model in enumerate(dict.fromkeys(r["model"] for r in rows)):
        ax.scatter([], [], color=f"C{m}", marker="o", label=model)
        for task, marker in markers.items():
            chosen = [r for r in rows if r["model"] == model and r["task"] == task]
            ax.scatter([r["force_mae"] for r in chosen], [r["stable_fraction"] for r in chosen], color=f"C{m}",
                       marker=marker, alpha=0.8)
    for task, marker in markers.items():
        ax.scatter([], [], color="grey", marker=marker, label=task.replace("_", " "))
    ax.set(xscale="log", xlabel="force MAE on test frames (eV/Å)", ylabel="stable fraction of the run",
           title="does a low force error predict stable MD?", ylim=(-0.05, 1.05))
    ax.legend(fontsize=7, ncols=2, title="colour: model, marker: task", title_fontsize=7)
    return save_figure(figure, path)
