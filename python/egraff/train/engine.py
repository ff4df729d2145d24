"""``egraff train``: one engine for every architecture, on PyTorch Lightning.

A run directory holds everything needed to resume or reproduce it:

* ``config.yaml`` — the resolved configuration (a rerun with another config is refused);
* ``data.json`` — the exact training/validation frames (sources and fingerprints; a rerun on other
  frames is refused);
* ``metrics.csv`` — one row per epoch: learning rate, cumulative training seconds, losses, validation errors;
* ``checkpoints/last.ckpt`` — the full training state at the end of every epoch, written atomically; a
  killed run restarted with the same command continues from it, losing at most the epoch in progress,
  and ends with the weights an uninterrupted run ends with (the batch order depends only on the seed and
  the epoch);
* ``.lock`` — held by the process training the run (released when it ends, also on kill -9); a second
  ``egraff train`` on the same directory is refused meanwhile;
* ``best_model.pt`` — egraff checkpoint (egraff.deploy.export format) of the weights with the lowest
  validation loss (EMA weights when EMA is on); ``final_model.pt`` — the weights at the end, written
  last: a rerun of a finished run (also one stopped early) returns at once.

Export either with ``egraff export run/best_model.pt -o model.pt``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from egraff.files import atomic_write_text
from egraff.train.config import ConfigError, load_config, stage_two_start


@dataclass
class TrainResult:
    run_dir: Path
    best_model: Path
    final_model: Path
    epochs: int  # epochs finished in all, including those restored from a checkpoint
    best_val_loss: float
    seconds: float  # this call's wall time
    first_epoch: int = 0  # the epoch this call started at (> 0 when it resumed a run)


@dataclass
class Frames:
    """Labelled frames and, for each, where a user finds it (``train.extxyz frame 17``)."""

    frames: list
    origins: list[str]
    record: list | dict  # what they are: one egraff.data.frames record per source, or the given frames' count


def load_frames(data: Mapping, seed: int) -> tuple[Frames, Frames]:
    """Training and validation frames of the config's data section (its egraff.data.frames sources, see
    :func:`egraff.train.config.frame_sources`), each named where a user finds it."""
    from egraff.data.formats import DataFormatError
    from egraff.data.frames import as_sources, collect
    from egraff.train.config import frame_sources
    from egraff.train.data import TrainingDataError

    if not data["train"]:
        raise ConfigError("data.train is not set, so there is no training data; give a dataset name "
                          "(egraff data list) or a file")
    loaded = []
    for role, sources in zip(("train", "val"), frame_sources(data, seed)):
        sources = as_sources(sources)
        try:
            frames, records = collect(sources)
        except DataFormatError as err:
            raise TrainingDataError(str(err)) from None
        except ConfigError as err:
            if err.loc != ("val_fraction",) or data["val"] is not None:
                raise
            raise ConfigError(err.message, ("data", "val_fraction")) from None  # the config key that set it
        wanted = data[f"n_{role}"]
        if wanted is not None and len(frames) < wanted:  # a source takes all its frames when n is more
            raise ConfigError(f"data.n_{role} = {wanted}, but there are {len(frames)} frames to choose from; give a "
                              f"number from 1 to {len(frames)}, or null for all")
        where = [(source, index) for source, record in zip(sources, records) for index in record["indices"]]
        origins = [source.origin(index, atoms) for (source, index), atoms in zip(where, frames)]
        loaded.append(Frames(frames, origins, records))
    return loaded[0], loaded[1]


def given_frames(frames: Mapping[str, Sequence]) -> tuple[Frames, Frames]:
    """``train(config, frames={"train": [...], "val": [...]})``: the caller's frames, used as given."""
    if not isinstance(frames, Mapping) or set(frames) != {"train", "val"}:
        keys = sorted(frames) if isinstance(frames, Mapping) else type(frames).__name__
        raise ConfigError(f"frames must be a mapping with exactly the keys 'train' and 'val' (lists of "
                          f"labelled ase.Atoms), got {keys}")
    return tuple(Frames(list(frames[role]), [f"frames[{role!r}][{k}]" for k in range(len(frames[role]))],
                        {"given": "frames", "n_frames": len(frames[role])})
                 for role in ("train", "val"))


