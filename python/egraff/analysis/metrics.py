"""The comparison metrics, one definition each, with their sources.

Structural: Wright's factor (EGraFFBench), Jensen–Shannon divergence, distribution MAE (Fu et al.).
Dynamic: energy and force violation (EGraFFBench; formulas reconstructed, see :func:`energy_violation`).

Sources: V. Bihani et al., "EGraFFBench: Evaluation of Equivariant Graph Neural Network Force Fields
for Atomistic Simulations", Digital Discovery 3, 759 (2024), code github.com/M3RG-IITD/MDBENCHGNN
(``scripts/struct_props/wright_factor.py``); X. Fu et al., "Forces are not Enough", TMLR 2023.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from egraff.analysis.trajectory import Trajectory


def wright_factor(g: np.ndarray, g_ref: np.ndarray) -> float:
    """WF = Σ_r (g(r) − g_ref(r))² / Σ_r g_ref(r)², as EGraFFBench's ``wright_factor.py`` computes it
    (which prints it ×100 as a percentage). This is the square of Wright's R_χ (A. C. Wright, J. Non-Cryst.
    Solids 159, 264 (1993)): no square root is taken, as in the authors' code. Not symmetric in g, g_ref."""
    g, g_ref = _same_grid(g, g_ref)
    denominator = float(np.sum(g_ref**2))
    if denominator == 0:
        raise ValueError("the reference g(r) is zero everywhere; Wright's factor is undefined (is r_max too small?)")
    return float(np.sum((g - g_ref) ** 2) / denominator)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """JSD(P, Q) = ½ KL(P‖M) + ½ KL(Q‖M), M = (P + Q)/2, in bits (0 ≤ JSD ≤ 1; J. Lin, IEEE Trans. Inf.
    Theory 37, 145 (1991)). P and Q are histograms on the same grid (an RDF, an ADF), each normalised
    to sum 1 first. Symmetric; 0 exactly when the normalised histograms are equal."""
    p, q = _same_grid(p, q)
    if np.any(p < 0) or np.any(q < 0) or p.sum() == 0 or q.sum() == 0:
        raise ValueError("Jensen–Shannon divergence needs non-negative histograms with some weight")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a):
        nonzero = a > 0
        return float(np.sum(a[nonzero] * np.log2(a[nonzero] / m[nonzero])))

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def distribution_mae(a: np.ndarray, b: np.ndarray, extent: float) -> float:
    """mean_k |a_k − b_k| · extent ≈ ∫ |a − b| dr over a grid covering ``extent`` (Fu et al.'s RDF and h(r)
    MAE, ``mae(x, y, factor)`` with factor = xlim)."""
    a, b = _same_grid(a, b)
    return float(np.mean(np.abs(a - b)) * extent)


def _same_grid(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"the two distributions have {a.shape} and {b.shape} bins; compute them on the same grid")
    return a, b


# ----------------------------------------------------------------------------------- EGraFFBench RDF grid

#: EGraFFBench's RDF bin width (Å)
EGRAFFBENCH_BIN_WIDTH = 0.05


def egraffbench_r_max(cell: np.ndarray, limit: float = 10.0) -> float:
    """r_max = round(min((shortest cell vector − 1)/2, 10 Å), 1), as ``wright_factor.py`` sets it."""
    return round(min((float(np.linalg.norm(cell, axis=1).min()) - 1.0) / 2.0, limit), 1)


# ------------------------------------------------------------------------------------ energy and force violation

def _relative_difference(a: np.ndarray, b: np.ndarray, axis=None) -> np.ndarray:
    """|a − b| / (|a| + |b|) (norms over ``axis`` for vectors), 0 where both are zero."""
    diff = np.linalg.norm(a - b, axis=axis) if axis is not None else np.abs(a - b)
    size = (np.linalg.norm(a, axis=axis) + np.linalg.norm(b, axis=axis)) if axis is not None else np.abs(a) + np.abs(b)
    return np.divide(diff, size, out=np.zeros_like(diff, dtype=np.float64), where=size > 0)


