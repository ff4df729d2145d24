"""A contract-v1 file written without egraff's wrapper, following the written contract literally:
it differentiates with respect to its `edge_vectors` input, trusting the caller to pass a leaf that
requires grad. It must work in the plugin and in the ASE calculator, and equal the same energy
wrapped by egraff's own DeployedPotential."""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import pytest
import torch
from torch import Tensor

from conftest import fcc_binary, lammps_to_atoms, new_lammps, per_atom


class GradientOfInput(torch.nn.Module):
    """E_i = sum_j 0.5 exp(-r_ij / 2) over edges from i; edge forces by autograd on the input."""

    def forward(self, edge_vectors: Tensor, edge_index: Tensor, atom_types: Tensor,
                n_local: Tensor) -> Tuple[Tensor, Tensor]:
        r = torch.sqrt((edge_vectors * edge_vectors).sum(dim=1))
        node_energy = torch.zeros(atom_types.shape[0], dtype=torch.float64).index_add(0, edge_index[0],
                                                                                       0.5 * torch.exp(-0.5 * r))
        local: List[Tensor] = [node_energy[: int(n_local.item())].sum()]
        inputs: List[Tensor] = [edge_vectors]
        grads: List[Optional[Tensor]] = torch.autograd.grad(local, inputs, allow_unused=True)
        edge_forces = grads[0]
        assert edge_forces is not None
        return node_energy.detach(), edge_forces


class SameEnergy(torch.nn.Module):
    def forward(self, edge_vectors, edge_index, atom_types):
        r = torch.sqrt((edge_vectors * edge_vectors).sum(dim=1))
        return torch.zeros(atom_types.shape[0], dtype=edge_vectors.dtype).index_add(0, edge_index[0],
                                                                                     0.5 * torch.exp(-0.5 * r))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from egraff.deploy import DeployedPotential, ModelMetadata, save_deployed

    d = tmp_path_factory.mktemp("third_party")
    meta = ModelMetadata(architecture="third-party", type_names=("Ar", "Kr"), r_max=6.0, num_layers=1)
    third = save_deployed(torch.jit.script(GradientOfInput()), d / "third_party.pt", meta)
    ours = save_deployed(DeployedPotential(SameEnergy()), d / "wrapped.pt", meta)
    return third, ours


@pytest.mark.parametrize("mode", ["map", "ghost", "ghostmp"])
def test_model_differentiating_its_input_runs_in_lammps(files, mode):
    third, ours = files
    results = []
    for path in (third, ours):
        lmp = new_lammps()
        try:
            lmp.commands_list(fcc_binary((2, 2, 2), triclinic=True) + [
                f"pair_style egraff mode {mode}", f"pair_coeff * * {path} Ar Kr",
                "fix nve all nve", "run 3"])  # several calls: TorchScript re-optimises after the first
            results.append((lmp.get_thermo("pe"), per_atom(lmp, "f")))
        finally:
            lmp.close()
    (e_third, f_third), (e_ours, f_ours) = results
    assert np.abs(f_ours).max() > 1e-3
    assert abs(e_third - e_ours) <= 1e-12 and np.abs(f_third - f_ours).max() <= 1e-13


def test_model_differentiating_its_input_runs_in_the_ase_calculator(files):
    from egraff.deploy import EGraFFCalculator

    third, ours = files
    lmp = new_lammps()
    try:
        lmp.commands_list(fcc_binary((2, 2, 2), triclinic=True))
        atoms = lammps_to_atoms(lmp, ("Ar", "Kr"))
    finally:
        lmp.close()
    reference = atoms.copy()
    reference.calc = EGraFFCalculator(ours)
    atoms.calc = EGraFFCalculator(third)
    for seed in range(3):
        atoms.rattle(0.01, seed=seed)
        reference.positions = atoms.positions
        assert abs(atoms.get_potential_energy() - reference.get_potential_energy()) <= 1e-12
        assert np.abs(atoms.get_forces() - reference.get_forces()).max() <= 1e-13
        assert np.abs(atoms.get_stress() - reference.get_stress()).max() <= 1e-13
