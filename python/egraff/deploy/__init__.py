"""Deployed potential files: the contract between Python and the LAMMPS plugin (DESIGN.md), export of
egraff checkpoints and upstream (nequip, MACE) models into it, and the ASE calculator on it.

``EGraFFCalculator``, ``committee_deviation`` and the export functions load on first use, so that ``import egraff.deploy``
does not pull in ASE, e3nn or the model packages.
"""

from egraff.contract import (
    CONTRACT_VERSION,
    DeployedPotential,
    DeployedModelError,
    ModelMetadata,
    load_deployed,
    save_deployed,
)

_LAZY = {
    "EGraFFCalculator": "egraff.deploy.calculator",
    "committee_deviation": "egraff.deploy.calculator",
    "deploy": "egraff.deploy.export",
    "export_checkpoint": "egraff.deploy.export",
    "save_checkpoint": "egraff.deploy.export",
    "load_checkpoint": "egraff.deploy.export",
    "CheckpointError": "egraff.deploy.export",
    "UpstreamModelError": "egraff.deploy.upstream",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'egraff.deploy' has no attribute {name!r}")


__all__ = [
    "CONTRACT_VERSION",
    "DeployedPotential",
    "DeployedModelError",
    "ModelMetadata",
    "load_deployed",
    "save_deployed",
    *_LAZY,
]
