"""BOTNet as EGraFFBench ran it: mace's ``ScaleShiftMACE`` at correlation order 1.

The study's BOTNet runs (configs/botnet/*/*.sh at MDBENCHGNN e4ee1e9) call its MACE 0.2.0 fork's
``run_train.py --model ScaleShiftMACE --correlation=1 --num_interactions=5 --hidden_irreps='16x0e+16x1o+16x2e'
--r_max=5.0`` (naphthalene and salicylic acid: 4 interactions), everything else at the fork's defaults:
max_ell 3, 8 Bessel functions, polynomial envelope p = 5, radial MLP 3 x 64, SiLU readout MLP 16x0e,
first interaction ``RealAgnosticResidualInteractionBlock`` (the fork's ``--interaction_first`` default).
At correlation 1 the product basis is linear in the messages, so every layer adds one body order and the
network is body-ordered (no nonlinearity acts on the node features; the only nonlinearities are the radial
MLPs and the last readout) — the BOTNet of Batatia et al. 2022, "The design space of E(3)-equivariant
atom-centred interatomic potentials" (arXiv:2205.06643), in MACE's parametrisation. The network is built by
mace-torch 0.3.16 (``egraff.models.mace_model``); tests/models/test_upstream_reference.py compares it with
mace-torch's own ``ScaleShiftMACE`` built from the study's arguments on the same weights.
"""

from __future__ import annotations

from typing import Sequence

from egraff.models.mace_model import MACEBody, scale_shift_mace

#: BOTNet's correlation order: every message is a two-body term
CORRELATION = 1

#: EGraFFBench BOTNet (configs/botnet/md17/aspirin/aspirin.sh and the fork's defaults)
PRESETS = {
    "paper": dict(hidden_irreps="16x0e+16x1o+16x2e", max_ell=3, num_interactions=5, num_bessel=8,
                  num_polynomial_cutoff=5, MLP_irreps="16x0e", radial_MLP=[64, 64, 64],
                  interaction_cls_first="RealAgnosticResidualInteractionBlock", avg_num_neighbors=20.0),
    "tiny": dict(hidden_irreps="8x0e+8x1o", max_ell=1, num_interactions=2, num_bessel=6,
                 num_polynomial_cutoff=5, MLP_irreps="8x0e", radial_MLP=[16],
                 interaction_cls_first="RealAgnosticResidualInteractionBlock", avg_num_neighbors=20.0),
}


def build_body(type_names: Sequence[str], r_max: float, **params):
    model = scale_shift_mace(type_names, r_max, correlation=CORRELATION, **params)
    return MACEBody(model), int(params["num_interactions"])
