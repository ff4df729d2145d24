"""Every figure egraff draws: the analyses' plots and the demo and benchmark reports' figures, on shared helpers.

Figures use matplotlib's Agg canvas directly (headless, no global backend set for other code in the
process) and are written atomically (:func:`egraff.files.atomic_open`), so a reader never sees half a PNG.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from egraff.files import atomic_open


def new_figure(rows: int = 1, cols: int = 1, size=(6.0, 4.0)):
    """(figure, axes array [rows, cols]) on an Agg canvas; ``size`` is per panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def save_figure(figure, path) -> Path:
    """The figure as PNG (or the format its suffix names), atomically."""
    with atomic_open(path) as stream:
        figure.savefig(stream, format=Path(path).suffix.lstrip(".") or "png", dpi=120)
    return Path(path)


def draw_curves(ax, x, curves: Mapping[str, np.ndarray], references: Mapping[str, np.ndarray] | None,
                xlabel: str, ylabel: str, title: str = ""):
    """Labelled curves on one axis, each reference dashed in its curve's colour."""
    for k, (label, y) in enumerate(curves.items()):
        colour = f"C{k % 10}"
        ax.plot(x, y, color=colour, label=label)
        if references and label in references:
            ax.plot(x, references[label], color=colour, linestyle="--", label=f"{label} (reference)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")


def plot_curves(path, x, curves: Mapping[str, np.ndarray], xlabel: str, ylabel: str,
                references: Mapping[str, np.ndarray] | None = None, title: str = ""):
    """Labelled curves on one grid (RDF, ADF, h(r), MSD), each reference dashed in the same colour."""
    figure, axes = new_figure()
    draw_curves(axes[0, 0], x, curves, references, xlabel, ylabel, title)
    return save_figure(figure, path)


def plot_stability(path, results: Sequence, title: str = ""):
    """Error against time for each stability criterion, with its threshold and failure time marked."""
    figure, axes = new_figure(len(results), 1, size=(6.0, 3.0))
    for ax, result in zip(axes[:, 0], results):
        ax.plot(result.times, result.error, color="C0")
        ax.axhline(result.threshold, color="C3", linestyle="--", label=f"threshold {result.threshold:g}")
        if result.failure_frame is not None:
            ax.axvline(result.stable_time, color="k", linestyle=":", label=f"failure at {result.stable_time:g} ps")
        ax.set_xlabel("time (ps)" if result.criterion == "bond" else "window start (ps)")
        ax.set_ylabel("max bond deviation (Å)" if result.criterion == "bond" else "RDF MAE")
        ax.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def plot_phases(path, x, structures: Sequence[str], fractions: np.ndarray, xlabel: str = "step", title: str = ""):
    """Stacked fractions of each structure type over time (types that never occur are left out)."""
    figure, axes = new_figure()
    ax = axes[0, 0]
    present = fractions.max(axis=0) > 0
    ax.stackplot(x, fractions[:, present].T, labels=[s for s, p in zip(structures, present) if p])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of atoms")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small", loc="lower left")
    if title:
        ax.set_title(title)
    return save_figure(figure, path)


