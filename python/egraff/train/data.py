"""Labelled frames as contract graphs, built once per frame, and their batching.

A frame is an ``ase.Atoms`` whose labels sit in a ``SinglePointCalculator`` (egraff.data's
convention): energy (eV), forces (eV/Å), optional stress (eV/Å³, ASE Voigt order). Its graph comes
from :mod:`egraff.data.graph` (vesin cell lists) once, at dataset construction; training only
re-evaluates the model on the stored edge vectors (the energy depends on positions only through
them, so forces and stress follow from ∂E/∂edge_vectors).

Every frame is checked before any training: finite positions and labels of the right shapes, and no
two atoms closer than :data:`MIN_DISTANCE`. A failure names the frame where the user can find it
(``train.extxyz frame 17``: the index in its file, not in the training set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from egraff.data.graph import atoms_graph

#: Å; closer pairs are duplicated atoms or broken coordinates, not chemistry (H2 is 0.74 Å)
MIN_DISTANCE = 0.1


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


def _labels(atoms, origin: str):
    """Energy, forces and (or None) stress of a frame, checked for shape and finiteness."""
    results = atoms.calc.results if atoms.calc is not None else {}
    missing = [key for key in ("energy", "forces") if results.get(key) is None]
    if missing:
        raise TrainingDataError(f"{origin} has no {' or '.join(missing)} label; every training frame needs "
                                "energy and forces (extxyz: an energy= header key and a forces column)")
    energy = np.asarray(results["energy"], dtype=np.float64)
    forces = np.asarray(results["forces"], dtype=np.float64)
    if energy.size != 1:
        raise TrainingDataError(f"{origin}: the energy label has shape {energy.shape}; it must be one number")
    if forces.shape != (len(atoms), 3):
        raise TrainingDataError(f"{origin}: the forces label has shape {forces.shape}, expected ({len(atoms)}, 3)")
    stress = results.get("stress")
    if stress is not None:
        stress = np.asarray(stress, dtype=np.float64)
        if stress.shape == (6,):
            from ase.stress import voigt_6_to_full_3x3_stress

            stress = voigt_6_to_full_3x3_stress(stress)
        if stress.shape != (3, 3):
            raise TrainingDataError(f"{origin}: the stress label has shape {stress.shape}, expected (6,) or (3, 3)")
    for name, value in (("energy", energy), ("forces", forces), ("stress", stress)):
        if value is not None and not np.all(np.isfinite(value)):
            raise TrainingDataError(f"{origin}: the {name} label holds NaN or infinite values; "
                                    "fix or remove the frame")
    return float(energy.reshape(())), forces, stress


def _check_geometry(atoms, graph, origin: str) -> None:
    if not np.all(np.isfinite(atoms.positions)):
        raise TrainingDataError(f"{origin}: positions hold NaN or infinite values; fix or remove the frame")
    if graph.num_edges:
        lengths = np.linalg.norm(graph.edge_vectors, axis=1)
        e = int(np.argmin(lengths))
        if lengths[e] < MIN_DISTANCE:
            i, j = sorted(int(k) for k in graph.edge_index[:, e])
            what = f"atom {i} is {lengths[e]:.3g} Å from its own periodic image" if i == j else \
                f"atoms {i} and {j} are {lengths[e]:.3g} Å apart"
            raise TrainingDataError(f"{origin}: {what} (closer than {MIN_DISTANCE} Å); the frame has duplicated "
                                    "atoms or broken coordinates: fix or remove it")


class GraphDataset(torch.utils.data.Dataset):
    """Checked graphs of labelled frames; ``origins[k]`` names frame k for error messages
    (default ``"<source> frame k"``)."""

    def __init__(self, frames: Sequence, type_names: Sequence[str], r_max: float, source: str = "data",
                 origins: Sequence[str] | None = None):
        if len(frames) == 0:
            raise TrainingDataError(f"{source} is empty: it has no frames to train or validate on")
        origins = origins if origins is not None else [f"{source} frame {k}" for k in range(len(frames))]
        self.graphs: list[FrameGraph] = []
        for atoms, origin in zip(frames, origins, strict=True):
            if not np.all(np.isfinite(atoms.positions)):  # before the neighbour search, which refuses them
                raise TrainingDataError(f"{origin}: positions hold NaN or infinite values; fix or remove the frame")
            try:
                g = atoms_graph(atoms, type_names, r_max)
            except ValueError as err:
                raise TrainingDataError(f"{origin}: {err}") from None
            _check_geometry(atoms, g, origin)
            energy, forces, stress = _labels(atoms, origin)
            volume = float(abs(np.linalg.det(atoms.cell.array))) if atoms.pbc.all() else 0.0
            self.graphs.append(FrameGraph(
                edge_vectors=torch.from_numpy(g.edge_vectors),
                edge_index=torch.from_numpy(g.edge_index),
                atom_types=torch.from_numpy(g.atom_types),
                energy=torch.tensor(energy, dtype=torch.float64),
                forces=torch.from_numpy(forces),
                stress=torch.zeros(3, 3, dtype=torch.float64) if stress is None else torch.from_numpy(stress),
                has_stress=stress is not None and volume > 0,
                volume=volume,
            ))

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> FrameGraph:
        return self.graphs[index]


class EpochShuffle(torch.utils.data.Sampler):
    """A fresh random order every epoch that depends only on (seed, epoch).

    Lightning calls ``set_epoch`` before each epoch, so a run resumed at epoch k draws exactly the
    batches an uninterrupted run draws there (a DataLoader's own generator would restart at epoch 0).
    """

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]))
        return iter(torch.randperm(self.size, generator=generator).tolist())


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


def element_counts(dataset: GraphDataset, num_types: int) -> np.ndarray:
    """[frames, types] number of atoms of each type in each frame."""
    return np.stack([np.bincount(g.atom_types.numpy(), minlength=num_types) for g in dataset.graphs])


def reference_energies(dataset: GraphDataset, type_names: Sequence[str], rule, prior=None) -> list[float]:
    """Per-element reference energies E0 (eV/atom), the model's energy shifts.

    ``prior``: a fixed energy term the model adds (per-node energies of a graph's ``edge_vectors``,
    ``edge_index``, ``atom_types``, e.g. the ZBL repulsion); the rules fit what remains of the frame
    energies after it, so the prior is not counted twice.

    ``least_squares``: the E0 that best fit the frame energies as Σ_elements count·E0 (MACE's
    ``--E0s average``, NequIP's ``dataset_per_species_total_energy_mean``); ``per_atom_mean``: one value
    for every element, the mean energy per atom (NequIP's ``dataset_per_atom_total_energy_mean``);
    ``isolated_atoms``: the energies of the training frames that hold a single atom without neighbours
    (MACE's ``IsolatedAtom`` frames); a mapping {element symbol or atomic number: eV}: given values
    (the study's MACE/BOTNet runs passed a fixed dict).
    """
    if isinstance(rule, dict):
        from ase.data import chemical_symbols

        by_symbol = {(chemical_symbols[int(k)] if str(k).isdigit() else str(k)): float(v) for k, v in rule.items()}
        missing = [t for t in type_names if t not in by_symbol]
        if missing:
            raise TrainingDataError(f"model.e0s gives no reference energy for {' '.join(missing)}; "
                                    "give one for every element of the model")
        return [by_symbol[t] for t in type_names]
    if rule == "isolated_atoms":
        isolated = {type_names[int(g.atom_types[0])]: float(g.energy) for g in dataset.graphs
                    if g.atom_types.shape[0] == 1 and g.edge_index.shape[1] == 0}
        missing = [t for t in type_names if t not in isolated]
        if missing:
            raise TrainingDataError(f"model.e0s = isolated_atoms, but the training data has no isolated-atom frame "
                                    f"(one atom, no neighbours within r_max) of {' '.join(missing)}; add one per "
                                    "element or choose least_squares")
        return [isolated[t] for t in type_names]
    counts = element_counts(dataset, len(type_names)).astype(np.float64)
    energies = np.array([float(g.energy) for g in dataset.graphs])
    if prior is not None:
        with torch.no_grad():
            energies -= np.array([float(prior(g.edge_vectors, g.edge_index, g.atom_types).sum()) for g in dataset.graphs])
    if rule == "per_atom_mean":
        return [float(np.mean(energies / counts.sum(axis=1)))] * len(type_names)
    shifts, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return shifts.tolist()


def force_rms(dataset: GraphDataset) -> float:
    """Root mean square force component, the models' energy scale (the usual NequIP/MACE choice)."""
    forces = torch.cat([g.forces for g in dataset.graphs])
    rms = float(torch.sqrt((forces ** 2).mean()))
    return rms if rms > 0 else 1.0


def average_num_neighbors(dataset: GraphDataset) -> float:
    """Mean number of edges per atom over the training frames (the models' message normalisation)."""
    edges = sum(g.edge_index.shape[1] for g in dataset.graphs)
    atoms = sum(g.atom_types.shape[0] for g in dataset.graphs)
    return float(edges) / max(atoms, 1)
