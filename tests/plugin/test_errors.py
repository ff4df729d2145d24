"""Bad input gets a LAMMPS ERROR that says what to fix — never a crash or a torch traceback."""

from __future__ import annotations

from typing import Tuple

import pytest
import torch
from torch import Tensor

from conftest import assert_lammps_error, fcc_binary, run_lmp


def script(model, names="Ar Kr", style="pair_style egraff", pre=(), post=(), ntypes=2):
    return "\n".join(list(pre) + fcc_binary((2, 2, 2), ntypes=ntypes) + [
        style, f"pair_coeff * * {model} {names}", *post, "run 0"]) + "\n"


class NaNEnergy(torch.nn.Module):
    def forward(self, edge_vectors, edge_index, atom_types):
        energy = torch.zeros(atom_types.shape[0], dtype=edge_vectors.dtype)
        return energy.index_add(0, edge_index[0], (edge_vectors * edge_vectors).sum(dim=1) * float("nan"))


class OneTensor(torch.nn.Module):
    """Returns node energies only, not the contract's tuple."""

    def forward(self, edge_vectors: Tensor, edge_index: Tensor, atom_types: Tensor, n_local: Tensor) -> Tensor:
        return torch.zeros(atom_types.shape[0], dtype=torch.float64)


class IntegerOutputs(torch.nn.Module):
    def forward(self, edge_vectors: Tensor, edge_index: Tensor, atom_types: Tensor,
                n_local: Tensor) -> Tuple[Tensor, Tensor]:
        return atom_types * 0, torch.zeros(edge_index.shape[1], 3, dtype=torch.long)


class Float32Outputs(torch.nn.Module):
    def forward(self, edge_vectors: Tensor, edge_index: Tensor, atom_types: Tensor,
                n_local: Tensor) -> Tuple[Tensor, Tensor]:
        return torch.zeros(atom_types.shape[0]), torch.zeros(edge_index.shape[1], 3)


class ColumnEnergies(torch.nn.Module):
    """Per-node energies as an [N, 1] column (nequip's layout), not the contract's [N]."""

    def forward(self, edge_vectors: Tensor, edge_index: Tensor, atom_types: Tensor,
                n_local: Tensor) -> Tuple[Tensor, Tensor]:
        return torch.zeros(atom_types.shape[0], 1, dtype=torch.float64), torch.zeros_like(edge_vectors)


class ThreeInputs(torch.nn.Module):
    def forward(self, edge_vectors: Tensor, edge_index: Tensor, atom_types: Tensor) -> Tuple[Tensor, Tensor]:
        return torch.zeros(atom_types.shape[0], dtype=torch.float64), torch.zeros_like(edge_vectors)


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    from egraff.deploy import DeployedPotential, ModelMetadata, save_deployed
    from egraff.models.reference import ARGON_KRYPTON, lennard_jones

    d = tmp_path_factory.mktemp("bad")
    (d / "notes.pt").write_text("this is not a model\n")
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 1)), str(d / "plain_torchscript.pt"))
    meta = ModelMetadata(architecture="nan", type_names=("Ar", "Kr"), r_max=5.0, num_layers=1)
    save_deployed(DeployedPotential(NaNEnergy()), d / "nan.pt", meta)
    # claims three elements but its parameter tables have two: indexing fails inside torch
    lj, _ = lennard_jones(["Ar", "Kr"], **ARGON_KRYPTON)
    save_deployed(lj, d / "broken.pt", ModelMetadata(architecture="lennard-jones", type_names=("Ar", "Kr", "Xe"),
                                                     r_max=8.5, num_layers=1))
    for name, module in [("one_tensor", OneTensor()), ("integer", IntegerOutputs()), ("float32", Float32Outputs()),
                         ("column", ColumnEnergies()), ("three_inputs", ThreeInputs())]:
        save_deployed(torch.jit.script(module), d / f"{name}.pt", meta)
    return d


def test_missing_model_file(tmp_path):
    assert_lammps_error(run_lmp(script(tmp_path / "nope.pt"), tmp_path), "cannot open model file", "nope.pt")


