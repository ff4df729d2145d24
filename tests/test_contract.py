"""The deployed-model contract in Python: file format, metadata, gradients and the reference models."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from egraff.deploy import DeployedModelError, ModelMetadata, load_deployed, save_deployed
from egraff.models.reference import ARGON_KRYPTON, lennard_jones, message_passing_toy


def random_cluster(n=12, seed=0, box=6.0):
    import ase

    rng = np.random.default_rng(seed)
    # a jittered grid keeps atoms apart (no LJ singularities) while every pair is irregular
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n] * 2.6
    positions = grid + rng.uniform(-0.3, 0.3, grid.shape)
    symbols = ["Ar" if k % 3 else "Kr" for k in range(n)]
    return ase.Atoms(symbols, positions=positions, cell=np.eye(3) * box * 1.3 + [[0, 0, 0], [1.1, 0, 0], [0.4, -0.7, 0]],
                     pbc=True)


def contract_inputs(atoms, meta):
    from egraff.data.graph import atoms_graph

    g = atoms_graph(atoms, meta.type_names, meta.r_max)
    return (torch.tensor(g.edge_vectors), torch.tensor(g.edge_index), torch.tensor(g.atom_types),
            torch.tensor(len(atoms)))


def energy_and_forces(model, atoms, meta):
    """Total energy and atomic forces assembled from edge forces (F_i += g, F_j -= g)."""
    vec, index, types, n = contract_inputs(atoms, meta)
    node_energy, edge_forces = model(vec, index, types, n)
    forces = np.zeros((len(atoms), 3))
    np.add.at(forces, index[0].numpy(), edge_forces.numpy())
    np.subtract.at(forces, index[1].numpy(), edge_forces.numpy())
    return float(node_energy.sum()), forces


MODELS = {
    "lj": lambda dtype="float64": lennard_jones(["Ar", "Kr"], **ARGON_KRYPTON, model_dtype=dtype),
    "mp2": lambda dtype="float64": message_passing_toy(["Ar", "Kr"], r_max=5.0, model_dtype=dtype),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_forces_are_minus_energy_gradient(name):
    model, meta = MODELS[name]()
    atoms = random_cluster()
    _, forces = energy_and_forces(model, atoms, meta)
    h, worst = 1e-5, 0.0
    for i in range(len(atoms)):
        for k in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[i, k] += h
            minus.positions[i, k] -= h
            fd = -(energy_and_forces(model, plus, meta)[0] - energy_and_forces(model, minus, meta)[0]) / (2 * h)
            worst = max(worst, abs(fd - forces[i, k]))
    assert np.abs(forces).max() > 1e-3
    assert worst <= 1e-6


@pytest.mark.parametrize("name", list(MODELS))
def test_energy_invariant_forces_equivariant(name):
    from scipy.spatial.transform import Rotation

    model, meta = MODELS[name]()
    atoms = random_cluster(seed=3)
    e0, f0 = energy_and_forces(model, atoms, meta)
    rot = Rotation.random(random_state=7).as_matrix()
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rot.T, scale_atoms=False)
    moved.positions = atoms.positions @ rot.T + [0.3, -1.2, 2.0]
    moved.wrap()
    perm = np.random.default_rng(1).permutation(len(atoms))
    moved = moved[perm]
    e1, f1 = energy_and_forces(model, moved, meta)
    assert abs(e1 - e0) <= 1e-8
    assert np.abs(f1 - (f0 @ rot.T)[perm]).max() <= 1e-8


@pytest.mark.parametrize("name", list(MODELS))
def test_scripted_file_equals_eager_over_repeated_calls(name, tmp_path):
    model, meta = MODELS[name]()
    path = save_deployed(model, tmp_path / "m.pt", meta)
    loaded, loaded_meta = load_deployed(path)
    assert loaded_meta == meta
    inputs = contract_inputs(random_cluster(seed=5), meta)
    eager = model(*inputs)
    for _ in range(4):
        scripted = loaded(*inputs)
        assert scripted[0].dtype == torch.float64 and scripted[1].dtype == torch.float64
        assert torch.allclose(scripted[0], eager[0], rtol=0, atol=1e-12)
        assert torch.allclose(scripted[1], eager[1], rtol=0, atol=1e-12)


def test_edge_forces_count_only_local_nodes():
    """Nodes >= n_local are ghosts: their energies are returned but not differentiated."""
    model, meta = MODELS["mp2"]()
    vec, index, types, n = contract_inputs(random_cluster(), meta)
    n_local = 5
    vectors = vec.clone().requires_grad_(True)
    energy = model.energy_model(vectors, index, types)[:n_local].sum()
    (expected,) = torch.autograd.grad(energy, vectors)
    node_energy, edge_forces = model(vec, index, types, torch.tensor(n_local))
    assert node_energy.shape == (len(types),)
    assert torch.allclose(edge_forces, expected, rtol=0, atol=1e-14)
    assert not torch.allclose(edge_forces, model(vec, index, types, n)[1])


def test_no_edges_gives_reference_energies_and_zero_forces():
    model, meta = MODELS["mp2"]()
    node_energy, edge_forces = model(torch.zeros(0, 3, dtype=torch.float64), torch.zeros(2, 0, dtype=torch.long),
                                     torch.tensor([0, 1]), torch.tensor(2))
    assert node_energy.tolist() == [-1.0, -1.5] and edge_forces.shape == (0, 3)


def test_float32_model_keeps_float64_interface(tmp_path):
    model, meta = MODELS["lj"]("float32")
    loaded, loaded_meta = load_deployed(save_deployed(model, tmp_path / "m32.pt", meta))
    assert loaded_meta.model_dtype == "float32"
    inputs = contract_inputs(random_cluster(), meta)
    e32, g32 = loaded(*inputs)
    e64, g64 = MODELS["lj"]()[0](*inputs)
    assert e32.dtype == torch.float64 and g32.dtype == torch.float64
    assert 0 < torch.abs(g32 - g64).max() <= 1e-5 * torch.abs(g64).max()


def test_file_loads_with_plain_torch_without_egraff(tmp_path):
    model, meta = MODELS["mp2"]()
    path = save_deployed(model, tmp_path / "m.pt", meta)
    code = f"""
