"""Equiformer (Liao & Smidt, ICLR 2023), the MD17 variant, written on e3nn (with mace-torch's helper for
depth-wise tensor-product instructions): equivariant graph attention with MLP attention and nonlinear
messages built from depth-wise tensor products, equivariant layer norm, and energy-conserving forces
(the energy is a function of the edge vectors; forces come from autograd).

Per block: ``x += Attention(LayerNorm(x))``, ``x += FFN(LayerNorm(x))``. For an edge (centre i,
neighbour j) the attention forms ``x_ij = L_dst x_i + L_src x_j``, takes a depth-wise TP with the
spherical harmonics Y(r̂_ij) weighted by a radial MLP of exp-normal RBFs, and splits the result into
per-head attention scalars (weights ``a_h · LeakyReLU(f_ij)``) and values (gate, then a second
depth-wise TP with Y, then a linear map). The node update is ``Σ_j α_ij v_ij`` over heads, projected.
Node embeddings add an edge-degree embedding (Σ_j R(r_ij) Y(r̂_ij) / avg_num_neighbors); the energy head
is an MLP on the scalars after a final layer norm. The interface's ``num_layers`` (receptive field in
units of r_max) is the number of blocks + 1, for the edge-degree embedding.

Differences from the reference code, chosen for MD through LAMMPS: irreps keep parity (1o, 2e; the
MD17 config uses 1e), so the energy is invariant under reflections too; the attention softmax is
weighted by the smooth cutoff, α_ij = fc(r_ij) e^{a_ij} / Σ_k fc(r_ik) e^{a_ik}, so energies stay
continuous when a neighbour crosses r_max (the original normalisation jumps); no dropout.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3

from egraff.models.botnet import gate_for

#: EGraFFBench Equiformer (graph_attention_transformer_nonlinear_exp_l2_md17): 6 blocks, node irreps
#: 128x0e+64x1e+32x2e (here 1o: parity kept), l_max 2, 4 heads of 32x0e+16x1e+8x2e, 32 exp-normal RBFs,
#: FFN 384x0e+192x1e+96x2e, 512-wide scalar head
PRESETS = {
    "paper": dict(num_layers=6, irreps_node="128x0e+64x1o+32x2e", max_ell=2, num_heads=4,
                  irreps_head="32x0e+16x1o+8x2e", attention_dim=32, num_rbf=32, radial_hidden=[64],
                  irreps_ffn="384x0e+192x1o+96x2e", head_hidden=512, avg_num_neighbors=20.0),
    "tiny": dict(num_layers=2, irreps_node="8x0e+4x1o", max_ell=1, num_heads=2, irreps_head="4x0e+2x1o",
                 attention_dim=4, num_rbf=8, radial_hidden=[16], irreps_ffn="16x0e+8x1o", head_hidden=8,
                 avg_num_neighbors=20.0),
}


def depthwise_tensor_product(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed: o3.Irreps,
                             external_weights: bool) -> Tuple[o3.TensorProduct, o3.Irreps]:
    """Channel-wise ('uvu') TP of features with spherical harmonics, outputs restricted to ``allowed``."""
    from mace.modules.irreps_tools import tp_out_irreps_with_instructions

    irreps_out, instructions = tp_out_irreps_with_instructions(irreps_in, irreps_sh, allowed)
    tp = o3.TensorProduct(irreps_in, irreps_sh, irreps_out, instructions,
                          shared_weights=not external_weights, internal_weights=not external_weights)
    return tp, irreps_out.simplify()


class ExpNormalBasis(torch.nn.Module):
    """exp(-β (e^{-α r} - μ_k)^2) · fc(r) with the cosine cutoff fc (PhysNet / ET radial basis)."""

    def __init__(self, r_max: float, num_rbf: int):
        super().__init__()
        self.r_max = float(r_max)
        self.alpha = 5.0 / self.r_max
        start = math.exp(-self.r_max * self.alpha)
        self.register_buffer("means", torch.linspace(start, 1.0, num_rbf))
        self.register_buffer("betas", torch.full((num_rbf,), (2.0 / num_rbf * (1.0 - start)) ** -2))

    def cutoff(self, r: torch.Tensor) -> torch.Tensor:
        return torch.where(r < self.r_max, 0.5 * (torch.cos(math.pi * r / self.r_max) + 1.0), torch.zeros_like(r))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        basis = torch.exp(-self.betas * (torch.exp(-self.alpha * r.unsqueeze(-1)) - self.means) ** 2)
        return basis * self.cutoff(r).unsqueeze(-1)


class EquivariantLayerNorm(torch.nn.Module):
    """Per irrep type: scalars centred and divided by their RMS over channels; l > 0 divided by the RMS
    of their channel norms; then a learned per-channel scale (and bias on scalars)."""

    def __init__(self, irreps: o3.Irreps, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.blocks: List[Tuple[int, int, int]] = [(s.start, mul, ir.dim) for (mul, ir), s in zip(irreps, irreps.slices())]
        self.scale = torch.nn.Parameter(torch.ones(irreps.num_irreps))
        num_scalars = sum(mul for mul, ir in irreps if ir.l == 0)
        self.bias = torch.nn.Parameter(torch.zeros(num_scalars))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts: List[torch.Tensor] = []
        channel, scalar = 0, 0
        for start, mul, dim in self.blocks:
            block = x[:, start:start + mul * dim].reshape(-1, mul, dim)
            if dim == 1:
                block = block - block.mean(dim=1, keepdim=True)
            norm = block.pow(2).sum(-1).mean(dim=1, keepdim=True).add(self.eps).rsqrt()
            block = block * (norm * self.scale[channel:channel + mul]).unsqueeze(-1)
            if dim == 1:
                block = block + self.bias[scalar:scalar + mul].unsqueeze(-1)
                scalar += mul
            channel += mul
            parts.append(block.reshape(-1, mul * dim))
        return torch.cat(parts, dim=1)


class EquivariantGraphAttention(torch.nn.Module):
    def __init__(self, irreps_node: o3.Irreps, irreps_sh: o3.Irreps, irreps_head: o3.Irreps, num_heads: int,
                 attention_dim: int, num_rbf: int, radial_hidden: Sequence[int]):
        super().__init__()
        irreps_value = o3.Irreps([(mul * num_heads, ir) for mul, ir in irreps_head])
        self.num_heads = num_heads
        self.attention_dim = attention_dim
        self.linear_dst = o3.Linear(irreps_node, irreps_node)
        self.linear_src = o3.Linear(irreps_node, irreps_node)
        self.tp_edge, irreps_mid = depthwise_tensor_product(irreps_node, irreps_sh, irreps_node, external_weights=True)
        self.radial = e3nn_nn.FullyConnectedNet([num_rbf, *radial_hidden, self.tp_edge.weight_numel],
                                                torch.nn.functional.silu)
        self.linear_attention = o3.Linear(irreps_mid, o3.Irreps(f"{num_heads * attention_dim}x0e"))
        self.attention_vector = torch.nn.Parameter(torch.randn(num_heads, attention_dim) / math.sqrt(attention_dim))
        self.value_gate = gate_for(irreps_value)
        self.linear_value_in = o3.Linear(irreps_mid, self.value_gate.irreps_in)
        self.tp_value, irreps_value_mid = depthwise_tensor_product(self.value_gate.irreps_out, irreps_sh, irreps_value,
                                                                   external_weights=False)
        self.linear_value_out = o3.Linear(irreps_value_mid, irreps_value)
        self.projection = o3.Linear(irreps_value, irreps_node)
        # head of every value component: channel c of a block with mul = heads * mul_head is in head c // mul_head
        heads = [torch.arange(num_heads).repeat_interleave(mul * ir.dim) for mul, ir in irreps_head]
        self.register_buffer("head_of_component", torch.cat(heads))

    def forward(self, x: torch.Tensor, edge_sh: torch.Tensor, edge_rbf: torch.Tensor, edge_cutoff: torch.Tensor,
                centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        pair = self.linear_dst(x).index_select(0, centre) + self.linear_src(x).index_select(0, neighbour)
        features = self.tp_edge(pair, edge_sh, self.radial(edge_rbf))

        logits = torch.nn.functional.leaky_relu(self.linear_attention(features), 0.2)
        logits = (logits.reshape(-1, self.num_heads, self.attention_dim) * self.attention_vector).sum(-1)
        # softmax over each centre's neighbours, weighted by the smooth cutoff; the per-centre maximum
        # only keeps exp() finite and cancels exactly
        num_nodes = x.shape[0]
        largest = logits.new_zeros((num_nodes, self.num_heads)).scatter_reduce(
            0, centre.unsqueeze(1).expand_as(logits), logits.detach(), "amax", include_self=False)
        weights = edge_cutoff.unsqueeze(1) * torch.exp(logits - largest.index_select(0, centre))
        totals = weights.new_zeros((num_nodes, self.num_heads)).index_add(0, centre, weights)
        attention = weights / totals.index_select(0, centre)

        values = self.linear_value_out(self.tp_value(self.value_gate(self.linear_value_in(features)), edge_sh))
        messages = values * attention[:, self.head_of_component]
        summed = messages.new_zeros((num_nodes, messages.shape[1])).index_add(0, centre, messages)
        return self.projection(summed)


class FeedForward(torch.nn.Module):
    def __init__(self, irreps_node: o3.Irreps, irreps_hidden: o3.Irreps):
        super().__init__()
        self.gate = gate_for(irreps_hidden)
        self.linear_in = o3.Linear(irreps_node, self.gate.irreps_in)
        self.linear_out = o3.Linear(self.gate.irreps_out, irreps_node)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_out(self.gate(self.linear_in(x)))


class EquiformerBlock(torch.nn.Module):
    def __init__(self, irreps_node: o3.Irreps, irreps_sh: o3.Irreps, irreps_head: o3.Irreps, num_heads: int,
                 attention_dim: int, num_rbf: int, radial_hidden: Sequence[int], irreps_ffn: o3.Irreps):
        super().__init__()
        self.norm_attention = EquivariantLayerNorm(irreps_node)
        self.attention = EquivariantGraphAttention(irreps_node, irreps_sh, irreps_head, num_heads, attention_dim,
                                                   num_rbf, radial_hidden)
        self.norm_ffn = EquivariantLayerNorm(irreps_node)
        self.ffn = FeedForward(irreps_node, irreps_ffn)

    def forward(self, x: torch.Tensor, edge_sh: torch.Tensor, edge_rbf: torch.Tensor, edge_cutoff: torch.Tensor,
                centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm_attention(x), edge_sh, edge_rbf, edge_cutoff, centre, neighbour)
        return x + self.ffn(self.norm_ffn(x))


class EquiformerBody(torch.nn.Module):
    def __init__(self, num_types: int, r_max: float, num_layers: int, irreps_node: str, max_ell: int, num_heads: int,
                 irreps_head: str, attention_dim: int, num_rbf: int, radial_hidden: Sequence[int], irreps_ffn: str,
                 head_hidden: int, avg_num_neighbors: float):
        super().__init__()
        node = o3.Irreps(irreps_node)
        irreps_sh = o3.Irreps.spherical_harmonics(max_ell)
        num_scalars = sum(mul for mul, ir in node if ir.l == 0)
        self.num_types = num_types
        self.inverse_avg_neighbors = 1.0 / float(avg_num_neighbors)
        self.spherical_harmonics = o3.SphericalHarmonics(irreps_sh, normalize=True, normalization="component")
        self.rbf = ExpNormalBasis(r_max, num_rbf)
        self.atom_embedding = o3.Linear(o3.Irreps(f"{num_types}x0e"), node)
        # edge-degree embedding: Σ_j R(r_ij) ⊗ Y(r̂_ij) on a constant scalar channel per feature
        self.degree_tp, irreps_degree = depthwise_tensor_product(o3.Irreps(f"{num_scalars}x0e"), irreps_sh, node,
                                                                 external_weights=True)
        self.degree_radial = e3nn_nn.FullyConnectedNet([num_rbf, *radial_hidden, self.degree_tp.weight_numel],
                                                       torch.nn.functional.silu)
        self.degree_linear = o3.Linear(irreps_degree, node)
        self.blocks = torch.nn.ModuleList([
            EquiformerBlock(node, irreps_sh, o3.Irreps(irreps_head), num_heads, attention_dim, num_rbf, radial_hidden,
                            o3.Irreps(irreps_ffn)) for _ in range(num_layers)])
        self.norm_out = EquivariantLayerNorm(node)
        self.num_scalars = num_scalars
        self.head = e3nn_nn.FullyConnectedNet([num_scalars, head_hidden, 1], torch.nn.functional.silu)

    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor) -> torch.Tensor:
        centre, neighbour = edge_index[0], edge_index[1]
        lengths = torch.linalg.vector_norm(edge_vectors, dim=1)
        edge_sh = self.spherical_harmonics(edge_vectors)
        edge_rbf = self.rbf(lengths)
        edge_cutoff = self.rbf.cutoff(lengths)
        species = torch.nn.functional.one_hot(atom_types, self.num_types).to(edge_vectors.dtype)
        x = self.atom_embedding(species)
        ones = edge_vectors.new_ones((edge_vectors.shape[0], self.num_scalars))
        degree = self.degree_tp(ones, edge_sh, self.degree_radial(edge_rbf))
        x = x + self.degree_linear(x.new_zeros((x.shape[0], degree.shape[1])).index_add(0, centre, degree)
                                   * self.inverse_avg_neighbors)
        for block in self.blocks:
            x = block(x, edge_sh, edge_rbf, edge_cutoff, centre, neighbour)
        scalars = self.norm_out(x)[:, : self.num_scalars]  # node irreps list the scalars first
        return self.head(scalars).squeeze(-1)


def build_body(type_names: Sequence[str], r_max: float, **params):
    node = o3.Irreps(params["irreps_node"])
    if node[0].ir.l != 0 or any(ir.l == 0 for _, ir in node[1:]):
        raise ValueError(f"irreps_node must list its scalars (0e) first and once, got {params['irreps_node']}")
    # the edge-degree embedding already sums over neighbours: one hop before the attention blocks
    return EquiformerBody(len(type_names), r_max, **params), int(params["num_layers"]) + 1
