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
    """Bad input (egraff.exits): status 2 and one sentence; nothing is written."""
    _, checkpoint = trained_like
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(checkpoint.read_bytes()[:500])
    result = runner.invoke(app, ["export", str(truncated), "-o", str(tmp_path / "out.pt")])
    assert result.exit_code == 2
    assert "truncated.ckpt is not a checkpoint written by torch.save (not a zip archive: damaged, truncated" in result.output
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
    assert result.exit_code == 2 and "holds a dict, not a MACE model" in result.output
    garbage = tmp_path / "broken.nequip.zip"
    garbage.write_bytes(b"not a zip")
    result = runner.invoke(app, ["export", "--from", "nequip", str(garbage), "-o", str(tmp_path / "n.pt")])
    assert result.exit_code == 2 and "is not a loadable nequip checkpoint or .nequip.zip package" in result.output
    result = runner.invoke(app, ["export", "--from", "schnetpack", str(garbage), "-o", str(tmp_path / "s.pt")])
    assert result.exit_code == 2 and "use one of nequip, mace" in result.output


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


def test_export_refuses_non_finite_weights(trained_like, tmp_path):
    """A diverged run (NaN weights) must not become a deployed file."""
    ckpt = torch.load(trained_like[1], weights_only=True)
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point() and v.numel() > 1)
    ckpt["state_dict"][name].view(-1)[0] = float("nan")
    torch.save(ckpt, tmp_path / "diverged.ckpt")
    result = runner.invoke(app, ["export", str(tmp_path / "diverged.ckpt"), "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 2
    assert "refusing to write" in result.output and "1 non-finite values (NaN or inf), so training diverged" in result.output
    assert not (tmp_path / "m.pt").exists()


def test_export_explains_files_that_are_not_model_checkpoints(trained_like, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    # what the training engine (Lightning) writes to resume a run
    torch.save({"epoch": 3, "global_step": 30, "pytorch-lightning_version": "2.5.0", "state_dict": {}},
               run / "checkpoints" / "last.ckpt")
    result = runner.invoke(app, ["export", str(run / "checkpoints" / "last.ckpt"), "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 2
    assert f"is the training engine's resume state, not a model checkpoint; export {run.resolve() / 'best_model.pt'}" \
        in result.output
    # an already deployed file
    runner.invoke(app, ["export", str(trained_like[1]), "-o", str(tmp_path / "deployed.pt")])
    result = runner.invoke(app, ["export", str(tmp_path / "deployed.pt"), "-o", str(tmp_path / "again.pt")])
    assert result.exit_code == 2 and "deployed.pt is a TorchScript file (an already deployed model?)" in result.output
    assert "needs no export" in result.output
    result = runner.invoke(app, ["export", "--from", "nequip", str(tmp_path / "deployed.pt"), "-o", str(tmp_path / "n.pt")])
    assert result.exit_code == 2 and "deployed.pt is a TorchScript file (a compiled .nequip.pth or a deployed model)" \
        in result.output
    (tmp_path / "notes.ckpt").write_text("hello")
    result = runner.invoke(app, ["export", str(tmp_path / "notes.ckpt"), "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 2 and "notes.ckpt is not a checkpoint written by torch.save (not a zip archive" \
        in result.output
    result = runner.invoke(app, ["export", str(run), "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 2 and "run is a directory; give the checkpoint file" in result.output
    result = runner.invoke(app, ["export", str(trained_like[1]), "-o", str(run)])
    assert result.exit_code == 2 and "run is a directory; give a file name for the deployed model" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["lj", "--dtype", "float16"], "model_dtype must be float32 or float64, got 'float16'"),
    (["mp2", "--elements", "Ar Ar"], "type names must be unique, got ['Ar', 'Ar']"),
    (["mp2", "--elements", " "], "a deployed model needs at least one type name"),
    (["lj", "--elements", "Ar"], "exactly two elements"),
    (["xyz"], "unknown reference model 'xyz'; use lj or mp2"),
    (["mp2", "--shift"], "--shift applies to the lj reference model only"),
])
def test_reference_model_errors_are_one_sentence(tmp_path, args, message):
    result = runner.invoke(app, ["reference-model", *args, "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert not (tmp_path / "m.pt").exists()


def test_reference_model_output_that_is_a_directory(tmp_path):
    result = runner.invoke(app, ["reference-model", "mp2", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory; give a file name for the deployed model" in result.output
    result = runner.invoke(app, ["reference-model", "mp2", "-o", "/proc/egraff/m.pt"])
    assert result.exit_code == 1 and "cannot write /proc/egraff/m.pt" in result.output
    assert isinstance(result.exception, SystemExit)


def test_export_that_cannot_write_its_output_is_a_failure_while_running(trained_like):
    """Status 1 (egraff.exits): the input was good, writing failed."""
    result = runner.invoke(app, ["export", str(trained_like[1]), "-o", "/proc/egraff/m.pt"])
    assert result.exit_code == 1 and "cannot write /proc/egraff/m.pt" in result.output
    assert isinstance(result.exception, SystemExit)
