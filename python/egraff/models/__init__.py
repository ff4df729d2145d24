"""Model architectures behind one interface (:class:`~egraff.models.base.EnergyModel`).

``build(architecture, type_names, r_max, preset="tiny"|"paper", model_dtype="float64", **overrides)``
returns an :class:`EnergyModel`: ``forward(edge_vectors [E,3], edge_index [2,E], atom_types [N]) ->
node_energy [N]``, differentiable twice (training uses forces by autograd with ``create_graph=True``),
with attributes ``architecture``, ``type_names``, ``r_max``, ``num_layers``, ``hyperparameters`` and
``set_energy_scale_shift(scale, shifts)``. ``build(m.architecture, m.type_names, m.r_max,
model_dtype=m.model_dtype, **m.hyperparameters)`` rebuilds the same network (weights come from its
``state_dict``).

Every architecture also takes the wrapper's hyperparameter ``zbl`` (default False): add the ZBL
short-range repulsion (:class:`~egraff.models.base.ZBLRepulsion`) to the learned energy.

Presets: ``paper`` = the EGraFFBench configuration (notes/egraffbench.md §7; each module says where it
differs and tests/models/test_parameter_counts.py compares the sizes), ``tiny`` = a few thousand
parameters for tests. Architectures with ``avg_num_neighbors`` (message normalisation) hold
20.0 in their presets; the training engine replaces it by the training data's mean number of
neighbours, as EGraFFBench does, unless it is overridden. One module per architecture,
``<architecture>_model.py``, each exposing ``PRESETS`` and ``build_body(type_names, r_max, **hyperparameters)
-> (body, num_layers)``.

``recipes`` holds the study's training settings per architecture, each with its source in the study's
release (data for the training engine). ``reference`` holds analytic potentials written directly against
the deployed contract (Lennard-Jones and a two-layer message-passing toy); they test the plugin before any
learned model.
"""

from __future__ import annotations

import importlib
from typing import Sequence

import torch

from egraff.models.base import DTYPES, EnergyModel

#: architecture name -> module (imported on first use: the upstream packages are slow to import)
_MODULES = {
    "nequip": "egraff.models.nequip_model",
    "allegro": "egraff.models.allegro_model",
    "mace": "egraff.models.mace_model",
    "botnet": "egraff.models.botnet_model",
    "equiformer": "egraff.models.equiformer_model",
    "torchmd-et": "egraff.models.torchmd_et_model",
}
ARCHITECTURES = tuple(_MODULES)
PRESETS = ("tiny", "paper")
#: hyperparameters of the shared wrapper (``EnergyModel``), valid for every architecture and preset
WRAPPER_HYPERPARAMETERS = {"zbl": False}


def architecture_module(architecture: str):
    if architecture not in _MODULES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
    return importlib.import_module(_MODULES[architecture])


def hyperparameters(architecture: str, preset: str = "tiny", **overrides) -> dict:
    """The full hyperparameter dict of a preset with ``overrides`` applied (unknown keys are an error)."""
    module = architecture_module(architecture)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    params = {**module.PRESETS[preset], **WRAPPER_HYPERPARAMETERS}
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ValueError(f"{architecture} has no hyperparameter(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(params))}")
    params.update(overrides)
    return params


def body_hyperparameters(params: dict) -> dict:
    """``params`` without the wrapper's keys: the arguments of the architecture's own builder."""
    return {k: v for k, v in params.items() if k not in WRAPPER_HYPERPARAMETERS}


def build(
    architecture: str,
    type_names: Sequence[str],
    r_max: float,
    preset: str = "tiny",
    model_dtype: str = "float64",
    **overrides,
) -> EnergyModel:
    """A freshly initialised model (weights drawn from torch's global RNG: seed it for reproducibility)."""
    type_names = tuple(type_names)
    if not type_names or len(set(type_names)) != len(type_names):
        raise ValueError(f"type_names must be a non-empty list of unique names, got {list(type_names)}")
    if not float(r_max) > 0:
        raise ValueError(f"r_max must be > 0, got {r_max}")
    if model_dtype not in DTYPES:
        raise ValueError(f"model_dtype must be float32 or float64, got {model_dtype!r}")
    params = hyperparameters(architecture, preset, **overrides)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(DTYPES[model_dtype])  # some upstream builders create parameters in the default dtype
    try:
        body, num_layers = architecture_module(architecture).build_body(type_names, float(r_max),
                                                                        **body_hyperparameters(params))
    finally:
        torch.set_default_dtype(previous)
    model = EnergyModel(body.to(DTYPES[model_dtype]), architecture=architecture, type_names=type_names,
                        r_max=float(r_max), num_layers=num_layers, hyperparameters=params, zbl=bool(params["zbl"]))
    return model.to(DTYPES[model_dtype])


__all__ = ["ARCHITECTURES", "PRESETS", "EnergyModel", "body_hyperparameters", "build", "hyperparameters"]
