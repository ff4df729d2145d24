"""Writing results: CSV and JSON, each atomically (temporary file in the same folder, then ``os.replace``),
so a reader never sees half a file. Figures are :mod:`egraff.analysis.plots`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from egraff.files import atomic_open, atomic_write_text


def write_csv(path, columns: Mapping[str, Sequence]) -> Path:
    """Columns of equal length, one header line, written with full float precision."""
    names = list(columns)
    data = np.column_stack([np.asarray(columns[n], dtype=np.float64) for n in names])
    with atomic_open(path) as stream:
        np.savetxt(stream, data, delimiter=",", header=",".join(names), comments="", fmt="%.10g")
    return Path(path)


def write_rows(path, rows: Sequence[Mapping]) -> Path:
    """Rows of a table (dicts with the same keys) as CSV; text fields must not contain commas."""
    names = list(rows[0]) if rows else []
    lines = [",".join(names)] + [",".join(f"{r[n]:.10g}" if isinstance(r[n], float) else str(r[n]) for n in names)
                                 for r in rows]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(path, payload) -> Path:
    return atomic_write_text(path, json.dumps(payload, indent=2, default=_jsonable) + "\n")
