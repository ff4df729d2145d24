"""NequIP (nequip 0.19.1 model classes) behind the edge-vector interface.

nequip's energy network (``GraphModel.model.func``, a ``SequentialGraphNetwork``) takes a data dict; given
precomputed ``edge_vectors`` its edge modules use them instead of positions and cell shifts, so the
body feeds it the contract's graph with dummy positions. nequip's own per-type scale/shift is left
at identity: egraff's :class:`~egraff.models.base.EnergyModel` holds scale and shifts for every
architecture. ``num_layers`` is the number of interaction (convnet) layers.

The ``paper`` preset is the study's nequip 0.5.6 configuration (configs/nequip/md17/*/*.yaml) in nequip
0.19.1's builder. nequip 0.19's network differs from 0.5.6's in three places, so the preset has 1,675,400
parameters for three species where the study's network has 709,240 (tests/models/test_parameter_counts.py):
its self-connections take a learned type embedding of width ``num_features`` where 0.5.6 used the species
one-hot (the same species-dependent linear maps, spanned by 32 instead of num_types matrices per layer),
its first layer has no self-connection, and its last layer computes scalars only (0.5.6 also computed the
non-scalar outputs there, which never reach the energy, and read out through two linear maps instead of one).
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Dict, Sequence

import torch

#: EGraFFBench NequIP (nequip 0.5.6 config): 6 layers, l_max 2, 32 features, 8 trainable Bessels,
#: polynomial cutoff p = 6, radial MLP 3 x 64, self-connection, gate nonlinearity
PRESETS = {
    "paper": dict(num_layers=6, l_max=2, parity=True, num_features=32, num_bessels=8, bessel_trainable=True,
                  polynomial_cutoff_p=6, radial_mlp_depth=3, radial_mlp_width=64, avg_num_neighbors=20.0),
    "tiny": dict(num_layers=2, l_max=1, parity=True, num_features=8, num_bessels=8, bessel_trainable=False,
                 polynomial_cutoff_p=6, radial_mlp_depth=1, radial_mlp_width=16, avg_num_neighbors=20.0),
}


class NequIPFrameworkBody(torch.nn.Module):
    """Raw per-node energy of a nequip-framework energy network (NequIP or Allegro)."""

    def __init__(self, energy_network: torch.nn.Module):
        super().__init__()
        self.energy_network = energy_network

    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor) -> torch.Tensor:
        data: Dict[str, torch.Tensor] = {
            "pos": edge_vectors.new_zeros((atom_types.shape[0], 3)),  # unused: edge vectors are given
            "edge_index": edge_index.contiguous(),  # nequip views it flat
            "atom_types": atom_types,
            "edge_vectors": edge_vectors,
        }
        return self.energy_network(data)["atomic_energy"].reshape(-1)


@contextlib.contextmanager
def nequip_global_state():
    """Run nequip code that needs its global state without leaking nequip's process-wide changes.

    nequip's ``set_global_state`` sets torch's default dtype and reseeds every RNG, and its builders
    leave e3nn's ``jit_mode`` at "script" (after which e3nn modules built later hold TorchScript
    functions that cannot be pickled); the caller's default dtype, torch RNG stream and e3nn
    settings are restored afterwards.
    """
    import e3nn
    from nequip.utils.global_state import set_global_state

    dtype, rng, e3nn_defaults = torch.get_default_dtype(), torch.random.get_rng_state(), e3nn.get_optimization_defaults()
    set_global_state()
    torch.set_default_dtype(dtype)
    torch.random.set_rng_state(rng)
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
        jit_mode = e3nn_defaults.pop("jit_mode")
        e3nn.set_optimization_defaults(**e3nn_defaults)
        e3nn.set_optimization_defaults(jit_mode=jit_mode)  # last: the legacy jit_script_fx flag rewrites it


def energy_network(graph_model: torch.nn.Module) -> torch.nn.Module:
    """The energy-only network inside a nequip ``GraphModel`` (its ``ForceStressOutput`` wraps it)."""
    inner = graph_model.model
    return inner.func if hasattr(inner, "func") else inner


def build_nequip_framework(builder, type_names: Sequence[str], r_max: float, **params) -> torch.nn.Module:
    """Run a nequip ``@model_builder`` with a seed drawn from torch's RNG; return the energy network."""
    seed = int(torch.randint(0, 2**31 - 1, ()).item())
    model_dtype = "float64" if torch.get_default_dtype() == torch.float64 else "float32"
    invalid = [t for t in type_names if not t.isalnum()]
    if invalid:
        raise ValueError(f"nequip needs alphanumeric type names, got {' '.join(invalid)}")
    with nequip_global_state():
        with warnings.catch_warnings():  # nequip warns that scale/shift are unset: EnergyModel holds them
            warnings.filterwarnings("ignore", message=".*per_type_energy_s.*")
            graph_model = builder(seed=seed, model_dtype=model_dtype, type_names=list(type_names), r_max=r_max, **params)
    return energy_network(graph_model)


def build_body(type_names: Sequence[str], r_max: float, **params):
    from nequip.model import NequIPGNNModel

    network = build_nequip_framework(NequIPGNNModel, type_names, r_max, **params)
    return NequIPFrameworkBody(network), int(params["num_layers"])
