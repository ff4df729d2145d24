"""Compiled deployed files: the contract's forward as an AOTInductor package (``.pt2``).

``egraff export --compile aotinductor`` writes the same forward as the TorchScript file — the energy
model, the masked local energy and its gradient with respect to the edge vectors — as one program
compiled ahead of time for this machine's CPU:

1. ``make_fx`` with symbolic sizes runs the eager :class:`~egraff.contract.DeployedPotential` once
   on an example graph and records every ATen operation, those of the autograd backward pass
   included, so the program needs no autograd at run time;
2. ``torch.export`` of that graph with the node and edge counts dynamic from 0 (an empty rank, an
   isolated atom, a single edge are all valid inputs);
3. ``aoti_compile_and_package`` compiles it, and the contract's metadata and weights digest are
   added as ``extra/`` records (egraff.contract).

Before the file is written the package is run on several graphs — the example, another with ghost
nodes, one isolated atom, a single edge — and compared with the eager model (float64: 1e-10, float32:
1e-4, relative to the largest value): a program that traced a shape-specific path would be refused
here rather than give wrong forces later. All six architectures compile; TorchMD-Net with
``study_graph`` (its neighbour-cap check branches on the data) is refused with the tracing error. A package runs only with this torch version and on the
CPU kind it was compiled for (notes/lammps-integration.md P16): compile on the machine that runs
the simulations.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Tuple

import torch

from egraff.contract import DeployedModelError, DeployedPotential, ModelMetadata, add_package_metadata
from egraff.files import atomic_path

#: |compiled - eager| allowed at export, relative to the largest |value| (at least 1)
AGREEMENT = {"float64": 1e-10, "float32": 1e-4}


def example_graph(num_nodes: int, num_types: int, r_max: float, n_local: int | None = None,
                  seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """Contract inputs of a random cluster: all directed pairs closer than r_max are edges."""
    generator = torch.Generator().manual_seed(seed)
    positions = torch.rand(num_nodes, 3, generator=generator, dtype=torch.float64) * r_max * 1.2
    vectors = positions[None, :, :] - positions[:, None, :]
    distance = vectors.norm(dim=-1)
    i, j = torch.nonzero((distance < r_max) & (distance > 0), as_tuple=True)
    types = torch.randint(0, num_types, (num_nodes,), generator=generator)
    local = num_nodes if n_local is None else n_local
    return vectors[i, j].contiguous(), torch.stack([i, j]), types, torch.tensor(local)


def single_edge_graph(num_types: int, r_max: float) -> Tuple[torch.Tensor, ...]:
    """Two nodes, one local, and one edge between them at half the cutoff."""
    vector = torch.tensor([[0.3, 0.4, 0.2]], dtype=torch.float64)
    vector *= 0.5 * r_max / float(vector.norm())
    return vector, torch.tensor([[0], [1]]), torch.tensor([0, num_types - 1]), torch.tensor(1)


def isolated_atom_graph() -> Tuple[torch.Tensor, ...]:
    return torch.zeros(0, 3, dtype=torch.float64), torch.zeros(2, 0, dtype=torch.int64), torch.tensor([0]), \
        torch.tensor(1)


def check_graphs(metadata: ModelMetadata) -> dict:
    n_types = len(metadata.type_names)
    return {
        "a 13-node cluster with 4 ghost nodes": example_graph(13, n_types, metadata.r_max, n_local=9, seed=1),
        "one isolated atom": isolated_atom_graph(),
        "a single edge": single_edge_graph(n_types, metadata.r_max),
    }


def _disagreement(reference, outputs) -> float:
    """The largest |difference| of node energies and edge forces over max(1, largest |value|)."""
    worst = 0.0
    for ref, out in zip(reference, outputs):
        if ref.shape != out.shape:
            return math.inf
        if ref.numel():
            scale = max(1.0, float(ref.abs().max()))
            worst = max(worst, float((out - ref).abs().max()) / scale)
    return worst


def compile_potential(potential: DeployedPotential, metadata: ModelMetadata, path: str | os.PathLike) -> Path:
    """Compile ``potential`` (eager, not scripted) into an AOTInductor package at ``path``, atomically,
    after checking it against the eager forward."""
    from torch._inductor import aoti_compile_and_package, aoti_load_package
    from torch.export import Dim
    from torch.fx.experimental.proxy_tensor import make_fx

    path = Path(path)
    if path.is_dir():
        raise DeployedModelError(f"{path} is a directory; give a file name for the compiled model, e.g. {path / 'model.pt2'}")
    potential = potential.eval()
    example = example_graph(12, len(metadata.type_names), metadata.r_max)
    edges, nodes = Dim("num_edges", min=0), Dim("num_nodes", min=0)
    try:
        traced = make_fx(potential, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*example)
        program = torch.export.export(traced, example, dynamic_shapes=({0: edges}, {1: edges}, {0: nodes}, None),
                                      strict=False)
    except Exception as err:  # torch's tracing errors have no common base class
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DeployedModelError(
            f"the {metadata.architecture} model cannot be compiled with AOTInductor: its code is not traceable "
            f"with dynamic node and edge counts ({reason}), so {path} was not written; export it with "
            "--compile torchscript") from None
    package = io.BytesIO()
    aoti_compile_and_package(program, package_path=package)
    add_package_metadata(package, metadata)

    package.seek(0)
    compiled = aoti_load_package(package)
    tolerance = AGREEMENT[metadata.model_dtype]
    for name, graph in {"the example cluster": example, **check_graphs(metadata)}.items():
        worst = _disagreement(potential(*graph), compiled(*graph))
        if not worst <= tolerance:
            raise DeployedModelError(
                f"the compiled {metadata.architecture} model differs from the model on {name} by {worst:.3g} "
                f"(relative; allowed {tolerance:g}), so {path} was not written; this architecture does not "
                "compile correctly with AOTInductor: export it with --compile torchscript")
    with atomic_path(path) as temporary:
        temporary.write_bytes(package.getvalue())
    return path
