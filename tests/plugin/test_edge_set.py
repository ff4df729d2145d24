"""The plugin hands the model exactly the edges inside the cutoff — the neighbour list's skin and
the per-element-pair cutoffs of the metadata are applied by the plugin, not left to the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import fcc_binary, lammps_to_atoms, new_lammps, write_model


class EdgeCounter(torch.nn.Module):
    """E_i = sum over edges from i of 0.5 exp(-r): no cutoff of its own, so every edge shows."""

    def forward(self, edge_vectors, edge_index, atom_types):
        r = torch.sqrt((edge_vectors * edge_vectors).sum(dim=1))
        energy = torch.zeros(atom_types.shape[0], dtype=edge_vectors.dtype)
        return energy.index_add(0, edge_index[0], 0.5 * torch.exp(-r))


def edge_counter(pair_cutoffs=None):
    from egraff.deploy import DeployedPotential, ModelMetadata

    meta = ModelMetadata(architecture="edge-counter", type_names=("Ar", "Kr"), r_max=6.0, num_layers=1,
                         pair_cutoffs=pair_cutoffs)
    return DeployedPotential(EdgeCounter()), meta


@pytest.mark.parametrize("pair_cutoffs", [None, (4.5, 5.0, 5.0, 6.0)])
@pytest.mark.parametrize("mode", ["map", "ghost", "ghostmp"])
def test_energy_of_unmasked_model_matches_python_graph(model_dir, pair_cutoffs, mode):
    from egraff.data.graph import atoms_graph
    from egraff.deploy import load_deployed

    name = "counter.pt" if pair_cutoffs is None else "counter_pairs.pt"
    path = write_model(model_dir, name, edge_counter, pair_cutoffs)
    lmp = new_lammps()
    try:
        lmp.commands_list(fcc_binary((3, 3, 3), triclinic=True, jitter=0.3) + [
            "neighbor 2.0 bin", f"pair_style egraff mode {mode}", f"pair_coeff * * {path} Ar Kr", "run 0"])
        model, meta = load_deployed(path)
        atoms = lammps_to_atoms(lmp, meta.type_names)
        g = atoms_graph(atoms, meta.type_names, meta.r_max, meta.cutoff_matrix().numpy())
        expected = 0.5 * np.exp(-np.linalg.norm(g.edge_vectors, axis=1)).sum()
        assert abs(lmp.get_thermo("pe") - expected) <= 1e-10
        if pair_cutoffs:
            # the per-pair cutoffs really removed edges
            assert g.num_edges < atoms_graph(atoms, meta.type_names, meta.r_max).num_edges
    finally:
        lmp.close()
