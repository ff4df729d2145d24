"""Deployed potential files: the contract between Python and the LAMMPS plugin (DESIGN.md)."""

from egraff.deploy.contract import (
    CONTRACT_VERSION,
    DeployedPotential,
    DeployedModelError,
    ModelMetadata,
    load_deployed,
    save_deployed,
)

__all__ = [
    "CONTRACT_VERSION",
    "DeployedPotential",
    "DeployedModelError",
    "ModelMetadata",
    "load_deployed",
    "save_deployed",
]
