"""Equiformer's blocks against the reference's definitions (atomicarchitects/equiformer ``nets/``): the attention
activation, the radial network, the rescaled linear maps, the layer norm and the energy head."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from e3nn import o3

from egraff.models import build
from egraff.models.equiformer_model import (EquivariantLayerNorm, RadialNetwork, RescaledLinear, ScaledActivation,
                                            SmoothLeakyReLU)

from .conftest import R_MAX, TYPE_NAMES, molecule


def derivatives(f, x: torch.Tensor):
    """First and second derivatives of an elementwise function at the points ``x``."""
    x = x.clone().requires_grad_(True)
    (first,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)
    return first.detach(), second


def test_attention_activation_is_smooth():
    """fast_activation + graph_attention_transformer.py SmoothLeakyReLU(0.2): slopes 1 and 0.2 far from 0 like
    a leaky ReLU, but the first and second derivatives are continuous at 0 (LeakyReLU's slope jumps by 0.8 there,
    which puts kinks into the forces)."""
    smooth = SmoothLeakyReLU(0.2)
    x = torch.tensor([-1e-6, 1e-6, -20.0, 20.0], dtype=torch.float64)
    first, second = derivatives(smooth, x)
    assert abs(first[1] - first[0]) <= 1e-6 and abs(second[1] - second[0]) <= 1e-6
    assert first[2] == pytest.approx(0.2, abs=1e-6) and first[3] == pytest.approx(1.0, abs=1e-6)
    assert second[0] == pytest.approx(0.4, abs=1e-5)  # (1 - α) σ'(0) * 2: curved at 0, not a kink
    leaky, _ = derivatives(lambda t: torch.nn.functional.leaky_relu(t, 0.2), x[:2])
    assert abs(leaky[1] - leaky[0]) == pytest.approx(0.8)


def test_scaled_activation_has_unit_second_moment():
    """e3nn's normalize2mom, as the reference's Activation applies it: E[(c f(z))²] = 1 for z ~ N(0, 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    weights = weights / math.sqrt(2 * math.pi)
    for f in (SmoothLeakyReLU(0.2), torch.nn.SiLU()):
        scaled = ScaledActivation(f)
        values = scaled(torch.tensor(nodes)).numpy()
        assert float(np.sum(weights * values**2)) == pytest.approx(1.0, abs=1e-2)  # e3nn estimates c by sampling
        assert scaled.scale != pytest.approx(1.0, abs=0.05)


def test_the_model_uses_the_smooth_activation():
    body = build("equiformer", TYPE_NAMES, R_MAX).body
    assert all(isinstance(block.attention.alpha_activation.f, SmoothLeakyReLU) for block in body.blocks)
    assert body.blocks[0].attention.alpha_activation.f.negative_slope == 0.2


def test_radial_network_is_the_reference_profile():
    """radial_func.py RadialProfile([32, 64, 64, n]): Linear(+bias) → LayerNorm → SiLU twice, a Linear without
    bias, plus a learned offset; its output weights the message tensor product."""
    torch.manual_seed(1)
    net = RadialNetwork([32, 64, 64, 10]).double()
    kinds = [(type(m).__name__, getattr(m, "bias", None) is not None) for m in net.net]
    assert kinds == [("Linear", True), ("LayerNorm", True), ("SiLU", False), ("Linear", True), ("LayerNorm", True),
                     ("SiLU", False), ("Linear", False)]
    assert net.offset.shape == (10,) and float(net.offset.detach().abs().max()) <= 1 / 8
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(7, 32, dtype=torch.float64)
    f = torch.nn.functional
    expected = x
    for linear, norm in ((net.net[0], net.net[1]), (net.net[3], net.net[4])):
        expected = f.silu(f.layer_norm(f.linear(expected, linear.weight, linear.bias), (64,), norm.weight, norm.bias))
    expected = f.linear(expected, net.net[6].weight) + net.offset
    assert torch.allclose(net(x), expected, rtol=0, atol=1e-12)
    attention = build("equiformer", TYPE_NAMES, R_MAX).body.blocks[0].attention
    assert attention.radial.net[-1].out_features == attention.tp_message.weight_numel


def test_rescaled_linear_is_affine_with_fan_in_initialisation():
    """tensor_product_rescale.py LinearRS: out = W x (+ b on 0e outputs), no factor in the forward pass, W drawn
    with standard deviation 1/sqrt(fan_in)."""
    torch.manual_seed(2)
    irreps_in, irreps_out = o3.Irreps("200x0e+3x1o+1x0e"), o3.Irreps("50x0e+2x1o")
    linear = RescaledLinear(irreps_in, irreps_out).double()
    views = [v.detach().reshape(v.shape[0], v.shape[-1]) for v in linear.tp.weight_views()]  # [mul_in, mul_out]
    assert float(views[0].std()) == pytest.approx(201 ** -0.5, rel=0.05)  # fan_in of 50x0e: 200 + 1 channels
    with torch.no_grad():
        linear.bias.normal_()
    x = irreps_in.randn(4, -1, dtype=torch.float64)
    scalars = torch.cat([x[:, :200], x[:, 209:]], dim=1) @ torch.cat([views[0], views[2]]) + linear.bias
    vectors = torch.einsum("nui,uw->nwi", x[:, 200:209].reshape(4, 3, 3), views[1]).reshape(4, 6)
    assert torch.allclose(linear(x), torch.cat([scalars, vectors], dim=1), rtol=0, atol=1e-12)


def test_layer_norm_is_the_component_normalisation():
    """layer_norm.py EquivariantLayerNormV2(normalization='component'): per irrep block, 0e centred over its
    channels, divided by sqrt(mean over channels and components of x² + eps), scaled per channel, 0e biased;
    the result is equivariant."""
    torch.manual_seed(3)
    irreps = o3.Irreps("3x0e+2x1o+2x2e+2x0e")
    norm = EquivariantLayerNorm(irreps).double()
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = irreps.randn(5, -1, dtype=torch.float64)
    expected, channel, scalar = [], 0, 0
    for (mul, ir), part in zip(irreps, x.split([mul * ir.dim for mul, ir in irreps], dim=1)):
        field = part.reshape(5, mul, ir.dim)
        if ir == o3.Irrep("0e"):
            field = field - field.mean(dim=1, keepdim=True)
        field = field / torch.sqrt(field.pow(2).mean(dim=-1).mean(dim=1, keepdim=True) + 1e-5).unsqueeze(-1)
        field = field * norm.weight[channel:channel + mul].reshape(1, mul, 1)
        if ir == o3.Irrep("0e"):
            field = field + norm.bias[scalar:scalar + mul].reshape(1, mul, 1)
            scalar += mul
        channel += mul
        expected.append(field.reshape(5, -1))
    assert torch.allclose(norm(x), torch.cat(expected, dim=1), rtol=0, atol=1e-12)
    rotation = irreps.D_from_matrix(o3.rand_matrix(dtype=torch.float64))
    assert torch.allclose(norm(x @ rotation.T), norm(x) @ rotation.T, rtol=0, atol=1e-12)


def test_last_block_and_energy_head():
    """The last block maps to the scalar features through its FFN plus a linear shortcut (the others keep their
    irreps); the energy per atom is Linear(SiLU(Linear(LN(features)))) / sqrt(avg_num_nodes)."""
    from egraff.data.graph import atoms_graph

    torch.manual_seed(4)
    model = build("equiformer", TYPE_NAMES, R_MAX)
    body, params = model.body, model.hyperparameters
    feature = o3.Irreps(params["irreps_feature"])
    assert all(isinstance(block.shortcut, torch.nn.Identity) for block in body.blocks[:-1])
    last = body.blocks[-1]
    assert isinstance(last.shortcut, RescaledLinear) and last.shortcut.irreps_out == feature
    assert last.ffn.linear_out.irreps_out == feature and body.head_out.irreps_out == o3.Irreps("1x0e")

    captured = {}
    body.norm.register_forward_hook(lambda module, inputs, output: captured.update(features=inputs[0]))
    last.norm_ffn.register_forward_hook(lambda module, inputs, output: captured.update(after_attention=inputs[0]))
    graph = atoms_graph(molecule(), TYPE_NAMES, R_MAX)
    energy = body(torch.tensor(graph.edge_vectors), torch.tensor(graph.edge_index), torch.tensor(graph.atom_types))
    features, after_attention = captured["features"], captured["after_attention"]
    assert features.shape[1] == feature.dim
    # TransBlock: x' = x + attention; out = shortcut(x') + FFN(LN(x'))
    expected_features = last.shortcut(after_attention) + last.ffn(last.norm_ffn(after_attention))
    assert torch.allclose(features, expected_features, rtol=0, atol=1e-14)
    assert float(last.shortcut(after_attention).abs().max()) > 1e-3
    silu = ScaledActivation(torch.nn.SiLU())
    expected = body.head_out(silu(body.head_in(body.norm(features)))).squeeze(-1) / math.sqrt(params["avg_num_nodes"])
    assert torch.allclose(energy, expected, rtol=0, atol=1e-14)
