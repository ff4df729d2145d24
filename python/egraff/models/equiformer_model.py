"""Equiformer (Liao & Smidt, ICLR 2023) as EGraFFBench ran it: ``graph_attention_transformer_nonlinear_exp_l2_md17``
of atomicarchitects/equiformer (vendored unchanged in MDBENCHGNN, run with ``--num-basis 32``), written on
e3nn, with energy-conserving forces (the energy is a function of the edge vectors; forces by autograd).

Blocks, each following the reference's definition (its file in parentheses):

* equivariant linear maps with the reference's "rescaled" parametrisation (``tensor_product_rescale.py``
  ``LinearRS``): ``W x + b``, no normalisation in the forward pass, weights drawn N(0, 1/fan_in), biases
  on the 0e outputs only;
* exp-normal radial basis times the cosine cutoff (``ExpNormalSmearing``, from TorchMD-Net);
* radial network (``radial_func.py`` ``RadialProfile``): for hidden widths [64, 64], Linear+bias →
  LayerNorm → SiLU per hidden layer, then a bias-free Linear plus a learned offset;
* depth-wise tensor products of features with the spherical harmonics (``DepthwiseTensorProduct``: one
  'uvu' path per allowed output irrep, outputs sorted by l, even parity first);
* equivariant layer norm (``layer_norm.py`` ``EquivariantLayerNormV2``, 'component' normalisation: the
  mean square over each irrep's components and channels; 0e channels centred first; per-channel scale,
  bias on 0e);
* attention (``GraphAttention`` with ``nonlinear_message=True``): x_ij = L_src x_j + L_dst x_i (only
  L_src has a bias); a depth-wise TP weighted by the radial network gives f_ij; attention logits
  a_ij = Σ_k w_hk SmoothLeakyReLU(L_alpha f_ij)_k with SmoothLeakyReLU(x) = (1+α)/2 x + (1−α)/2 x (2σ(x)−1),
  α = 0.2, normalised to unit second moment (``fast_activation.py`` ``Activation``); values = L(DTP(Gate(L f_ij)));
  the update Σ_j α_ij v_ij (per head), projected;
* feed-forward network: Linear → swish gate → Linear (``FeedForwardNetwork``; the reference's tensor
  products with the constant node attribute 1x0e are these linear maps);
* blocks ``x += Attention(LN(x)); x = S(x) + FFN(LN(x))`` (``TransBlock``), where the last block maps to
  the 512x0e feature irreps through FFN and the linear shortcut S (identity elsewhere);
* edge-degree embedding (``EdgeDegreeEmbeddingNetwork``): a constant feature through a radial-weighted
  depth-wise TP, projected, summed over neighbours and divided by sqrt(avg_degree);
* head: LN → Linear → SiLU (unit second moment) → Linear to one scalar per atom, divided by
  sqrt(avg_num_nodes) (``ScaledScatter``). ``avg_degree`` and ``avg_num_nodes`` keep the reference's
  fixed QM9 statistics (15.58 and 18.03), as the study did, rather than the training data's.

Deviations from the reference, each needed for MD through LAMMPS or by egraff's interface:

* irreps carry parity (1o, 2e and spherical harmonics 0e+1o+2e; the reference labels them 0e+1e+2e), so the
  energy is also invariant under reflections; it drops the tensor-product paths that parity forbids
  (the ``paper`` preset has fewer parameters than the reference's 3,496,001 for that reason alone:
  with ``irreps_sh``/irreps labelled as the reference's, the count is the reference's,
  tests/models/test_parameter_counts.py);
* the attention softmax is weighted by the smooth cutoff fc, α_ij = fc_ij e^{a_ij} / Σ_k fc_ik e^{a_ik},
  and every per-edge contribution (attention message, edge-degree term) is multiplied by fc_ij as well:
  the reference's radial network and linear maps have biases, so its edge terms are not zero at r_max and
  its energy jumps when a neighbour crosses the cutoff (a single neighbour even gets α = 1 whatever fc);
* atoms are embedded from a one-hot of egraff's types (the reference: a one-hot over atomic numbers < 64,
  of which only the dataset's elements ever receive a gradient: (64 − num_types) x 128 unused weights);
* the reference standardises the total energy with the training set's mean and standard deviation; egraff's
  ``EnergyModel`` holds an energy scale and per-species shifts instead (identical for fixed composition);
* no dropout (the MD17 configuration has none either: alpha_drop = proj_drop = drop_path = 0).

The interface's ``num_layers`` (receptive field in units of r_max) is the number of blocks + 1, for the
edge-degree embedding.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3

#: EGraFFBench Equiformer (scripts/train/equiformer/*/*.sh: graph_attention_transformer_nonlinear_exp_l2_md17,
#: --num-basis 32, radius 5): 6 blocks, node irreps 128x0e+64x1e+32x2e (here 1o: parity kept), spherical
#: harmonics up to l = 2, 4 heads of 32x0e+16x1e+8x2e, FFN 384x0e+192x1e+96x2e, radial network [64, 64],
#: 512x0e features before the energy head, QM9 statistics for the degree and node-count normalisations
PRESETS = {
    "paper": dict(num_layers=6, irreps_node="128x0e+64x1o+32x2e", irreps_sh="1x0e+1x1o+1x2e", num_heads=4,
                  irreps_head="32x0e+16x1o+8x2e", irreps_mlp_mid="384x0e+192x1o+96x2e", irreps_feature="512x0e",
                  num_rbf=32, radial_hidden=[64, 64], avg_degree=15.57930850982666,
                  avg_num_nodes=18.03065905448718),
    "tiny": dict(num_layers=2, irreps_node="8x0e+4x1o", irreps_sh="1x0e+1x1o", num_heads=2,
                 irreps_head="4x0e+2x1o", irreps_mlp_mid="16x0e+8x1o", irreps_feature="8x0e",
                 num_rbf=8, radial_hidden=[16], avg_degree=15.57930850982666, avg_num_nodes=18.03065905448718),
}

SCALAR = o3.Irrep("0e")
#: negative slope of the attention's smooth leaky ReLU (reference: SmoothLeakyReLU(0.2))
ATTENTION_SLOPE = 0.2


def sorted_even_first(irreps: o3.Irreps) -> Tuple[o3.Irreps, List[int]]:
    """``irreps`` sorted by l, even parity before odd, stable; and the new position of each old entry."""
    order = sorted(range(len(irreps)), key=lambda k: (irreps[k].ir.l, -irreps[k].ir.p, k))
    position = [0] * len(irreps)
    for new, old in enumerate(order):
        position[old] = new
    return o3.Irreps([irreps[k] for k in order]), position


class ScaledActivation(torch.nn.Module):
    """``f`` times the constant that gives it unit second moment on N(0, 1) inputs (e3nn's normalize2mom)."""

    def __init__(self, f: torch.nn.Module):
        super().__init__()
        from e3nn.math import normalize2mom

        self.f = f
        self.scale = float(normalize2mom(f).cst)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.f(x)


class SmoothLeakyReLU(torch.nn.Module):
    """(1+α)/2 x + (1−α)/2 x (2σ(x) − 1): leaky-ReLU-like, infinitely differentiable (no kink at 0)."""

    def __init__(self, negative_slope: float = ATTENTION_SLOPE):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.negative_slope
        return 0.5 * (1.0 + a) * x + 0.5 * (1.0 - a) * x * (2.0 * torch.sigmoid(x) - 1.0)


class RescaledLinear(torch.nn.Module):
    """Equivariant ``W x + b``: every input irrep block to every output block of the same irrep, weights
    N(0, 1/fan_in) per output block, no normalisation in the forward pass, biases on 0e outputs."""

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, bias: bool = True):
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        instructions = [(i, 0, k, "uvw", True) for i, (_, ir_in) in enumerate(self.irreps_in)
                        for k, (_, ir_out) in enumerate(self.irreps_out) if ir_in == ir_out]
        self.tp = o3.TensorProduct(self.irreps_in, o3.Irreps("1x0e"), self.irreps_out, instructions,
                                   path_normalization="none", internal_weights=True, shared_weights=True)
        fan_in = [0] * len(self.irreps_out)
        for ins in self.tp.instructions:
            fan_in[ins.i_out] += self.irreps_in[ins.i_in1].mul
        with torch.no_grad():
            for weight, ins in zip(self.tp.weight_views(), self.tp.instructions):
                weight.mul_(fan_in[ins.i_out] ** -0.5)
        positions = [torch.arange(s.start, s.stop) for (_, ir), s in zip(self.irreps_out, self.irreps_out.slices())
                     if ir == SCALAR] if bias else []
        self.register_buffer("bias_index", torch.cat(positions) if positions else torch.zeros(0, dtype=torch.int64))
        self.bias = torch.nn.Parameter(torch.zeros(len(self.bias_index))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.tp(x, x.new_ones((x.shape[0], 1)))
        if self.bias is not None:
            out = out.index_add(1, self.bias_index, self.bias.expand(x.shape[0], -1))
        return out


def depthwise_tensor_product(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed: o3.Irreps,
                             internal_weights: bool) -> o3.TensorProduct:
    """Channel-wise ('uvu') TP of features with spherical harmonics: one path for each product irrep that
    is in ``allowed`` or is 0e; outputs sorted by l, even first (reference ``DepthwiseTensorProduct``)."""
    outputs, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in allowed or ir_out == SCALAR:
                    instructions.append((i, j, len(outputs), "uvu", True))
                    outputs.append((mul, ir_out))
    irreps_out, position = sorted_even_first(o3.Irreps(outputs))
    instructions = [(i, j, position[k], mode, train) for i, j, k, mode, train in instructions]
    return o3.TensorProduct(irreps_in, irreps_sh, irreps_out, instructions, path_normalization="none",
                            internal_weights=internal_weights, shared_weights=internal_weights)


class RadialNetwork(torch.nn.Module):
    """Reference ``RadialProfile``: [Linear + bias, LayerNorm, SiLU] per hidden width, a bias-free Linear
    to the output, plus a learned offset (initialised uniform in ±1/sqrt(last hidden width))."""

    def __init__(self, widths: Sequence[int]):
        super().__init__()
        layers: List[torch.nn.Module] = []
        for k in range(1, len(widths) - 1):
            layers += [torch.nn.Linear(widths[k - 1], widths[k]), torch.nn.LayerNorm(widths[k]), torch.nn.SiLU()]
        layers.append(torch.nn.Linear(widths[-2], widths[-1], bias=False))
        self.net = torch.nn.Sequential(*layers)
        bound = 1.0 / math.sqrt(widths[-2])
        self.offset = torch.nn.Parameter(torch.empty(widths[-1]).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) + self.offset


class EquivariantLayerNorm(torch.nn.Module):
    """Reference ``EquivariantLayerNormV2`` ('component'): per irrep block, 0e channels centred, then the
    block divided by sqrt(mean over channels and components of x² + eps), times a per-channel scale;
    0e channels get a bias."""

    def __init__(self, irreps: o3.Irreps, eps: float = 1e-5):
        super().__init__()
        irreps = o3.Irreps(irreps)
        self.eps = eps
        self.blocks: List[Tuple[int, int, int, bool]] = [(s.start, mul, ir.dim, ir == SCALAR)
                                                         for (mul, ir), s in zip(irreps, irreps.slices())]
        self.weight = torch.nn.Parameter(torch.ones(irreps.num_irreps))
        self.bias = torch.nn.Parameter(torch.zeros(sum(mul for mul, ir in irreps if ir == SCALAR)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts: List[torch.Tensor] = []
        channel, scalar = 0, 0
        for start, mul, dim, is_scalar in self.blocks:
            block = x[:, start:start + mul * dim].reshape(-1, mul, dim)
            if is_scalar:
                block = block - block.mean(dim=1, keepdim=True)
            inverse_rms = block.pow(2).mean(dim=(1, 2), keepdim=True).add(self.eps).rsqrt()
            block = block * inverse_rms * self.weight[channel:channel + mul].reshape(1, mul, 1)
            if is_scalar:
                block = block + self.bias[scalar:scalar + mul].reshape(1, mul, 1)
                scalar += mul
            channel += mul
            parts.append(block.reshape(-1, mul * dim))
        return torch.cat(parts, dim=1)


def swish_gate(irreps: o3.Irreps) -> e3nn_nn.Gate:
    """Gate producing ``irreps``: SiLU on its 0e channels, each other irrep times a sigmoid 0e gate."""
    scalars = o3.Irreps([(mul, ir) for mul, ir in irreps if ir == SCALAR]).simplify()
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps if ir != SCALAR]).simplify()
    gates = o3.Irreps([(gated.num_irreps, "0e")]) if gated.num_irreps else o3.Irreps("")
    return e3nn_nn.Gate(scalars, [torch.nn.functional.silu] * len(scalars),
                        gates, [torch.sigmoid] * len(gates), gated)


class ExpNormalBasis(torch.nn.Module):
    """exp(−β (e^{−α r} − μ_k)²) · fc(r), α = 5 / r_max, μ_k evenly spaced in [e^{−r_max}, 1], with the
    cosine cutoff fc (reference ``ExpNormalSmearing``, after TorchMD-Net and PhysNet)."""

    def __init__(self, r_max: float, num_rbf: int):
        super().__init__()
        self.r_max = float(r_max)
        self.alpha = 5.0 / self.r_max
        start = math.exp(-self.r_max)
        self.register_buffer("means", torch.linspace(start, 1.0, num_rbf))
        self.register_buffer("betas", torch.full((num_rbf,), (2.0 / num_rbf * (1.0 - start)) ** -2))

    def cutoff(self, r: torch.Tensor) -> torch.Tensor:
        return torch.where(r < self.r_max, 0.5 * (torch.cos(math.pi * r / self.r_max) + 1.0), torch.zeros_like(r))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        basis = torch.exp(-self.betas * (torch.exp(-self.alpha * r.unsqueeze(-1)) - self.means) ** 2)
        return basis * self.cutoff(r).unsqueeze(-1)


class GraphAttention(torch.nn.Module):
    """Reference ``GraphAttention`` (nonlinear messages), with the cutoff-weighted softmax (module docstring)."""

    def __init__(self, irreps_node: o3.Irreps, irreps_sh: o3.Irreps, irreps_head: o3.Irreps, num_heads: int,
                 radial_widths: Sequence[int]):
        super().__init__()
        heads_irreps = sorted_even_first(o3.Irreps([(mul * num_heads, ir) for mul, ir in irreps_head]))[0].simplify()
        if o3.Irreps([(mul * num_heads, ir) for mul, ir in irreps_head]) != heads_irreps:
            raise ValueError(f"irreps_head must be sorted by l, even parity first, each irrep once; got {irreps_head}")
        self.num_heads = num_heads
        alpha_per_head = sum(mul for mul, ir in irreps_head if ir == SCALAR)
        self.merge_src = RescaledLinear(irreps_node, irreps_node, bias=True)
        self.merge_dst = RescaledLinear(irreps_node, irreps_node, bias=False)
        self.tp_message = depthwise_tensor_product(irreps_node, irreps_sh, irreps_node, internal_weights=False)
        self.radial = RadialNetwork([*radial_widths, self.tp_message.weight_numel])
        self.gate = swish_gate(irreps_node)
        self.linear_gate = RescaledLinear(self.tp_message.irreps_out.simplify(), self.gate.irreps_in)
        self.linear_alpha = RescaledLinear(self.tp_message.irreps_out, o3.Irreps(f"{alpha_per_head * num_heads}x0e"))
        self.alpha_activation = ScaledActivation(SmoothLeakyReLU(ATTENTION_SLOPE))
        self.alpha_dot = torch.nn.Parameter(torch.empty(num_heads, alpha_per_head))
        bound = math.sqrt(6.0 / (num_heads + alpha_per_head))  # Glorot, as the reference (after GATv2)
        torch.nn.init.uniform_(self.alpha_dot, -bound, bound)
        self.tp_value = depthwise_tensor_product(self.gate.irreps_out, irreps_sh, heads_irreps, internal_weights=True)
        self.linear_value = RescaledLinear(self.tp_value.irreps_out.simplify(), heads_irreps)
        self.projection = RescaledLinear(heads_irreps, irreps_node)
        # head of each value component: a block of mul * heads channels holds head h's mul channels at h * mul
        heads = [torch.arange(num_heads).repeat_interleave(mul * ir.dim) for mul, ir in irreps_head]
        self.register_buffer("head_of_component", torch.cat(heads))

    def forward(self, x: torch.Tensor, edge_sh: torch.Tensor, edge_rbf: torch.Tensor, edge_cutoff: torch.Tensor,
                centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        message = self.merge_src(x).index_select(0, neighbour) + self.merge_dst(x).index_select(0, centre)
        message = self.tp_message(message, edge_sh, self.radial(edge_rbf))
        logits = self.alpha_activation(self.linear_alpha(message)).reshape(-1, self.num_heads, self.alpha_dot.shape[1])
        logits = (logits * self.alpha_dot).sum(-1)
        # softmax over each centre's neighbours, weighted by the smooth cutoff; the per-centre maximum
        # only keeps exp() finite and cancels exactly
        num_nodes = x.shape[0]
        largest = logits.new_zeros((num_nodes, self.num_heads)).scatter_reduce(
            0, centre.unsqueeze(1).expand_as(logits), logits.detach(), "amax", include_self=False)
        weights = edge_cutoff.unsqueeze(1) * torch.exp(logits - largest.index_select(0, centre))
        totals = weights.new_zeros((num_nodes, self.num_heads)).index_add(0, centre, weights)
        attention = weights / totals.index_select(0, centre) * edge_cutoff.unsqueeze(1)

        values = self.linear_value(self.tp_value(self.gate(self.linear_gate(message)), edge_sh))
        messages = values * attention[:, self.head_of_component]
        summed = messages.new_zeros((num_nodes, messages.shape[1])).index_add(0, centre, messages)
        return self.projection(summed)


class FeedForward(torch.nn.Module):
    def __init__(self, irreps_in: o3.Irreps, irreps_mid: o3.Irreps, irreps_out: o3.Irreps):
        super().__init__()
        self.gate = swish_gate(irreps_mid)
        self.linear_in = RescaledLinear(irreps_in, self.gate.irreps_in)
        self.linear_out = RescaledLinear(self.gate.irreps_out, irreps_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_out(self.gate(self.linear_in(x)))


class EquiformerBlock(torch.nn.Module):
    """``x += Attention(LN(x)); x = shortcut(x) + FFN(LN(x))``; the shortcut is linear when the block
    changes the irreps (the last block, to the scalar features), the identity otherwise."""

    def __init__(self, irreps_node: o3.Irreps, irreps_out: o3.Irreps, irreps_sh: o3.Irreps, irreps_head: o3.Irreps,
                 num_heads: int, radial_widths: Sequence[int], irreps_mlp_mid: o3.Irreps):
        super().__init__()
        self.norm_attention = EquivariantLayerNorm(irreps_node)
        self.attention = GraphAttention(irreps_node, irreps_sh, irreps_head, num_heads, radial_widths)
        self.norm_ffn = EquivariantLayerNorm(irreps_node)
        self.ffn = FeedForward(irreps_node, irreps_mlp_mid, irreps_out)
        self.shortcut = RescaledLinear(irreps_node, irreps_out) if irreps_out != irreps_node else torch.nn.Identity()

    def forward(self, x: torch.Tensor, edge_sh: torch.Tensor, edge_rbf: torch.Tensor, edge_cutoff: torch.Tensor,
                centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm_attention(x), edge_sh, edge_rbf, edge_cutoff, centre, neighbour)
        return self.shortcut(x) + self.ffn(self.norm_ffn(x))


class EdgeDegreeEmbedding(torch.nn.Module):
    """Σ_j fc(r_ij) P(DTP(c, Y(r̂_ij); R(r_ij))) / sqrt(avg_degree) with a learned constant feature c."""

    def __init__(self, irreps_node: o3.Irreps, irreps_sh: o3.Irreps, radial_widths: Sequence[int], avg_degree: float):
        super().__init__()
        self.constant = RescaledLinear(o3.Irreps("1x0e"), irreps_node)
        self.tp = depthwise_tensor_product(irreps_node, irreps_sh, irreps_node, internal_weights=False)
        self.radial = RadialNetwork([*radial_widths, self.tp.weight_numel])
        self.projection = RescaledLinear(self.tp.irreps_out.simplify(), irreps_node)
        self.inverse_sqrt_degree = float(avg_degree) ** -0.5

    def forward(self, num_nodes: int, edge_sh: torch.Tensor, edge_rbf: torch.Tensor, edge_cutoff: torch.Tensor,
                centre: torch.Tensor) -> torch.Tensor:
        constant = self.constant(edge_sh.new_ones((edge_sh.shape[0], 1)))
        edges = self.projection(self.tp(constant, edge_sh, self.radial(edge_rbf))) * edge_cutoff.unsqueeze(1)
        summed = edges.new_zeros((num_nodes, edges.shape[1])).index_add(0, centre, edges)
        return summed * self.inverse_sqrt_degree


class EquiformerBody(torch.nn.Module):
    def __init__(self, num_types: int, r_max: float, num_layers: int, irreps_node: str, irreps_sh: str, num_heads: int,
                 irreps_head: str, irreps_mlp_mid: str, irreps_feature: str, num_rbf: int,
                 radial_hidden: Sequence[int], avg_degree: float, avg_num_nodes: float):
        super().__init__()
        node, sh, feature = o3.Irreps(irreps_node), o3.Irreps(irreps_sh), o3.Irreps(irreps_feature)
        if any(ir != SCALAR for _, ir in feature):
            raise ValueError(f"irreps_feature must be scalars (0e) only: the energy head reads them; got {feature}")
        radial_widths = [num_rbf, *radial_hidden]
        self.num_types = num_types
        self.spherical_harmonics = o3.SphericalHarmonics(sh, normalize=True, normalization="component")
        self.rbf = ExpNormalBasis(r_max, num_rbf)
        self.atom_embedding = RescaledLinear(o3.Irreps(f"{num_types}x0e"), node)
        with torch.no_grad():  # one-hot inputs: unit-variance embeddings, as the reference
            self.atom_embedding.tp.weight.mul_(num_types ** 0.5)
        self.degree_embedding = EdgeDegreeEmbedding(node, sh, radial_widths, avg_degree)
        self.blocks = torch.nn.ModuleList([
            EquiformerBlock(node, feature if k == num_layers - 1 else node, sh, o3.Irreps(irreps_head), num_heads,
                            radial_widths, o3.Irreps(irreps_mlp_mid)) for k in range(num_layers)])
        self.norm = EquivariantLayerNorm(feature)
        self.head_in = RescaledLinear(feature, feature)
        self.head_activation = ScaledActivation(torch.nn.SiLU())
        self.head_out = RescaledLinear(feature, o3.Irreps("1x0e"))
        self.inverse_sqrt_nodes = float(avg_num_nodes) ** -0.5

    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor) -> torch.Tensor:
        centre, neighbour = edge_index[0], edge_index[1]
        lengths = torch.linalg.vector_norm(edge_vectors, dim=1)
        edge_sh = self.spherical_harmonics(edge_vectors)
        edge_rbf = self.rbf(lengths)
        edge_cutoff = self.rbf.cutoff(lengths)
        species = torch.nn.functional.one_hot(atom_types, self.num_types).to(edge_vectors.dtype)
        x = self.atom_embedding(species) + self.degree_embedding(atom_types.shape[0], edge_sh, edge_rbf, edge_cutoff,
                                                                 centre)
        for block in self.blocks:
            x = block(x, edge_sh, edge_rbf, edge_cutoff, centre, neighbour)
        energy = self.head_out(self.head_activation(self.head_in(self.norm(x))))
        return energy.squeeze(-1) * self.inverse_sqrt_nodes


def build_body(type_names: Sequence[str], r_max: float, **params):
    # the edge-degree embedding already sums over neighbours: one hop before the attention blocks
    return EquiformerBody(len(type_names), r_max, **params), int(params["num_layers"]) + 1
