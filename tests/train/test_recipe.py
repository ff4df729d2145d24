"""The training-recipe options the study's models need (issue #12), each shown to do what it says:
AMSGrad, warm-up and cosine floor, MACE's second stage, reference energies (E0s), loss forms,
per-atom vs total energy, and early stopping on the validation force error."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from egraff.train import ConfigError, load_config, train
from train.conftest import base_overrides, emt_frames, metrics

STEPS = 9  # 36 training frames in batches of 4


class Killed(Exception):
    pass


def interrupted_then_resumed(config, monkeypatch, epoch: int, batch: int):
    """Train until an exception at (epoch, batch), as a kill in the middle of an epoch, then rerun."""
    from egraff.train.module import ForceFieldModule

    step = ForceFieldModule.training_step

    def dying_step(self, data, batch_idx):
        if (self.current_epoch, batch_idx) == (epoch, batch):
            raise Killed()
        return step(self, data, batch_idx)

    with monkeypatch.context() as patch:
        patch.setattr(ForceFieldModule, "training_step", dying_step)
        with pytest.raises(Killed):
            train(config)
    return train(config)


def same_weights(a, b) -> bool:
    ours, theirs = (torch.load(path, weights_only=True)["state_dict"] for path in (a, b))
    return ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_amsgrad_state_and_warmup_ramp(emt_file, tmp_path):
    result = train(load_config(None, base_overrides(emt_file, tmp_path / "r", **{
        "train.max_epochs": 3, "optim.amsgrad": True, "optim.warmup_epochs": 2})))
    state = torch.load(result.run_dir / "checkpoints" / "last.ckpt", weights_only=False)["optimizer_states"][0]
    assert state["param_groups"][0]["amsgrad"] is True
    assert all("max_exp_avg_sq" in s for s in state["state"].values()) and state["state"]
    # linear ramp over 2 epochs (18 steps): after 9 steps half the learning rate, then the full one
    assert [float(r["lr"]) for r in metrics(result.run_dir)] == pytest.approx([0.005, 0.01, 0.01], rel=1e-12)


def test_cosine_schedule_ends_at_its_floor(emt_file, tmp_path):
    result = train(load_config(None, base_overrides(emt_file, tmp_path / "r", **{
        "train.max_epochs": 3, "optim.scheduler": "cosine", "optim.min_lr": 1e-4})))
    floor = 1e-4 / 0.01
    expected = [0.01 * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (e + 1) / 3))) for e in range(3)]
    assert [float(r["lr"]) for r in metrics(result.run_dir)] == pytest.approx(expected, rel=1e-12)
    assert float(metrics(result.run_dir)[-1]["lr"]) == pytest.approx(1e-4, rel=1e-12)


def _validation_loss(best_model, run_dir, frames, energy_weight, force_weight):
    """MACE's weighted loss, 'energy_weight·mean((ΔE/N)²) + force_weight·mean(ΔF²)', of a saved model on
    the held-out validation frames, computed here from the model's own energies and forces."""
    from egraff.deploy.export import load_checkpoint
    from egraff.train.data import GraphDataset, collate
    from egraff.train.module import predict

    (held_out,) = [source["indices"] for source in json.loads((run_dir / "data.json").read_text())["val"]]
    model, _ = load_checkpoint(best_model)
    batch = collate(GraphDataset([frames[i] for i in held_out], model.type_names, model.r_max).graphs)
    energy, forces, _ = predict(model, batch, create_graph=False)
    e = ((energy - batch.energy) / batch.num_atoms).detach()
    f = (forces - batch.forces).detach()
    return energy_weight * float(e.pow(2).mean()) + force_weight * float(f.pow(2).mean())


