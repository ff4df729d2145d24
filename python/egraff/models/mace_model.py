"""MACE (mace-torch 0.3.16 ``ScaleShiftMACE``, run on e3nn 0.6) behind the edge-vector interface.

MACE builds edge vectors as ``positions[receiver] - positions[sender] + shifts`` with
``(sender, receiver) = edge_index`` and sums messages at the receiver. The contract's edge (centre i,
neighbour j, vector r_j - r_i) is therefore MACE's edge (sender j, receiver i) with vector r_i - r_j:
the body passes the flipped index, zero positions and ``shifts = -edge_vectors``. MACE's own E0s,
scale and shift stay at 0/1/0 in built models (egraff's ``EnergyModel`` holds them); models imported
from MACE files keep theirs.

The study ran MACE 0.2.0 (the fork vendored in MDBENCHGNN) with ``--model ScaleShiftMACE``, whose first
interaction block is the fork's ``--interaction_first`` default, ``RealAgnosticResidualInteractionBlock``
(mace-torch ≥ 0.3 defaults to ``RealAgnosticInteractionBlock``): the ``paper`` preset names it in
``interaction_cls_first``. The symmetric contraction uses e3nn's Clebsch-Gordan coefficients
(``use_reduced_cg=False``), as the fork did; mace-torch 0.3.16 with these arguments has exactly the
fork's parameter count (tests/models/test_parameter_counts.py).
"""

from __future__ import annotations

from typing import Dict, Sequence

import torch

#: the first-layer interaction blocks a preset may name (mace.modules.interaction_classes keys)
FIRST_INTERACTIONS = ("RealAgnosticResidualInteractionBlock", "RealAgnosticInteractionBlock")

#: EGraFFBench MACE (configs/mace/md17/*/*.sh on the MACE 0.2.0 fork, its defaults otherwise):
#: ScaleShiftMACE, hidden 16x0e+16x1o+16x2e, max_ell 3, correlation 3, 2 interactions, 8 Bessels,
#: 5 cutoff basis functions, radial MLP 3 x 64, MLP readout 16x0e, residual first interaction
PRESETS = {
    "paper": dict(hidden_irreps="16x0e+16x1o+16x2e", max_ell=3, correlation=3, num_interactions=2, num_bessel=8,
                  num_polynomial_cutoff=5, MLP_irreps="16x0e", radial_MLP=[64, 64, 64],
                  interaction_cls_first="RealAgnosticResidualInteractionBlock", avg_num_neighbors=20.0),
    "tiny": dict(hidden_irreps="8x0e+8x1o", max_ell=1, correlation=2, num_interactions=2, num_bessel=6,
                 num_polynomial_cutoff=5, MLP_irreps="8x0e", radial_MLP=[16],
                 interaction_cls_first="RealAgnosticInteractionBlock", avg_num_neighbors=20.0),
}


class MACEBody(torch.nn.Module):
    """Per-node energy of a mace-torch model (one head) from the contract's graph; atom type k is
    the model's k-th element (its ``atomic_numbers`` order)."""

    def __init__(self, mace_model: torch.nn.Module):
        super().__init__()
        self.mace_model = mace_model
        self.num_elements = int(mace_model.atomic_numbers.numel())

    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor) -> torch.Tensor:
        num_nodes = atom_types.shape[0]
        dtype, device = edge_vectors.dtype, edge_vectors.device
        data: Dict[str, torch.Tensor] = {
            "positions": torch.zeros((num_nodes, 3), dtype=dtype, device=device),
            "shifts": -edge_vectors,
            "unit_shifts": torch.zeros_like(edge_vectors),
            "edge_index": edge_index.flip(0),
            "node_attrs": torch.nn.functional.one_hot(atom_types, self.num_elements).to(dtype),
            "batch": torch.zeros(num_nodes, dtype=torch.int64, device=device),
            # [0, num_nodes] built from the size, not from a Python list, so that AOTInductor keeps the
            # node count dynamic (torch.tensor([0, n]) would bake the traced n into the program)
            "ptr": torch.arange(2, dtype=torch.int64, device=device) * num_nodes,
            "head": torch.zeros(1, dtype=torch.int64, device=device),
            "cell": torch.zeros((1, 3, 3), dtype=dtype, device=device),
        }
        node_energy = self.mace_model(data, training=False, compute_force=False)["node_energy"]
        assert node_energy is not None
        return node_energy.to(dtype)


def atomic_numbers_of(type_names: Sequence[str]) -> list:
    """Atomic numbers of element type names; names that are not elements get 1, 2, … (MACE uses them
    only as labels for element-agnostic radial functions)."""
    from ase.data import atomic_numbers

    return [atomic_numbers.get(name, k + 1) for k, name in enumerate(type_names)]


def scale_shift_mace(type_names: Sequence[str], r_max: float, *, correlation: int, **params) -> torch.nn.Module:
    """A mace-torch ``ScaleShiftMACE`` with identity scale/shift and zero E0s for these hyperparameters."""
    import numpy as np
    from e3nn import o3
    from mace import modules

    first = params["interaction_cls_first"]
    if first not in FIRST_INTERACTIONS:
        raise ValueError(f"interaction_cls_first must be one of {', '.join(FIRST_INTERACTIONS)}, got {first!r}")
    return modules.ScaleShiftMACE(
        r_max=r_max,
        num_bessel=params["num_bessel"],
        num_polynomial_cutoff=params["num_polynomial_cutoff"],
        max_ell=params["max_ell"],
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes[first],
        num_interactions=params["num_interactions"],
        num_elements=len(type_names),
        hidden_irreps=o3.Irreps(params["hidden_irreps"]),
        MLP_irreps=o3.Irreps(params["MLP_irreps"]),
        atomic_energies=np.zeros(len(type_names)),
        avg_num_neighbors=float(params["avg_num_neighbors"]),
        atomic_numbers=atomic_numbers_of(type_names),
        correlation=correlation,
        gate=torch.nn.functional.silu,
        radial_MLP=list(params["radial_MLP"]),
        use_reduced_cg=False,
        atomic_inter_scale=1.0,
        atomic_inter_shift=0.0,
    )


def build_body(type_names: Sequence[str], r_max: float, **params):
    return MACEBody(scale_shift_mace(type_names, r_max, **params)), int(params["num_interactions"])
