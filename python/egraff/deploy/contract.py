"""The deployed-model contract, version 1 (DESIGN.md, "The deployed-model contract").

Every architecture is exported to one TorchScript signature so that one LAMMPS pair style and one
ASE calculator serve all of them::

    forward(edge_vectors [E,3] f64, edge_index [2,E] i64, atom_types [N] i64, n_local 0-d i64)
        -> (node_energy [N] f64, edge_forces [E,3] f64)

``edge_vectors[e] = r_j - r_i`` with ``(i, j) = edge_index[:, e]`` (image already applied) and
``edge_forces = d(sum_{i < n_local} node_energy_i) / d edge_vectors``. Callers turn edge forces
into atomic forces (F_i += g, F_j -= g) and the virial (W = -sum_e r_e (x) g_e).

Metadata travels in the file as TorchScript ``_extra_files`` (plain UTF-8 strings).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch

from egraff.files import atomic_path

CONTRACT_VERSION = "1"

#: keys the LAMMPS plugin reads; their meaning is fixed for contract version 1
REQUIRED_KEYS = ("egraff_contract", "architecture", "type_names", "r_max", "num_layers", "model_dtype")
#: informational keys written by egraff; absent keys read back as ""
OPTIONAL_KEYS = ("pair_cutoffs", "units", "egraff_version", "torch_version", "data_fingerprint")

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class DeployedModelError(ValueError):
    """A file that is not a usable egraff deployed model, with a sentence saying why."""


@dataclass(frozen=True)
class ModelMetadata:
    architecture: str
    type_names: Tuple[str, ...]
    r_max: float
    num_layers: int
    model_dtype: str = "float64"
    pair_cutoffs: Optional[Tuple[float, ...]] = None  # row-major num_types x num_types, row = centre
    units: str = "eV Angstrom"
    data_fingerprint: str = ""

    def __post_init__(self):
        if not self.type_names:
            raise DeployedModelError("a deployed model needs at least one type name")
        if len(set(self.type_names)) != len(self.type_names):
            raise DeployedModelError(f"type names must be unique, got {list(self.type_names)}")
        if not self.r_max > 0:
            raise DeployedModelError(f"r_max must be > 0, got {self.r_max}")
        if self.num_layers < 1:
            raise DeployedModelError(f"num_layers must be >= 1, got {self.num_layers}")
        if self.model_dtype not in _DTYPES:
            raise DeployedModelError(f"model_dtype must be float32 or float64, got {self.model_dtype!r}")
        if self.pair_cutoffs is not None:
            n = len(self.type_names)
            if len(self.pair_cutoffs) != n * n:
                raise DeployedModelError(f"pair_cutoffs needs {n}x{n} = {n * n} values, got {len(self.pair_cutoffs)}")
            if any(c < 0 or c > self.r_max for c in self.pair_cutoffs):
                raise DeployedModelError(f"pair_cutoffs must lie in [0, r_max = {self.r_max}]")

    @property
    def receptive_field(self) -> float:
        return self.num_layers * self.r_max

    def cutoff_matrix(self) -> torch.Tensor:
        """[num_types, num_types] float64 edge cutoffs, row = centre type."""
        n = len(self.type_names)
        if self.pair_cutoffs is None:
            return torch.full((n, n), self.r_max, dtype=torch.float64)
        return torch.tensor(self.pair_cutoffs, dtype=torch.float64).reshape(n, n)

    def to_extra_files(self) -> Dict[str, str]:
        import egraff

        files = {
            "egraff_contract": CONTRACT_VERSION,
            "architecture": self.architecture,
            "type_names": " ".join(self.type_names),
            "r_max": repr(float(self.r_max)),
            "num_layers": str(int(self.num_layers)),
            "model_dtype": self.model_dtype,
            "pair_cutoffs": "" if self.pair_cutoffs is None else " ".join(repr(float(c)) for c in self.pair_cutoffs),
            "units": self.units,
            "egraff_version": egraff.__version__,
            "torch_version": torch.__version__,
            "data_fingerprint": self.data_fingerprint,
        }
        return files

    @classmethod
    def from_extra_files(cls, files: Dict[str, str], path: str) -> "ModelMetadata":
        if not files.get("egraff_contract"):
            raise DeployedModelError(
                f"{path} is a TorchScript file but not an egraff deployed model (no 'egraff_contract' "
                "metadata); write it with `egraff export`"
            )
        if files["egraff_contract"] != CONTRACT_VERSION:
            raise DeployedModelError(
                f"{path} uses contract version {files['egraff_contract']}, this egraff reads version "
                f"{CONTRACT_VERSION}; re-export the model"
            )
        missing = [k for k in REQUIRED_KEYS if not files.get(k)]
        if missing:
            raise DeployedModelError(f"{path} lacks the metadata {', '.join(missing)}")
        cutoffs = files.get("pair_cutoffs", "").split()
        return cls(
            architecture=files["architecture"],
            type_names=tuple(files["type_names"].split()),
            r_max=float(files["r_max"]),
            num_layers=int(files["num_layers"]),
            model_dtype=files["model_dtype"],
            pair_cutoffs=tuple(float(c) for c in cutoffs) if cutoffs else None,
            units=files.get("units") or "eV Angstrom",
            data_fingerprint=files.get("data_fingerprint", ""),
        )


class DeployedPotential(torch.nn.Module):
    """Wraps an energy model into the contract's forward.

    ``energy_model(edge_vectors, edge_index, atom_types) -> node_energy [N]`` works in the model
    dtype; this wrapper casts I/O to float64 and takes the gradient with respect to the float64
    input leaf only (TorchScript fails from the second call when differentiating with respect to an
    intermediate tensor, see notes/lammps-integration.md P1).
    """

    def __init__(self, energy_model: torch.nn.Module, model_dtype: str = "float64"):
        super().__init__()
        self.energy_model = energy_model.to(_DTYPES[model_dtype])
        self.model_dtype = _DTYPES[model_dtype]

    def forward(
        self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor, n_local: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        vectors = edge_vectors.detach().to(torch.float64).requires_grad_(True)
        node_energy = self.energy_model(vectors.to(self.model_dtype), edge_index, atom_types).to(torch.float64)
        local_energy = node_energy[: int(n_local.item())].sum()
        grads = torch.autograd.grad([local_energy], [vectors], allow_unused=True)
        edge_forces = grads[0]
        if edge_forces is None:  # no edges, or an energy that does not depend on them
            edge_forces = torch.zeros_like(vectors)
        return node_energy.detach(), edge_forces


def save_deployed(potential: torch.nn.Module, path: str | os.PathLike, metadata: ModelMetadata) -> Path:
    """Script ``potential`` (a :class:`DeployedPotential` or any module with the contract's forward)
    and write it with its metadata. The file appears atomically: complete or not at all."""
    path = Path(path)
    scripted = potential if isinstance(potential, torch.jit.ScriptModule) else torch.jit.script(potential.eval())
    with atomic_path(path) as temporary:
        torch.jit.save(scripted, str(temporary), _extra_files=metadata.to_extra_files())
    return path


def load_deployed(path: str | os.PathLike, device: str | torch.device = "cpu") -> Tuple[torch.jit.ScriptModule, ModelMetadata]:
    """Load a deployed file with plain torch (no egraff model code needed) and validate its metadata."""
    path = str(path)
    if not os.path.isfile(path):
        raise DeployedModelError(f"model file {path} does not exist")
    files: Dict[str, str] = {k: "" for k in REQUIRED_KEYS + OPTIONAL_KEYS}
    try:
        module = torch.jit.load(path, map_location=device, _extra_files=files)
    except Exception as err:  # torch raises RuntimeError / ValueError with a long trace
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DeployedModelError(f"{path} is not a loadable TorchScript model ({first}); write it with `egraff export`") from None
    files = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in files.items()}
    return module.eval(), ModelMetadata.from_extra_files(files, path)

