"""Training configuration: defaults, YAML files and ``key=value`` overrides.

A config is a nested mapping with exactly the sections and keys of :data:`DEFAULTS`; anything else is
an error that names the closest valid key. ``egraff train config.yaml model=mace data=md17_aspirin
optim.lr=1e-3`` loads the file, then applies the overrides (values parsed as YAML scalars). The
shortcuts ``model=X`` and ``data=X`` set ``model.architecture`` and ``data.train``.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {
        "architecture": "nequip",  # one of egraff.models.ARCHITECTURES
        "preset": "tiny",  # tiny | paper (EGraFFBench configuration)
        "r_max": 5.0,  # Å
        "dtype": "float64",  # float32 | float64
        "hyperparameters": {},  # overrides of the preset's hyperparameters
        "zbl": False,  # add the ZBL short-range repulsion to the learned energy (egraff.models.base.ZBLRepulsion)
    },
    "data": {
        "train": None,  # a registry dataset name (egraff data list) or a file (extxyz, xyz, traj, npz)
        "val": None,  # same; None = the dataset's val split, or val_fraction of a training file
        "train_split": "train",
        "val_split": "val",
        "subset": None,  # registry subsets (LiPS20 compositions)
        "n_train": None,  # use this many training frames (a seeded random choice); None = all
        "n_val": None,
        "val_fraction": 0.1,  # only when train is a file and val is None
        "type_names": None,  # model elements; None = the elements of the training data
    },
    "loss": {
        "energy_weight": 1.0,  # on (eV/atom)^2
        "force_weight": 10.0,  # on (eV/Å)^2
        "stress_weight": 0.0,  # on (eV/Å^3)^2, frames without stress are skipped
    },
    "optim": {
        "optimizer": "adam",  # adam | adamw
        "lr": 0.01,
        "weight_decay": 0.0,
        "scheduler": "plateau",  # plateau | cosine | none
        "plateau_factor": 0.5,
        "plateau_patience": 10,
        "grad_clip": 100.0,  # max gradient norm; None = off
        "ema_decay": 0.99,  # exponential moving average of the weights; None = off
    },
    "train": {
        "max_epochs": 100,
        "batch_size": 5,
        "val_batch_size": 10,
        "seed": 123,
        "early_stopping_patience": 100,  # epochs without val improvement; None = off
        "accelerator": "auto",  # Lightning: cpu | gpu | auto
        "devices": "auto",  # Lightning: number of devices (DDP on several)
        "num_nodes": 1,
        "progress": True,
    },
    "output": {
        "dir": "runs/egraff",  # run directory: config, metrics.csv, checkpoints, best_model.pt
    },
}

SHORTCUTS = {"model": "model.architecture", "data": "data.train"}
CHOICES = {
    ("model", "preset"): ("tiny", "paper"),
    ("model", "dtype"): ("float32", "float64"),
    ("optim", "optimizer"): ("adam", "adamw"),
    ("optim", "scheduler"): ("plateau", "cosine", "none"),
}


class ConfigError(ValueError):
    """A configuration that cannot run, with a sentence saying what to change."""


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def merge(config: Mapping[str, Any], updates: Mapping[str, Any], where: str = "") -> dict:
    """``config`` with ``updates`` applied; every updated key must exist in :data:`DEFAULTS`."""
    merged = copy.deepcopy(dict(config))
    for section, values in updates.items():
        if section not in DEFAULTS:
            raise ConfigError(f"{where}unknown config section {section!r}{_suggest(section, DEFAULTS)}; "
                              f"sections: {', '.join(DEFAULTS)}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where}config section {section!r} must be a mapping of keys, got {values!r}")
        for key, value in values.items():
            if key not in DEFAULTS[section]:
                raise ConfigError(f"{where}unknown key {section}.{key}{_suggest(key, DEFAULTS[section])}; "
                                  f"keys of {section}: {', '.join(DEFAULTS[section])}")
            merged[section][key] = value
    return merged


def parse_override(text: str) -> dict:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. optim.lr=0.001 or model=mace)")
    key, raw = text.split("=", 1)
    key = SHORTCUTS.get(key.strip(), key.strip())
    if "." not in key:
        raise ConfigError(f"override {text!r}: name the key as section.key (e.g. optim.lr), or use model= / data=")
    section, name = key.split(".", 1)
    return {section: {name: yaml.safe_load(raw) if raw.strip() else None}}


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> dict:
    """DEFAULTS, then the YAML file (if any), then the overrides, validated."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            content = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
        if not isinstance(content, Mapping):
            raise ConfigError(f"{path} must hold a mapping of config sections")
        config = merge(config, content, where=f"{path}: ")
    for text in overrides:
        config = merge(config, parse_override(text), where="override: ")
    validate(config)
    return config


def validate(config: Mapping[str, Any]) -> None:
    for (section, key), options in CHOICES.items():
        if config[section][key] not in options:
            raise ConfigError(f"{section}.{key} = {config[section][key]!r}; choose one of {', '.join(options)}")
    if not config["data"]["train"]:
        raise ConfigError("no training data: set data.train to a dataset name (egraff data list) or a file")
    if not float(config["model"]["r_max"]) > 0:
        raise ConfigError(f"model.r_max must be > 0, got {config['model']['r_max']}")
    for key in ("max_epochs", "batch_size", "val_batch_size"):
        if not int(config["train"][key]) >= 1:
            raise ConfigError(f"train.{key} must be >= 1, got {config['train'][key]}")
    if not 0 < float(config["data"]["val_fraction"]) < 1:
        raise ConfigError(f"data.val_fraction must lie in (0, 1), got {config['data']['val_fraction']}")
    if not isinstance(config["model"]["hyperparameters"], Mapping):
        raise ConfigError("model.hyperparameters must be a mapping of hyperparameter overrides")
