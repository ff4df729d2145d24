"""Bad training data is refused before any training, naming the frame where the user finds it (its
index in the file, not in the training set), and a loss that becomes NaN stops training at once,
keeping the last good checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from egraff.train import load_config, train
from egraff.train.data import TrainingDataError
from egraff.train.module import ForceFieldModule, TrainingDivergedError
from train.conftest import base_overrides, emt_frames, metrics

EGRAFF = os.path.join(os.path.dirname(sys.executable), "egraff")
BAD = 17  # a frame that stays in the training part: 4 of the 40 frames are held out for validation


def spoil(frames, how: str):
    atoms = frames[BAD]
    if how == "nan force":
        atoms.calc.results["forces"][5, 1] = np.nan
    elif how == "nan energy":
        atoms.calc.results["energy"] = np.nan
    elif how == "coincident atoms":
        atoms.positions[9] = atoms.positions[4]
    elif how == "atoms 0.05 Å apart":
        atoms.positions[9] = atoms.positions[4] + [0.05, 0.0, 0.0]
    elif how == "no forces":
        del atoms.calc.results["forces"]
    return frames


def bad_file(tmp_path, how):
    import ase.io

    path = tmp_path / "bad.extxyz"
    ase.io.write(path, spoil(emt_frames(40), how), format="extxyz")
    return path


@pytest.mark.parametrize("how, sentence", [
    ("nan force", "bad.extxyz frame 17: the forces label holds NaN or infinite values; fix or remove the frame"),
    ("nan energy", "bad.extxyz frame 17: the energy label holds NaN or infinite values"),
    ("coincident atoms", "bad.extxyz frame 17: atoms 4 and 9 are 0 Å apart (closer than 0.1 Å)"),
    ("atoms 0.05 Å apart", "bad.extxyz frame 17: atoms 4 and 9 are 0.05 Å apart (closer than 0.1 Å)"),
    ("no forces", "bad.extxyz frame 17 has no forces label"),
])
def test_bad_frame_is_refused_before_training_with_its_index_in_the_file(how, sentence, tmp_path):
    from egraff.train.engine import load_frames

    path = bad_file(tmp_path, how)
    config = load_config(None, base_overrides(path, tmp_path / "run"))
    train_frames, _ = load_frames(config["data"], config["train"]["seed"])
    # the frame's position in the training set is not its index in the file: a message counting in the
    # training set would name another frame
    assert train_frames.origins.index(f"{path} frame {BAD}") != BAD
    with pytest.raises(TrainingDataError) as err:
        train(config)
    assert sentence in str(err.value)
    assert not (tmp_path / "run" / "metrics.csv").exists()  # nothing was trained


def test_cli_names_the_bad_frame_in_one_line(tmp_path):
    path = bad_file(tmp_path, "nan force")
    result = subprocess.run([EGRAFF, "train"] + base_overrides(path, tmp_path / "run"), capture_output=True, text=True)
    assert result.returncode == 2  # bad input (egraff.exits)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{path} frame 17: the forces label holds NaN" in errors[0]


def test_truncated_file_is_one_sentence_naming_it(tmp_path):
    path = tmp_path / "cut.extxyz"
    text = bad_file(tmp_path, "none").read_text()
    path.write_text(text[: len(text) // 2])
    result = subprocess.run([EGRAFF, "train"] + base_overrides(path, tmp_path / "run"), capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr  # bad input (egraff.exits)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0]


@pytest.mark.parametrize("overrides, message", [
    ({"data.n_train": 1000}, "data.n_train = 1000, but there are 36 frames to choose from"),
    ({"data.n_train": -3}, "data.n_train = -3: expected a number >= 0"),
    ({"data.val_fraction": 0.01}, "has 40 frame(s): data.val_fraction = 0.01 holds out none for validation"),
])
def test_impossible_frame_counts_are_refused(emt_file, tmp_path, overrides, message):
    from egraff.train import ConfigError

    with pytest.raises(ConfigError) as err:
        train(load_config(None, base_overrides(emt_file, tmp_path / "run", **overrides)))
    assert message in str(err.value)


def test_element_unknown_to_the_model_is_refused(emt_file, tmp_path):
    with pytest.raises(TrainingDataError, match="cuau.extxyz frame 0: element.s. Au not known to the model, which has Cu"):
        train(load_config(None, base_overrides(emt_file, tmp_path / "r", **{"data.type_names": "Cu"})))


def test_empty_dataset_is_refused(emt_file, tmp_path):
    (tmp_path / "empty.extxyz").write_text("")
    with pytest.raises(TrainingDataError, match="empty.extxyz holds no frame"):
        train(load_config(None, base_overrides(tmp_path / "empty.extxyz", tmp_path / "r")))
    with pytest.raises(TrainingDataError, match="training data is empty"):
        train(load_config(None, base_overrides(emt_file, tmp_path / "r2", **{"data.n_train": 0})))


def test_isolated_atoms_and_mixed_periodicity_train_together(tmp_path):
    """A non-periodic single atom (no edges: its energy is the element's shift), a slab periodic in two
    directions and bulk crystals in one training set."""
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = emt_frames(12)
    atom = ase.Atoms("Au", positions=[[0.0, 0.0, 0.0]])
    atom.calc = SinglePointCalculator(atom, energy=0.3, forces=np.zeros((1, 3)))
    slab = frames[0].copy()
    slab.pbc = [True, True, False]
    slab.calc = SinglePointCalculator(slab, **frames[0].calc.results)
    path = tmp_path / "mixed.extxyz"
    ase.io.write(path, frames + [atom, slab], format="extxyz")
    result = train(load_config(None, base_overrides(path, tmp_path / "run", **{"train.max_epochs": 2,
                                                                              "data.val_fraction": 0.2})))
    assert [int(r["epoch"]) for r in metrics(result.run_dir)] == [0, 1]
    assert all(np.isfinite(float(r["val/loss"])) for r in metrics(result.run_dir))


def _diverge(monkeypatch, where: str):
    """Make epoch 2 go bad: a NaN training loss at batch 3, or weights that turn NaN in its last step."""
    if where == "loss":
        step = ForceFieldModule.training_step

        def training_step(self, batch, batch_idx):
            loss = step(self, batch, batch_idx) if (self.current_epoch, batch_idx) != (2, 3) else None
            if loss is None:
                with torch.no_grad():
                    next(self.model.parameters()).fill_(float("nan"))
                loss = step(self, batch, batch_idx)
            return loss

        monkeypatch.setattr(ForceFieldModule, "training_step", training_step)
    else:
        optimizer_step = ForceFieldModule.optimizer_step

        def poisoned_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
            optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure)
            if (epoch, batch_idx) == (2, self.trainer.num_training_batches - 1):
                with torch.no_grad():
                    next(self.model.parameters()).fill_(float("inf"))

        monkeypatch.setattr(ForceFieldModule, "optimizer_step", poisoned_step)


@pytest.mark.parametrize("where, sentence", [
    ("loss", "the training loss became nan at epoch 2, batch 3; training stopped"),
    ("weights", "the validation loss became nan at epoch 2; training stopped"),
])
def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(emt_file, tmp_path, monkeypatch,
                                                                            where, sentence):
    run = tmp_path / "run"
    config = load_config(None, base_overrides(emt_file, run, **{"train.max_epochs": 4}))
    with monkeypatch.context() as patch:
        _diverge(patch, where)
        with pytest.raises(TrainingDivergedError) as err:
            train(config)
    assert sentence in str(err.value) and "last.ckpt keeps the last finished epoch" in str(err.value)
    assert [int(r["epoch"]) for r in metrics(run)] == [0, 1]
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["state_dict"].values())
    assert not (run / "final_model.pt").exists()
    result = train(config)  # the cause gone, the same command resumes from the good state
    assert result.first_epoch == 2 and result.epochs == 4
