"""Analytic reference potentials written against the deployed-model contract.

* :class:`LennardJones` — per-type-pair 12-6 Lennard-Jones, energy identical to LAMMPS
  ``pair_style lj/cut`` (optionally shifted, as ``pair_modify shift yes``). Strictly local:
  ``num_layers = 1``.
* :class:`MessagePassingToy` — a smooth two-layer message-passing potential: a pair term plus
  ``gamma * tanh(s_i)`` of a second-order coordination ``s_i = sum_j beta_{t_i t_j} fc(r_ij) c_j``
  with ``c_j = sum_k alpha_{t_k} fc(r_jk)``. Atom i's energy depends on atoms up to ``2 r_max``
  away, so ``num_layers = 2``: it fails loudly in any graph mode that cuts the receptive field.

Both act on the edge graph only (``edge_vectors``, ``edge_index``, ``atom_types``) and return one
energy per node; :func:`deployable` wraps them into the contract.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from egraff.contract import DeployedPotential, ModelMetadata


def _type_pair_matrix(values, num_types: int, name: str) -> torch.Tensor:
    m = torch.as_tensor(values, dtype=torch.float64)
    if m.dim() == 0:
        m = m.expand(num_types, num_types)
    if m.shape != (num_types, num_types):
        raise ValueError(f"{name} must be a scalar or a {num_types}x{num_types} matrix, got shape {tuple(m.shape)}")
    if not torch.allclose(m, m.T):
        raise ValueError(f"{name} must be symmetric")
    return m.clone()


class LennardJones(torch.nn.Module):
    """phi(r) = 4 eps [(sigma/r)^12 - (sigma/r)^6] (- phi(r_c) if shifted) for r < r_c(t_i, t_j).

    Each edge carries half of its pair energy to its centre node, so a full (both-direction) edge
    list gives LAMMPS's per-atom energies.
    """

    def __init__(self, epsilon, sigma, cutoff, num_types: int, shift: bool = False):
        super().__init__()
        self.register_buffer("epsilon", _type_pair_matrix(epsilon, num_types, "epsilon"))
        self.register_buffer("sigma", _type_pair_matrix(sigma, num_types, "sigma"))
        self.register_buffer("cutoff", _type_pair_matrix(cutoff, num_types, "cutoff"))
        sr6 = (self.sigma / self.cutoff) ** 6
        offset = 4.0 * self.epsilon * (sr6 * sr6 - sr6) if shift else torch.zeros_like(sr6)
        self.register_buffer("offset", offset)

    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor) -> torch.Tensor:
        ti = atom_types[edge_index[0]]
        tj = atom_types[edge_index[1]]
        r2 = (edge_vectors * edge_vectors).sum(dim=1)
        inside = r2 < self.cutoff[ti, tj] ** 2
        sr2 = self.sigma[ti, tj] ** 2 / r2
        sr6 = sr2 * sr2 * sr2
        pair = 4.0 * self.epsilon[ti, tj] * (sr6 * sr6 - sr6) - self.offset[ti, tj]
        pair = torch.where(inside, pair, torch.zeros_like(pair))
        node_energy = torch.zeros(atom_types.shape[0], dtype=edge_vectors.dtype, device=edge_vectors.device)
        return node_energy.index_add(0, edge_index[0], 0.5 * pair)


class MessagePassingToy(torch.nn.Module):
    """Two-layer smooth message passing (see module docstring); energies in eV, lengths in Å."""

    def __init__(
        self,
        num_types: int,
        r_max: float,
        epsilon=0.01,
        sigma=2.5,
        alpha: Optional[Sequence[float]] = None,
        beta=0.3,
        gamma: float = 0.5,
        node_energy: Optional[Sequence[float]] = None,
    ):
        super().__init__()
        self.r_max = float(r_max)
        self.gamma = float(gamma)
        self.register_buffer("epsilon", _type_pair_matrix(epsilon, num_types, "epsilon"))
        self.register_buffer("sigma", _type_pair_matrix(sigma, num_types, "sigma"))
        self.register_buffer("beta", _type_pair_matrix(beta, num_types, "beta"))
        alpha = [1.0 + 0.25 * t for t in range(num_types)] if alpha is None else alpha
        self.register_buffer("alpha", torch.as_tensor(alpha, dtype=torch.float64))
        e0 = [-1.0 - 0.5 * t for t in range(num_types)] if node_energy is None else node_energy
        self.register_buffer("e0", torch.as_tensor(e0, dtype=torch.float64))

    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor) -> torch.Tensor:
        src, dst = edge_index[0], edge_index[1]
        ti, tj = atom_types[src], atom_types[dst]
        num_nodes = atom_types.shape[0]
        r = torch.sqrt((edge_vectors * edge_vectors).sum(dim=1))
        inside = r < self.r_max
        # smooth cosine cutoff: value and slope vanish at r_max
        fc = torch.where(inside, 0.5 * (torch.cos(math.pi * r / self.r_max) + 1.0), torch.zeros_like(r))
        zeros = torch.zeros(num_nodes, dtype=edge_vectors.dtype, device=edge_vectors.device)
        coordination = zeros.index_add(0, src, self.alpha[tj] * fc)  # layer 1
        second = zeros.index_add(0, src, self.beta[ti, tj] * fc * coordination[dst])  # layer 2
        sr6 = (self.sigma[ti, tj] ** 2 / (r * r)) ** 3
        pair = 4.0 * self.epsilon[ti, tj] * (sr6 * sr6 - sr6) * fc
        return self.e0[atom_types] + zeros.index_add(0, src, 0.5 * pair) + self.gamma * torch.tanh(second)


def lennard_jones(
    type_names: Sequence[str],
    epsilon,
    sigma,
    cutoff,
    *,
    shift: bool = False,
    model_dtype: str = "float64",
) -> tuple[DeployedPotential, ModelMetadata]:
    """A deployable LJ model and its metadata; per-pair cutoffs go into the metadata when they differ."""
    n = len(type_names)
    model = LennardJones(epsilon, sigma, cutoff, n, shift=shift)
    r_max = float(model.cutoff.max())
    uniform = bool(torch.all(model.cutoff == r_max))
    meta = ModelMetadata(
        architecture="lennard-jones",
        type_names=tuple(type_names),
        r_max=r_max,
        num_layers=1,
        model_dtype=model_dtype,
        pair_cutoffs=None if uniform else tuple(model.cutoff.flatten().tolist()),
    )
    return DeployedPotential(model, model_dtype), meta


def message_passing_toy(
    type_names: Sequence[str], r_max: float = 5.0, *, model_dtype: str = "float64", **params
) -> tuple[DeployedPotential, ModelMetadata]:
    model = MessagePassingToy(len(type_names), r_max, **params)
    meta = ModelMetadata(
        architecture="message-passing-toy",
        type_names=tuple(type_names),
        r_max=float(r_max),
        num_layers=2,
        model_dtype=model_dtype,
    )
    return DeployedPotential(model, model_dtype), meta


#: Argon/krypton 12-6 parameters (eV, Å) with Lorentz-Berthelot cross terms; cutoff 8.5 Å.
ARGON_KRYPTON = dict(
    epsilon=[[0.0104, 0.0123], [0.0123, 0.0146]],
    sigma=[[3.40, 3.50], [3.50, 3.60]],
    cutoff=8.5,
)