def test_file_that_is_not_a_model(bad_models, tmp_path):
    assert_lammps_error(run_lmp(script(bad_models / "notes.pt"), tmp_path), "is not a loadable TorchScript model")


def test_torchscript_file_without_egraff_metadata(bad_models, tmp_path):
    assert_lammps_error(run_lmp(script(bad_models / "plain_torchscript.pt"), tmp_path),
                        "not an egraff deployed model", "egraff export")


def test_wrong_number_of_element_names(lj_file, tmp_path):
    assert_lammps_error(run_lmp(script(lj_file, names="Ar"), tmp_path), "got 1 element names for 2 atom types")


def test_element_unknown_to_model(lj_file, tmp_path):
    assert_lammps_error(run_lmp(script(lj_file, names="Ar Xe"), tmp_path),
                        "element 'Xe' (atom type 2) is not in model", "which knows: Ar Kr")


def test_used_atom_type_mapped_to_null(lj_file, tmp_path):
    assert_lammps_error(run_lmp(script(lj_file, names="Ar NULL"), tmp_path), "atom type 2 is mapped to NULL but")


def test_newton_off_with_ghost_mode(lj_file, tmp_path):
    result = run_lmp(script(lj_file, style="pair_style egraff mode ghost", pre=["newton off"]), tmp_path)
    assert_lammps_error(result, "mode ghost requires 'newton on'")


@pytest.mark.mpi
def test_forced_map_mode_on_two_ranks(mp2_file, tmp_path):
    result = run_lmp(script(mp2_file, style="pair_style egraff mode map"), tmp_path, nprocs=2)
    assert_lammps_error(result, "mode map works on 1 MPI rank only")


def test_model_with_nan_output(bad_models, tmp_path):
    assert_lammps_error(run_lmp(script(bad_models / "nan.pt"), tmp_path), "returned a non-finite energy or force")


def test_exception_inside_the_model_shows_its_cause(bad_models, tmp_path):
    """Not "The following operation failed in the TorchScript interpreter.", but what failed."""
    result = run_lmp(script(bad_models / "broken.pt", names="Ar Xe"), tmp_path)
    error = assert_lammps_error(result, "failed at step 0", "RuntimeError: index 2 is out of bounds for dimension 1 with size 2")
    assert "TorchScript interpreter" not in error
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("name, phrase", [
    ("one_tensor", "returned a Tensor, not the contract's tuple (node_energy, edge_forces)"),
    ("integer", "returned node_energy of dtype Long and edge_forces of dtype Long; the contract requires float64"),
    ("float32", "returned node_energy of dtype Float and edge_forces of dtype Float; the contract requires float64"),
    ("column", "returned shapes [32, 1] and [384, 3], expected [32] and [384, 3]"),
])
def test_model_breaking_the_output_contract(bad_models, tmp_path, name, phrase):
    result = run_lmp(script(bad_models / f"{name}.pt", style="pair_style egraff mode map"), tmp_path)
    error = assert_lammps_error(result, phrase)
    assert "INTERNAL ASSERT" not in result.stdout + result.stderr, error


def test_model_with_the_wrong_forward_signature(bad_models, tmp_path):
    from egraff.deploy import DeployedModelError, load_deployed

    assert_lammps_error(run_lmp(script(bad_models / "three_inputs.pt"), tmp_path),
                        "three_inputs.pt' takes 3 inputs, the contract's takes 4")
    with pytest.raises(DeployedModelError, match="three_inputs.pt takes 3 inputs, the contract's takes 4"):
        load_deployed(bad_models / "three_inputs.pt")


def test_units_other_than_metal(lj_file, tmp_path):
    text = script(lj_file).replace("units metal", "units real")
    assert_lammps_error(run_lmp(text, tmp_path), "requires 'units metal'")


def test_unknown_pair_style_keyword(lj_file, tmp_path):
    assert_lammps_error(run_lmp(script(lj_file, style="pair_style egraff mdoe map"), tmp_path),
                        "unknown keyword 'mdoe'")