def _type_names(frames, configured) -> tuple[str, ...]:
    from ase.data import atomic_numbers

    if configured:
        return tuple(configured.split() if isinstance(configured, str) else configured)
    present = {s for atoms in frames for s in atoms.get_chemical_symbols()}
    return tuple(sorted(present, key=lambda s: atomic_numbers.get(s, 1000)))


def _check_same_run(run_dir: Path, config_text: str, record: dict) -> None:
    """A run directory with a checkpoint resumes only the same config on the same frames."""
    config_file, data_file = run_dir / "config.yaml", run_dir / "data.json"
    if config_file.exists() and yaml.safe_load(config_file.read_text()) != yaml.safe_load(config_text):
        raise ConfigError(f"{run_dir} holds a run with a different config; resume it with that config "
                          "or choose another output.dir")
    if data_file.exists():
        previous = json.loads(data_file.read_text())
        for role in ("train", "val"):
            if previous.get(f"{role}_fingerprint") != record[f"{role}_fingerprint"]:
                raise ConfigError(f"{run_dir} holds a run trained on other {role} frames (their fingerprint "
                                  "differs); resume it on the same frames or choose another output.dir")


def early_stopping(train_section: Mapping):
    """Stop after ``early_stopping_patience`` epochs in which the monitored validation error did not fall
    below its best so far by more than ``early_stopping_min_delta`` and more than
    ``early_stopping_min_relative_gain`` of that best, counted from ``min_steps`` optimiser steps on."""
    from egraff.train.callbacks import ValidationEarlyStopping

    return ValidationEarlyStopping(monitor=train_section["early_stopping_monitor"],
                                   patience=int(train_section["early_stopping_patience"]),
                                   min_delta=float(train_section["early_stopping_min_delta"]),
                                   min_relative_gain=float(train_section["early_stopping_min_relative_gain"]),
                                   min_steps=int(train_section["min_steps"]),
                                   check_on_train_epoch_end=False)  # decide right after validation (see StageTwo)


def _claim(run_dir: Path):
    """An exclusive lock on the run directory for this process (released when it ends, also by kill -9),
    and the removal of temporary files a killed run left behind. Only the first process of a
    multi-process (DDP) run claims it; the others are its workers."""
    import fcntl

    if os.environ.get("NODE_RANK", "0") != "0" or os.environ.get("LOCAL_RANK", "0") != "0":
        return None
    handle = open(run_dir / ".lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"{run_dir} is being trained by another process; wait for it to end or choose "
                          "another output.dir") from None
    for stale in (*run_dir.glob(".*.tmp"), *run_dir.glob("checkpoints/.*.tmp")):
        stale.unlink(missing_ok=True)
    return handle


def train(config: dict, *, frames: Mapping[str, Sequence] | None = None) -> TrainResult:
    """Train (or resume) the run described by a resolved config (see egraff.train.config).

    ``frames={"train": [...], "val": [...]}`` (labelled ``ase.Atoms``) replaces the config's data
    sources (data.train/val/splits/subset/n_train/n_val/val_fraction are then not used); their
    fingerprints are recorded in ``data.json`` as for files, so a resume on other frames is refused.
    """
    import egraff.data

    start = time.perf_counter()
    run_dir = Path(config["output"]["dir"])
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"output.dir {run_dir} is a file; choose a directory")
    seed = int(config["train"]["seed"])
    train_frames, val_frames = given_frames(frames) if frames is not None else load_frames(config["data"], seed)
    record = {"train": train_frames.record, "val": val_frames.record}
    for role, taken in (("train", train_frames), ("val", val_frames)):
        record[f"{role}_fingerprint"] = egraff.data.frames_fingerprint(taken.frames) if taken.frames else ""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = _claim(run_dir)
    try:
        result = _fit(config, run_dir, train_frames, val_frames, record)
    finally:
        if lock is not None:
            lock.close()
    return replace(result, seconds=time.perf_counter() - start)


