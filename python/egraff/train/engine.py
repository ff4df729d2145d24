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

import numpy as np
import yaml

from egraff.files import atomic_write_text
from egraff.train.config import ConfigError, load_config

FILE_SUFFIXES = (".xyz", ".extxyz", ".traj", ".npz")


@dataclass
class TrainResult:
    run_dir: Path
    best_model: Path
    final_model: Path
    epochs: int
    best_val_loss: float
    seconds: float


def _read_file(path: Path) -> list:
    if not path.is_file():
        raise ConfigError(f"data file {path} does not exist")
    if path.suffix == ".npz":
        from egraff.data import read_nequip_npz

        return list(read_nequip_npz(path))
    import ase.io

    from egraff.train.data import TrainingDataError

    try:
        return list(ase.io.read(path, index=":"))
    except ase.io.formats.UnknownFileTypeError as err:  # ASE's word for an empty or unknown file
        raise TrainingDataError(f"{path} holds no readable frames ({err})") from None


def _is_file(spec: str) -> bool:
    return Path(spec).suffix in FILE_SUFFIXES or Path(spec).exists()


def _source(spec: str, split: str, subset) -> tuple[list, dict]:
    """Frames of a file or of a registry dataset split, and a record of what they are."""
    import egraff.data

    if _is_file(spec):
        frames = _read_file(Path(spec))
        return frames, {"file": str(spec), "n_frames": len(frames)}
    loaded = egraff.data.load(spec, split, subset=subset)
    return list(loaded), loaded.record


def _choose(frames: list, n, seed: int) -> tuple[list, list | None]:
    """``n`` frames picked at random (seeded), in their original order; all when n is None."""
    if n is None or n >= len(frames):
        return frames, None
    picked = np.sort(np.random.default_rng(seed).choice(len(frames), int(n), replace=False))
    return [frames[i] for i in picked], picked.tolist()


def load_frames(data: dict, seed: int) -> tuple[list, list, dict]:
    """Training and validation frames, and a record of exactly what they are."""
    import egraff.data

    train_frames, train_record = _source(data["train"], data["train_split"], data["subset"])
    if data["val"] is None and _is_file(data["train"]):
        # validation frames held out of the training file (seeded)
        order = np.random.default_rng(seed).permutation(len(train_frames))
        n_val = int(round(data["val_fraction"] * len(train_frames)))
        val_frames = [train_frames[i] for i in order[:n_val]]
        train_frames = [train_frames[i] for i in np.sort(order[n_val:])]
        val_record = {"file": str(data["train"]), "held_out_indices": order[:n_val].tolist()}
    else:
        val_frames, val_record = _source(data["val"] or data["train"], data["val_split"], data["subset"])
    train_frames, train_record["chosen"] = _choose(train_frames, data["n_train"], seed)
    val_frames, val_record["chosen"] = _choose(val_frames, data["n_val"], seed + 1)
    record = {"train": train_record, "val": val_record}
    for name, frames in (("train", train_frames), ("val", val_frames)):
        record[f"{name}_fingerprint"] = egraff.data.frames_fingerprint(frames) if frames else ""
    return train_frames, val_frames, record


def _type_names(frames, configured) -> tuple[str, ...]:
    from ase.data import atomic_numbers

    if configured:
        return tuple(configured.split() if isinstance(configured, str) else configured)
    present = {s for atoms in frames for s in atoms.get_chemical_symbols()}
    return tuple(sorted(present, key=lambda s: atomic_numbers.get(s, 1000)))


def train(config: dict) -> TrainResult:
    """Train (or resume) the run described by a resolved config (see egraff.train.config)."""
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
    frames, val_frames, record = load_frames(config["data"], int(config["train"]["seed"]))
    atomic_write_text(run_dir / "data.json", json.dumps(record, indent=1, default=str))
    m = config["model"]
    type_names = _type_names(frames, config["data"]["type_names"])
    r_max = float(m["r_max"])
    train_set = GraphDataset(frames, type_names, r_max, source="training data")
    val_set = GraphDataset(val_frames, type_names, r_max, source="validation data")

    overrides = dict(m["hyperparameters"])
    overrides.setdefault("zbl", bool(m["zbl"]))
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
