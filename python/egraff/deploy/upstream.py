"""Import of models trained with upstream packages into the same contract.

* nequip framework (NequIP, Allegro): a training checkpoint (``.ckpt``) or a ``nequip-package`` file
  (``.nequip.zip``), loaded with nequip's own ``load_saved_model``; the model keeps its per-type
  scale/shift. Per-edge-type cutoffs need no pruning here: nequip's edge embedding already gives
  edges beyond their type-pair cutoff zero weight.
* MACE: a ``.model`` file written by ``mace_run_train`` (a pickled ``MACE``/``ScaleShiftMACE``),
  single-head, trained under e3nn ≥ 0.5 (files from e3nn 0.4.4, e.g. foundation models, use other
  Clebsch–Gordan phases and give wrong energies in this environment; see notes/model-backends.md).
  Such files are pickles: loading one runs code from it, so import only files you trust.

Each import returns an :class:`~egraff.models.base.EnergyModel` (identity egraff scale/shift), which
``egraff.deploy.export.deploy`` writes like any built model.
"""

from __future__ import annotations

import os

import torch

from egraff.contract import error_cause, is_torchscript_archive
from egraff.models.base import EnergyModel


class UpstreamModelError(ValueError):
    """An upstream model file that cannot be imported, with a sentence saying why."""


def nequip_energy_model(graph_model: torch.nn.Module, source: str = "") -> EnergyModel:
    """Wrap a nequip-framework ``GraphModel`` (NequIP or Allegro) into the egraff interface."""
    from egraff.models.nequip_model import NequIPFrameworkBody, energy_network

    metadata = graph_model.metadata
    type_names = metadata["type_names"].split(" ")
    # classes of a .nequip.zip live in mangled torch.package modules ("<torch_package_0>.allegro.nn…"):
    # compare package and class names, not types
    packages = {type(m).__module__.split(">.")[-1].split(".")[0] for m in graph_model.modules()}
    if "allegro" in packages:
        architecture, num_layers = "allegro", 1  # strictly local
    else:
        num_layers = sum(type(m).__name__ == "ConvNetLayer" for m in graph_model.modules())
        if num_layers == 0:
            raise UpstreamModelError(f"{source or 'the model'} is neither a NequIP nor an Allegro model; "
                                     "egraff imports only these from the nequip framework")
        architecture = "nequip"
    model = EnergyModel(NequIPFrameworkBody(energy_network(graph_model)), architecture=architecture,
                        type_names=type_names, r_max=float(metadata["r_max"]), num_layers=num_layers,
                        hyperparameters={"imported_from": f"nequip:{source}"})
    return model.to({"float32": torch.float32, "float64": torch.float64}[metadata["model_dtype"]]).eval()


def load_nequip(path: str | os.PathLike) -> EnergyModel:
    """A nequip checkpoint (``.ckpt``) or package (``.nequip.zip``) as an egraff ``EnergyModel``."""
    from nequip.model.saved_models.load_utils import load_saved_model

    from egraff.models.nequip_model import nequip_global_state

    path = str(path)
    if not os.path.isfile(path):
        raise UpstreamModelError(f"nequip model file {path} does not exist")
    if is_torchscript_archive(path):
        raise UpstreamModelError(f"{path} is a TorchScript file (a compiled .nequip.pth or a deployed model), which "
                                 "cannot be imported; pass the training checkpoint (.ckpt) or the .nequip.zip package")
    with nequip_global_state():
        try:
            graph_model = load_saved_model(path)
        except Exception as err:
            raise UpstreamModelError(f"{path} is not a loadable nequip checkpoint or .nequip.zip package "
                                     f"({error_cause(err)})") from None
    return nequip_energy_model(graph_model, os.path.basename(path))


def mace_energy_model(mace_model: torch.nn.Module, source: str = "") -> EnergyModel:
    """Wrap a mace-torch ``MACE``/``ScaleShiftMACE`` module into the egraff interface."""
    from ase.data import chemical_symbols

    from egraff.models.mace_model import MACEBody

    if not all(hasattr(mace_model, k) for k in ("atomic_numbers", "r_max", "num_interactions")):
        raise UpstreamModelError(f"{source or 'the object'} is not a MACE model (no atomic_numbers/r_max)")
    heads = getattr(mace_model, "heads", ["Default"])
    if len(heads) != 1:
        raise UpstreamModelError(f"{source or 'the model'} has {len(heads)} heads ({', '.join(heads)}); "
                                 "egraff imports single-head MACE models only")
    type_names = [chemical_symbols[int(z)] for z in mace_model.atomic_numbers]
    dtype = next(mace_model.parameters()).dtype
    model = EnergyModel(MACEBody(mace_model), architecture="mace", type_names=type_names,
                        r_max=float(mace_model.r_max), num_layers=int(mace_model.num_interactions),
                        hyperparameters={"imported_from": f"mace:{source}"})
    return model.to(dtype).eval()


def load_mace(path: str | os.PathLike) -> EnergyModel:
    """A MACE ``.model`` file (as written by ``mace_run_train``) as an egraff ``EnergyModel``."""
    path = str(path)
    if not os.path.isfile(path):
        raise UpstreamModelError(f"MACE model file {path} does not exist")
    try:
        import mace.modules  # noqa: F401  (the pickle refers to its classes)

        mace_model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise UpstreamModelError(f"{path} is not a loadable MACE .model file ({error_cause(err)})") from None
    if not isinstance(mace_model, torch.nn.Module):
        raise UpstreamModelError(f"{path} holds a {type(mace_model).__name__}, not a MACE model; pass the "
                                 "`.model` file written by mace_run_train (not a _compiled or -lammps file)")
    return mace_energy_model(mace_model, os.path.basename(path))


LOADERS = {"nequip": load_nequip, "mace": load_mace}
