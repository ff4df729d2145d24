"""ASE calculator on deployed files: the same files and contract the LAMMPS plugin runs.

Neighbours come from ``egraff.data.graph.atoms_graph`` (vesin cell list; periodic along any subset
of axes, cells smaller than the cutoff included). From the contract's ``edge_forces``
g_e = ∂E/∂r_e with r_e = r_j − r_i: F_i += g_e, F_j −= g_e, the virial W = −Σ_e sym(r_e ⊗ g_e)
(LAMMPS's sign) and the stress σ = −W/V (ASE sign: positive under tension), given whenever the cell
has a volume, periodic or not (for a molecule in a box it is the virial of the finite system over
the box volume, as LAMMPS reports); without a cell volume ASE raises PropertyNotImplementedError.

A committee (several files for the same elements, each on its own graph, so their cutoffs may
differ) is evaluated as ``pair_style egraff committee`` does: the first file or the members' mean
gives energy, forces and stress, and :func:`committee_deviation` gives the model deviation.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from egraff.data.graph import atoms_graph
from egraff.contract import DeployedModelError, check_outputs, error_cause, load_deployed

#: committee results, named as in ``pair_style egraff`` (README, "Committee"); the per-atom ones are
#: arrays over the atoms, the others numbers
DEVIATION_PROPERTIES = (
    "force_deviation", "max_force_deviation", "min_force_deviation", "avg_force_deviation",
    "energy_deviation", "max_energy_deviation", "min_energy_deviation", "avg_energy_deviation",
    "max_virial_deviation", "min_virial_deviation", "avg_virial_deviation", "total_energy_deviation",
)
DRIVES = ("first", "mean")


def committee_deviation(energies: np.ndarray, forces: np.ndarray, virials: np.ndarray) -> dict:
    """The model deviation of a committee of K models on one structure of N atoms.

    ``energies`` [K, N] per-atom energies, ``forces`` [K, N, 3], ``virials`` [K, 3, 3] (eV). All
    spreads are population standard deviations over the members, as DeePMD-kit's model deviation
    (Zhang et al., Phys. Rev. Mater. 3, 023804 (2019); Comput. Phys. Commun. 253, 107206 (2020)):
    σ_F,i = sqrt(mean_k |F_i^k − mean_k F_i^k|²); σ_E,i the same of atom i's energy; the virial's
    per component of W^k/N over its 9 components (max, min, and their root mean square); and
    ``total_energy_deviation`` the one of E^k/N (DeePMD-kit's ``devi_e``).
    """
    num_atoms = forces.shape[1]
    force_devi = np.sqrt(np.mean(np.sum((forces - forces.mean(axis=0)) ** 2, axis=2), axis=0))
    energy_devi = np.std(energies, axis=0)
    virial_devi = np.std(virials.reshape(len(virials), 9) / num_atoms, axis=0)
    return {
        "force_deviation": force_devi,
        "max_force_deviation": float(force_devi.max()),
        "min_force_deviation": float(force_devi.min()),
        "avg_force_deviation": float(force_devi.mean()),
        "energy_deviation": energy_devi,
        "max_energy_deviation": float(energy_devi.max()),
        "min_energy_deviation": float(energy_devi.min()),
        "avg_energy_deviation": float(energy_devi.mean()),
        "max_virial_deviation": float(virial_devi.max()),
        "min_virial_deviation": float(virial_devi.min()),
        "avg_virial_deviation": float(np.sqrt(np.mean(virial_devi ** 2))),
        "total_energy_deviation": float(np.std(energies.sum(axis=1) / num_atoms)),
    }


class ModelFailed(RuntimeError):
    """A deployed model raised an error on a structure (as the plugin's "failed at step N")."""


class EGraFFCalculator(Calculator):
    """``EGraFFCalculator("model.pt")``: energy, free_energy, per-atom ``energies``, forces, stress (eV, Å).

    ``EGraFFCalculator(["m0.pt", "m1.pt", ...], drive="first"|"mean")``: a committee; the first
    file (or the members' mean) gives those properties, and :data:`DEVIATION_PROPERTIES` are added.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", *DEVIATION_PROPERTIES]

    def __init__(self, model_path: str | os.PathLike | Sequence[str | os.PathLike], device: str = "cpu",
                 drive: str = "first", **kwargs):
        super().__init__(**kwargs)
        committee = not isinstance(model_path, (str, os.PathLike))
        self.model_paths = [str(p) for p in (model_path if committee else [model_path])]
        if committee and len(self.model_paths) < 2:
            raise DeployedModelError(
                f"a committee needs at least two model files, got {self.model_paths}; pass one path for a single model")
        if drive not in DRIVES:
            raise ValueError(f"unknown drive {drive!r}; use 'first' (the first file) or 'mean' (the committee's mean)")
        self.committee = committee
        self.drive = drive
        self.device = torch.device(device)
        self.members = [load_deployed(path, device) for path in self.model_paths]
        names = self.members[0][1].type_names
        for path, (_, meta) in zip(self.model_paths[1:], self.members[1:]):
            if meta.type_names != names:
                raise DeployedModelError(
                    f"{path} is for the elements {' '.join(meta.type_names)} but {self.model_paths[0]} is for "
                    f"{' '.join(names)}; every committee member must have the same type_names in the same order")
        self.model, self.metadata = self.members[0]
        self.model_path = self.model_paths[0]

    def _evaluate(self, model, metadata, path: str, atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-atom energies [N], forces [N, 3] and virial [3, 3] of one deployed file."""
        cutoffs = None if metadata.pair_cutoffs is None else metadata.cutoff_matrix().numpy()
        graph = atoms_graph(atoms, metadata.type_names, metadata.r_max, cutoffs)
        num_atoms = len(atoms)

        def tensor(array, dtype):
            return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=self.device)

        # the contract's caller passes edge_vectors as a leaf that requires grad
        try:
            outputs = model(
                tensor(graph.edge_vectors, torch.float64).requires_grad_(True),
                tensor(graph.edge_index, torch.int64),
                tensor(graph.atom_types, torch.int64),
                torch.tensor(num_atoms, dtype=torch.int64),
            )
        except (RuntimeError, torch.jit.Error) as err:  # a scripted model's raise is a jit.Error, no RuntimeError
            raise ModelFailed(f"model '{path}' failed on this structure ({num_atoms} atoms): "
                              f"{error_cause(err)}") from None
        node_energy, edge_forces = check_outputs(outputs, num_atoms, graph.num_edges, path)
        g = edge_forces.cpu().numpy()
        forces = np.zeros((num_atoms, 3))
        np.add.at(forces, graph.edge_index[0], g)
        np.add.at(forces, graph.edge_index[1], -g)
        virial = -g.T @ graph.edge_vectors
        return node_energy.cpu().numpy(), forces, 0.5 * (virial + virial.T)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        energies, forces, virials = (np.array(values) for values in zip(*(
            self._evaluate(model, meta, path, atoms) for path, (model, meta) in zip(self.model_paths, self.members))))
        pick = (lambda x: x.mean(axis=0)) if self.drive == "mean" else (lambda x: x[0])
        energy = float(pick(energies).sum())
        self.results = {"energy": energy, "free_energy": energy, "energies": pick(energies), "forces": pick(forces)}
        volume = abs(atoms.cell.volume) if atoms.cell.rank == 3 else 0.0
        if volume > 0:
            self.results["stress"] = full_3x3_to_voigt_6_stress(-pick(virials) / volume)
        if self.committee:
            self.results.update(committee_deviation(energies, forces, virials))
