"""The deployed-model contract, version 1 (DESIGN.md, "The deployed-model contract").

Every architecture is exported to one TorchScript signature so that one LAMMPS pair style and one
ASE calculator serve all of them::

    forward(edge_vectors [E,3] f64, edge_index [2,E] i64, atom_types [N] i64, n_local 0-d i64)
        -> (node_energy [N] f64, edge_forces [E,3] f64)

``edge_vectors[e] = r_j - r_i`` with ``(i, j) = edge_index[:, e]`` (image already applied) and
``edge_forces = d(sum_{i < n_local} node_energy_i) / d edge_vectors``. Callers turn edge forces
into atomic forces (F_i += g, F_j -= g) and the virial (W = -sum_e r_e (x) g_e).

Who sets ``requires_grad``: every caller (the LAMMPS plugin, :class:`EGraFFCalculator`, training)
passes ``edge_vectors`` as a leaf tensor with ``requires_grad`` set, so a model may call
``torch.autograd.grad(energy, [edge_vectors])`` on its input directly. A model may also detach it
and set the flag on its own copy (:class:`DeployedPotential` does); it must not modify it in place.
The outputs are float64; a tuple may carry further items after these two.

A deployed file is one of two zip archives, told apart by their records (never by the file name):

* a TorchScript archive (``code/`` records; :func:`save_deployed`), run by the TorchScript
  interpreter, whose ``forward`` differentiates with autograd;
* an AOTInductor package (record ``archive_format`` = ``pt2``; ``egraff export --compile
  aotinductor``, :mod:`egraff.deploy.compiled`): the same forward and its backward pass traced into
  one compiled program for the CPU (or GPU) kind it was compiled on, with dynamic node and edge
  counts (0 included).

Metadata travels in both as records ``extra/<key>`` (plain UTF-8 strings; TorchScript's
``_extra_files``): :data:`REQUIRED_KEYS` in every file, :data:`OPTIONAL_KEYS` when known. The LAMMPS
plugin reads the keys listed in ``lammps_plugins/egraff_contract.h`` (tests/test_contract.py keeps
both lists equal).

Weights digest (``weights_sha256``, written at export, checked by :func:`load_deployed` and the
plugin): the hex SHA-256 over the archive records that hold the model — ``data.pkl``,
``constants.pkl`` and every record under ``data/`` and ``constants/`` (TorchScript's tensor
storages; a package's compiled program, whose weights are built into it) — named relative to the
archive's top folder, taken in byte-wise name order, each fed as the UTF-8 name, one NUL byte, the
record length as 8-byte little-endian integer, then the record's bytes. Code, metadata and
``.data/`` are not part of it. A file without the key (another tool, an older egraff) loads with a
warning; a mismatch is an error.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Dict, Optional, Tuple, Union

import torch

from egraff.files import atomic_path

CONTRACT_VERSION = "1"

#: keys every deployed file has; their meaning is fixed for contract version 1
REQUIRED_KEYS = ("egraff_contract", "architecture", "type_names", "r_max", "num_layers", "model_dtype")
#: the weights digest (module docstring)
DIGEST_KEY = "weights_sha256"
#: how far a float32 export's forces are from the float64 model's on held-out frames (JSON, written by
#: ``egraff export --dtype float32``: frames, where they come from, max and RMS force difference)
FLOAT32_CHECK_KEY = "float32_check"
#: keys written by egraff when known; absent keys read back as ""
OPTIONAL_KEYS = ("pair_cutoffs", DIGEST_KEY, "units", "egraff_version", "torch_version", "data_fingerprint",
                 FLOAT32_CHECK_KEY)

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
    float32_check: str = ""  # FLOAT32_CHECK_KEY

    def __post_init__(self):
        if not self.type_names:
            raise DeployedModelError("a deployed model needs at least one type name")
        if len(set(self.type_names)) != len(self.type_names):
            raise DeployedModelError(f"type names must be unique, got {list(self.type_names)}")
        if not (math.isfinite(self.r_max) and self.r_max > 0):
            raise DeployedModelError(f"r_max must be a finite number > 0, got {self.r_max}")
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
            FLOAT32_CHECK_KEY: self.float32_check,
        }
        return files

    @classmethod
    def from_extra_files(cls, files: Dict[str, str], path: str, kind: str = "TorchScript file") -> "ModelMetadata":
        if not files.get("egraff_contract"):
            raise DeployedModelError(
                f"{path} is a {kind} but not an egraff deployed model (no 'egraff_contract' "
                "metadata); write it with `egraff export`"
            )
        if files["egraff_contract"] != CONTRACT_VERSION:
            raise DeployedModelError(
                f"{path} uses contract version {files['egraff_contract']}, this egraff reads version "
                f"{CONTRACT_VERSION}; re-export the model"
            )
        missing = [k for k in REQUIRED_KEYS if not files.get(k, "").strip()]
        if missing:
            raise DeployedModelError(f"{path} lacks the metadata {', '.join(missing)}; write it with `egraff export`")

        def number(key: str, text: str, kind=float):
            try:
                return kind(text)
            except ValueError:
                raise DeployedModelError(f"{path} has metadata {key} = {text!r}, which is not "
                                         f"{'a whole number' if kind is int else 'a number'}") from None

        cutoffs = files.get("pair_cutoffs", "").split()
        r_max = number("r_max", files["r_max"])
        num_layers = number("num_layers", files["num_layers"], int)
        pair_cutoffs = tuple(number("pair_cutoffs", c) for c in cutoffs) if cutoffs else None
        try:
            return cls(
                architecture=files["architecture"],
                type_names=tuple(files["type_names"].split()),
                r_max=r_max,
                num_layers=num_layers,
                model_dtype=files["model_dtype"],
                pair_cutoffs=pair_cutoffs,
                units=files.get("units") or "eV Angstrom",
                data_fingerprint=files.get("data_fingerprint", ""),
                float32_check=files.get(FLOAT32_CHECK_KEY, ""),
            )
        except DeployedModelError as err:
            raise DeployedModelError(f"{path} has unusable metadata: {err}") from None


class DeployedPotential(torch.nn.Module):
    """Wraps an energy model into the contract's forward.

    ``energy_model(edge_vectors, edge_index, atom_types) -> node_energy [N]`` works in the model
    dtype; this wrapper casts I/O to float64 and takes the gradient with respect to the float64
    input leaf only (TorchScript fails from the second call when differentiating with respect to an
    intermediate tensor, see notes/lammps-integration.md P1). The local energy is a masked sum (no
    ``n_local.item()``), so the forward traces with symbolic sizes for AOTInductor too.
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
        local = torch.arange(node_energy.shape[0], device=node_energy.device) < n_local
        local_energy = torch.where(local, node_energy, torch.zeros_like(node_energy)).sum()
        grads = torch.autograd.grad([local_energy], [vectors], allow_unused=True)
        edge_forces = grads[0]
        if edge_forces is None:  # no edges, or an energy that does not depend on them
            edge_forces = torch.zeros_like(vectors)
        return node_energy.detach(), edge_forces


