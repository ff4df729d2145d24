"""Writing results: CSV, JSON and PNG, each atomically (temporary file in the same folder, then ``os.replace``),
so a reader never sees half a file. Plots use matplotlib's Agg canvas directly: headless, and no global
backend is set for other code in the process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from egraff.files import atomic_path


def _atomic_write(path, write) -> Path:
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        write(stream)
    return Path(path)


def write_csv(path, columns: Mapping[str, Sequence]) -> Path:
    """Columns of equal length, one header line, written with full float precision."""
    names = list(columns)
    data = np.column_stack([np.asarray(columns[n], dtype=np.float64) for n in names])
    return _atomic_write(path, lambda s: np.savetxt(s, data, delimiter=",", header=",".join(names), comments="",
                                                     fmt="%.10g"))


def write_rows(path, rows: Sequence[Mapping]) -> Path:
    """Rows of a table (dicts with the same keys) as CSV; text fields must not contain commas."""
    names = list(rows[0]) if rows else []
    lines = [",".join(names)] + [",".join(f"{r[n]:.10g}" if isinstance(r[n], float) else str(r[n]) for n in names)
                                 for r in rows]
    return _atomic_write(path, lambda s: s.write(("\n".join(lines) + "\n").encode()))


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(path, payload) -> Path:
    text = json.dumps(payload, indent=2, default=_jsonable)
    return _atomic_write(path, lambda s: s.write(text.encode() + b"\n"))


def new_figure(rows: int = 1, cols: int = 1, size=(6.0, 4.0)):
    """(figure, axes array) on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size[0] * cols, size[1] * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def save_figure(figure, path) -> Path:
    fmt = Path(path).suffix.lstrip(".") or "png"
    return _atomic_write(path, lambda s: figure.savefig(s, format=fmt, dpi=120))