def plot_temperature_panels(path, panels: Sequence[tuple[str, np.ndarray, dict, dict, str, str]]):
    """One row per temperature, one column per quantity: (title, x, model curves, reference curves, xlabel, ylabel)."""
    columns = len({p[0].split(" @ ")[0] for p in panels})
    rows = max(1, len(panels) // max(columns, 1))
    figure, axes = new_figure(rows, columns, size=(4.5, 3.2))
    for ax, (title, x, model, reference, xlabel, ylabel) in zip(axes.ravel(), panels):
        draw_curves(ax, x, model, reference, xlabel, ylabel, title)
    return save_figure(figure, path)


# ------------------------------------------------------------------------- demo and benchmark report figures

def training_curve(metrics_csv: Path, path: Path) -> Path:
    """Training loss and validation force MAE per epoch."""
    with open(metrics_csv) as handle:
        rows = list(csv.DictReader(handle))
    epochs = [int(r["epoch"]) for r in rows]
    figure, axes = new_figure(1, 2, size=(5.0, 3.6))
    axes[0, 0].semilogy(epochs, [float(r["train/loss"]) for r in rows], "o-", label="train loss")
    axes[0, 0].semilogy(epochs, [float(r["val/loss"]) for r in rows], "s-", label="validation loss")
    axes[0, 0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0, 0].legend()
    axes[0, 1].plot(epochs, [float(r["val/force_mae"]) for r in rows], "o-", color="C2")
    axes[0, 1].set(xlabel="epoch", ylabel="force MAE (eV/Å)", title="validation force error")
    return save_figure(figure, path)


def parity(predictions: Path, path: Path) -> Path:
    """Predicted against reference energy per atom and force components."""
    p = np.load(predictions)
    figure, axes = new_figure(1, 2, size=(4.6, 4.2))
    panels = ((p["energy_true"] / p["n_atoms"], p["energy_pred"] / p["n_atoms"], "energy (eV/atom)"),
              (p["forces_true"].ravel(), p["forces_pred"].ravel(), "force component (eV/Å)"))
    for ax, (truth, pred, name) in zip(axes[0], panels):
        ax.scatter(truth, pred, s=4, alpha=0.4, edgecolors="none")
        lo, hi = min(truth.min(), pred.min()), max(truth.max(), pred.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set(xlabel=f"reference {name}", ylabel=f"model {name}", title=f"{name.split(' (')[0]}: "
               f"MAE {np.abs(pred - truth).mean():.3g}")
        ax.set_aspect("equal", adjustable="datalim")
    return save_figure(figure, path)


def rdf_overlays(panels: list[tuple[str, Path, list[str]]], path: Path, columns: int = 3) -> Path:
    """One panel per (title, distributions.npz, pairs): model RDF (solid) over reference RDF (dashed)."""
    rows = max(1, -(-len(panels) // columns))
    figure, axes = new_figure(rows, min(columns, len(panels)), size=(4.2, 3.2))
    flat = axes.ravel()
    for ax, (title, distributions, pairs) in zip(flat, panels):
        d = np.load(distributions)
        if f"rdf_{pairs[0]}_r" not in d:  # a run that wrote no frame
            ax.text(0.5, 0.5, "no frames: the run stopped\nbefore its first", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_title(title)
            continue
        draw_curves(ax, d[f"rdf_{pairs[0]}_r"], {pair: d[f"rdf_{pair}_g"] for pair in pairs},
                    {pair: d[f"rdf_{pair}_g_ref"] for pair in pairs}, "r (Å)", "g(r)", title)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    return save_figure(figure, path)


def md_thermo(times, temperature, potential_energy, stable_ps: float, target: float, path: Path) -> Path:
    """Temperature and potential energy of an MD run, with the end of its stable part marked."""
    figure, axes = new_figure(1, 2, size=(5.0, 3.4))
    for ax, values, label in ((axes[0, 0], temperature, "temperature (K)"),
                              (axes[0, 1], potential_energy, "potential energy (eV)")):
        ax.plot(times, values, color="C0")
        ax.axvline(stable_ps, color="C3", ls=":", label=f"stable until {stable_ps:.3g} ps")
        ax.set(xlabel="time (ps)", ylabel=label)
        ax.legend(fontsize=8)
    axes[0, 0].axhline(target, color="k", ls="--", lw=0.8)
    axes[0, 0].set_yscale("log")
    return save_figure(figure, path)


def stability_bars(rows: Sequence[Mapping], path: Path) -> Path:
    """Mean stable fraction of each (case, model) over its rows, one group of bars per case."""
    cases = list(dict.fromkeys(r["case"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    figure, axes = new_figure(1, 1, size=(max(6.0, 1.6 * len(cases)), 4.0))
    ax = axes[0, 0]
    width = 0.8 / len(models)
    for m, model in enumerate(models):
        fractions = [np.mean([r["stable_fraction"] for r in rows if r["case"] == case and r["model"] == model])
                     for case in cases]
        ax.bar(np.arange(len(cases)) + m * width, fractions, width, label=model, color=f"C{m % 10}")
    ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2, [c.replace("/", "\n") for c in cases], fontsize=8)
    ax.set(ylabel="stable fraction of the run (mean over starts)", ylim=(0, 1.05), title="MD stability")
    ax.legend(fontsize=8, ncols=min(len(models), 7))
    return save_figure(figure, path)


def error_against_md(points: Sequence[Mapping], panels: Sequence[tuple[str, str, str]], path: Path) -> Path:
    """Force MAE (log x) against MD quantities, one panel per (key, axis label, title); ``points`` carry
    ``model``, ``task``, ``force_mae`` and each key with its ``<key>_spread`` (error bars). Colour: model,
    marker: task."""
    figure, axes = new_figure(1, len(panels), size=(5.2, 4.2))
    models = list(dict.fromkeys(p["model"] for p in points))
    markers = dict(zip(dict.fromkeys(p["task"] for p in points), "osD^vP*"))
    for ax, (key, label, title) in zip(axes[0], panels):
        for m, model in enumerate(models):
            for task, marker in markers.items():
                chosen = [p for p in points if p["model"] == model and p["task"] == task]
                if chosen:
                    ax.errorbar([p["force_mae"] for p in chosen], [p[key] for p in chosen],
                                yerr=[np.nan_to_num(p.get(f"{key}_spread", 0.0)) for p in chosen], fmt=marker,
                                color=f"C{m % 10}", alpha=0.8, capsize=2)
        ax.set(xscale="log", xlabel="force MAE on test frames (eV/Å)", ylabel=label, title=title)
    ax = axes[0, -1]
    for m, model in enumerate(models):
        ax.scatter([], [], color=f"C{m % 10}", marker="o", label=model)
    for task, marker in markers.items():
        ax.scatter([], [], color="grey", marker=marker, label=task.replace("_", " "))
    ax.legend(fontsize=7, ncols=2, title="colour: model, marker: task", title_fontsize=7)
    return save_figure(figure, path)


# --------------------------------------------------------------------------- active learning (egraff learn)

def _trust_lines(ax, lo: float, hi: float, halt: float | None, axis: str = "y") -> None:
    line = ax.axhline if axis == "y" else ax.axvline
    line(lo, color="C2", ls="--", lw=0.9, label=f"trust lo {lo:g}")
    line(hi, color="C3", ls="--", lw=0.9, label=f"trust hi {hi:g}")
    if halt is not None:
        line(halt, color="k", ls=":", lw=0.9, label=f"halt {halt:g}")


def deviation_traces(panels: Sequence[tuple[str, Sequence[tuple[str, np.ndarray, np.ndarray]]]], lo: float,
                     hi: float, halt: float | None, path: Path, columns: int = 3) -> Path:
    """One panel per (title, [(exploration, time ps, max σ_F)]): the committee's largest atomic force
    deviation against time, with the trust window."""
    rows = max(1, -(-len(panels) // columns))
    figure, axes = new_figure(rows, min(columns, len(panels)), size=(4.2, 3.2))
    flat = axes.ravel()
    for ax, (title, runs) in zip(flat, panels):
        for k, (label, time, deviation) in enumerate(runs):
            ax.semilogy(time, deviation, color=f"C{(k + 4) % 10}", lw=0.9, label=label)
        _trust_lines(ax, lo, hi, halt)
        ax.set(xlabel="time (ps)", ylabel="max σ_F (eV/Å)", title=title)
        ax.legend(fontsize=6)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    return save_figure(figure, path)


def deviation_histograms(distributions: Sequence[tuple[str, np.ndarray]], lo: float, hi: float, path: Path) -> Path:
    """The distribution of the frames' largest atomic force deviation, one step curve per (label, values)."""
    figure, axes = new_figure(1, 1, size=(6.0, 3.6))
    ax = axes[0, 0]
    finite = np.concatenate([v[np.isfinite(v) & (v > 0)] for _, v in distributions] or [np.ones(1)])
    bins = np.geomspace(min(finite.min(), lo / 3), max(finite.max(), hi * 3), 40)
    for k, (label, values) in enumerate(distributions):
        ax.hist(np.clip(values[np.isfinite(values)], bins[0], bins[-1]), bins=bins, histtype="step", density=True,
                color=f"C{(k + 4) % 10}", label=label)
    _trust_lines(ax, lo, hi, None, axis="x")
    ax.set(xscale="log", xlabel="max σ_F of a frame (eV/Å)", ylabel="density")
    ax.legend(fontsize=7)
    return save_figure(figure, path)


def learning_progress(iterations: Sequence[int], frames_added: Sequence[int], stable_fraction: Sequence[float],
                      force_mae: Sequence[float] | None, path: Path) -> Path:
    """Per iteration: frames labelled and added, the explorations' shortest stable time as a fraction of their
    length, and the force MAE on held-out reference frames."""
    panels = 3 if force_mae is not None else 2
    figure, axes = new_figure(1, panels, size=(3.6, 3.2))
    axes[0, 0].bar(iterations, frames_added, color="C0")
    axes[0, 0].set(xlabel="iteration", ylabel="frames added", title="labelled frames")
    axes[0, 1].plot(iterations, stable_fraction, "o-", color="C2")
    axes[0, 1].set(xlabel="iteration", ylabel="shortest stable time / length", ylim=(0, 1.05), title="stability")
    if force_mae is not None:
        axes[0, 2].plot(iterations, force_mae, "s-", color="C1")
        axes[0, 2].set(xlabel="iteration", ylabel="force MAE (eV/Å)", title="held-out frames")
    for ax in axes[0]:
        ax.set_xticks(list(iterations))
    return save_figure(figure, path)


def deviation_and_temperature(time, deviation, thermo_time, temperature, lo: float, hi: float, halt: float | None,
                              end_ps: float | None, path: Path) -> Path:
    """One run: the committee's largest atomic force deviation (left axis, log) and the temperature (right axis)
    against time, with the trust window and where the run ended."""
    figure, axes = new_figure(1, 1, size=(7.0, 3.8))
    ax = axes[0, 0]
    ax.semilogy(time, deviation, color="C0", lw=1.0, label="max σ_F")
    _trust_lines(ax, lo, hi, halt)
    ax.set(xlabel="time (ps)", ylabel="max σ_F (eV/Å)")
    right = ax.twinx()
    right.plot(thermo_time, temperature, ".-", color="C1", lw=1.0, label="temperature")
    right.set_ylabel("temperature (K)", color="C1")
    if end_ps is not None:
        ax.axvline(end_ps, color="k", lw=0.8, label=f"stopped at {end_ps:.3g} ps")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=7, loc="upper left")
    return save_figure(figure, path)
