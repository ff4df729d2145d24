"""Lightning pieces of the training engine: the resume checkpoint, the metrics file, the
best-model export and the second training stage."""

from __future__ import annotations

import math
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Checkpoint, EarlyStopping
from lightning.pytorch.plugins.io import TorchCheckpointIO

from egraff.files import atomic_path, atomic_write_text


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints appear complete or not at all: a kill while writing leaves the previous one."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        with atomic_path(path) as temporary:
            torch.save(checkpoint, temporary)


class ResumeCheckpoint(Checkpoint):
    """The full training state (weights, optimiser, scheduler, EMA, callbacks, random states) in
    ``path`` at the end of every epoch, so a killed run loses at most the epoch in progress.

    Lightning calls checkpoint callbacks after all others at the end of an epoch, so the metrics row,
    the best-model export and the early-stopping count of that epoch are already in the state saved.
    An epoch whose losses are not finite stops before it is saved (ForceFieldModule).
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_epoch_end(self, trainer, pl_module):
        trainer.save_checkpoint(self.path)


class ValidationEarlyStopping(EarlyStopping):
    """Lightning's early stopping on a validation error, where an improvement counts only if it exceeds
    both ``min_delta`` and ``min_relative_gain`` times the best error so far (an error that still falls
    by a fixed 1 meV/Å every few epochs from 0.5 eV/Å is converging, not converged, while the same rule at
    5 meV/Å would never let a run end), and epochs without one are counted only from ``min_steps``
    optimiser steps on (a run on a few frames sits on its first plateau for many short epochs; Lightning's
    own ``min_steps`` would only postpone a stop decided there)."""

    def __init__(self, *, min_delta: float = 0.0, min_relative_gain: float = 0.0, min_steps: int = 0, **options):
        super().__init__(min_delta=min_delta, mode="min", **options)
        self.absolute_min_delta, self.min_relative_gain = float(min_delta), float(min_relative_gain)
        self.min_steps, self.steps = int(min_steps), 0

    def on_validation_end(self, trainer, pl_module):
        self.steps = trainer.global_step
        super().on_validation_end(trainer, pl_module)

    def _evaluate_stopping_criteria(self, current):
        if torch.isfinite(self.best_score):  # Lightning subtracts a negative min_delta in "min" mode
            self.min_delta = -max(self.absolute_min_delta, self.min_relative_gain * float(self.best_score))
        should_stop, reason = super()._evaluate_stopping_criteria(current)
        if self.steps < self.min_steps and torch.isfinite(current):
            self.wait_count, should_stop, reason = 0, False, None
        return should_stop, reason


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
    logged metric), rewritten atomically. Its row of an epoch is written before that epoch's resume
    checkpoint; on resume, rows of epochs that will be redone are dropped (no epoch is listed twice)
    and the wall-time column continues from the checkpoint's (the time the process was dead is not
    counted)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: list[dict] = []
        self.elapsed = 0.0  # training seconds up to the end of the last finished epoch

    def on_train_start(self, trainer, pl_module):
        import csv

        if self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = [row for row in csv.DictReader(f) if int(row["epoch"]) < trainer.current_epoch]
        self._started = time.perf_counter() - self.elapsed

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        self.elapsed = time.perf_counter() - self._started
        row = {"epoch": trainer.current_epoch, "lr": trainer.optimizers[0].param_groups[0]["lr"],
               "seconds": round(self.elapsed, 3)}
        row.update({k: float(v) for k, v in sorted(trainer.callback_metrics.items())})
        self.rows.append(row)
        self._write()

    def state_dict(self):
        return {"elapsed": self.elapsed}

    def load_state_dict(self, state_dict):
        self.elapsed = float(state_dict["elapsed"])

    def _write(self):
        import csv
        import io

        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buffer.getvalue())


class StageTwo(pl.Callback):
    """MACE's second stage (its ``--swa`` option, as the study ran MACE and BOTNet): from epoch
    ``start`` on, other loss weights (MACE: energy 1000, forces 1) and a constant learning rate
    (MACE's SWALR with one annealing epoch reaches swa_lr in that first epoch), with the scheduler off.
    Early stopping during stage one starts stage two at the next epoch instead, for the same number of
    epochs, ``max_epochs - start`` (MACE: "Stopping optimization ... and starting swa").

    The loss changes meaning at the switch, so the best validation loss starts afresh there (for the
    best-model export and for early stopping on ``val/loss``; early stopping's count of epochs without
    improvement restarts for any monitor), as MACE's trainer resets its lowest loss. Weight averaging
    is not done: MACE computes an averaged model in this stage but never saves or evaluates it. The
    epoch stage two began is part of the checkpoint, so a resumed run continues alike.
    """

    def __init__(self, start: int, max_epochs: int, lr: float, loss_weights: dict):
        self.start, self.length = int(start), int(max_epochs) - int(start)
        self.lr, self.loss_weights = float(lr), dict(loss_weights)
        self.started: int | None = None  # the epoch stage two began

    def on_train_start(self, trainer, pl_module):
        if self.started is not None:  # resumed after an early switch: the run ends earlier too
            trainer.fit_loop.max_epochs = self.started + self.length

    def on_train_epoch_start(self, trainer, pl_module):
        epoch = trainer.current_epoch
        if self.started is None and epoch >= self.start:
            self.started = epoch
        if self.started is None or epoch < self.started:
            return
        pl_module.loss_weights = dict(self.loss_weights)  # every epoch: a resumed run needs them too
        pl_module.scheduler_active = False
        if epoch == self.started:
            for group in trainer.optimizers[0].param_groups:
                group["lr"] = self.lr
            for callback in trainer.callbacks:
                if isinstance(callback, BestModelExport):
                    callback.best_loss = math.inf
                if isinstance(callback, EarlyStopping):
                    callback.wait_count = 0
                    if callback.monitor == "val/loss":
                        callback.best_score = torch.tensor(math.inf)

    def on_validation_end(self, trainer, pl_module):
        # runs after EarlyStopping's check (it comes later in the callback list)
        if trainer.sanity_checking or self.started is not None or not trainer.should_stop:
            return
        trainer.should_stop = False
        self.started = trainer.current_epoch + 1
        trainer.fit_loop.max_epochs = self.started + self.length

    def state_dict(self):
        return {"started": self.started}

    def load_state_dict(self, state_dict):
        self.started = state_dict["started"]
