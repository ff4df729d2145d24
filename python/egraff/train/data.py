"""Labelled frames as contract graphs, built once per frame, and their batching.

A frame is an ``ase.Atoms`` whose labels sit in a ``SinglePointCalculator`` (egraff.data's
convention): energy (eV), forces (eV/Å), optional stress (eV/Å³, ASE Voigt order). Its graph comes
from :mod:`egraff.data.graph` (vesin cell lists) once, at dataset construction; training only
re-evaluates the model on the stored edge vectors (the energy depends on positions only through
them, so forces and stress follow from ∂E/∂edge_vectors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from egraff.data.graph import atoms_graph


class TrainingDataError(ValueError):
    """Data that cannot be trained on, with a sentence saying why."""


@dataclass
class FrameGraph:
    edge_vectors: torch.Tensor  # [E,3] float64
    edge_index: torch.Tensor  # [2,E]
    atom_types: torch.Tensor  # [N]
    energy: torch.Tensor  # 0-d
    forces: torch.Tensor  # [N,3]
    stress: torch.Tensor  # [3,3] (zeros when absent)
    has_stress: bool
    volume: float


def _labels(atoms, index: int, source: str):
    from ase.calculators.calculator import PropertyNotImplementedError

    if atoms.calc is None:
        raise TrainingDataError(f"{source} frame {index} has no energy/forces labels")
    try:
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces()
    except (PropertyNotImplementedError, RuntimeError) as err:
        raise TrainingDataError(f"{source} frame {index} lacks energy or forces ({err})") from None
    try:
        stress = atoms.get_stress(voigt=False)
    except (PropertyNotImplementedError, RuntimeError):
        stress = None
    return energy, forces, stress


class GraphDataset(torch.utils.data.Dataset):
    def __init__(self, frames: Sequence, type_names: Sequence[str], r_max: float, source: str = "data"):
        if len(frames) == 0:
            raise TrainingDataError(f"{source} is empty: it has no frames to train or validate on")
        self.graphs: list[FrameGraph] = []
        for k, atoms in enumerate(frames):
            try:
                g = atoms_graph(atoms, type_names, r_max)
            except ValueError as err:
                raise TrainingDataError(f"{source} frame {k}: {err}") from None
            energy, forces, stress = _labels(atoms, k, source)
            volume = float(abs(np.linalg.det(atoms.cell.array))) if atoms.pbc.all() else 0.0
            self.graphs.append(FrameGraph(
                edge_vectors=torch.from_numpy(g.edge_vectors),
                edge_index=torch.from_numpy(g.edge_index),
                atom_types=torch.from_numpy(g.atom_types),
                energy=torch.tensor(float(energy), dtype=torch.float64),
                forces=torch.as_tensor(np.asarray(forces), dtype=torch.float64),
                stress=torch.zeros(3, 3, dtype=torch.float64) if stress is None else torch.as_tensor(stress),
                has_stress=stress is not None and volume > 0,
                volume=volume,
            ))

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> FrameGraph:
        return self.graphs[index]


@dataclass
class Batch:
    edge_vectors: torch.Tensor
    edge_index: torch.Tensor
    atom_types: torch.Tensor
    node_graph: torch.Tensor  # [N] graph index of every node
    num_atoms: torch.Tensor  # [B]
    energy: torch.Tensor  # [B]
    forces: torch.Tensor  # [N,3]
    stress: torch.Tensor  # [B,3,3]
    has_stress: torch.Tensor  # [B] bool
    volume: torch.Tensor  # [B]

    @property
    def num_graphs(self) -> int:
        return int(self.num_atoms.shape[0])


def collate(graphs: Sequence[FrameGraph]) -> Batch:
    """Disjoint union of graphs: node indices of graph k are offset by the atoms before it."""
    sizes = [g.atom_types.shape[0] for g in graphs]
    offsets = np.cumsum([0] + sizes[:-1])
    return Batch(
        edge_vectors=torch.cat([g.edge_vectors for g in graphs]),
        edge_index=torch.cat([g.edge_index + int(o) for g, o in zip(graphs, offsets, strict=True)], dim=1),
        atom_types=torch.cat([g.atom_types for g in graphs]),
        node_graph=torch.repeat_interleave(torch.arange(len(graphs)), torch.tensor(sizes)),
        num_atoms=torch.tensor(sizes),
        energy=torch.stack([g.energy for g in graphs]),
        forces=torch.cat([g.forces for g in graphs]),
        stress=torch.stack([g.stress for g in graphs]),
        has_stress=torch.tensor([g.has_stress for g in graphs]),
        volume=torch.tensor([g.volume for g in graphs], dtype=torch.float64),
    )


def energy_statistics(dataset: GraphDataset, num_types: int) -> tuple[list[float], float]:
    """Per-species energy shifts (least-squares fit of frame energies to element counts) and the
    force RMS, used as the model's energy scale (the usual choice for NequIP/MACE-style models)."""
    counts = np.stack([np.bincount(g.atom_types.numpy(), minlength=num_types) for g in dataset.graphs])
    energies = np.array([float(g.energy) for g in dataset.graphs])
    shifts, *_ = np.linalg.lstsq(counts.astype(np.float64), energies, rcond=None)
    forces = torch.cat([g.forces for g in dataset.graphs])
    force_rms = float(torch.sqrt((forces ** 2).mean()))
    return shifts.tolist(), force_rms if force_rms > 0 else 1.0


def average_num_neighbors(dataset: GraphDataset) -> float:
    """Mean number of edges per atom over the training frames (the models' message normalisation)."""
    edges = sum(g.edge_index.shape[1] for g in dataset.graphs)
    atoms = sum(g.atom_types.shape[0] for g in dataset.graphs)
    return float(edges) / max(atoms, 1)
