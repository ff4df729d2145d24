"""Neighbour graphs in the form the deployed-model contract takes (one place for neighbour lists).

Edges are directed and complete: for every ordered pair (i, j) and every periodic image of j with
``|r_j + S·cell - r_i| < cutoff`` there is one edge, including images of i itself in small cells.
``edge_vectors = r_j - r_i + S·cell`` (rows of ``cell`` are the lattice vectors, as in ASE).
The neighbour search is vesin's cell list (O(N)), never a Python double loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class Graph:
    edge_vectors: np.ndarray  # [E, 3] float64
    edge_index: np.ndarray  # [2, E] int64, row 0 centre i, row 1 neighbour j
    edge_shifts: np.ndarray  # [E, 3] int64 lattice-vector counts of the neighbour's image
    atom_types: np.ndarray  # [N] int64 model type index

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]


def neighbor_graph(positions, cell, pbc, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed edges within ``cutoff``: ``(edge_index [2,E], edge_vectors [E,3], edge_shifts [E,3])``."""
    from vesin import NeighborList

    positions = np.ascontiguousarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    if not np.all(np.isfinite(positions)):
        raise ValueError("positions contain NaN or infinite values")
    if pbc.any() and abs(np.linalg.det(cell)) < 1e-12:
        raise ValueError(f"the structure is periodic along {''.join('xyz'[k] for k in range(3) if pbc[k])} "
                         "but its cell has zero volume; set a cell or make it non-periodic")
    if not pbc.any():
        cell = np.zeros((3, 3))
    i, j, shifts, vectors = NeighborList(cutoff=float(cutoff), full_list=True).compute(
        points=positions, box=cell, periodic=pbc.tolist(), quantities="ijSD"
    )
    edge_index = np.stack([i, j]).astype(np.int64)
    return edge_index, np.asarray(vectors, dtype=np.float64), np.asarray(shifts, dtype=np.int64)


def type_indices(symbols: Sequence[str], type_names: Sequence[str]) -> np.ndarray:
    """Model type index of each atom; an element the model does not know is an error."""
    index = {name: k for k, name in enumerate(type_names)}
    unknown = sorted(set(symbols) - set(index))
    if unknown:
        raise ValueError(f"element(s) {', '.join(unknown)} not known to the model, which has {' '.join(type_names)}")
    return np.array([index[s] for s in symbols], dtype=np.int64)


def atoms_graph(atoms, type_names: Sequence[str], r_max: float, cutoff_matrix: np.ndarray | None = None) -> Graph:
    """The contract graph of an ``ase.Atoms``; ``cutoff_matrix[t_i, t_j]`` trims edges per type pair."""
    types = type_indices(atoms.get_chemical_symbols(), type_names)
    edge_index, vectors, shifts = neighbor_graph(atoms.positions, atoms.cell.array, atoms.pbc, r_max)
    if cutoff_matrix is not None:
        cut = np.asarray(cutoff_matrix)[types[edge_index[0]], types[edge_index[1]]]
        keep = np.einsum("ij,ij->i", vectors, vectors) < cut * cut
        edge_index, vectors, shifts = edge_index[:, keep], vectors[keep], shifts[keep]
    return Graph(edge_vectors=vectors, edge_index=edge_index, edge_shifts=shifts, atom_types=types)