def _fit(config: dict, run_dir: Path, train_frames: Frames, val_frames: Frames, record: dict) -> TrainResult:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import EMAWeightAveraging

    from egraff.deploy.export import load_checkpoint, save_checkpoint
    from egraff.models import build, hyperparameters
    from egraff.train.callbacks import (AtomicCheckpointIO, BestModelExport, EpochMetricsCSV, ResumeCheckpoint,
                                        StageTwo)
    from egraff.train.data import (EpochShuffle, GraphDataset, average_num_neighbors, collate, force_rms,
                                   reference_energies)
    from egraff.train.module import ForceFieldModule, TrainingDivergedError

    t, m = config["train"], config["model"]
    seed = int(t["seed"])
    config_text = yaml.safe_dump(config, sort_keys=False)
    last_ckpt = run_dir / "checkpoints" / "last.ckpt"
    final_model, best_model = run_dir / "final_model.pt", run_dir / "best_model.pt"
    if last_ckpt.exists():
        _check_same_run(run_dir, config_text, record)
        if final_model.exists():  # written last: the run is complete (also when it stopped early)
            epochs = int(torch.load(final_model, weights_only=True)["epochs"])
            best_loss = float(torch.load(best_model, weights_only=True).get("val_loss", float("nan")))
            return TrainResult(run_dir=run_dir, best_model=best_model, final_model=final_model, epochs=epochs,
                               best_val_loss=best_loss, seconds=0.0, first_epoch=epochs)
    atomic_write_text(run_dir / "config.yaml", config_text)
    atomic_write_text(run_dir / "data.json", json.dumps(record, indent=1, default=str))

    pl.seed_everything(seed, workers=True, verbose=False)
    type_names = _type_names(train_frames.frames, config["data"]["type_names"])
    r_max = float(m["r_max"])
    train_set = GraphDataset(train_frames.frames, type_names, r_max, "training data", train_frames.origins)
    val_set = GraphDataset(val_frames.frames, type_names, r_max, "validation data", val_frames.origins)

    overrides = dict(m["hyperparameters"])
    overrides.setdefault("zbl", bool(m["zbl"]))
    if m["initial_weights"]:
        model = initial_model(m, type_names, hyperparameters(m["architecture"], m["preset"], **overrides))
    else:
        if "avg_num_neighbors" in hyperparameters(m["architecture"], m["preset"]):
            # message normalisation from the training data, as upstream trainers do, unless set explicitly
            overrides.setdefault("avg_num_neighbors", average_num_neighbors(train_set))
        model = build(m["architecture"], type_names, r_max, preset=m["preset"], model_dtype=m["dtype"], **overrides)
        model.set_energy_scale_shift(scale=force_rms(train_set),
                                     shifts=reference_energies(train_set, type_names, m["e0s"], prior=model.zbl))
    module = ForceFieldModule(model, config["loss"], config["optim"], min_steps=config["train"]["min_steps"])

    train_loader = torch.utils.data.DataLoader(train_set, batch_size=int(t["batch_size"]), collate_fn=collate,
                                               sampler=EpochShuffle(len(train_set), seed))
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=int(t["val_batch_size"]), collate_fn=collate)

    best = BestModelExport(best_model, record["train_fingerprint"])
    metrics = EpochMetricsCSV(run_dir / "metrics.csv")
    callbacks = [best]  # before EMA: it must see the averaged weights swapped in for validation
    if config["optim"]["ema_decay"] is not None:
        callbacks.append(EMAWeightAveraging(decay=float(config["optim"]["ema_decay"])))
    callbacks.append(metrics)
    if t["early_stopping_patience"] is not None:
        callbacks.append(early_stopping(t))
    second_stage = stage_two_start(config)
    if second_stage is not None:  # after early stopping: an early stop in stage one starts stage two
        s = config["stage_two"]
        weights = {k: s[k] for k in ("energy_weight", "force_weight", "stress_weight")}
        callbacks.append(StageTwo(second_stage, int(t["max_epochs"]), s["lr"], weights))
    callbacks.append(ResumeCheckpoint(last_ckpt))  # Lightning runs it last at the end of an epoch
    trainer = pl.Trainer(
        max_epochs=int(t["max_epochs"]), accelerator=t["accelerator"], devices=t["devices"],
        num_nodes=int(t["num_nodes"]), gradient_clip_val=config["optim"]["grad_clip"],
        callbacks=callbacks, logger=False, default_root_dir=run_dir,
        inference_mode=False, deterministic=True, enable_progress_bar=bool(t["progress"]),
        enable_model_summary=False, log_every_n_steps=1, plugins=[AtomicCheckpointIO()],
    )
    resume, first_epoch = None, 0
    if last_ckpt.exists():
        try:
            first_epoch = int(torch.load(last_ckpt, map_location="cpu", weights_only=False)["epoch"]) + 1
        except Exception as err:
            raise ConfigError(f"cannot resume: {last_ckpt} is unreadable ({str(err).splitlines()[0]}); "
                              "delete it to restart the run from scratch") from None
        resume = last_ckpt
    try:
        trainer.fit(module, train_loader, val_loader, ckpt_path=resume)
    except TrainingDivergedError as err:
        kept = f"{last_ckpt} keeps the last finished epoch" if last_ckpt.exists() else "no epoch finished"
        raise TrainingDivergedError(f"{err}; training stopped ({kept}); lower optim.lr "
                                    f"(now {config['optim']['lr']}) or check the training data") from None

    final = save_checkpoint(module.model, final_model, record["train_fingerprint"], epochs=trainer.current_epoch)
    if not best.path.exists():  # no validation ran: the final weights are the best we have
        save_checkpoint(module.model, best.path, record["train_fingerprint"])
    load_checkpoint(best.path)  # fail here, not at export, if anything is wrong with it
    return TrainResult(run_dir=run_dir, best_model=best.path, final_model=final, epochs=trainer.current_epoch,
                       best_val_loss=best.best_loss, seconds=0.0, first_epoch=first_epoch)


