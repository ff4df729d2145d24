"""Helpers for the export / import / calculator tests: a small periodic copper-gold structure."""

from __future__ import annotations

import numpy as np
from ase.build import bulk


def rattled_fcc(symbols=("Cu", "Au"), seed: int = 3, rattle: float = 0.1):
    """32 atoms of rattled fcc in a 7.2 Å cube, alternating species when two are given."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    atoms.positions += np.random.default_rng(seed).normal(scale=rattle, size=atoms.positions.shape)
    if len(symbols) > 1:
        atoms.symbols[1::2] = symbols[1]
    return atoms
