"""BOTNet: the body-ordered tensor network of Batatia et al. 2022, "The design space of
E(3)-equivariant atom-centred interatomic potentials" (arXiv:2205.06643), written on e3nn with
mace-torch building blocks (Bessel basis, polynomial envelope, readout blocks, TP instruction helper).

Per layer t (correlation order 1: every message is a two-body term, the body order grows by one per
layer):

* ``h̃_j = W_up h_j``; message ``A_i = (1/avg_num_neighbors) Σ_j R(r_ij) Y(r̂_ij) ⊗ h̃_j``, a
  tensor product with species-agnostic radial weights R (an MLP of the Bessel features times the
  polynomial envelope) and spherical harmonics Y up to ``max_ell``;
* residual, species-dependent self-connection from layer 2 on: ``A_i += W_{z_i} h_i`` (tensor product
  with the one-hot species);
* nonlinear update: ``h_i^(t+1) = Gate(W A_i)`` (SiLU on scalars, sigmoid gates on l > 0);
* energy: a linear readout of the scalars of every layer but the last, an MLP readout of the last,
  summed over layers (the body-ordered expansion); isolated atoms get 0 (their reference energy is the
  species shift of ``EnergyModel``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3

#: EGraFFBench BOTNet (MACE 0.2.0 fork, correlation 1): hidden 16x0e+16x1o+16x2e, 5 interactions,
#: max_ell 3, 8 Bessels, envelope p = 5, radial MLP 3 x 64, MLP readout 16x0e
PRESETS = {
    "paper": dict(hidden_irreps="16x0e+16x1o+16x2e", max_ell=3, num_interactions=5, num_bessel=8,
                  num_polynomial_cutoff=5, radial_MLP=[64, 64, 64], MLP_irreps="16x0e", avg_num_neighbors=20.0),
    "tiny": dict(hidden_irreps="8x0e+8x1o", max_ell=1, num_interactions=2, num_bessel=6,
                 num_polynomial_cutoff=5, radial_MLP=[16], MLP_irreps="8x0e", avg_num_neighbors=20.0),
}


def gate_for(irreps: o3.Irreps) -> e3nn_nn.Gate:
    """Equivariant gate producing ``irreps``: SiLU on the scalars, one sigmoid gate per l > 0 channel."""
    scalars = o3.Irreps([(mul, ir) for mul, ir in irreps if ir.l == 0])
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps if ir.l > 0])
    gates = o3.Irreps([(gated.num_irreps, "0e")]) if gated.num_irreps else o3.Irreps("")
    return e3nn_nn.Gate(scalars, [torch.nn.functional.silu] * len(scalars),
                        gates, [torch.sigmoid] * len(gates), gated)


class BOTNetInteraction(torch.nn.Module):
    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, irreps_out: o3.Irreps, num_types: int,
                 num_radial: int, radial_hidden: Sequence[int], avg_num_neighbors: float, residual: bool):
        super().__init__()
        from mace.modules.irreps_tools import tp_out_irreps_with_instructions

        self.gate = gate_for(irreps_out)
        self.linear_up = o3.Linear(irreps_in, irreps_in)
        irreps_mid, instructions = tp_out_irreps_with_instructions(irreps_in, irreps_sh, self.gate.irreps_in)
        self.conv_tp = o3.TensorProduct(irreps_in, irreps_sh, irreps_mid, instructions,
                                        shared_weights=False, internal_weights=False)
        self.radial_mlp = e3nn_nn.FullyConnectedNet([num_radial, *radial_hidden, self.conv_tp.weight_numel],
                                                    torch.nn.functional.silu)
        self.linear = o3.Linear(irreps_mid.simplify(), self.gate.irreps_in)
        self.self_connection = (o3.FullyConnectedTensorProduct(irreps_in, o3.Irreps(f"{num_types}x0e"),
                                                               self.gate.irreps_in) if residual else None)
        self.inverse_avg_neighbors = 1.0 / float(avg_num_neighbors)
        self.irreps_out = self.gate.irreps_out

    def forward(self, node_feats: torch.Tensor, species: torch.Tensor, edge_sh: torch.Tensor,
                edge_radial: torch.Tensor, centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        messages = self.conv_tp(self.linear_up(node_feats).index_select(0, neighbour), edge_sh,
                                self.radial_mlp(edge_radial))
        summed = messages.new_zeros((node_feats.shape[0], messages.shape[1])).index_add(0, centre, messages)
        update = self.linear(summed * self.inverse_avg_neighbors)
        if self.self_connection is not None:
            update = update + self.self_connection(node_feats, species)
        return self.gate(update)


class BOTNetBody(torch.nn.Module):
    def __init__(self, num_types: int, r_max: float, hidden_irreps: str, max_ell: int, num_interactions: int,
                 num_bessel: int, num_polynomial_cutoff: int, radial_MLP: Sequence[int], MLP_irreps: str,
                 avg_num_neighbors: float):
        super().__init__()
        from mace.modules.blocks import LinearReadoutBlock, NonLinearReadoutBlock
        from mace.modules.radial import BesselBasis, PolynomialCutoff

        hidden = o3.Irreps(hidden_irreps)
        irreps_sh = o3.Irreps.spherical_harmonics(max_ell)
        scalars = o3.Irreps([(mul, ir) for mul, ir in hidden if ir.l == 0])
        self.num_types = num_types
        self.embedding = o3.Linear(o3.Irreps(f"{num_types}x0e"), scalars)
        self.spherical_harmonics = o3.SphericalHarmonics(irreps_sh, normalize=True, normalization="component")
        self.bessel = BesselBasis(r_max, num_bessel)
        self.envelope = PolynomialCutoff(r_max, num_polynomial_cutoff)
        self.interactions = torch.nn.ModuleList()
        self.readouts = torch.nn.ModuleList()
        irreps = scalars
        for layer in range(num_interactions):
            last = layer == num_interactions - 1
            # the last layer only feeds the energy readout: its output is scalars
            interaction = BOTNetInteraction(irreps, irreps_sh, scalars if last else hidden, num_types, num_bessel,
                                            radial_MLP, avg_num_neighbors, residual=layer > 0)
            self.interactions.append(interaction)
            irreps = interaction.irreps_out
            self.readouts.append(NonLinearReadoutBlock(irreps, o3.Irreps(MLP_irreps), torch.nn.functional.silu)
                                 if last else LinearReadoutBlock(irreps))

    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor) -> torch.Tensor:
        centre, neighbour = edge_index[0], edge_index[1]
        species = torch.nn.functional.one_hot(atom_types, self.num_types).to(edge_vectors.dtype)
        lengths = torch.linalg.vector_norm(edge_vectors, dim=1, keepdim=True)
        edge_sh = self.spherical_harmonics(edge_vectors)
        edge_radial = self.bessel(lengths) * self.envelope(lengths)
        node_feats = self.embedding(species)
        energy = edge_vectors.new_zeros(atom_types.shape[0])
        for interaction, readout in zip(self.interactions, self.readouts):
            node_feats = interaction(node_feats, species, edge_sh, edge_radial, centre, neighbour)
            energy = energy + readout(node_feats).squeeze(-1)
        return energy


def build_body(type_names: Sequence[str], r_max: float, **params):
    return BOTNetBody(len(type_names), r_max, **params), int(params["num_interactions"])
