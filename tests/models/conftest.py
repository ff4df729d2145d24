"""Tiny models of every registered architecture, small test structures, and helpers that evaluate
an eager model or run LAMMPS on the same structures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from egraff.models import build

TYPE_NAMES = ("Cu", "Au")
R_MAX = 3.5


def crystal() -> Atoms:
    """16 atoms of jittered fcc CuAu in a triclinic cell (LAMMPS form: lower-triangular cell rows);
    the cell is 3.6 Å along c, shorter than 2 r_max, so atoms see their own periodic images."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 1))
    fractional = atoms.get_scaled_positions()
    atoms.set_cell([[7.2, 0.0, 0.0], [0.9, 7.0, 0.0], [0.5, -0.6, 3.7]])
    atoms.set_scaled_positions(fractional)
    rng = np.random.default_rng(7)
    atoms.positions += rng.normal(scale=0.12, size=atoms.positions.shape)
    atoms.symbols[[1, 4, 6, 11, 13, 14]] = "Au"
    atoms.pbc = True
    return atoms


def molecule() -> Atoms:
    """A 9-atom jittered cluster (cube corners and centre), non-periodic, centred in a 20 Å box (the box only sets the volume
    that the stress is divided by, as in LAMMPS)."""
    corners = np.array([[x, y, z] for x in range(2) for y in range(2) for z in range(2)], dtype=float) * 2.6
    grid = np.vstack([corners, [[1.3, 1.3, 1.3]]])
    rng = np.random.default_rng(11)
    positions = grid + rng.normal(scale=0.15, size=grid.shape) + 9.0
    return Atoms("CuAuCuCuAuCuAuAuCu", positions=positions, cell=np.diag([20.0, 20.0, 20.0]), pbc=False)


def energy_and_forces(model, atoms: Atoms):
    """Eager model: total energy and atomic forces by autograd through the edge vectors."""
    from egraff.data.graph import atoms_graph

    graph = atoms_graph(atoms, model.type_names, model.r_max)
    dtype = model.energy_scale.dtype
    vectors = torch.tensor(graph.edge_vectors, dtype=dtype, requires_grad=True)
    edge_index = torch.tensor(graph.edge_index)
    energy = model(vectors, edge_index, torch.tensor(graph.atom_types)).sum()
    (g,) = torch.autograd.grad(energy, vectors)
    forces = torch.zeros(len(atoms), 3, dtype=dtype).index_add(0, edge_index[0], g).index_add(0, edge_index[1], -g)
    return float(energy.detach()), forces.detach().numpy().astype(np.float64)


def central_difference_forces(model, atoms: Atoms, h: float, moved=None) -> np.ndarray:
    """-dE/dx by central differences (step h, Å) for the atoms in ``moved`` (default: all), rows in that order."""
    moved = range(len(atoms)) if moved is None else moved
    numeric = []
    for atom in moved:
        row = []
        for axis in range(3):
            energies = []
            for step in (h, -h):
                displaced = atoms.copy()
                displaced.positions[atom, axis] += step
                energies.append(energy_and_forces(model, displaced)[0])
            row.append(-(energies[0] - energies[1]) / (2 * h))
        numeric.append(row)
    return np.array(numeric)


class ModelStore:
    """One tiny float64 model and its deployed file per architecture, built on first use.

    Weights are seeded and perturbed; the energy scale is set so that the largest force on the test crystal is
    about 1 eV/Å (a freshly initialised network gives ~1e-3, which would make tolerances toothless),
    and species shifts are non-zero so that they are exercised too."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._models, self._files = {}, {}

    def model(self, architecture: str):
        if architecture not in self._models:
            torch.manual_seed(1234)
            model = build(architecture, TYPE_NAMES, R_MAX, preset="tiny", model_dtype="float64")
            with torch.no_grad():  # like trained weights: no zero biases or other initialisation symmetries
                for parameter in model.parameters():
                    parameter.add_(0.1 * torch.randn_like(parameter))
            _, forces = energy_and_forces(model, crystal())
            model.set_energy_scale_shift(scale=1.0 / np.abs(forces).max(), shifts={"Cu": -3.5, "Au": -4.25})
            self._models[architecture] = model.eval()
        return self._models[architecture]

    def file(self, architecture: str) -> Path:
        if architecture not in self._files:
            from egraff.deploy.export import deploy

            self._files[architecture] = deploy(self.model(architecture), self.directory / f"{architecture}.pt")
        return self._files[architecture]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> ModelStore:
    return ModelStore(tmp_path_factory.mktemp("tiny_models"))


def lammps_data(atoms: Atoms, path: Path) -> Path:
    """A LAMMPS data file (atom_style atomic) of ``atoms``: atom IDs follow the ASE order, types follow TYPE_NAMES."""
    from egraff.lammps_adaptor import write_lammps_data

    return write_lammps_data(path, atoms, TYPE_NAMES)


def lammps_script(model_file: Path, systems: dict) -> str:
    """One input evaluating every system (name -> (data file, periodic)) with ``run 0``: a dump of
    forces and per-atom energies per system, and thermo with energy and the virial pressure."""
    lines = []
    for name, (data_file, periodic) in systems.items():
        lines += [
            "clear", "units metal", "atom_style atomic", "atom_modify map yes",
            f"boundary {'p p p' if periodic else 'f f f'}",
            f"read_data {data_file}",
            # the boxes are smaller than a 2-layer model's ghost shell: on 2 ranks ghostmp evaluates
            # ~130 ghost atoms per local atom, beyond the default ghost_limit (100), and is exact
            "pair_style egraff ghost_limit 1000",
            f"pair_coeff * * {model_file} {' '.join(TYPE_NAMES)}",
            "compute pe all pe/atom",
            "compute pv all pressure NULL virial",
            "thermo_style custom step pe c_pv[1] c_pv[2] c_pv[3] c_pv[4] c_pv[5] c_pv[6] vol",
            "thermo_modify format float %24.17g",
            "run 0",
            f"write_dump all custom {name}.dump id fx fy fz c_pe modify sort id format float %24.17g",
        ]
    return "\n".join(lines) + "\n"
