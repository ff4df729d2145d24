"""ASE calculator on a deployed file: the same file and contract the LAMMPS plugin runs.

Neighbours come from ``egraff.data.graph.atoms_graph`` (vesin cell list; periodic along any subset
of axes, cells smaller than the cutoff included). From the contract's ``edge_forces``
g_e = ∂E/∂r_e with r_e = r_j − r_i: F_i += g_e, F_j −= g_e, and the stress is
σ = (1/V) Σ_e g_e ⊗ r_e (ASE sign: positive under tension), given whenever the cell has a volume,
periodic or not (for a molecule in a box it is the virial of the finite system over the box volume,
as LAMMPS reports); without a cell volume ASE raises PropertyNotImplementedError for it.
"""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from egraff.data.graph import atoms_graph
from egraff.contract import check_outputs, load_deployed


class EGraFFCalculator(Calculator):
    """``EGraFFCalculator("model.pt")``: energy, free_energy, per-atom ``energies``, forces, stress (eV, Å)."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model_path, device: str = "cpu", **kwargs):
        super().__init__(**kwargs)
        self.model, self.metadata = load_deployed(model_path, device)
        self.model_path = str(model_path)
        self.device = torch.device(device)
        self.cutoff_matrix = None if self.metadata.pair_cutoffs is None else self.metadata.cutoff_matrix().numpy()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        graph = atoms_graph(atoms, self.metadata.type_names, self.metadata.r_max, self.cutoff_matrix)
        num_atoms = len(atoms)

        def tensor(array, dtype):
            return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=self.device)

        # the contract's caller passes edge_vectors as a leaf that requires grad
        outputs = self.model(
            tensor(graph.edge_vectors, torch.float64).requires_grad_(True),
            tensor(graph.edge_index, torch.int64),
            tensor(graph.atom_types, torch.int64),
            torch.tensor(num_atoms, dtype=torch.int64),
        )
        node_energy, edge_forces = check_outputs(outputs, num_atoms, graph.num_edges, self.model_path)
        energies = node_energy.cpu().numpy()
        g = edge_forces.cpu().numpy()
        forces = np.zeros((num_atoms, 3))
        np.add.at(forces, graph.edge_index[0], g)
        np.add.at(forces, graph.edge_index[1], -g)
        energy = float(energies.sum())
        self.results = {"energy": energy, "free_energy": energy, "energies": energies, "forces": forces}
        volume = abs(atoms.cell.volume) if atoms.cell.rank == 3 else 0.0
        if volume > 0:
            sigma = g.T @ graph.edge_vectors / volume
            self.results["stress"] = full_3x3_to_voigt_6_stress(0.5 * (sigma + sigma.T))
