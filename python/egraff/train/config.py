"""Training configuration: defaults, YAML files and ``key=value`` overrides.

A config is a nested mapping with exactly the sections and keys of :data:`DEFAULTS`; anything else is
an error that names the closest valid key. ``egraff train config.yaml model=mace data=md17_aspirin
optim.lr=1e-3`` loads the file, then applies the overrides (values parsed as YAML scalars). The
shortcuts ``model=X`` and ``data=X`` set ``model.architecture`` and ``data.train``.
"""

from __future__ import annotations

import copy
import difflib
import math
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

# ---- keys added for resumable training and the study's recipes (issues #11, #12); one block with
# its own checks (validate_recipe), so that a schema can take it over as is ----
RECIPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {
        "e0s": "least_squares",  # per-element energy shifts: least_squares | per_atom_mean | isolated_atoms |
                                 # {element or Z: eV}
    },
    "loss": {
        "form": "mse",  # mse | l1 | huber | l2mae (mean Euclidean norm of the force error vectors)
        "energy_per_atom": True,  # energy error divided by the atom count (False: total energy error)
        "huber_delta": 0.01,  # only for form huber
    },
    "optim": {
        "amsgrad": False,  # the AMSGrad variant of adam/adamw
        "min_lr": 0.0,  # floor of the plateau and cosine schedulers
        "warmup_epochs": 0.0,  # linear learning-rate ramp over this many epochs of optimiser steps
    },
    "stage_two": {  # MACE's second stage (its --swa): other loss weights and a constant lr at the end
        "start": None,  # None = off; an epoch index (int) or a fraction of train.max_epochs (MACE: 0.75)
        "lr": 1e-3,
        "energy_weight": 1000.0,
        "force_weight": 1.0,
        "stress_weight": 0.0,
    },
    "train": {
        "early_stopping_monitor": "val/loss",  # val/loss | val/force_mae | val/force_rmse | val/energy_mae
        "early_stopping_min_delta": 0.0,  # an improvement smaller than this does not count
    },
}
for _section, _keys in RECIPE_DEFAULTS.items():
    DEFAULTS.setdefault(_section, {}).update(_keys)
RECIPE_CHOICES = {
    ("loss", "form"): ("mse", "l1", "huber", "l2mae"),
    ("train", "early_stopping_monitor"): ("val/loss", "val/force_mae", "val/force_rmse", "val/energy_mae"),
}
E0S_RULES = ("least_squares", "per_atom_mean", "isolated_atoms")


def stage_two_start(config: Mapping[str, Any]) -> int | None:
    """The first epoch of stage two, or None when it is off."""
    start, max_epochs = config["stage_two"]["start"], int(config["train"]["max_epochs"])
    if start is None:
        return None
    return int(start) if isinstance(start, int) else int(float(start) * max_epochs)


def validate_recipe(config: Mapping[str, Any]) -> None:
    for (section, key), options in RECIPE_CHOICES.items():
        if config[section][key] not in options:
            raise ConfigError(f"{section}.{key} = {config[section][key]!r}; choose one of {', '.join(options)}")
    e0s = config["model"]["e0s"]
    if not (e0s in E0S_RULES or isinstance(e0s, Mapping)):
        raise ConfigError(f"model.e0s = {e0s!r}; choose {', '.join(E0S_RULES)}, or give a mapping "
                          "{element: eV} (e.g. {H: -13.66, C: -1029.3})")
    if isinstance(e0s, Mapping):
        for element, value in e0s.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"model.e0s[{element!r}] = {value!r}; give a finite energy in eV")
    start = config["stage_two"]["start"]
    if start is not None:
        if isinstance(start, bool) or not isinstance(start, (int, float)) or start < 0 \
                or (isinstance(start, float) and start >= 1):
            raise ConfigError(f"stage_two.start = {start!r}; give an epoch index (e.g. 750) or a fraction of "
                              "train.max_epochs below 1 (e.g. 0.75), or null for no second stage")
        if stage_two_start(config) >= int(config["train"]["max_epochs"]):
            raise ConfigError(f"stage_two.start = {start!r} is not before the last epoch "
                              f"(train.max_epochs = {config['train']['max_epochs']})")
    for section, key in (("loss", "huber_delta"), ("stage_two", "lr")):
        if not float(config[section][key]) > 0:
            raise ConfigError(f"{section}.{key} must be > 0, got {config[section][key]}")
    for section, key in (("optim", "min_lr"), ("optim", "warmup_epochs"), ("train", "early_stopping_min_delta")):
        if not float(config[section][key]) >= 0:
            raise ConfigError(f"{section}.{key} must be >= 0, got {config[section][key]}")
# ---- end of the added block ----


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
    if not float(config["model"]["r_max"]) > 0:
        raise ConfigError(f"model.r_max must be > 0, got {config['model']['r_max']}")
    for key in ("max_epochs", "batch_size", "val_batch_size"):
        if not int(config["train"][key]) >= 1:
            raise ConfigError(f"train.{key} must be >= 1, got {config['train'][key]}")
    if not 0 < float(config["data"]["val_fraction"]) < 1:
        raise ConfigError(f"data.val_fraction must lie in (0, 1), got {config['data']['val_fraction']}")
    if not isinstance(config["model"]["hyperparameters"], Mapping):
        raise ConfigError("model.hyperparameters must be a mapping of hyperparameter overrides")
    validate_recipe(config)
