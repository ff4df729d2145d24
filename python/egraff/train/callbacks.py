"""Lightning pieces of the training engine: atomic checkpoint files and the best-model export."""

from __future__ import annotations

import math
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from egraff.files import atomic_path, atomic_write_text


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints appear complete or not at all: a kill while writing leaves the previous one."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        with atomic_path(path) as temporary:
            torch.save(checkpoint, temporary)


class BestModelExport(pl.Callback):
    """Writes an egraff checkpoint whenever the validation loss improves.

    Placed before the EMA callback, its epoch-end hook runs while the averaged weights are still
    swapped in, so it saves exactly the weights that were validated. Its state (the best loss so
    far) is part of the Lightning checkpoint, so a resumed run keeps comparing against it.
    """

    def __init__(self, path: Path, data_fingerprint: str):
        self.path = Path(path)
        self.data_fingerprint = data_fingerprint
        self.best_loss = math.inf

    def on_validation_epoch_end(self, trainer, pl_module):
        from egraff.deploy.export import save_checkpoint

        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        loss = pl_module.epoch_val_loss
        if loss < self.best_loss:
            self.best_loss = loss
            save_checkpoint(pl_module.model, self.path, self.data_fingerprint, epoch=trainer.current_epoch,
                            val_loss=loss)

    def state_dict(self):
        return {"best_loss": self.best_loss}

    def load_state_dict(self, state_dict):
        self.best_loss = state_dict["best_loss"]


class EpochMetricsCSV(pl.Callback):
    """One row per finished epoch in ``metrics.csv`` (epoch, learning rate, wall time, then every
    logged metric), rewritten atomically. Placed before the checkpoint callback, so a checkpoint never
    exists for an epoch whose row is missing; on resume, rows of epochs that will be redone are dropped,
    so no epoch is listed twice."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: list[dict] = []

    def on_train_start(self, trainer, pl_module):
        import csv

        if self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = [row for row in csv.DictReader(f) if int(row["epoch"]) < trainer.current_epoch]
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        row = {"epoch": trainer.current_epoch, "lr": trainer.optimizers[0].param_groups[0]["lr"],
               "seconds": round(time.perf_counter() - self._started, 3)}
        row.update({k: float(v) for k, v in sorted(trainer.callback_metrics.items())})
        self.rows.append(row)
        self._write()

    def _write(self):
        import csv
        import io

        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buffer.getvalue())
