"""The one interface every architecture is behind: :class:`EnergyModel`.

An energy model maps the contract's edge graph to one energy per node::

    forward(edge_vectors [E,3], edge_index [2,E] i64, atom_types [N] i64) -> node_energy [N]

``edge_vectors[e] = r_j - r_i`` for ``(i, j) = edge_index[:, e]``, in the model dtype. The energy is
differentiable (also twice: forces by autograd with ``create_graph=True`` train the weights).
Each architecture supplies only the ``body`` (raw per-node energies); the per-species energy shift
and the global energy scale live here, in one place, for all of them:
``node_energy_i = energy_scale * body_i + energy_shifts[type_i]``.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}


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
        return raw * self.energy_scale + self.energy_shifts[atom_types]

    def extra_repr(self) -> str:
        return (f"architecture={self.architecture}, type_names={' '.join(self.type_names)}, r_max={self.r_max}, "
                f"num_layers={self.num_layers}")