def test_stage_two_switches_loss_weights_and_lr_and_restarts_the_best_model(emt_file, tmp_path, monkeypatch):
    import ase.io

    # plateau patience 0 would cut the lr after every epoch without improvement: in stage two it must not
    overrides = {"train.max_epochs": 5, "stage_two.start": 0.4, "stage_two.lr": 0.002, "optim.plateau_patience": 0,
                 "optim.ema_decay": "null"}
    result = train(load_config(None, base_overrides(emt_file, tmp_path / "r", **overrides)))
    rows = metrics(result.run_dir)
    assert [float(r["lr"]) for r in rows][2:] == [0.002] * 3  # stage two from epoch int(0.4 * 5) = 2
    best = torch.load(result.best_model, weights_only=True)
    assert best["epoch"] >= 2  # the stage-one best does not compete with the new loss
    frames = ase.io.read(emt_file, index=":")
    # the logged validation loss of the best epoch is the stage-two loss (energy 1000, forces 1) of its weights
    logged = float(rows[best["epoch"]]["val/loss"])
    assert logged == pytest.approx(_validation_loss(result.best_model, result.run_dir, frames, 1000.0, 1.0), rel=1e-9)
    assert logged != pytest.approx(_validation_loss(result.best_model, result.run_dir, frames, 1.0, 10.0), rel=1e-3)

    # killed inside stage two (here: an exception in epoch 3), the rerun ends bit for bit as the run above
    config = load_config(None, base_overrides(emt_file, tmp_path / "k", **overrides))
    resumed = interrupted_then_resumed(config, monkeypatch, epoch=3, batch=4)
    assert resumed.first_epoch == 3
    assert same_weights(resumed.final_model, result.final_model)


def test_early_stop_in_stage_one_starts_stage_two(emt_file, tmp_path, monkeypatch):
    """min_delta 1e9: no epoch after the first improves, so patience 2 runs out at epoch 2. Stage two
    (planned at 6 of 8) starts at epoch 3 instead, with the count of epochs without improvement restarted,
    and lasts its 8 − 6 = 2 epochs: 5 epochs in all."""
    overrides = {"train.max_epochs": 8, "stage_two.start": 0.75, "stage_two.lr": 0.002,
                 "train.early_stopping_monitor": "val/force_mae", "train.early_stopping_patience": 2,
                 "train.early_stopping_min_delta": 1e9}
    result = train(load_config(None, base_overrides(emt_file, tmp_path / "r", **overrides)))
    assert result.epochs == 5
    assert [float(r["lr"]) for r in metrics(result.run_dir)] == [0.01, 0.01, 0.01, 0.002, 0.002]

    # killed in stage two, the rerun remembers that it started early (and ends as the run above)
    config = load_config(None, base_overrides(emt_file, tmp_path / "k", **overrides))
    resumed = interrupted_then_resumed(config, monkeypatch, epoch=4, batch=2)
    assert (resumed.first_epoch, resumed.epochs) == (4, 5)
    assert same_weights(resumed.final_model, result.final_model)


def composition_frames(e0: dict, n: int = 12, seed: int = 5):
    """Cu/Au crystals of varying composition whose energy is exactly Σ count·E0."""
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    frames = emt_frames(n, seed=seed)
    for atoms in frames:
        atoms.symbols[:] = "Cu"
        atoms.symbols[rng.choice(len(atoms), int(rng.integers(1, 20)), replace=False)] = "Au"
        energy = sum(e0[s] for s in atoms.get_chemical_symbols())
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.zeros((len(atoms), 3)))
    return frames


