"""Every registered architecture (tiny preset, float64) is a proper potential: E(3)-invariant energy,
equivariant forces that are the exact negative gradient, and periodic images handled through the
edge vectors (the test crystal is shorter than 2 r_max along c, so atoms see their own images)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from egraff.models import ARCHITECTURES

from .conftest import R_MAX, central_difference_forces, crystal, energy_and_forces, molecule


def transformed(atoms, rng):
    """A random rotation + translation + permutation of ``atoms`` (cell rotated along), and the
    rotation and permutation applied."""
    rotation = Rotation.random(random_state=rng.integers(1 << 30)).as_matrix()
    order = rng.permutation(len(atoms))
    moved = atoms[order]
    moved.positions = moved.positions @ rotation.T + rng.normal(scale=3.0, size=3)
    moved.set_cell(moved.cell.array @ rotation.T, scale_atoms=False)
    return moved, rotation, order


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("structure", [crystal, molecule])
def test_invariance_and_equivariance(tiny, architecture, structure):
    model = tiny.model(architecture)
    atoms = structure()
    energy, forces = energy_and_forces(model, atoms)
    assert np.abs(forces).max() > 0.05  # the model is not trivially flat here
    rng = np.random.default_rng(3)
    for _ in range(2):
        moved, rotation, order = transformed(atoms, rng)
        moved_energy, moved_forces = energy_and_forces(model, moved)
        assert abs(moved_energy - energy) <= 1e-8
        assert np.abs(moved_forces - forces[order] @ rotation.T).max() <= 1e-8


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_periodic_rewrapping_changes_nothing(tiny, architecture):
    model = tiny.model(architecture)
    atoms = crystal()
    energy, forces = energy_and_forces(model, atoms)
    shifted = atoms.copy()
    lattice_steps = np.random.default_rng(5).integers(-2, 3, size=(len(atoms), 3))
    shifted.positions += lattice_steps @ atoms.cell.array  # every atom moved to another image
    assert np.abs(shifted.positions - atoms.positions).max() > 3.0
    wrapped_energy, wrapped_forces = energy_and_forces(model, shifted)
    assert abs(wrapped_energy - energy) <= 1e-8
    assert np.abs(wrapped_forces - forces).max() <= 1e-8


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("structure", [crystal, molecule])
def test_forces_are_minus_energy_gradient(tiny, architecture, structure):
    """Central differences (h = 1e-4 Å) of the energy match the autograd forces to 1e-6 eV/Å."""
    model = tiny.model(architecture)
    atoms = structure()
    _, forces = energy_and_forces(model, atoms)
    numeric = central_difference_forces(model, atoms, 1e-4)
    assert np.abs(forces).max() > 0.05
    assert np.abs(numeric - forces).max() <= 1e-6


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_receptive_field_is_num_layers_times_r_max(tiny, architecture):
    """The metadata's num_layers is what the LAMMPS plugin sizes its ghost shell with: atom 0's energy
    must not depend on atoms more than num_layers * r_max away, and (the bound is tight) must depend on
    the atom num_layers graph hops away. Chain spacing 0.8 r_max: only neighbours in the chain are
    within r_max, so atom k is k hops and 0.8 k r_max away."""
    from ase import Atoms

    from egraff.data.graph import atoms_graph

    model = tiny.model(architecture)
    layers = model.num_layers
    count = layers + 2
    chain = Atoms(["Cu", "Au"] * (count // 2) + ["Cu"] * (count % 2),
                  positions=[[0.8 * R_MAX * k, 0.05 * k * k, 0.0] for k in range(count)])

    def energy_of_first_atom(atoms):
        graph = atoms_graph(atoms, model.type_names, model.r_max)
        with torch.no_grad():
            return float(model(torch.tensor(graph.edge_vectors), torch.tensor(graph.edge_index),
                               torch.tensor(graph.atom_types))[0])

    reference = energy_of_first_atom(chain)
    for atom, changes in ((layers, True), (layers + 1, False)):
        moved = chain.copy()
        moved.positions[atom] += [0.15, 0.2, -0.1]
        assert np.linalg.norm(moved.positions[layers + 1] - moved.positions[0]) > layers * R_MAX
        difference = abs(energy_of_first_atom(moved) - reference)
        assert (difference > 1e-11) if changes else (difference <= 1e-14), (atom, difference)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_energy_is_continuous_where_a_neighbour_crosses_r_max(tiny, architecture):
    """No jump when an edge appears (MD conserves energy only then): atom 2 moves from just inside to
    just outside r_max of atom 0 (and stays beyond r_max of atom 1)."""
    from ase import Atoms

    model = tiny.model(architecture)
    energies = []
    for offset in (-1e-6, 1e-6):
        atoms = Atoms("CuAuCu", positions=[[0.0, 0.0, 0.0], [-2.3, 0.4, 0.0], [R_MAX + offset, 0.0, 0.0]])
        energies.append(energy_and_forces(model, atoms)[0])
    assert abs(energies[1] - energies[0]) <= 1e-9
