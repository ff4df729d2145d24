"""The LightningModule shared by all architectures: energy, forces and stress from one backward
pass through the edge vectors, a weighted loss, and per-epoch error metrics."""

from __future__ import annotations

from typing import Any, Mapping

import lightning.pytorch as pl
import torch

from egraff.train.data import Batch


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


class ForceFieldModule(pl.LightningModule):
    def __init__(self, model: torch.nn.Module, loss: Mapping[str, float], optim: Mapping[str, Any]):
        super().__init__()
        self.model = model
        self.loss_weights = dict(loss)
        self.optim = dict(optim)

    def _errors(self, batch: Batch, create_graph: bool):
        energy, forces, stress = predict(self.model, batch, create_graph)
        per_atom_error = (energy - batch.energy) / batch.num_atoms
        force_error = forces - batch.forces
        stress_error = (stress - batch.stress)[batch.has_stress]
        return per_atom_error, force_error, stress_error

    def _loss(self, per_atom_error, force_error, stress_error):
        w = self.loss_weights
        loss = w["energy_weight"] * per_atom_error.pow(2).mean() + w["force_weight"] * force_error.pow(2).mean()
        if w["stress_weight"] and stress_error.numel():
            loss = loss + w["stress_weight"] * stress_error.pow(2).mean()
        return loss

    def training_step(self, batch: Batch, batch_idx: int):
        errors = self._errors(batch, create_graph=True)
        loss = self._loss(*errors)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=batch.num_graphs, prog_bar=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int):
        with torch.enable_grad():  # forces are energy gradients, also in validation
            per_atom_error, force_error, stress_error = self._errors(batch, create_graph=False)
        loss = self._loss(per_atom_error, force_error, stress_error).detach()
        n_frames, n_components = batch.num_graphs, force_error.numel()
        self.log("val/loss", loss, batch_size=n_frames, prog_bar=True)
        self.log("val/energy_mae_per_atom", per_atom_error.abs().mean(), batch_size=n_frames)
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
        rmse = (self.val_force_sq_sum / max(self.val_force_components, 1)) ** 0.5
        self.log("val/force_rmse", rmse)

    @property
    def epoch_val_loss(self) -> float:
        """Frame-weighted validation loss of the epoch so far (on this rank)."""
        return self.val_loss_sum / max(self.val_frames, 1)

    def configure_optimizers(self):
        o = self.optim
        cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[o["optimizer"]]
        optimizer = cls(self.model.parameters(), lr=float(o["lr"]), weight_decay=float(o["weight_decay"]))
        if o["scheduler"] == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=float(o["plateau_factor"]), patience=int(o["plateau_patience"]))
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"}}
        if o["scheduler"] == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(self.trainer.max_epochs, 1))
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        return optimizer
