"""PNG plots of the analyses (headless; see :mod:`egraff.analysis.output`)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from egraff.analysis.output import new_figure, save_figure


def _draw_curves(ax, x, curves: Mapping[str, np.ndarray], references: Mapping[str, np.ndarray] | None,
                 xlabel: str, ylabel: str, title: str = ""):
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
    _draw_curves(axes[0, 0], x, curves, references, xlabel, ylabel, title)
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
        _draw_curves(ax, x, model, reference, xlabel, ylabel, title)
    return save_figure(figure, path)