def test_reference_energies(tmp_path):
    import ase
    from ase.calculators.singlepoint import SinglePointCalculator

    from egraff.train.data import GraphDataset, TrainingDataError, reference_energies

    e0 = {"Cu": -3.7, "Au": -2.2}
    data = GraphDataset(composition_frames(e0), ("Cu", "Au"), 4.0)
    assert reference_energies(data, ("Cu", "Au"), "least_squares") == pytest.approx([-3.7, -2.2], abs=1e-10)
    per_atom = np.mean([float(g.energy) / g.atom_types.shape[0] for g in data.graphs])
    assert reference_energies(data, ("Cu", "Au"), "per_atom_mean") == pytest.approx([per_atom] * 2, rel=1e-12)
    # the study's dict is keyed by atomic number and names more elements than the model has
    assert reference_energies(data, ("Cu", "Au"), {29: -1.5, 79: -2.5, 1: -13.6}) == [-1.5, -2.5]
    with pytest.raises(TrainingDataError, match="model.e0s gives no reference energy for Au"):
        reference_energies(data, ("Cu", "Au"), {"Cu": -1.5})
    isolated = []
    for symbol, energy in (("Cu", -0.25), ("Au", -0.75)):
        atom = ase.Atoms(symbol, positions=[[0.0, 0.0, 0.0]])
        atom.calc = SinglePointCalculator(atom, energy=energy, forces=np.zeros((1, 3)))
        isolated.append(atom)
    with_atoms = GraphDataset(composition_frames(e0) + isolated, ("Cu", "Au"), 4.0)
    assert reference_energies(with_atoms, ("Cu", "Au"), "isolated_atoms") == [-0.25, -0.75]
    with pytest.raises(TrainingDataError, match="no isolated-atom frame .* of Cu Au"):
        reference_energies(data, ("Cu", "Au"), "isolated_atoms")


def test_configured_reference_energies_become_the_model_shifts(emt_file, tmp_path):
    result = train(load_config(None, base_overrides(emt_file, tmp_path / "r", **{
        "train.max_epochs": 1, "model.e0s": "{Cu: -1.25, 79: -0.5}"})))
    shifts = torch.load(result.best_model, weights_only=True)["state_dict"]["energy_shifts"]
    assert shifts.tolist() == [-1.25, -0.5]


def test_loss_forms_and_energy_normalisation():
    from egraff.train.module import ForceFieldModule, mean_penalty

    error = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert float(mean_penalty(error, "mse", 0.01)) == pytest.approx(25 / 6)
    assert float(mean_penalty(error, "l1", 0.01)) == pytest.approx(7 / 6)
    assert float(mean_penalty(error, "l2mae", 0.01)) == pytest.approx(2.5)  # |(3,4,0)| = 5 on one atom of two
    assert float(mean_penalty(error, "huber", 1.0)) == pytest.approx((2.5 + 3.5) / 6)  # |x| − δ/2 beyond δ
    assert float(mean_penalty(torch.tensor([[0.5]]), "huber", 1.0)) == pytest.approx(0.125)  # x²/2 within δ

    def loss(**options):
        module = ForceFieldModule(torch.nn.Linear(1, 1), {"energy_weight": 1.0, "force_weight": 2.0,
                                                          "stress_weight": 0.0, "form": "mse", "huber_delta": 0.01,
                                                          "energy_per_atom": True, **options}, {})
        energy_error, force_error = torch.tensor([2.0, 6.0]), torch.ones(5, 3)
        return float(module._loss(energy_error, force_error, torch.zeros(0, 3, 3), torch.tensor([2, 3])))

    assert loss() == pytest.approx((1 + 4) / 2 + 2.0)  # ((2/2)² + (6/3)²)/2 + 2·1
    assert loss(energy_per_atom=False) == pytest.approx((4 + 36) / 2 + 2.0)
    assert loss(form="l1", energy_per_atom=False) == pytest.approx((2 + 6) / 2 + 2.0)


def scripted_errors(errors):
    """A LightningModule whose validation force error at epoch k is errors[k]."""
    import lightning.pytorch as pl

    class Scripted(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch, batch_idx):
            return (self.weight - 1).pow(2).sum()

        def validation_step(self, batch, batch_idx):
            self.log("val/force_mae", errors[self.current_epoch])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Scripted()


@pytest.mark.parametrize("min_delta, relative, epochs_run", [(0.01, 0.0, 4), (0.0, 0.0, 8), (0.0, 0.05, 5),
                                                             (0.01, 0.05, 5)])
