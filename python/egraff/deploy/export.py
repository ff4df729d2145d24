"""Checkpoints of egraff models and their export to deployed files.

Checkpoint format, version 1 (what the training engine writes; ``torch.save`` of a plain dict, loadable
with ``weights_only=True``):

=====================  ==========================================================================
``egraff_checkpoint``  ``1``
``architecture``       one of ``egraff.models.ARCHITECTURES``
``hyperparameters``    the model's complete hyperparameter dict (``EnergyModel.hyperparameters``)
``type_names``         list of type (element) names, in model type-index order
``r_max``              cutoff radius in Å
``model_dtype``        ``"float32"`` or ``"float64"``
``state_dict``         ``EnergyModel.state_dict()`` (weights, ``energy_scale``, ``energy_shifts``)
``data_fingerprint``   optional: identifies the training data; copied into the deployed file
=====================  ==========================================================================

Other keys (optimiser state, epoch, metrics, …) may be present; export ignores them.
"""

from __future__ import annotations

import copy
import os
import zipfile
from pathlib import Path
from typing import Tuple

import torch

from egraff.contract import DeployedPotential, ModelMetadata, is_torchscript_archive, save_deployed
from egraff.files import atomic_path

CHECKPOINT_VERSION = 1
CHECKPOINT_KEYS = ("architecture", "hyperparameters", "type_names", "r_max", "model_dtype", "state_dict")


class CheckpointError(ValueError):
    """A file that is not a usable egraff checkpoint, with a sentence saying why."""


def checkpoint_dict(model, data_fingerprint: str = "") -> dict:
    return {
        "egraff_checkpoint": CHECKPOINT_VERSION,
        "architecture": model.architecture,
        "hyperparameters": dict(model.hyperparameters),
        "type_names": list(model.type_names),
        "r_max": float(model.r_max),
        "model_dtype": model.model_dtype,
        "state_dict": model.state_dict(),
        "data_fingerprint": data_fingerprint,
    }


def save_checkpoint(model, path: str | os.PathLike, data_fingerprint: str = "", **extra) -> Path:
    """Write ``model`` (an ``EnergyModel`` built by ``egraff.models.build``) as a checkpoint, atomically."""
    path = Path(path)
    with atomic_path(path) as temporary:
        torch.save({**extra, **checkpoint_dict(model, data_fingerprint)}, temporary)
    return path


def load_checkpoint(path: str | os.PathLike) -> Tuple[torch.nn.Module, dict]:
    """The ``EnergyModel`` stored in a checkpoint, and the checkpoint dict."""
    from egraff.models import build

    path = str(path)
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a directory; give the checkpoint file (a training run writes best_model.pt)")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    if is_torchscript_archive(path):
        raise CheckpointError(f"{path} is a TorchScript file (an already deployed model?), not a checkpoint; a "
                              "deployed file needs no export: use it in pair_coeff or EGraFFCalculator as it is")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a checkpoint written by torch.save (not a zip archive: damaged, "
                              "truncated or another format); pass a file written by egraff's training engine")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if reason.startswith("Weights only load failed"):  # torch's paragraph on its weights_only default
            reason = "it holds Python objects beyond tensors and plain data"
        raise CheckpointError(f"{path} is not a readable egraff checkpoint ({reason}); "
                              "pass a file written by egraff's training engine") from None
    if isinstance(ckpt, dict) and "pytorch-lightning_version" in ckpt:
        run_dir = Path(path).resolve().parent.parent
        raise CheckpointError(f"{path} is the training engine's resume state, not a model checkpoint; export "
                              f"{run_dir / 'best_model.pt'} (or final_model.pt) from the same run")
    if not isinstance(ckpt, dict) or "egraff_checkpoint" not in ckpt:
        raise CheckpointError(f"{path} is not an egraff checkpoint (no 'egraff_checkpoint' key); for models "
                              "trained with nequip or mace use `egraff export --from nequip|mace`")
    if ckpt["egraff_checkpoint"] != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {ckpt['egraff_checkpoint']}, this egraff reads "
                              f"version {CHECKPOINT_VERSION}")
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")
    model = build(ckpt["architecture"], ckpt["type_names"], ckpt["r_max"], model_dtype=ckpt["model_dtype"],
                  **ckpt["hyperparameters"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"the weights in {path} do not fit its {ckpt['architecture']} hyperparameters "
                              f"({str(err).splitlines()[0]})") from None
    return model, ckpt


def script_potential(model) -> torch.jit.ScriptModule:
    """The TorchScript contract module of an ``EnergyModel``; the model itself is left untouched.

    e3nn's ``script`` compiles e3nn's code-generated submodules first, then scripts the rest.
    """
    from e3nn.util.jit import script

    # e3nn may hold compiled TorchScript functions, which deepcopy refuses; they are stateless: share them
    shared = {id(v): v for m in model.modules() for v in vars(m).values() if isinstance(v, torch.jit.ScriptFunction)}
    frozen = copy.deepcopy(model, shared).eval()
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)  # gradients are taken with respect to the edge vectors only
    return script(DeployedPotential(frozen, model.model_dtype))


def metadata_of(model, data_fingerprint: str = "") -> ModelMetadata:
    return ModelMetadata(architecture=model.architecture, type_names=tuple(model.type_names), r_max=model.r_max,
                         num_layers=model.num_layers, model_dtype=model.model_dtype, data_fingerprint=data_fingerprint)


def deploy(model, path: str | os.PathLike, data_fingerprint: str = "") -> Path:
    """Write an ``EnergyModel`` as a deployed file (TorchScript + metadata, DESIGN.md contract)."""
    return save_deployed(script_potential(model), path, metadata_of(model, data_fingerprint))


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike) -> Path:
    model, ckpt = load_checkpoint(checkpoint)
    return deploy(model, output, str(ckpt.get("data_fingerprint", "")))