def initial_model(m: Mapping, type_names: Sequence[str], expected: Mapping):
    """The network of ``model.initial_weights`` (the model section ``m``), refused unless it is the one the
    config describes: ``expected`` hyperparameters (the training data's ``avg_num_neighbors`` excepted:
    the checkpoint keeps its own, with its energy scale and shifts), elements, r_max and dtype."""
    from egraff.deploy.export import CheckpointError, load_checkpoint

    path = m["initial_weights"]
    try:
        model, checkpoint = load_checkpoint(path)
    except CheckpointError as err:
        raise ConfigError(f"model.initial_weights: {err}") from None
    wanted = {"architecture": m["architecture"], "type_names": list(type_names), "r_max": float(m["r_max"]),
              "dtype": m["dtype"],
              **{f"hyperparameters.{k}": v for k, v in expected.items() if k != "avg_num_neighbors"}}
    held = {"architecture": checkpoint["architecture"], "type_names": list(checkpoint["type_names"]),
            "r_max": float(checkpoint["r_max"]), "dtype": checkpoint["model_dtype"],
            **{f"hyperparameters.{k}": v for k, v in checkpoint["hyperparameters"].items()}}
    for key, value in wanted.items():
        if held.get(key) != value:
            raise ConfigError(f"model.initial_weights = {path!r} has {key} {held.get(key)!r} but the config gives "
                              f"{value!r}; start from a checkpoint of the same network or change the config to match it")
    return model


def train_from_files(config_file: str | None, overrides: list[str]) -> TrainResult:
    return train(load_config(config_file, overrides))


def validation_frames(checkpoint: str | os.PathLike) -> tuple[list, str]:
    """The validation frames of the training run a checkpoint belongs to (its directory holds the
    run's config.yaml and data.json), checked against the fingerprint recorded at training."""
    import egraff.data
    from egraff.deploy.export import CheckpointError

    run_dir = Path(checkpoint).resolve().parent
    config_file, data_file = run_dir / "config.yaml", run_dir / "data.json"
    hint = "pass held-out frames with --frames FILE"
    if not (config_file.is_file() and data_file.is_file()):
        raise CheckpointError(f"{checkpoint} is not in a training run directory (no config.yaml and data.json next to "
                              f"it), so its validation frames are unknown; {hint}")
    config = yaml.safe_load(config_file.read_text())
    record = json.loads(data_file.read_text())
    if isinstance(record.get("val"), dict) and "given" in record["val"]:
        raise CheckpointError(f"the run in {run_dir} was trained on frames handed over in Python, which it did not "
                              f"store; {hint}")
    _, val = load_frames(config["data"], int(config["train"]["seed"]))
    if egraff.data.frames_fingerprint(val.frames) != record.get("val_fingerprint"):
        raise CheckpointError(f"the validation frames of the run in {run_dir} are no longer those it was trained with "
                              f"(their fingerprint differs from data.json); {hint}")
    return val.frames, f"validation frames of {run_dir}"
