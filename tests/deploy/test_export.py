"""Checkpoint → deployed file (`egraff export`), and the errors a user sees for bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from egraff.cli import app
from egraff.deploy import EGraFFCalculator, load_deployed
from egraff.deploy.export import CheckpointError, load_checkpoint, save_checkpoint
from egraff.models import build

from .conftest import rattled_fcc

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_like(tmp_path_factory):
    """A tiny BOTNet with non-default scale/shift saved as a checkpoint with extra training keys."""
    torch.manual_seed(8)
    model = build("botnet", ["Cu", "Au"], 4.0)
    model.set_energy_scale_shift(scale=20.0, shifts={"Cu": -3.7, "Au": -3.1})
    path = save_checkpoint(model.eval(), tmp_path_factory.mktemp("ckpt") / "model.ckpt", data_fingerprint="sha256:abc",
                           epoch=12, optimizer={"lr": 1e-3})
    return model, path


def test_export_cli_writes_a_file_equal_to_the_model(trained_like, tmp_path):
    model, checkpoint = trained_like
    assert set(torch.load(checkpoint, weights_only=True)) >= {"egraff_checkpoint", "state_dict", "epoch"}
    result = runner.invoke(app, ["export", str(checkpoint), "-o", str(tmp_path / "model.pt")])
    assert result.exit_code == 0, result.output
    _, metadata = load_deployed(tmp_path / "model.pt")
    assert (metadata.architecture, metadata.type_names, metadata.num_layers) == ("botnet", ("Cu", "Au"), 2)
    assert metadata.data_fingerprint == "sha256:abc"

    atoms = rattled_fcc()
    atoms.calc = EGraFFCalculator(tmp_path / "model.pt")
    reloaded, _ = load_checkpoint(checkpoint)
    from egraff.data.graph import atoms_graph

    graph = atoms_graph(atoms, model.type_names, model.r_max)
    vectors = torch.tensor(graph.edge_vectors, requires_grad=True)
    edge_index = torch.tensor(graph.edge_index)
    energies = model(vectors, edge_index, torch.tensor(graph.atom_types))
    (g,) = torch.autograd.grad(energies.sum(), vectors)
    forces = torch.zeros(len(atoms), 3, dtype=g.dtype).index_add(0, edge_index[0], g).index_add(0, edge_index[1], -g)
    assert np.abs(atoms.get_potential_energies() - energies.detach().numpy()).max() <= 1e-10
    assert np.abs(atoms.get_forces() - forces.numpy()).max() <= 1e-10
    assert np.abs(forces.numpy()).max() > 0.05
    assert torch.equal(reloaded.energy_shifts, model.energy_shifts)


def test_corrupt_checkpoint_is_refused_with_a_reason(trained_like, tmp_path):
    _, checkpoint = trained_like
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(checkpoint.read_bytes()[:500])
    result = runner.invoke(app, ["export", str(truncated), "-o", str(tmp_path / "out.pt")])
    assert result.exit_code == 1
    assert "truncated.ckpt is not a readable egraff checkpoint" in result.output
    assert "pass a file written by egraff's training engine" in result.output
    assert not (tmp_path / "out.pt").exists()


def test_foreign_and_inconsistent_checkpoints_are_refused(trained_like, tmp_path):
    _, checkpoint = trained_like
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}}, foreign)  # e.g. a Lightning checkpoint
    with pytest.raises(CheckpointError, match="not an egraff checkpoint .* use `egraff export --from nequip|mace`"):
        load_checkpoint(foreign)
    mismatched = torch.load(checkpoint, weights_only=True)
    mismatched["hyperparameters"]["hidden_irreps"] = "4x0e+4x1o"
    torch.save(mismatched, tmp_path / "mismatched.ckpt")
    with pytest.raises(CheckpointError, match="weights in .*mismatched.ckpt do not fit its botnet hyperparameters"):
        load_checkpoint(tmp_path / "mismatched.ckpt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_bad_upstream_files_are_refused(tmp_path):
    not_a_model = tmp_path / "weights.model"
    torch.save({"a": torch.zeros(2)}, not_a_model)
    result = runner.invoke(app, ["export", "--from", "mace", str(not_a_model), "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 1 and "holds a dict, not a MACE model" in result.output
    garbage = tmp_path / "broken.nequip.zip"
    garbage.write_bytes(b"not a zip")
    result = runner.invoke(app, ["export", "--from", "nequip", str(garbage), "-o", str(tmp_path / "n.pt")])
    assert result.exit_code == 1 and "is not a loadable nequip checkpoint or .nequip.zip package" in result.output
    result = runner.invoke(app, ["export", "--from", "schnetpack", str(garbage), "-o", str(tmp_path / "s.pt")])
    assert result.exit_code != 0 and "use one of nequip, mace" in result.output


def test_deploy_leaves_the_model_trainable(tmp_path):
    from egraff.deploy.export import deploy

    torch.manual_seed(1)
    model = build("mace", ["Cu", "Au"], 4.0).train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    module_types = [type(m) for m in model.modules()]
    deploy(model, tmp_path / "mace.pt")
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert [type(m) for m in model.modules()] == module_types  # no submodule swapped for a scripted one
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
