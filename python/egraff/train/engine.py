"""``egraff train``: one engine for every architecture, on PyTorch Lightning.

A run directory holds everything needed to resume or reproduce it:

* ``config.yaml`` — the resolved configuration (a rerun with another config is refused);
* ``data.json`` — the exact training/validation frames (dataset split records and fingerprints);
* ``metrics.csv`` — one row per epoch: training loss, validation errors, learning rate, wall time;
* ``checkpoints/last.ckpt`` — full training state after every epoch, written atomically; a killed
  run restarted with the same command continues from it and ends with the same number of epochs;
* ``best_model.pt`` — egraff checkpoint (egraff.deploy.export format) of the weights with the lowest
  validation loss (EMA weights when EMA is on); ``final_model.pt`` — the weights at the end.

Export either with ``egraff export run/best_model.pt -o model.pt``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from egraff.files import atomic_write_text
from egraff.train.config import ConfigError, load_config


@dataclass
class TrainResult:
    run_dir: Path
    best_model: Path
    final_model: Path
    epochs: int
    best_val_loss: float
    seconds: float


def load_frames(data: dict, seed: int) -> tuple[list, list, dict]:
    """Training and validation frames of the ``data`` section (egraff.data.frames), and a record of exactly
    which."""
    import egraff.data
    from egraff.data.formats import DataFormatError
    from egraff.data.frames import collect
    from egraff.train.config import frame_sources
    from egraff.train.data import TrainingDataError

    record = {}
    loaded = []
    for name, sources in zip(("train", "val"), frame_sources(data, seed)):
        try:
            frames, record[name] = collect(sources)
        except DataFormatError as err:
            raise TrainingDataError(str(err)) from None
        loaded.append(frames)
        record[f"{name}_fingerprint"] = egraff.data.frames_fingerprint(frames) if frames else ""
    return loaded[0], loaded[1], record


def _type_names(frames, configured) -> tuple[str, ...]:
    from ase.data import atomic_numbers

    if configured:
        return tuple(configured.split() if isinstance(configured, str) else configured)
    present = {s for atoms in frames for s in atoms.get_chemical_symbols()}
    return tuple(sorted(present, key=lambda s: atomic_numbers.get(s, 1000)))


def train(config: dict, *, frames: dict[str, list] | None = None) -> TrainResult:
    """Train (or resume) the run described by a resolved config (see egraff.train.config).

    ``frames``: {"train": [...], "val": [...]} labelled ``ase.Atoms`` to train on instead of reading the
    config's data sources."""
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, EMAWeightAveraging, ModelCheckpoint

    from egraff.deploy.export import load_checkpoint, save_checkpoint
    from egraff.models import build, hyperparameters
    from egraff.train.callbacks import AtomicCheckpointIO, BestModelExport, EpochMetricsCSV
    from egraff.train.data import GraphDataset, average_num_neighbors, collate, energy_statistics
    from egraff.train.module import ForceFieldModule

    start = time.perf_counter()
    run_dir = Path(config["output"]["dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    config_text = yaml.safe_dump(config, sort_keys=False)
    config_file = run_dir / "config.yaml"
    last_ckpt = run_dir / "checkpoints" / "last.ckpt"
    if config_file.exists() and last_ckpt.exists():
        if yaml.safe_load(config_file.read_text()) != yaml.safe_load(config_text):
            raise ConfigError(f"{run_dir} holds a run with a different config; resume it with that config "
                              "or choose another output.dir")
    atomic_write_text(config_file, config_text)

    pl.seed_everything(int(config["train"]["seed"]), workers=True, verbose=False)
    if frames is None:
        frames, val_frames, record = load_frames(config["data"], int(config["train"]["seed"]))
    else:
        import egraff.data

        frames, val_frames = frames["train"], frames["val"]
        record = {f"{name}_fingerprint": egraff.data.frames_fingerprint(given) for name, given in
                  (("train", frames), ("val", val_frames))}
    atomic_write_text(run_dir / "data.json", json.dumps(record, indent=1, default=str))
    m = config["model"]
    type_names = _type_names(frames, config["data"]["type_names"])
    r_max = float(m["r_max"])
    train_set = GraphDataset(frames, type_names, r_max, source="training data")
    val_set = GraphDataset(val_frames, type_names, r_max, source="validation data")

    overrides = dict(m["hyperparameters"])
    if "avg_num_neighbors" in hyperparameters(m["architecture"], m["preset"]):
        # message normalisation from the training data, as upstream trainers do, unless set explicitly
        overrides.setdefault("avg_num_neighbors", average_num_neighbors(train_set))
    model = build(m["architecture"], type_names, r_max, preset=m["preset"], model_dtype=m["dtype"], **overrides)
    shifts, scale = energy_statistics(train_set, len(type_names))
    model.set_energy_scale_shift(scale=scale, shifts=shifts)
    module = ForceFieldModule(model, config["loss"], config["optim"])

    t = config["train"]
    generator = torch.Generator().manual_seed(int(t["seed"]))
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=int(t["batch_size"]), shuffle=True,
                                               collate_fn=collate, generator=generator)
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=int(t["val_batch_size"]), collate_fn=collate)

    best = BestModelExport(run_dir / "best_model.pt", record["train_fingerprint"])
    callbacks = [best]  # before EMA: it must see the averaged weights swapped in for validation
    if config["optim"]["ema_decay"] is not None:
        callbacks.append(EMAWeightAveraging(decay=float(config["optim"]["ema_decay"])))
    # the metrics row of an epoch is written before its checkpoint (see EpochMetricsCSV)
    callbacks.append(EpochMetricsCSV(run_dir / "metrics.csv"))
    callbacks.append(ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0,
                                     every_n_epochs=1, save_on_train_epoch_end=True))
    if t["early_stopping_patience"] is not None:
        callbacks.append(EarlyStopping(monitor="val/loss", patience=int(t["early_stopping_patience"])))
    trainer = pl.Trainer(
        max_epochs=int(t["max_epochs"]), accelerator=t["accelerator"], devices=t["devices"],
        num_nodes=int(t["num_nodes"]), gradient_clip_val=config["optim"]["grad_clip"],
        callbacks=callbacks, logger=False, default_root_dir=run_dir,
        inference_mode=False, deterministic=True, enable_progress_bar=bool(t["progress"]),
        enable_model_summary=False, log_every_n_steps=1, plugins=[AtomicCheckpointIO()],
    )
    resume = None
    if last_ckpt.exists():
        try:
            torch.load(last_ckpt, map_location="cpu", weights_only=False)
        except Exception as err:
            raise ConfigError(f"cannot resume: {last_ckpt} is unreadable ({str(err).splitlines()[0]}); "
                              "delete it to restart the run from scratch") from None
        resume = last_ckpt
    trainer.fit(module, train_loader, val_loader, ckpt_path=resume)

    final = save_checkpoint(module.model, run_dir / "final_model.pt", record["train_fingerprint"],
                            epochs=trainer.current_epoch)
    if not best.path.exists():  # no validation ran: the final weights are the best we have
        save_checkpoint(module.model, best.path, record["train_fingerprint"])
    load_checkpoint(best.path)  # fail here, not at export, if anything is wrong with it
    return TrainResult(run_dir=run_dir, best_model=best.path, final_model=final, epochs=trainer.current_epoch,
                       best_val_loss=best.best_loss, seconds=time.perf_counter() - start)


def train_from_files(config_file: str | None, overrides: list[str]) -> TrainResult:
    return train(load_config(config_file, overrides))
