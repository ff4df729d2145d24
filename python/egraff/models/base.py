"""The one interface every architecture is behind: :class:`EnergyModel`.

An energy model maps the contract's edge graph to one energy per node::

    forward(edge_vectors [E,3], edge_index [2,E] i64, atom_types [N] i64) -> node_energy [N]

``edge_vectors[e] = r_j - r_i`` for ``(i, j) = edge_index[:, e]``, in the model dtype. The energy is
differentiable (also twice: forces by autograd with ``create_graph=True`` train the weights).
Each architecture supplies only the ``body`` (raw per-node energies); the per-species energy shift,
the global energy scale and the optional short-range prior live here, in one place, for all of them:
``node_energy_i = energy_scale * body_i + energy_shifts[type_i] (+ zbl_i)``.

The prior (:class:`ZBLRepulsion`, ``zbl=True``) is the Ziegler-Biersack-Littmark universal screened
nuclear repulsion between every pair of the graph, switched off smoothly at r_max; it is part of the
model's forward, so it travels inside the deployed file and needs nothing from the LAMMPS plugin.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}

#: ZBL universal screening function phi(x) = sum_k c_k exp(-d_k x), x = r / a (Ziegler, Biersack & Littmark,
#: "The Stopping and Range of Ions in Solids", Pergamon 1985; the constants of LAMMPS pair_zbl_const.h)
ZBL_COEFFICIENTS = (0.18175, 0.50986, 0.28022, 0.02817)
ZBL_EXPONENTS = (3.19980, 0.94229, 0.40290, 0.20162)
#: screening length a = ZBL_A0 / (Z_i^0.23 + Z_j^0.23) in Å (0.8854 Bohr radii)
ZBL_A0 = 0.46850
ZBL_Z_EXPONENT = 0.23
#: e^2 / (4 pi epsilon_0) in eV Å (LAMMPS metal units: qqr2e * qelectron^2, update.cpp)
COULOMB_EV_ANGSTROM = 14.399645
#: exponent p of the polynomial envelope that switches the prior off at r_max (nequip's ZBL uses the same)
ZBL_ENVELOPE_P = 6


class ZBLRepulsion(torch.nn.Module):
    """Per-node ZBL energy: each edge (i, j) gives half of ``pair_energy(r) * envelope(r / r_max)`` to
    its centre i, so a full (both-direction) edge list counts every pair once, as LAMMPS does. The
    envelope (Klicpera et al. 2020, DimeNet, eq. 8) is 1 at r = 0 and reaches 0 at r_max with its first
    two derivatives: energy, forces and their slopes are continuous where an edge leaves the graph."""

    def __init__(self, atomic_numbers: Sequence[int], r_max: float):
        super().__init__()
        self.r_max = float(r_max)
        self.p = ZBL_ENVELOPE_P
        self.coulomb = COULOMB_EV_ANGSTROM
        self.a0 = ZBL_A0
        self.z_exponent = ZBL_Z_EXPONENT
        # float64 constants: the owner casts them to the model dtype
        self.register_buffer("atomic_numbers", torch.tensor([float(z) for z in atomic_numbers], dtype=torch.float64))
        self.register_buffer("coefficients", torch.tensor(ZBL_COEFFICIENTS, dtype=torch.float64))
        self.register_buffer("exponents", torch.tensor(ZBL_EXPONENTS, dtype=torch.float64))

    def pair_energy(self, r: torch.Tensor, z_i: torch.Tensor, z_j: torch.Tensor) -> torch.Tensor:
        """The unswitched ZBL pair energy (eV) at distance r (Å) between nuclear charges z_i and z_j."""
        x = r * (z_i.pow(self.z_exponent) + z_j.pow(self.z_exponent)) / self.a0
        phi = (self.coefficients * torch.exp(-self.exponents * x.unsqueeze(-1))).sum(-1)
        return self.coulomb * z_i * z_j / r * phi

    def envelope(self, r: torch.Tensor) -> torch.Tensor:
        x = r / self.r_max
        p = self.p
        u = 1.0 - 0.5 * (p + 1) * (p + 2) * x.pow(p) + p * (p + 2) * x.pow(p + 1) - 0.5 * p * (p + 1) * x.pow(p + 2)
        return torch.where(x < 1.0, u, torch.zeros_like(u))

    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor) -> torch.Tensor:
        z = self.atomic_numbers[atom_types]
        r = torch.linalg.vector_norm(edge_vectors, dim=1)
        pair = self.pair_energy(r, z[edge_index[0]], z[edge_index[1]]) * self.envelope(r)
        return edge_vectors.new_zeros(atom_types.shape[0]).index_add(0, edge_index[0], 0.5 * pair)


def element_numbers(type_names: Sequence[str], purpose: str) -> list:
    """Atomic numbers of type names that must be element symbols (``purpose`` says why, for the error)."""
    from ase.data import atomic_numbers

    bad = [t for t in type_names if atomic_numbers.get(t, 0) < 1]
    if bad:
        raise ValueError(f"{purpose} needs element symbols as type names; {' '.join(bad)} "
                         f"{'is' if len(bad) == 1 else 'are'} not (rename the types after their elements)")
    return [atomic_numbers[t] for t in type_names]


def dtype_name(dtype: torch.dtype) -> str:
    for name, value in DTYPES.items():
        if value == dtype:
            return name
    raise ValueError(f"model dtype must be float32 or float64, got {dtype}")


class EnergyModel(torch.nn.Module):
    """A body (architecture-specific) behind the common scale/shift and metadata.

    Attributes: ``architecture``, ``type_names``, ``r_max``, ``num_layers`` (receptive field =
    ``num_layers * r_max``; 1 = strictly local), ``hyperparameters`` (plain dict; for built models
    ``egraff.models.build(architecture, type_names, r_max, **hyperparameters)`` rebuilds the same
    network). ``energy_scale`` and ``energy_shifts`` are buffers: saved with the weights, not trained.
    ``zbl`` adds :class:`ZBLRepulsion` (type names must be elements).
    """

    # plain-Python metadata, never used in forward; TorchScript must not try to type it
    __jit_ignored_attributes__ = ["hyperparameters"]
    __jit_unused_properties__ = ["model_dtype"]

    def __init__(
        self,
        body: torch.nn.Module,
        *,
        architecture: str,
        type_names: Sequence[str],
        r_max: float,
        num_layers: int,
        hyperparameters: Mapping[str, Any],
        zbl: bool = False,
    ):
        super().__init__()
        self.body = body
        self.architecture = str(architecture)
        self.type_names = tuple(str(t) for t in type_names)
        self.r_max = float(r_max)
        self.num_layers = int(num_layers)
        self.hyperparameters: Dict[str, Any] = dict(hyperparameters)
        dtype = next((p.dtype for p in body.parameters()), torch.get_default_dtype())
        self.register_buffer("energy_scale", torch.ones((), dtype=dtype))
        self.register_buffer("energy_shifts", torch.zeros(len(self.type_names), dtype=dtype))
        self.zbl = (ZBLRepulsion(element_numbers(self.type_names, "the ZBL prior"), self.r_max).to(dtype)
                    if zbl else None)

    @property
    def model_dtype(self) -> str:
        return dtype_name(self.energy_scale.dtype)

    def set_energy_scale_shift(
        self,
        scale: Optional[float] = None,
        shifts: Union[None, Mapping[str, float], Sequence[float]] = None,
    ) -> None:
        """Set the global energy scale (eV) and/or the per-species shifts (eV per atom).

        ``shifts`` is a mapping from type name to shift (every type needed) or a sequence in
        ``type_names`` order. Typical values: scale = force RMS, shifts = isolated-atom energies or
        per-atom mean energies of the training data.
        """
        if scale is not None:
            if not float(scale) > 0:
                raise ValueError(f"the energy scale must be > 0, got {scale}")
            self.energy_scale.fill_(float(scale))
        if shifts is not None:
            if isinstance(shifts, Mapping):
                missing = [t for t in self.type_names if t not in shifts]
                unknown = [t for t in shifts if t not in self.type_names]
                if missing or unknown:
                    raise ValueError(
                        f"energy shifts must name exactly the model's types {' '.join(self.type_names)}"
                        + (f"; missing {' '.join(missing)}" if missing else "")
                        + (f"; unknown {' '.join(unknown)}" if unknown else "")
                    )
                values = [float(shifts[t]) for t in self.type_names]
            else:
                values = [float(s) for s in shifts]
                if len(values) != len(self.type_names):
                    raise ValueError(f"{len(self.type_names)} energy shifts needed (one per type), got {len(values)}")
            self.energy_shifts.copy_(torch.tensor(values, dtype=self.energy_shifts.dtype))

    def forward(self, edge_vectors: torch.Tensor, edge_index: torch.Tensor, atom_types: torch.Tensor) -> torch.Tensor:
        raw = self.body(edge_vectors, edge_index, atom_types)
        node_energy = raw * self.energy_scale + self.energy_shifts[atom_types]
        if self.zbl is not None:
            node_energy = node_energy + self.zbl(edge_vectors, edge_index, atom_types)
        return node_energy

    def extra_repr(self) -> str:
        return (f"architecture={self.architecture}, type_names={' '.join(self.type_names)}, r_max={self.r_max}, "
                f"num_layers={self.num_layers}, zbl={self.zbl is not None}")