def weights_digest(archive: Union[str, os.PathLike, IO[bytes]]) -> str:
    """The ``weights_sha256`` of a TorchScript archive (rule in the module docstring).

    Raises ``zipfile.BadZipFile`` when a record fails its zip CRC check (the file is damaged)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(archive) as z:
        records = {name.partition("/")[2]: name for name in z.namelist()}
        state = [r for r in records if r in ("data.pkl", "constants.pkl") or r.startswith(("data/", "constants/"))]
        for record in sorted(state, key=str.encode):
            data = z.read(records[record])
            digest.update(record.encode() + b"\0" + len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()


def _records(path: str | os.PathLike) -> Dict[str, str]:
    """Record name relative to the archive's top folder -> name in the zip; {} for a non-zip file."""
    if not zipfile.is_zipfile(path):
        return {}
    with zipfile.ZipFile(path) as archive:
        return {name.partition("/")[2]: name for name in archive.namelist()}


def is_torchscript_archive(path: str | os.PathLike) -> bool:
    """A TorchScript file: a zip archive with a ``code/`` folder (``torch.save`` files have none)."""
    return any(name.startswith("code/") for name in _records(path))


def is_compiled_package(path: str | os.PathLike) -> bool:
    """An AOTInductor package: a zip archive whose ``archive_format`` record says ``pt2``."""
    name = _records(path).get("archive_format")
    if name is None:
        return False
    with zipfile.ZipFile(path) as archive:
        return archive.read(name) == b"pt2"


