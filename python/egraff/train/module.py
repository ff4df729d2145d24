"""The LightningModule shared by all architectures: energy, forces and stress from one backward
pass through the edge vectors, a weighted loss, and per-epoch error metrics."""

from __future__ import annotations

import math
import random
from typing import Any, Mapping

import lightning.pytorch as pl
import numpy as np
import torch

from egraff.train.data import Batch


class TrainingDivergedError(RuntimeError):
    """The loss or the weights became NaN or infinite; training stops before saving them."""


def predict(model: torch.nn.Module, batch: Batch, create_graph: bool):
    """Energies [B], forces [N,3] and stresses [B,3,3] of a batch.

    F_i = Σ_(edges from i) g − Σ_(edges to i) g with g = ∂E/∂r_ij, and the ASE stress of graph k is
    σ_k = Σ_(edges of k) r_ij ⊗ g / V_k (= −virial / V; the same edge formulas as the LAMMPS plugin).
    """
    dtype = next(model.parameters()).dtype
    vectors = batch.edge_vectors.to(dtype).requires_grad_(True)
    node_energy = model(vectors, batch.edge_index, batch.atom_types)
    energy = torch.zeros(batch.num_graphs, dtype=node_energy.dtype, device=node_energy.device)
    energy = energy.index_add(0, batch.node_graph, node_energy)
    (grad,) = torch.autograd.grad(energy.sum(), vectors, create_graph=create_graph)
    src, dst = batch.edge_index
    forces = torch.zeros(batch.atom_types.shape[0], 3, dtype=grad.dtype, device=grad.device)
    forces = forces.index_add(0, src, grad).index_add(0, dst, -grad)
    edge_graph = batch.node_graph[src]
    outer = (vectors.unsqueeze(2) * grad.unsqueeze(1)).reshape(-1, 9)
    virial_sum = torch.zeros(batch.num_graphs, 9, dtype=grad.dtype, device=grad.device).index_add(0, edge_graph, outer)
    volume = batch.volume.to(grad.dtype).clamp_min(1e-12)
    stress = (virial_sum / volume.unsqueeze(1)).reshape(-1, 3, 3)
    return energy.double(), forces.double(), stress.double()


def mean_penalty(error: torch.Tensor, form: str, huber_delta: float) -> torch.Tensor:
    """Mean penalty of error vectors (components in the last dimension).

    ``mse`` and ``l1`` and ``huber`` act on each component; ``l2mae`` on the Euclidean norm of each
    vector (OCP's L2MAE loss, used by the study's Equiformer: mean |F̂_i − F_i| over atoms).
    """
    if form == "mse":
        return error.pow(2).mean()
    if form == "l1":
        return error.abs().mean()
    if form == "huber":
        return torch.nn.functional.huber_loss(error, torch.zeros_like(error), delta=huber_delta)
    return error.norm(dim=-1).mean()


