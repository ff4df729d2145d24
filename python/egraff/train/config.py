"""Training configuration: the schema of ``egraff train`` (sections model, data, loss, optim, stage_two,
train, output), read by :mod:`egraff.config` from a YAML file and ``key=value`` overrides.

``egraff train config.yaml model=mace data=md17_aspirin optim.lr=1e-3`` loads the file, then applies
the overrides (values parsed as YAML scalars). The shortcuts ``model=X`` and ``data=X`` set
``model.architecture`` and ``data.train``. Each key is declared once below, with its default and its
type; a new key is one line in its section.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, ValidationInfo, field_validator, model_validator

from egraff.config import ConfigError, ConfigModel, check_like, load_config as _load, suggest
from egraff.config import validate as _validate
from egraff.data.frames import FrameSource, as_sources

FILE_SUFFIXES = (".xyz", ".extxyz", ".traj", ".npz")
SHORTCUTS = {"model": "model.architecture", "data": "data.train"}
E0S_RULES = ("least_squares", "per_atom_mean", "isolated_atoms")


class ModelSection(ConfigModel):
    architecture: str = "nequip"  # one of egraff.models.ARCHITECTURES
    preset: Literal["tiny", "paper"] = "tiny"  # paper: the EGraFFBench configuration
    r_max: float = Field(5.0, gt=0)  # Å
    dtype: Literal["float32", "float64"] = "float64"
    hyperparameters: dict[str, Any] = {}  # overrides of the preset's hyperparameters, each of the preset's kind
    zbl: bool = False  # add the ZBL short-range repulsion to the learned energy (egraff.models.base.ZBLRepulsion)
    # per-element energy shifts: least_squares | per_atom_mean | isolated_atoms | {element or Z: eV}
    e0s: str | dict[str | int, Any] = "least_squares"
    # an egraff checkpoint to start from (fine-tuning; egraff learn's warm start): its network, weights, energy
    # scale and shifts, for the same architecture, preset, hyperparameters, r_max, dtype and elements
    initial_weights: str | None = None

    @field_validator("e0s")
    @classmethod
    def _e0s_rule_or_energies(cls, value):
        if isinstance(value, str) and value not in E0S_RULES:
            raise ConfigError(f"{{key}} = {value!r}: choose {', '.join(E0S_RULES)}, or give a mapping "
                              "{element: eV} (e.g. {H: -13.66, C: -1029.3})")
        for element, energy in (value.items() if isinstance(value, Mapping) else ()):
            if not isinstance(energy, (int, float)) or isinstance(energy, bool) or not math.isfinite(energy):
                raise ConfigError(f"{{key}} = {energy!r}: give a finite energy in eV", (element,))
        return value

    @model_validator(mode="after")
    def _known_architecture_and_hyperparameters(self):
        from egraff.models import ARCHITECTURES, hyperparameters

        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"{{key}}.architecture = {self.architecture!r}{suggest(self.architecture, ARCHITECTURES)}: "
                              f"choose one of {', '.join(ARCHITECTURES)}")
        preset = hyperparameters(self.architecture, self.preset)
        for name, value in self.hyperparameters.items():
            if name not in preset:
                raise ConfigError(f"{self.architecture} has no hyperparameter {name!r}{suggest(name, preset)}; "
                                  f"known: {', '.join(sorted(preset))}", ("hyperparameters", name))
            check_like(preset[name], value, ("hyperparameters", name), f"{self.preset} preset's")
        return self


class DataSection(ConfigModel):
    # a registry dataset name (egraff data list), a file (extxyz, xyz, traj, npz), or frame sources
    # (egraff.data.frames); with frames given to egraff.train.train directly, none is read
    train: str | list[FrameSource] | None = None
    val: str | list[FrameSource] | None = None  # None: the dataset's val split, or val_fraction of a training file
    train_split: str = "train"
    val_split: str = "val"
    subset: list[str] | None = None  # registry subsets (LiPS20 compositions)
    n_train: int | None = Field(None, ge=0)  # this many training frames (a seeded random choice); None: all
    n_val: int | None = Field(None, ge=0)
    val_fraction: float = Field(0.1, gt=0, lt=1)  # only when train is a file and val is None
    type_names: list[str] | str | None = None  # model elements; None: the elements of the training data

    @field_validator("train", "val", mode="before")
    @classmethod
    def _one_source_is_a_list(cls, value):
        return [value] if isinstance(value, Mapping) else value

    @model_validator(mode="after")
    def _has_training_data(self, info: ValidationInfo):
        if self.train is None and not (info.context or {}).get("frames_given"):
            raise ConfigError("{key}.train is not set, so there is no training data; give a dataset name "
                              "(egraff data list) or a file")
        return self


class LossSection(ConfigModel):
    energy_weight: float = Field(1.0, ge=0)  # on (eV/atom)^2
    force_weight: float = Field(10.0, ge=0)  # on (eV/Å)^2
    stress_weight: float = Field(0.0, ge=0)  # on (eV/Å^3)^2, frames without stress are skipped
    form: Literal["mse", "l1", "huber", "l2mae"] = "mse"  # l2mae: mean Euclidean norm of the force error vectors
    energy_per_atom: bool = True  # energy error divided by the atom count (False: total energy error)
    huber_delta: float = Field(0.01, gt=0)  # only for form huber


class OptimSection(ConfigModel):
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = Field(0.01, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    scheduler: Literal["plateau", "cosine", "none"] = "plateau"
    plateau_factor: float = Field(0.5, gt=0, lt=1)
    plateau_patience: int = Field(10, ge=0)
    plateau_threshold: float = Field(1e-4, ge=0, lt=1)  # val loss gains below this fraction: a plateau
    grad_clip: float | None = Field(100.0, gt=0)  # max gradient norm; None = off
    ema_decay: float | None = Field(0.99, gt=0, lt=1)  # exponential moving average of the weights; None = off
    amsgrad: bool = False  # the AMSGrad variant of adam/adamw
    min_lr: float = Field(0.0, ge=0)  # floor of the plateau and cosine schedulers
    warmup_epochs: float = Field(0.0, ge=0)  # linear learning-rate ramp over this many epochs of optimiser steps


class StageTwoSection(ConfigModel):
    """MACE's second stage (its --swa): other loss weights and a constant lr at the end of training."""

    start: int | float | None = None  # None = off; an epoch index (int) or a fraction of train.max_epochs (MACE: 0.75)
    lr: float = Field(1e-3, gt=0)
    energy_weight: float = Field(1000.0, ge=0)
    force_weight: float = Field(1.0, ge=0)
    stress_weight: float = Field(0.0, ge=0)

    @field_validator("start")
    @classmethod
    def _epoch_or_fraction(cls, value):
        if value is not None and (value < 0 or (isinstance(value, float) and value >= 1)):
            raise ConfigError(f"{{key}} = {value!r}: give an epoch index (e.g. 750) or a fraction of train.max_epochs "
                              "below 1 (e.g. 0.75), or null for no second stage")
        return value


