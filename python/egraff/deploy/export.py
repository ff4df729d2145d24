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

Export writes a TorchScript file (``compile="torchscript"``) or an AOTInductor package
(``compile="aotinductor"``, egraff.deploy.compiled), in the checkpoint's dtype or, with
``dtype="float32"``, a float32 model (its inputs and outputs stay float64, as the contract says).
A float32 export first measures how far its forces are from the float64 model's on held-out frames —
the training run's validation frames (from the run directory the checkpoint is in), or frames the
caller gives — and stores that in the file's metadata (``float32_check``).
"""

from __future__ import annotations

import copy
import json
import os
import zipfile
from pathlib import Path
from typing import Sequence, Tuple

import numpy as np
import torch

from egraff.contract import (DeployedPotential, ModelMetadata, error_cause, is_compiled_package,
                             is_torchscript_archive, save_deployed)
from egraff.files import atomic_path

COMPILERS = ("torchscript", "aotinductor")

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
    if is_torchscript_archive(path) or is_compiled_package(path):
        kind = "TorchScript file" if is_torchscript_archive(path) else "AOTInductor package"
        raise CheckpointError(f"{path} is a {kind} (an already deployed model?), not a checkpoint; a deployed file "
                              "needs no export: use it in pair_coeff or EGraFFCalculator as it is")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a checkpoint written by torch.save (not a zip archive: damaged, "
                              "truncated or another format); pass a file written by egraff's training engine")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        reason = error_cause(err)
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
                              f"({error_cause(err)})") from None
    return model, ckpt


def eager_potential(model) -> DeployedPotential:
    """The contract module of an ``EnergyModel`` (a frozen copy; the model itself is left untouched)."""
    # e3nn may hold compiled TorchScript functions, which deepcopy refuses; they are stateless: share them
    shared = {id(v): v for m in model.modules() for v in vars(m).values() if isinstance(v, torch.jit.ScriptFunction)}
    frozen = copy.deepcopy(model, shared).eval()
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)  # gradients are taken with respect to the edge vectors only
    return DeployedPotential(frozen, model.model_dtype).eval()


def script_potential(model) -> torch.jit.ScriptModule:
    """The TorchScript contract module of an ``EnergyModel``.

    e3nn's ``script`` compiles e3nn's code-generated submodules first, then scripts the rest.
    """
    from e3nn.util.jit import script

    return script(eager_potential(model))


def metadata_of(model, data_fingerprint: str = "", float32_check: str = "") -> ModelMetadata:
    return ModelMetadata(architecture=model.architecture, type_names=tuple(model.type_names), r_max=model.r_max,
                         num_layers=model.num_layers, model_dtype=model.model_dtype, data_fingerprint=data_fingerprint,
                         float32_check=float32_check)


def deploy(model, path: str | os.PathLike, data_fingerprint: str = "", *, compile: str = "torchscript",
           float32_check: str = "") -> Path:
    """Write an ``EnergyModel`` as a deployed file (DESIGN.md contract): TorchScript, or with
    ``compile="aotinductor"`` an AOTInductor package compiled for this machine."""
    metadata = metadata_of(model, data_fingerprint, float32_check)
    if compile == "torchscript":
        return save_deployed(script_potential(model), path, metadata)
    if compile == "aotinductor":
        from egraff.deploy.compiled import compile_potential

        return compile_potential(eager_potential(model), metadata, path)
    raise ValueError(f"unknown compile {compile!r}; use one of {', '.join(COMPILERS)}")


def float32_check(model64, model32, frames: Sequence, source: str) -> dict:
    """How far the float32 model's forces (and energies) are from the float64 model's on ``frames``:
    the largest and the root-mean-square |F32 - F64| over all atoms (eV/Å), and the largest
    |E32 - E64| per atom (eV)."""
    from egraff.data.graph import atoms_graph

    if not frames:
        raise ValueError(f"{source} holds no frames to compare the float32 model with the float64 one on")
    potentials = (eager_potential(model64), eager_potential(model32))
    squares, count, force_max, energy_max = 0.0, 0, 0.0, 0.0
    for atoms in frames:
        graph = atoms_graph(atoms, model64.type_names, model64.r_max)
        inputs = (torch.as_tensor(graph.edge_vectors), torch.as_tensor(graph.edge_index),
                  torch.as_tensor(graph.atom_types), torch.tensor(len(atoms)))
        energies, forces = [], []
        for potential in potentials:
            node_energy, edge_forces = potential(*inputs)
            g = edge_forces.detach().numpy()
            f = np.zeros((len(atoms), 3))
            np.add.at(f, graph.edge_index[0], g)
            np.add.at(f, graph.edge_index[1], -g)
            energies.append(float(node_energy.sum()))
            forces.append(f)
        difference = np.linalg.norm(forces[1] - forces[0], axis=1)
        squares += float((difference ** 2).sum())
        count += len(atoms)
        force_max = max(force_max, float(difference.max(initial=0.0)))
        energy_max = max(energy_max, abs(energies[1] - energies[0]) / len(atoms))
    return {"frames": len(frames), "source": source, "max_force_difference": force_max,
            "rms_force_difference": float(np.sqrt(squares / max(count, 1))),
            "max_energy_difference_per_atom": energy_max, "units": "eV/Angstrom, eV/atom"}


def describe_float32_check(check: dict) -> str:
    return (f"float32 vs float64 on {check['frames']} frames ({check['source']}): max |dF| "
            f"{check['max_force_difference']:.3g} eV/A, RMS |dF| {check['rms_force_difference']:.3g} eV/A, "
            f"max |dE| {check['max_energy_difference_per_atom']:.3g} eV/atom")


def read_frames(path: str | os.PathLike) -> tuple[list, str]:
    from egraff.data.frames import gather

    return gather({"file": str(path)}), str(path)


def to_float32(model, frames_and_source: tuple[list, str]) -> tuple[torch.nn.Module, dict]:
    """A float32 copy of a float64 ``EnergyModel`` and its :func:`float32_check` on the frames."""
    if model.model_dtype == "float32":
        raise CheckpointError("the model is float32 already; --dtype float32 converts float64 models")
    from egraff.models import build

    if "imported_from" in model.hyperparameters:  # built by upstream code: no egraff recipe to rebuild it from
        model32 = copy.deepcopy(model).to(torch.float32)
    else:  # rebuilt, since some upstream builders fix the dtype of their inner modules (nequip, allegro)
        model32 = build(model.architecture, model.type_names, model.r_max, model_dtype="float32",
                        **model.hyperparameters)
        model32.load_state_dict(model.state_dict())  # cast to float32 on copy
    try:
        return model32, float32_check(model.eval(), model32.eval(), *frames_and_source)
    except RuntimeError as err:
        raise CheckpointError(f"the {model.architecture} model does not run in float32 ("
                              f"{error_cause(err)}); export it as float64") from None


def export_model(model, output: str | os.PathLike, data_fingerprint: str = "", *, compile: str = "torchscript",
                 dtype: str | None = None, frames=None) -> Path:
    """Deploy ``model`` (an ``EnergyModel``), in ``dtype`` when given. ``frames``: (frames, where from)
    for a float32 export's check, or a callable returning them (called only then); the check is
    stored in the file's metadata (``float32_check``)."""
    check = None
    if dtype not in (None, model.model_dtype):
        if dtype != "float32":
            raise CheckpointError(f"--dtype {dtype}: a model is exported in its own dtype ({model.model_dtype}) or "
                                  "as float32")
        if frames is None:
            raise CheckpointError("--dtype float32 reports the force difference to the float64 model on held-out "
                                  "frames; pass them with --frames FILE")
        model, check = to_float32(model, frames() if callable(frames) else frames)
    return deploy(model, output, data_fingerprint, compile=compile, float32_check=json.dumps(check) if check else "")


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike, *, compile: str = "torchscript",
                      dtype: str | None = None, frames=None) -> Path:
    """Export a training checkpoint; a float32 export is checked on ``frames``, as :func:`export_model`
    takes them (``egraff export`` passes the training run's validation frames by default:
    :func:`egraff.train.engine.validation_frames`)."""
    model, ckpt = load_checkpoint(checkpoint)
    return export_model(model, output, str(ckpt.get("data_fingerprint", "")), compile=compile, dtype=dtype,
                        frames=frames)
