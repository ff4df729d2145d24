"""Figures of the demo report and the leaderboard (PNG, written atomically, headless)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from egraff.analysis.output import new_figure, save_figure


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
        for i, pair in enumerate(pairs):
            ax.plot(d[f"rdf_{pair}_r"], d[f"rdf_{pair}_g"], color=f"C{i}", label=f"{pair} model")
            ax.plot(d[f"rdf_{pair}_r"], d[f"rdf_{pair}_g_ref"], color=f"C{i}", ls="--", label=f"{pair} reference")
        ax.set(xlabel="r (Å)", ylabel="g(r)", title=title)
        ax.legend(fontsize=7)
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