class TrainSection(ConfigModel):
    max_epochs: int = Field(100, ge=1)
    batch_size: int = Field(5, ge=1)
    val_batch_size: int = Field(10, ge=1)
    seed: int = 123
    early_stopping_patience: int | None = Field(100, ge=0)  # epochs without val improvement; None = off
    min_steps: int = Field(0, ge=0)  # optimiser steps before early stopping counts and the plateau schedule acts
    early_stopping_monitor: Literal["val/loss", "val/force_mae", "val/force_rmse", "val/energy_mae"] = "val/loss"
    early_stopping_min_delta: float = Field(0.0, ge=0)  # an improvement smaller than this does not count
    early_stopping_min_relative_gain: float = Field(0.0, ge=0, lt=1)  # nor one smaller than this fraction of the best
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"  # Lightning's
    devices: int | str | list[int] = "auto"  # Lightning: number of devices (DDP on several), or "auto"
    num_nodes: int = Field(1, ge=1)
    progress: bool = True

    @field_validator("accelerator")
    @classmethod
    def _accelerator_exists(cls, value):
        import torch

        if value in ("gpu", "cuda") and not torch.cuda.is_available():
            raise ConfigError(f"{{key}} = {value!r}: no GPU is visible to this torch (torch.cuda.is_available() is "
                              "False); use cpu or auto")
        return value