class ForceFieldModule(pl.LightningModule):
    """``loss`` and ``optim`` are the config sections of the same names (egraff.train.config).

    ``loss_weights`` (energy, force, stress) may be swapped during training (see
    ``callbacks.StageTwo``), and ``scheduler_active`` False stops the learning-rate scheduler. The plateau
    schedule first lowers the learning rate after ``min_steps`` optimiser steps (train.min_steps: a run on a
    few frames sits on its first plateau for many short epochs).
    """

    def __init__(self, model: torch.nn.Module, loss: Mapping[str, Any], optim: Mapping[str, Any],
                 min_steps: int = 0):
        super().__init__()
        self.min_steps = int(min_steps)
        self.model = model
        self.loss_options = dict(loss)
        self.loss_weights = {key: float(loss[key] or 0.0) for key in ("energy_weight", "force_weight", "stress_weight")}
        self.optim = dict(optim)
        self.scheduler_active = True

    def _errors(self, batch: Batch, create_graph: bool):
        energy, forces, stress = predict(self.model, batch, create_graph)
        energy_error = energy - batch.energy
        force_error = forces - batch.forces
        stress_error = (stress - batch.stress)[batch.has_stress]
        return energy_error, force_error, stress_error

    def _loss(self, energy_error, force_error, stress_error, num_atoms):
        w, o = self.loss_weights, self.loss_options
        form, delta = o["form"], float(o["huber_delta"])
        if o["energy_per_atom"]:
            energy_error = energy_error / num_atoms
        loss = w["energy_weight"] * mean_penalty(energy_error.unsqueeze(-1), form, delta)
        loss = loss + w["force_weight"] * mean_penalty(force_error, form, delta)
        if w["stress_weight"] and stress_error.numel():
            loss = loss + w["stress_weight"] * mean_penalty(stress_error.reshape(-1, 9), form, delta)
        return loss

    def training_step(self, batch: Batch, batch_idx: int):
        errors = self._errors(batch, create_graph=True)
        loss = self._loss(*errors, batch.num_atoms)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(f"the training loss became {float(loss)} at epoch {self.current_epoch}, "
                                        f"batch {batch_idx}")
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=batch.num_graphs, prog_bar=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int):
        with torch.enable_grad():  # forces are energy gradients, also in validation
            energy_error, force_error, stress_error = self._errors(batch, create_graph=False)
        loss = self._loss(energy_error, force_error, stress_error, batch.num_atoms).detach()
        n_frames, n_components = batch.num_graphs, force_error.numel()
        self.log("val/loss", loss, batch_size=n_frames, prog_bar=True)
        self.log("val/energy_mae", energy_error.abs().mean(), batch_size=n_frames)
        self.log("val/energy_mae_per_atom", (energy_error / batch.num_atoms).abs().mean(), batch_size=n_frames)
        self.log("val/force_mae", force_error.abs().mean(), batch_size=n_components, prog_bar=True)
        if stress_error.numel():
            self.log("val/stress_mae", stress_error.abs().mean(), batch_size=stress_error.numel())
        self.val_loss_sum += float(loss) * n_frames
        self.val_frames += n_frames
        self.val_force_sq_sum += float(force_error.detach().pow(2).sum())
        self.val_force_components += n_components

    def on_validation_epoch_start(self):
        self.val_loss_sum, self.val_frames = 0.0, 0
        self.val_force_sq_sum, self.val_force_components = 0.0, 0

    def on_validation_epoch_end(self):
        if not math.isfinite(self.epoch_val_loss):  # before this epoch's metrics row and checkpoint exist
            raise TrainingDivergedError(f"the validation loss became {self.epoch_val_loss} at epoch {self.current_epoch}")
        rmse = (self.val_force_sq_sum / max(self.val_force_components, 1)) ** 0.5
        self.log("val/force_rmse", rmse)

    @property
    def epoch_val_loss(self) -> float:
        """Frame-weighted validation loss of the epoch so far (on this rank)."""
        return self.val_loss_sum / max(self.val_frames, 1)

    def configure_optimizers(self):
        o = self.optim
        cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[o["optimizer"]]
        optimizer = cls(self.model.parameters(), lr=float(o["lr"]), weight_decay=float(o["weight_decay"]),
                        amsgrad=bool(o["amsgrad"]))
        min_lr = float(o["min_lr"])
        if o["scheduler"] == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=float(o["plateau_factor"]), patience=int(o["plateau_patience"]),
                threshold=float(o["plateau_threshold"]), threshold_mode="rel", min_lr=min_lr)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"}}
        if o["scheduler"] == "cosine":
            # closed form in the epoch (a warm-up overriding the first steps does not shift it), down to min_lr
            floor, epochs = min_lr / float(o["lr"]), max(self.trainer.max_epochs, 1)
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda epoch: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(epoch, epochs) / epochs)))
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        return optimizer

    def lr_scheduler_step(self, scheduler, metric):
        if not self.scheduler_active:
            return
        if metric is None:
            scheduler.step()
        elif self.global_step >= self.min_steps:
            scheduler.step(metric)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        warmup_steps = float(self.optim["warmup_epochs"]) * self.trainer.num_training_batches
        if self.global_step < warmup_steps:  # linear ramp to the scheduled lr over the first steps
            for group in optimizer.param_groups:
                group["lr"] = float(self.optim["lr"]) * (self.global_step + 1) / math.ceil(warmup_steps)
        optimizer.step(closure=optimizer_closure)

    def on_save_checkpoint(self, checkpoint):
        # random states, so that anything random after a resume (none of today's models draws) repeats
        kind, keys, position, has_gauss, gauss = np.random.get_state()  # plain types: loadable with weights_only
        checkpoint["egraff_rng"] = {"torch": torch.get_rng_state(), "python": random.getstate(),
                                    "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss]}

    def on_load_checkpoint(self, checkpoint):
        if "egraff_rng" in checkpoint:
            torch.set_rng_state(checkpoint["egraff_rng"]["torch"])
            kind, keys, position, has_gauss, gauss = checkpoint["egraff_rng"]["numpy"]
            np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
            random.setstate(checkpoint["egraff_rng"]["python"])
