"""The training engine: learning on real data, reproducibility, every architecture through the same
engine, and clear errors for bad configs (resume: test_resume.py; bad data: test_data_checks.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from egraff.train import ConfigError, load_config, train
from train.conftest import base_overrides, metrics

EGRAFF = os.path.join(os.path.dirname(sys.executable), "egraff")


def test_twenty_epochs_on_md17_lower_validation_force_error_fivefold(mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("EGRAFF_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("EGRAFF_DATA", str(tmp_path / "cache"))
    config = load_config(None, ["data=md17_ethanol", "data.n_train=200", "data.n_val=50", "train.max_epochs=20",
                                "optim.lr=0.02", f"output.dir={tmp_path / 'run'}", "train.progress=false"])
    result = train(config)
    rows = metrics(result.run_dir)
    assert [int(r["epoch"]) for r in rows] == list(range(20))
    first, last = float(rows[0]["val/force_mae"]), float(rows[-1]["val/force_mae"])
    assert first / last >= 5, f"validation force MAE {first:.3f} -> {last:.3f} eV/Å"

    # the best checkpoint exports to a deployed file that predicts the validation frames that well
    import egraff.data
    from egraff.deploy.calculator import EGraFFCalculator
    from egraff.deploy.export import export_checkpoint

    deployed = export_checkpoint(result.best_model, tmp_path / "ethanol.pt")
    calc = EGraFFCalculator(str(deployed))
    val = egraff.data.load("md17_ethanol", "val", progress=False)
    errors = []
    for atoms in list(val)[:10]:
        reference = atoms.get_forces()
        atoms = atoms.copy()
        atoms.calc = calc
        errors.append(np.abs(atoms.get_forces() - reference).mean())
    assert np.mean(errors) < first / 3


def test_same_seed_same_run(emt_file, tmp_path):
    runs = []
    for name in ("a", "b"):
        train(load_config(None, base_overrides(emt_file, tmp_path / name)))
        runs.append([{k: v for k, v in row.items() if k != "seconds"} for row in metrics(tmp_path / name)])
    assert runs[0] == runs[1]
    other = tmp_path / "c"
    train(load_config(None, base_overrides(emt_file, other, **{"train.seed": 7})))
    assert [r["val/loss"] for r in metrics(other)] != [r["val/loss"] for r in runs[0]]


def test_stress_enters_the_loss_for_periodic_data(emt_file, tmp_path):
    result = train(load_config(None, base_overrides(emt_file, tmp_path / "s", **{"loss.stress_weight": 10.0})))
    rows = metrics(result.run_dir)
    assert "val/stress_mae" in rows[0] and float(rows[-1]["val/stress_mae"]) > 0


def architectures():
    from egraff.models import ARCHITECTURES, architecture_module

    available = []
    for name in ARCHITECTURES:
        try:
            architecture_module(name)
        except ImportError:
            continue
        available.append(name)
    return available


@pytest.mark.parametrize("architecture", architectures())
def test_every_architecture_learns_through_the_same_engine(architecture, emt_file, tmp_path):
    config = load_config(None, base_overrides(emt_file, tmp_path / architecture, **{
        "model": architecture, "train.max_epochs": 4, "data.n_train": 16, "data.n_val": 4, "optim.lr": 0.005}))
    result = train(config)
    losses = [float(r["train/loss"]) for r in metrics(result.run_dir)]
    assert losses[-1] < losses[0], losses
    from egraff.deploy.export import load_checkpoint

    model, ckpt = load_checkpoint(result.best_model)
    assert model.architecture == architecture and ckpt["data_fingerprint"]
    if "avg_num_neighbors" in model.hyperparameters:  # set from the data: rattled fcc within 4 Å has ~18
        assert 17.0 < model.hyperparameters["avg_num_neighbors"] < 19.0


@pytest.mark.parametrize("overrides, message", [
    (["data=x.xyz", "optim.lrr=0.1"], "unknown key optim.lrr (did you mean 'lr'?)"),
    (["data=x.xyz", "optimizer.lr=0.1"], "unknown key optimizer (did you mean 'optim'?)"),
    (["data=x.xyz", "lr"], "must look like key=value"),
    (["data=x.xyz", "model.preset=huge"], "model.preset = 'huge': choose one of tiny, paper"),
    (["model=mace"], "data.train is not set, so there is no training data"),
    (["data=x.xyz", "train.max_epochs=1.7"], "train.max_epochs = 1.7: expected an integer"),
    (["data=x.xyz", "train.max_epochs=abc"], "train.max_epochs = 'abc': expected an integer"),
    (["data=x.xyz", "train.max_epochs=true"], "train.max_epochs = True: expected an integer"),
    (["data=x.xyz", 'model.r_max="5"'], "model.r_max = '5': expected a number"),
    (["data=x.xyz", "optim.lr=fast"], "optim.lr = 'fast': expected a number"),
    (["data=x.xyz", "model.r_max=abc"], "model.r_max = 'abc': expected a number"),
    (["data=x.xyz", "data.n_train=-3"], "data.n_train = -3: expected a number >= 0"),
    (["data=x.xyz", "model.hyperparameters={num_layers: two}"],
     "model.hyperparameters.num_layers = 'two': expected an integer, like the tiny preset's 2"),
    (["data=x.xyz", "model=macee"], "model.architecture = 'macee' (did you mean 'mace'?): choose one of"),
    pytest.param(["data=x.xyz", "train.accelerator=gpu"], "train.accelerator = 'gpu': no GPU is visible to this torch",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
    (["data=x.xyz", f"output.dir={__file__}"], "is a file; give a directory for the run"),
])
def test_config_errors_name_the_fix(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_config_file_keys_are_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  architecure: mace\n")
    with pytest.raises(ConfigError, match="c.yaml: unknown key model.architecure .did you mean 'architecture'"):
        load_config(path)


def test_unreadable_resume_checkpoint_is_reported(emt_file, tmp_path):
    run = tmp_path / "r"
    config = load_config(None, base_overrides(emt_file, run, **{"train.max_epochs": 1}))
    train(config)
    (run / "final_model.pt").unlink()  # as if killed before the end
    (run / "checkpoints" / "last.ckpt").write_bytes(b"truncated")
    config["train"]["max_epochs"] = 2
    with pytest.raises(ConfigError, match="different config"):
        train(config)
    with pytest.raises(ConfigError, match="last.ckpt is unreadable .* delete it to restart"):
        train(load_config(None, base_overrides(emt_file, run, **{"train.max_epochs": 1})))


def test_cli_reports_errors_in_one_line(tmp_path):
    result = subprocess.run([EGRAFF, "train", "data=nosuch_dataset", f"output.dir={tmp_path}"],
                            capture_output=True, text=True)
    assert result.returncode == 2  # bad input (egraff.exits)
    assert "error:" in result.stderr and "Traceback" not in result.stderr