class OutputSection(ConfigModel):
    dir: str = "runs/egraff"  # run directory: config, metrics.csv, checkpoints, best_model.pt

    @field_validator("dir")
    @classmethod
    def _is_a_directory(cls, value):
        if Path(value).exists() and not Path(value).is_dir():
            raise ConfigError(f"{{key}} = {value!r} is a file; give a directory for the run (it is created if missing)")
        return value


def _section():
    return Field(default_factory=dict, validate_default=True)  # a missing section is checked like an empty one


class TrainConfig(ConfigModel):
    model: ModelSection = _section()
    data: DataSection = _section()
    loss: LossSection = _section()
    optim: OptimSection = _section()
    stage_two: StageTwoSection = _section()
    train: TrainSection = _section()
    output: OutputSection = _section()

    @model_validator(mode="after")
    def _stage_two_before_the_end(self):
        start = self.stage_two.start
        if start is not None and stage_two_start(self.model_dump()) >= self.train.max_epochs:
            raise ConfigError(f"stage_two.start = {start!r} is not before the last epoch "
                              f"(train.max_epochs = {self.train.max_epochs})")
        return self


#: every section and key with its default
DEFAULTS: dict[str, dict[str, Any]] = {name: field.annotation.model_construct().model_dump()
                                       for name, field in TrainConfig.model_fields.items()}


def stage_two_start(config: Mapping[str, Any]) -> int | None:
    """The first epoch of stage two, or None when it is off."""
    start, max_epochs = config["stage_two"]["start"], int(config["train"]["max_epochs"])
    if start is None:
        return None
    return int(start) if isinstance(start, int) else int(float(start) * max_epochs)


def load_config(path: str | Path | None = None, overrides=()) -> dict:
    """DEFAULTS, then the YAML file (if any), then ``key=value`` overrides, validated; a plain dict."""
    return _load(TrainConfig, path, overrides, shortcuts=SHORTCUTS).model_dump()


def validate(config: Mapping, *, frames_given: bool = False) -> dict:
    """A config (sections of plain data, missing keys taking their defaults) checked; a plain dict.
    ``frames_given``: the frames are handed to training directly, so no data source is needed."""
    return _validate(TrainConfig, config, context={"frames_given": frames_given}).model_dump()


def _is_file(spec: str) -> bool:
    return Path(spec).suffix in FILE_SUFFIXES or Path(spec).exists()


def frame_sources(data: Mapping, seed: int) -> tuple[list[FrameSource], list[FrameSource]]:
    """The training and validation frame sources the ``data`` section names (``seed``: train.seed)."""
    def named(spec, split: str, n, n_seed: int, **fold) -> list[FrameSource]:
        if not isinstance(spec, str):
            if n is not None:
                raise ConfigError("data.n_train and data.n_val apply to a dataset name or a file; with frame sources, "
                                  "set `n` in each source")
            return as_sources(spec)
        origin = {"file": spec} if _is_file(spec) else {"dataset": spec, "split": split, "subset": data["subset"]}
        return [FrameSource(**origin, **fold, n=n, seed=n_seed)]

    train, val = data["train"], data["val"]
    if val is None and isinstance(train, str) and _is_file(train):  # validation frames held out of the file
        fold = dict(val_fraction=data["val_fraction"], fold_seed=seed)
        return (named(train, "", data["n_train"], seed, fold="train", **fold),
                named(train, "", data["n_val"], seed + 1, fold="val", **fold))
    if val is None and not isinstance(train, str):
        raise ConfigError("data.val is not set: with frame sources as data.train, give the validation sources too")
    return (named(train, data["train_split"], data["n_train"], seed),
            named(val or train, data["val_split"], data["n_val"], seed + 1))