import sys
sys.modules["egraff"] = None  # any import of egraff now fails
import torch
files = {{"egraff_contract": "", "type_names": "", "num_layers": ""}}
m = torch.jit.load({str(path)!r}, _extra_files=files)
e, g = m(torch.tensor([[1.0, 2.0, 2.0], [-1.0, -2.0, -2.0]], dtype=torch.float64), torch.tensor([[0, 1], [1, 0]]),
         torch.tensor([0, 1]), torch.tensor(2))
text = {{k: v.decode() for k, v in files.items()}}
print(text["egraff_contract"], text["type_names"], text["num_layers"], e.shape[0], g.shape[0])
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "Ar", "Kr", "2", "2", "2"]


def test_failed_save_leaves_existing_file_untouched(tmp_path):
    class NotScriptable(torch.nn.Module):
        def forward(self, edge_vectors, edge_index, atom_types, n_local):
            return {"not": "a tuple"}.get  # scripting fails

    model, meta = MODELS["lj"]()
    path = save_deployed(model, tmp_path / "m.pt", meta)
    before = path.read_bytes()
    with pytest.raises(RuntimeError):  # TorchScript compilation error
        save_deployed(NotScriptable(), path, meta)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_load_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(DeployedModelError, match="does not exist"):
        load_deployed(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(DeployedModelError, match="not a loadable TorchScript model"):
        load_deployed(tmp_path / "text.pt")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(tmp_path / "plain.pt"))
    with pytest.raises(DeployedModelError, match="not an egraff deployed model"):
        load_deployed(tmp_path / "plain.pt")


@pytest.mark.parametrize("bad, message", [
    (dict(type_names=()), "at least one type name"),
    (dict(type_names=("H", "H")), "unique"),
    (dict(r_max=0.0), "r_max must be a finite number > 0"),
    (dict(r_max=float("inf")), "r_max must be a finite number > 0, got inf"),
    (dict(r_max=float("nan")), "r_max must be a finite number > 0, got nan"),
    (dict(num_layers=0), "num_layers must be >= 1"),
    (dict(model_dtype="float16"), "float32 or float64"),
    (dict(pair_cutoffs=(1.0, 2.0, 3.0)), "needs 2x2 = 4 values"),
    (dict(pair_cutoffs=(1.0, 2.0, 2.0, 9.0)), r"\[0, r_max"),
])
def test_metadata_validation(bad, message):
    args = dict(architecture="x", type_names=("H", "O"), r_max=5.0, num_layers=1) | bad
    with pytest.raises(DeployedModelError, match=message):
        ModelMetadata(**args)


def test_written_files_get_the_default_mode_not_mkstemps_private_one(tmp_path):
    """Atomic writes go through a private temporary file; the result must still be shareable."""
    import os
    import stat

    from egraff.deploy.export import save_checkpoint
    from egraff.models import build

    umask = os.umask(0)
    os.umask(umask)
    model, meta = MODELS["lj"]()
    deployed = save_deployed(model, tmp_path / "m.pt", meta)
    checkpoint = save_checkpoint(build("nequip", ["H", "O"], 4.0), tmp_path / "c.pt")
    for path in (deployed, checkpoint):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_plugin_reads_the_contract_keys_python_writes():
    """The keys are declared for C++ in lammps_plugins/egraff_contract.h and for Python in
    egraff.contract; they must be the same keys."""
    import re
    from pathlib import Path

    from egraff.contract import CONTRACT_VERSION, DIGEST_KEY, OPTIONAL_KEYS, REQUIRED_KEYS

    header = (Path(__file__).resolve().parents[1] / "lammps_plugins" / "egraff_contract.h").read_text()

    def strings(name):
        body = re.search(rf"{name}\[\]\s*=\s*\{{(.*?)\}};", header, re.S).group(1)
        return tuple(re.findall(r'"([^"]*)"', body))

    assert re.search(r'CONTRACT_VERSION = "(\w+)"', header).group(1) == CONTRACT_VERSION
    assert strings("REQUIRED_KEYS") == REQUIRED_KEYS
    assert set(strings("OPTIONAL_KEYS")) <= set(OPTIONAL_KEYS) and DIGEST_KEY in strings("OPTIONAL_KEYS")
