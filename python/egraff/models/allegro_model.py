"""Allegro (nequip-allegro 0.8.3) behind the edge-vector interface.

Allegro is strictly local: every energy is a sum over edges of the centre atom, with no message
passing between atoms, whatever its number of (edge-wise) Allegro layers. The interface reports
``num_layers = 1`` (receptive field = r_max) so that the LAMMPS plugin may use ghost mode;
``allegro_layers`` is Allegro's own ``num_layers``.

The ``paper`` preset maps the study's allegro 0.2.0 configuration (configs/allegro/md17/*/*.yaml) onto
allegro 0.8.3's arguments, whose network is organised differently (per-type embeddings and a scalar
embedding MLP instead of 0.2's two-body latent MLP; the edge readout sees every layer's latents):
env_embed_multiplicity 64 → ``num_tensor_features`` 64; two-body latent MLP [128, 256, 512, 1024] →
``radial_chemical_embed_dim`` 128 and a scalar embedding MLP of 3 hidden layers of 512 into
``num_scalar_features`` 1024; latent MLP [1024, 1024, 1024] → ``allegro_mlp`` 2 hidden layers of 1024;
edge-energy MLP [128] → readout 1 hidden layer of 128. It has 10,619,272 parameters for three species where
the study's network has 8,152,968 (tests/models/test_parameter_counts.py).
"""

from __future__ import annotations

from typing import Sequence

from egraff.models.nequip_model import NequIPFrameworkBody, build_nequip_framework

#: EGraFFBench Allegro (allegro 0.2.0): 2 layers, l_max 2, full O(3), 64 tensor features,
#: two-body latent MLP [128, 256, 512, 1024], latent MLP [1024, 1024, 1024], edge-energy MLP [128],
#: trainable Bessel basis, p = 6 — mapped onto allegro 0.8.3's arguments (module docstring)
PRESETS = {
    "paper": dict(allegro_layers=2, l_max=2, parity=True, num_bessels=8, bessel_trainable=True, polynomial_cutoff_p=6,
                  radial_chemical_embed_dim=128, scalar_embed_mlp_hidden_layers_depth=3,
                  scalar_embed_mlp_hidden_layers_width=512, num_scalar_features=1024, num_tensor_features=64,
                  allegro_mlp_hidden_layers_depth=2, allegro_mlp_hidden_layers_width=1024,
                  readout_mlp_hidden_layers_depth=1, readout_mlp_hidden_layers_width=128, avg_num_neighbors=20.0),
    "tiny": dict(allegro_layers=1, l_max=1, parity=True, num_bessels=8, bessel_trainable=False, polynomial_cutoff_p=6,
                 radial_chemical_embed_dim=8, scalar_embed_mlp_hidden_layers_depth=1,
                 scalar_embed_mlp_hidden_layers_width=16, num_scalar_features=16, num_tensor_features=4,
                 allegro_mlp_hidden_layers_depth=1, allegro_mlp_hidden_layers_width=16,
                 readout_mlp_hidden_layers_depth=1, readout_mlp_hidden_layers_width=8, avg_num_neighbors=20.0),
}


def upstream_arguments(**params) -> dict:
    """``allegro.model.AllegroModel`` keyword arguments for egraff's Allegro hyperparameters."""
    params = dict(params)
    embed = {
        "_target_": "allegro.nn.TwoBodyBesselScalarEmbed",
        "num_bessels": params.pop("num_bessels"),
        "bessel_trainable": params.pop("bessel_trainable"),
        "polynomial_cutoff_p": params.pop("polynomial_cutoff_p"),
    }
    return dict(num_layers=params.pop("allegro_layers"), radial_chemical_embed=embed, **params)


def build_body(type_names: Sequence[str], r_max: float, **params):
    from allegro.model import AllegroModel

    network = build_nequip_framework(AllegroModel, type_names, r_max, **upstream_arguments(**params))
    return NequIPFrameworkBody(network), 1
