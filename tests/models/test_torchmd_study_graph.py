"""TorchMD-Net as the study ran it (``study_graph=True``: no vector cutoff, neighbour cap) against egraff's
default graph: the energy jump when a neighbour crosses r_max, and the cap's refusal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from egraff.models import build

from .conftest import R_MAX, TYPE_NAMES, crystal, energy_and_forces


def perturbed(**overrides):
    """A tiny ET with non-zero biases, as after training (fresh ones are zero and would hide the jump)."""
    torch.manual_seed(8)
    model = build("torchmd-et", TYPE_NAMES, R_MAX, **overrides)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    model.set_energy_scale_shift(scale=10.0)
    return model.eval()


def test_study_graph_jumps_where_a_neighbour_crosses_r_max():
    """Atom 2 moves from 1e-7 Å inside to 1e-7 Å outside r_max of atom 0 (atom 1 stays bonded to atom 0):
    egraff's graph changes by nothing measurable, the study's graph jumps in energy and forces."""
    jumps = {}
    for study_graph in (False, True):
        model = perturbed(study_graph=study_graph)
        results = []
        for offset in (-1e-7, 1e-7):
            atoms = Atoms("CuAuCu", positions=[[0.0, 0.0, 0.0], [-2.3, 0.4, 0.0], [R_MAX + offset, 0.0, 0.0]])
            results.append([energy_and_forces(model, atoms) for _ in range(3)])
            energies = [e for e, _ in results[-1]]
            assert energies[0] == energies[1] == energies[2]
        (inside, inside_forces), (outside, outside_forces) = results[0][0], results[1][0]
        jumps[study_graph] = (abs(inside - outside), np.abs(inside_forces - outside_forces).max())
    assert jumps[False][0] <= 1e-8 and jumps[False][1] <= 1e-5, jumps
    assert jumps[True][0] > 1e-3 and jumps[True][1] > 1e-3, jumps


def test_study_graph_refuses_more_neighbours_than_its_cap(tmp_path):
    """The crystal's atoms have 12 to 14 neighbours within r_max: a cap of 16 (self-loop counted) passes,
    a cap of 13 is refused with the study's reason — in Python and from the deployed file, every call."""
    from egraff.data.graph import atoms_graph
    from egraff.deploy import load_deployed
    from egraff.deploy.export import deploy

    atoms = crystal()
    graph = atoms_graph(atoms, TYPE_NAMES, R_MAX)
    inputs = (torch.tensor(graph.edge_vectors), torch.tensor(graph.edge_index), torch.tensor(graph.atom_types))
    largest = int(np.bincount(graph.edge_index[0]).max())
    assert largest == 14
    energy_and_forces(perturbed(study_graph=True, max_num_neighbors=largest + 1), atoms)
    energy_and_forces(perturbed(study_graph=False, max_num_neighbors=largest), atoms)  # no cap without the switch
    model = perturbed(study_graph=True, max_num_neighbors=largest)
    reason = f"an atom has {largest} neighbours within r_max, more than max_num_neighbors = {largest} allows"
    with pytest.raises(RuntimeError, match=reason):
        model(*inputs)
    deployed, _ = load_deployed(deploy(model, tmp_path / "capped.pt"))
    for _ in range(3):
        with pytest.raises(torch.jit.Error, match=reason):  # TorchScript's error carrying the RuntimeError
            deployed(*inputs, torch.tensor(len(atoms)))
