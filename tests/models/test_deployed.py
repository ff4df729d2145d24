"""The deployed file of every architecture reproduces its eager model through the contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from egraff.data.graph import atoms_graph
from egraff.deploy import load_deployed
from egraff.models import ARCHITECTURES

from .conftest import R_MAX, TYPE_NAMES, crystal


def contract_inputs(atoms):
    graph = atoms_graph(atoms, TYPE_NAMES, R_MAX)
    return torch.tensor(graph.edge_vectors), torch.tensor(graph.edge_index), torch.tensor(graph.atom_types)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("ghost_nodes", [0, 5])
def test_deployed_equals_eager(tiny, architecture, ghost_nodes):
    """Node energies and edge forces to 1e-10 over four consecutive calls; with ``ghost_nodes`` the
    last nodes are ghosts whose energy must not enter the edge forces."""
    model = tiny.model(architecture)
    deployed, metadata = load_deployed(tiny.file(architecture))
    assert (metadata.architecture, metadata.type_names, metadata.r_max) == (architecture, TYPE_NAMES, R_MAX)
    assert metadata.num_layers == model.num_layers and metadata.model_dtype == "float64"

    vectors, edge_index, types = contract_inputs(crystal())
    n_local = len(types) - ghost_nodes
    leaf = vectors.clone().requires_grad_(True)
    eager_energy = model(leaf, edge_index, types)
    (eager_forces,) = torch.autograd.grad(eager_energy[:n_local].sum(), leaf)
    if ghost_nodes:  # the ghost energies do depend on the edges: excluding them must matter
        (all_forces,) = torch.autograd.grad(model(leaf, edge_index, types).sum(), leaf)
        assert (all_forces - eager_forces).abs().max() > 1e-3
    for _ in range(4):
        node_energy, edge_forces = deployed(vectors, edge_index, types, torch.tensor(n_local))
        assert node_energy.dtype == edge_forces.dtype == torch.float64
        assert (node_energy - eager_energy.detach()).abs().max() <= 1e-10
        assert (edge_forces - eager_forces).abs().max() <= 1e-10


def test_deployed_files_load_with_plain_torch(tiny):
    """Every deployed file runs in a fresh interpreter that imports only torch: no egraff, e3nn,
    nequip, mace or torchmd-net code (TorchMD-Net's Python-registered Warp ops included)."""
    files = {arch: str(tiny.file(arch)) for arch in ARCHITECTURES}
    vectors, edge_index, types = contract_inputs(crystal())
    inputs = {"vectors": vectors.tolist(), "edge_index": edge_index.tolist(), "types": types.tolist()}
    expected = {}
    for arch, path in files.items():
        energy, _ = load_deployed(path)[0](vectors, edge_index, types, torch.tensor(len(types)))
        expected[arch] = float(energy.sum())
    code = """
import json, sys, torch
files, inputs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
args = (torch.tensor(inputs["vectors"], dtype=torch.float64), torch.tensor(inputs["edge_index"]),
        torch.tensor(inputs["types"]), torch.tensor(len(inputs["types"])))
energies = {arch: float(torch.jit.load(path)(*args)[0].sum()) for arch, path in files.items()}
foreign = sorted(m for m in sys.modules if m.split(".")[0] in ("egraff", "e3nn", "nequip", "allegro", "mace", "torchmdnet", "warp"))
print(json.dumps({"energies": energies, "foreign": foreign}))
"""
    result = subprocess.run([sys.executable, "-c", code, json.dumps(files), json.dumps(inputs)],
                            capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["foreign"] == []
    for arch, energy in report["energies"].items():
        assert abs(energy - expected[arch]) <= 1e-10, arch
