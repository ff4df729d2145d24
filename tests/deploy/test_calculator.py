"""EGraFFCalculator: stress from the edge forces is the strain derivative, and bad input is explained."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_stress

from egraff.deploy import DeployedModelError, EGraFFCalculator
from egraff.deploy.export import deploy
from egraff.models import build

from .conftest import rattled_fcc


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(21)
    model = build("botnet", ["Cu", "Au"], 4.0)
    model.set_energy_scale_shift(scale=30.0, shifts={"Cu": -3.0, "Au": -4.0})
    return deploy(model, tmp_path_factory.mktemp("calc") / "botnet.pt")


def test_stress_is_the_strain_derivative_of_the_energy(model_file):
    atoms = rattled_fcc()
    atoms.set_cell(atoms.cell.array + [[0.0, 0.0, 0.0], [0.8, 0.0, 0.0], [0.3, -0.5, 0.0]], scale_atoms=True)
    atoms.calc = EGraFFCalculator(model_file)
    stress = atoms.get_stress()
    assert np.abs(stress).max() > 1e-3
    assert np.abs(calculate_numerical_stress(atoms, eps=1e-6) - stress).max() <= 1e-7


def test_molecule_without_cell_has_energy_and_forces_but_no_stress(model_file):
    atoms = Atoms("CuAuCuAu", positions=[[0, 0, 0], [2.5, 0, 0], [0.3, 2.4, 0.2], [1.0, 1.1, 2.3]])
    atoms.calc = EGraFFCalculator(model_file)
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-2
    assert np.abs(forces.sum(axis=0)).max() <= 1e-12
    assert atoms.get_potential_energies().sum() == pytest.approx(atoms.get_potential_energy(), abs=1e-12)
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


def test_unknown_element_is_explained(model_file):
    atoms = rattled_fcc(("Cu", "Ag"))
    atoms.calc = EGraFFCalculator(model_file)
    with pytest.raises(ValueError, match="element.s. Ag not known to the model, which has Cu Au"):
        atoms.get_potential_energy()


def test_corrupt_model_file_is_explained(model_file, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(model_file.read_bytes()[:2000])
    with pytest.raises(DeployedModelError, match="broken.pt is not a loadable TorchScript model"):
        EGraFFCalculator(broken)


class OneTensor(torch.nn.Module):
    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor,
                n_local: torch.Tensor) -> torch.Tensor:
        return torch.zeros(atom_types.shape[0], dtype=torch.float64)


class Float32Forces(torch.nn.Module):
    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor,
                n_local: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(atom_types.shape[0], dtype=torch.float64), torch.zeros(edge_index.shape[1], 3)


@pytest.mark.parametrize("module, message", [
    (OneTensor(), "returned a Tensor, not the contract's tuple"),
    (Float32Forces(), "returned node_energy of dtype torch.float64 and edge_forces of dtype torch.float32; the contract"),
])
def test_model_breaking_the_output_contract_is_explained(tmp_path, module, message):
    from egraff.deploy import ModelMetadata, save_deployed

    meta = ModelMetadata(architecture="broken", type_names=("Cu", "Au"), r_max=4.0, num_layers=1)
    path = save_deployed(torch.jit.script(module), tmp_path / "broken.pt", meta)
    atoms = rattled_fcc()
    atoms.calc = EGraFFCalculator(path)
    with pytest.raises(DeployedModelError, match=f"model .*broken.pt {message}"):
        atoms.get_potential_energy()


def test_an_error_inside_the_model_is_its_cause_not_the_interpreter_banner(tmp_path):
    """As the plugin does: the exception raised inside TorchScript code, named with the file."""
    from egraff.contract import ModelMetadata, save_deployed
    from egraff.deploy.calculator import ModelFailed
    from egraff.models.reference import ARGON_KRYPTON, lennard_jones

    # claims three elements but its parameter tables have two: indexing fails inside torch on Xe
    lj, _ = lennard_jones(["Ar", "Kr"], **ARGON_KRYPTON)
    path = tmp_path / "broken.pt"
    save_deployed(lj, path, ModelMetadata(architecture="lennard-jones", type_names=("Ar", "Kr", "Xe"), r_max=8.5,
                                          num_layers=1))
    atoms = Atoms("ArXe", positions=[[0, 0, 0], [0, 0, 3.8]])
    atoms.calc = EGraFFCalculator(path)
    for _ in range(3):  # every call, not only the first
        with pytest.raises(ModelFailed) as raised:
            atoms.get_potential_energy()
        message = str(raised.value)
        assert "broken.pt" in message and "index 2 is out of bounds" in message
        assert "TorchScript interpreter" not in message and "\n" not in message
        atoms.calc.reset()