def energy_violation(energy: np.ndarray, energy_ref: np.ndarray) -> np.ndarray:
    """EV(t) = |Ê(t) − E(t)| / (|Ê(t)| + |E(t)|) per frame (Ê model, E reference; 0 where both are 0).

    EGraFFBench names this metric but its exact formula could not be recovered from the paper or code;
    this is egraff's definition. It lies in [0, 1], is symmetric, unchanged when both energies are
    scaled by the same factor, and 1 when they have opposite signs. It depends on the energy zero:
    pass total potential energies on the reference's scale (DFT totals make it small; subtract the same
    per-atom baseline from both to sharpen it).
    """
    energy, energy_ref = _same_grid(energy, energy_ref)
    return _relative_difference(energy, energy_ref)


def force_violation(forces: np.ndarray, forces_ref: np.ndarray) -> np.ndarray:
    """FV(t) = (1/N) Σ_i ‖F̂_i(t) − F_i(t)‖ / (‖F̂_i(t)‖ + ‖F_i(t)‖) per frame, forces [F, N, 3].

    egraff's reconstruction of EGraFFBench's force violation (exact formula not recovered): per-atom
    relative force error in [0, 1] (1 for opposite forces), invariant to a common scale, averaged over atoms.
    """
    forces, forces_ref = _same_grid(forces, forces_ref)
    if forces.ndim != 3 or forces.shape[-1] != 3:
        raise ValueError(f"forces must have shape (frames, atoms, 3), got {forces.shape}")
    return _relative_difference(forces, forces_ref, axis=-1).mean(axis=1)


def geometric_mean(values: np.ndarray) -> float:
    """exp(mean(log v)); 0 when any value is 0 (e.g. identical trajectories)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no frames to average")
    return 0.0 if np.any(values <= 0) else float(np.exp(np.mean(np.log(values))))


@dataclass
class Violations:
    """EV(t), FV(t) and their geometric means over time; ``variant`` is "trajectory" or "reference-on-model"."""

    variant: str
    energy: np.ndarray
    force: np.ndarray
    energy_gmean: float
    force_gmean: float


def trajectory_violations(model: Trajectory, reference: Trajectory) -> Violations:
    """Variant (a): model and reference trajectories run from the same initial state, compared frame by frame.

    Both must carry energies and forces on the same frames. The first frame is shared by construction
    (EV = FV = 0 there) and is left out of the geometric mean, which would otherwise always be 0.
    """
    for traj in (model, reference):
        if traj.energies is None or traj.forces is None:
            raise ValueError(f"{traj.source} has no energies and forces; write them (extxyz/ASE .traj with a "
                             "calculator, or use variant (b) with the reference potential)")
    if model.n_frames != reference.n_frames or model.n_atoms != reference.n_atoms:
        raise ValueError(f"{model.source} has {model.n_frames} frames of {model.n_atoms} atoms but {reference.source} "
                         f"has {reference.n_frames} of {reference.n_atoms}; compare the same frames of the same system")
    if model.n_frames < 2:
        raise ValueError("variant (a) needs at least two frames (the first is the shared initial state)")
    ev = energy_violation(model.energies, reference.energies)
    fv = force_violation(model.forces, reference.forces)
    return Violations("trajectory", ev, fv, geometric_mean(ev[1:]), geometric_mean(fv[1:]))


def reference_on_model_violations(model: Trajectory, reference_potential: Callable, progress: bool = False) -> Violations:
    """Variant (b): the reference potential evaluated on the model's own frames (possible for teacher data).

    ``reference_potential`` is an ASE calculator or a function ``atoms → (energy, forces)``; the model
    trajectory must carry its own energies and forces. Every frame counts in the geometric mean.
    """
    from egraff.analysis._base import progress as track

    if model.energies is None or model.forces is None:
        raise ValueError(f"{model.source} has no energies and forces of the model; write them with the trajectory")
    energies, forces = [], []
    for frame in track(range(model.n_frames), model.n_frames, "reference on model frames", progress):
        atoms = model.atoms(frame)
        if callable(reference_potential) and not hasattr(reference_potential, "get_potential_energy"):
            energy, force = reference_potential(atoms)
        else:
            atoms.calc = reference_potential
            energy, force = atoms.get_potential_energy(), atoms.get_forces()
        energies.append(energy)
        forces.append(force)
    ev = energy_violation(model.energies, np.array(energies))
    fv = force_violation(model.forces, np.array(forces))
    return Violations("reference-on-model", ev, fv, geometric_mean(ev), geometric_mean(fv))