def add_package_metadata(package: str | os.PathLike | IO[bytes], metadata: ModelMetadata) -> None:
    """Write the metadata and the weights digest as ``extra/<key>`` records into an AOTInductor
    package just written by torch (the digest covers its compiled program, not these records)."""
    digest = weights_digest(package)
    with zipfile.ZipFile(package, "a") as archive:
        top = archive.namelist()[0].partition("/")[0]
        for key, value in {**metadata.to_extra_files(), DIGEST_KEY: digest}.items():
            archive.writestr(f"{top}/extra/{key}", value)


class CompiledPotential:
    """An AOTInductor package behind the contract's forward: ``(node_energy, edge_forces)``.

    The backward pass is compiled into the program, so it runs without autograd."""

    def __init__(self, runner, path: str):
        self.runner = runner
        self.path = path

    def __call__(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor,
                 n_local: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return tuple(self.runner(edge_vectors.detach(), edge_index, atom_types, n_local))

    def eval(self) -> "CompiledPotential":
        return self


def _check_finite_weights(module: torch.nn.Module, path: Path) -> None:
    tensors = list(module.named_parameters()) + list(module.named_buffers())
    for name, tensor in tensors:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            count = int((~torch.isfinite(tensor)).sum())
            raise DeployedModelError(f"refusing to write {path}: weight {name} has {count} non-finite values (NaN or "
                                     "inf), so training diverged; export an earlier checkpoint or retrain with a "
                                     "smaller learning rate")


def save_deployed(potential: torch.nn.Module, path: str | os.PathLike, metadata: ModelMetadata) -> Path:
    """Script ``potential`` (a :class:`DeployedPotential` or any module with the contract's forward)
    and write it with its metadata and weights digest. The file appears atomically: complete or not
    at all. Weights with NaN or inf are refused."""
    path = Path(path)
    if path.is_dir():
        raise DeployedModelError(f"{path} is a directory; give a file name for the deployed model, e.g. {path / 'model.pt'}")
    scripted = potential if isinstance(potential, torch.jit.ScriptModule) else torch.jit.script(potential.eval())
    _check_finite_weights(scripted, path)
    # the digest covers records torch writes identically on every save; take it from a first save
    first = io.BytesIO()
    torch.jit.save(scripted, first)
    digest = weights_digest(first)
    with atomic_path(path) as temporary:
        torch.jit.save(scripted, str(temporary), _extra_files={**metadata.to_extra_files(), DIGEST_KEY: digest})
        if weights_digest(temporary) != digest:
            raise RuntimeError(f"torch.jit.save wrote different weights for the same module twice; {path} not written")
    return path


def _check_weights_digest(path: str, expected: str) -> None:
    if not expected:
        warnings.warn(f"{path} carries no weights digest (written by another tool or an older egraff), so damage "
                      "to its weights cannot be detected", stacklevel=3)
        return
    try:
        intact = weights_digest(path) == expected
    except zipfile.BadZipFile as err:  # a record fails its CRC
        intact, detail = False, f" ({err})"
    else:
        detail = f" ({DIGEST_KEY} mismatch)"
    if not intact:
        raise DeployedModelError(f"{path} is damaged: its weights differ from those written at export{detail}; "
                                 "export or copy the file again")


def error_cause(err: BaseException) -> str:
    """One line saying why ``err`` happened: its first line or, for an exception raised inside TorchScript
    code, its last (the first is then the interpreter's banner, which the plugin's runtime skips too);
    the type's name when the message is empty."""
    lines = str(err).strip().splitlines()
    if not lines:
        return type(err).__name__
    return lines[-1] if "TorchScript interpreter" in lines[0] else lines[0]


def check_outputs(outputs, num_nodes: int, num_edges: int, path: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(node_energy, edge_forces)`` of one call, checked against the contract as the plugin checks
    them: a tuple starting with two float64 tensors of shapes [N] and [E, 3] with finite values."""
    if not isinstance(outputs, tuple) or len(outputs) < 2 or not all(isinstance(t, torch.Tensor) for t in outputs[:2]):
        kind = type(outputs).__name__ if not isinstance(outputs, tuple) else f"tuple of {len(outputs)} items"
        raise DeployedModelError(f"model {path} returned a {kind}, not the contract's tuple (node_energy, edge_forces)")
    node_energy, edge_forces = outputs[0].detach(), outputs[1].detach()
    if node_energy.dtype != torch.float64 or edge_forces.dtype != torch.float64:
        raise DeployedModelError(f"model {path} returned node_energy of dtype {node_energy.dtype} and edge_forces of "
                                 f"dtype {edge_forces.dtype}; the contract requires float64 for both")
    if tuple(node_energy.shape) != (num_nodes,) or tuple(edge_forces.shape) != (num_edges, 3):
        raise DeployedModelError(f"model {path} returned shapes {list(node_energy.shape)} and {list(edge_forces.shape)}, "
                                 f"expected [{num_nodes}] and [{num_edges}, 3]")
    if not (bool(torch.isfinite(node_energy).all()) and bool(torch.isfinite(edge_forces).all())):
        raise DeployedModelError(f"model {path} returned a non-finite energy or force; the structure is outside the "
                                 "model's domain (atoms too close?) or the model file is broken")
    return node_energy, edge_forces


def _load_compiled(path: str, device: torch.device) -> Tuple[CompiledPotential, ModelMetadata]:
    with zipfile.ZipFile(path) as archive:
        files = {name.partition("/")[2][len("extra/"):]: archive.read(name).decode()
                 for name in archive.namelist() if name.partition("/")[2].startswith("extra/")}
    metadata = ModelMetadata.from_extra_files(files, path, kind="AOTInductor package")
    _check_weights_digest(path, files.get(DIGEST_KEY, "").strip())
    from torch._inductor import aoti_load_package

    try:
        runner = aoti_load_package(path, device_index=-1 if device.index is None else device.index)
    except Exception as err:
        first = error_cause(err)
        raise DeployedModelError(f"{path} is not a loadable AOTInductor package ({first}); a package runs only "
                                 "with the torch version and on the kind of CPU or GPU it was compiled for: "
                                 "export it again there with `egraff export --compile aotinductor`") from None
    return CompiledPotential(runner, path), metadata


def load_deployed(path: str | os.PathLike,
                  device: str | torch.device = "cpu") -> Tuple[torch.jit.ScriptModule | CompiledPotential, ModelMetadata]:
    """Load a deployed file (TorchScript archive or AOTInductor package, told apart by content) with
    plain torch (no egraff model code needed), check its weights digest and validate its metadata."""
    path = str(path)
    if os.path.isdir(path):
        raise DeployedModelError(f"{path} is a directory, not a model file; give the path of the deployed .pt file")
    if not os.path.isfile(path):
        raise DeployedModelError(f"model file {path} does not exist")
    if os.path.getsize(path) == 0:
        raise DeployedModelError(f"model file {path} is empty (0 bytes); write it again with `egraff export`")
    if is_compiled_package(path):
        return _load_compiled(path, torch.device(device))
    files: Dict[str, str] = {k: "" for k in REQUIRED_KEYS + OPTIONAL_KEYS}
    try:
        module = torch.jit.load(path, map_location=device, _extra_files=files)
    except Exception as err:  # torch raises RuntimeError / ValueError with a long trace
        first = error_cause(err)
        if "constants.pkl" in first:  # a torch.save zip has no TorchScript code
            raise DeployedModelError(f"{path} is a torch.save file (a checkpoint?), not a TorchScript model; write the "
                                     "deployed file with `egraff export`") from None
        first = first.split(". This is an internal miniz error")[0]  # torch's advice to its own developers
        raise DeployedModelError(f"{path} is not a loadable TorchScript model or AOTInductor package ({first}); write "
                                 "it with `egraff export`") from None
    files = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in files.items()}
    metadata = ModelMetadata.from_extra_files(files, path)
    forward = getattr(module, "forward", None)
    num_inputs = len(forward.schema.arguments) - 1 if forward is not None else 0
    if num_inputs != 4:
        raise DeployedModelError(f"the forward of {path} takes {num_inputs} inputs, the contract's takes 4 "
                                 "(edge_vectors, edge_index, atom_types, n_local)")
    _check_weights_digest(path, files[DIGEST_KEY].strip())
    return module.eval(), metadata
