"""The common interface: rebuild from hyperparameters, trainability (forces by autograd with
create_graph=True), float32 models, the shared energy scale/shift, presets, and input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egraff.data.graph import atoms_graph
from egraff.models import ARCHITECTURES, build

from .conftest import R_MAX, TYPE_NAMES, crystal, energy_and_forces, molecule


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_rebuild_from_hyperparameters_and_state_dict(tiny, architecture):
    model = tiny.model(architecture)
    assert (model.architecture, model.type_names, model.r_max) == (architecture, TYPE_NAMES, R_MAX)
    torch.manual_seed(99)  # different initial weights: only the state dict can make them agree
    rebuilt = build(architecture, model.type_names, model.r_max, model_dtype=model.model_dtype, **model.hyperparameters)
    atoms = molecule()
    assert abs(energy_and_forces(rebuilt, atoms)[0] - energy_and_forces(model, atoms)[0]) > 1e-6
    rebuilt.load_state_dict(model.state_dict())
    energy, forces = energy_and_forces(model, atoms)
    rebuilt_energy, rebuilt_forces = energy_and_forces(rebuilt.eval(), atoms)
    assert rebuilt_energy == energy and np.array_equal(rebuilt_forces, forces)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_force_training_reduces_force_loss(architecture):
    """Forces by autograd with create_graph=True, then a few Adam steps on a force loss: the loss
    falls, so gradients reach the weights through the force computation."""
    torch.manual_seed(5)
    model = build(architecture, TYPE_NAMES, R_MAX).train()
    graph = atoms_graph(crystal(), TYPE_NAMES, R_MAX)
    edge_index, types = torch.tensor(graph.edge_index), torch.tensor(graph.atom_types)

    def forces():
        vectors = torch.tensor(graph.edge_vectors, requires_grad=True)
        energy = model(vectors, edge_index, types).sum()
        (g,) = torch.autograd.grad(energy, vectors, create_graph=True)
        return torch.zeros(len(types), 3, dtype=g.dtype).index_add(0, edge_index[0], g).index_add(0, edge_index[1], -g)

    target = 0.5 * forces().detach()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        optimiser.zero_grad()
        loss = ((forces() - target) ** 2).mean()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_float32_model_agrees_with_float64(tiny, tmp_path, architecture):
    from egraff.deploy import EGraFFCalculator, load_deployed
    from egraff.deploy.export import deploy

    reference = tiny.model(architecture)
    model = build(architecture, TYPE_NAMES, R_MAX, model_dtype="float32", **reference.hyperparameters)
    assert all(p.dtype == torch.float32 for p in model.parameters()) and model.model_dtype == "float32"
    model.load_state_dict(reference.state_dict())
    path = deploy(model.eval(), tmp_path / "f32.pt")
    assert load_deployed(path)[1].model_dtype == "float32"
    atoms = crystal()
    atoms.calc = EGraFFCalculator(path)
    energy, forces = energy_and_forces(reference, atoms)
    assert abs(atoms.get_potential_energy() - energy) <= 1e-4 * len(atoms)
    assert np.abs(atoms.get_forces() - forces).max() <= 1e-4


def test_energy_scale_and_shifts_act_on_every_node(tiny):
    model = tiny.model("nequip")
    vectors, edge_index, types = (torch.tensor(x) for x in (lambda g: (g.edge_vectors, g.edge_index, g.atom_types))(
        atoms_graph(molecule(), TYPE_NAMES, R_MAX)))
    raw = model.body(vectors, edge_index, types).detach()
    expected = model.energy_scale * raw + model.energy_shifts[types]
    assert torch.allclose(model(vectors, edge_index, types).detach(), expected, rtol=0, atol=1e-14)
    assert torch.equal(model.energy_shifts, torch.tensor([-3.5, -4.25], dtype=torch.float64))
    with pytest.raises(ValueError, match="missing Au"):
        model.set_energy_scale_shift(shifts={"Cu": 0.0})
    with pytest.raises(ValueError, match="unknown Ag"):
        model.set_energy_scale_shift(shifts={"Cu": 0.0, "Au": 0.0, "Ag": 1.0})
    with pytest.raises(ValueError, match="must be > 0"):
        model.set_energy_scale_shift(scale=0.0)


def test_bad_build_arguments_are_explained():
    with pytest.raises(ValueError, match="unknown architecture 'schnet'; choose one of nequip"):
        build("schnet", TYPE_NAMES, R_MAX)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        build("nequip", TYPE_NAMES, R_MAX, preset="huge")
    with pytest.raises(ValueError, match="mace has no hyperparameter.s. num_features; known: "):
        build("mace", TYPE_NAMES, R_MAX, num_features=3)
    with pytest.raises(ValueError, match="model_dtype must be float32 or float64"):
        build("mace", TYPE_NAMES, R_MAX, model_dtype="float16")
    with pytest.raises(ValueError, match="TorchMD-Net .it embeds atoms by atomic number. needs element symbols "
                                         "as type names; X1 is not"):
        build("torchmd-et", ["Cu", "X1"], R_MAX)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_models_deep_copy_and_pickle(tiny, architecture, tmp_path):
    """EMA and checkpoint code deep-copy or pickle models; building a nequip model first (which flips
    e3nn's global jit_mode inside nequip) must not make later models uncopyable."""
    import copy

    tiny.model("nequip")
    torch.manual_seed(3)
    model = build(architecture, TYPE_NAMES, R_MAX)
    atoms = molecule()
    energy = energy_and_forces(model, atoms)[0]
    assert energy_and_forces(copy.deepcopy(model), atoms)[0] == energy
    torch.save(model, tmp_path / "model.pickle")
    assert energy_and_forces(torch.load(tmp_path / "model.pickle", weights_only=False), atoms)[0] == energy