def test_early_stopping_counts_only_improvements_larger_than_min_delta(min_delta, relative, epochs_run):
    import lightning.pytorch as pl

    from egraff.train.config import DEFAULTS
    from egraff.train.engine import early_stopping

    # min_delta 0.01: 0.945 and 0.94 are not 0.01 below 0.95, so patience 2 runs out after epoch 3;
    # without it every fall counts, the rise at epoch 6 is forgiven by the fall at epoch 7; a 5 % gain:
    # 0.95 is not more than 5 % below 1.0, 0.945 is, then 0.94 and 0.90 are not 5 % below 0.945
    errors = [1.0, 0.95, 0.945, 0.94, 0.90, 0.899, 0.95, 0.5]
    section = dict(DEFAULTS["train"], early_stopping_monitor="val/force_mae", early_stopping_patience=2,
                   early_stopping_min_delta=min_delta, early_stopping_min_relative_gain=relative)
    trainer = pl.Trainer(max_epochs=len(errors), callbacks=[early_stopping(section)], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0)
    loader = torch.utils.data.DataLoader(torch.zeros(1, 1))
    trainer.fit(scripted_errors(errors), loader, loader)
    assert trainer.current_epoch == epochs_run


def test_training_stops_when_the_validation_force_error_stops_improving(emt_file, tmp_path):
    patience, min_delta = 2, 0.05
    result = train(load_config(None, base_overrides(emt_file, tmp_path / "r", **{
        "train.max_epochs": 40, "train.early_stopping_monitor": "val/force_mae",
        "train.early_stopping_patience": patience, "train.early_stopping_min_delta": min_delta})))
    errors = [float(r["val/force_mae"]) for r in metrics(result.run_dir)]
    best, waited = math.inf, 0
    for epoch, error in enumerate(errors):
        best, waited = (error, 0) if error < best - min_delta else (best, waited + 1)
        if waited == patience:
            break
    assert epoch == len(errors) - 1 < 39, errors  # stopped at exactly the first epoch the rule says
    assert result.epochs == len(errors)


def test_no_early_stop_and_no_lower_learning_rate_before_min_steps(emt_file, tmp_path):
    """min_delta 1e9 and patience 2 would end the run after its third epoch, and a plateau schedule that asks
    for a 50 % gain with patience 0 would halve the learning rate from the second; 36 training frames in
    batches of 4 are 9 steps per epoch, so with min_steps 45 both start after the fifth epoch (45 steps):
    the run ends 2 epochs later, not at once."""
    result = train(load_config(None, base_overrides(emt_file, tmp_path / "r", **{
        "train.max_epochs": 20, "train.min_steps": 45, "train.early_stopping_monitor": "val/force_mae",
        "train.early_stopping_patience": 2, "train.early_stopping_min_delta": 1e9,
        "optim.plateau_patience": 0, "optim.plateau_threshold": 0.5})))
    assert result.epochs == 6
    assert [float(r["lr"]) for r in metrics(result.run_dir)] == [0.01] * 6


@pytest.mark.parametrize("override, message", [
    ("stage_two.start=1.5", "stage_two.start = 1.5: give an epoch index"),
    ("stage_two.start=5", "stage_two.start = 5 is not before the last epoch (train.max_epochs = 5)"),
    ("model.e0s=average", "model.e0s = 'average': choose least_squares, per_atom_mean, isolated_atoms"),
    ("model.e0s={H: abc}", "model.e0s.H = 'abc': give a finite energy in eV"),
    ("loss.form=l3", "loss.form = 'l3': choose one of mse, l1, huber, l2mae"),
    ("train.early_stopping_monitor=val/f", "choose one of val/loss, val/force_mae"),
])
def test_recipe_keys_are_checked(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, ["data=x.xyz", "train.max_epochs=5", override])
    assert message in str(err.value)
