"""The comparison metrics of the study, one formula each, with its source next to it.

Structural: Wright's factor (EGraFFBench), Jensen–Shannon divergence (base 2), distribution MAE (Fu et al.).
Dynamic: energy and force violation (EGraFFBench, in the study group's earlier form; see the section
comment above :func:`relative_violation`), and :func:`contiguity`, which says whether a dataset's
frames are a trajectory EV/FV can be measured against.

Sources: V. Bihani et al., "EGraFFBench: Evaluation of Equivariant Graph Neural Network Force Fields
for Atomistic Simulations", Digital Discovery 3, 759 (2024), code github.com/M3RG-IITD/MDBENCHGNN
(``scripts/struct_props/wright_factor.py``); X. Fu et al., "Forces are not Enough", TMLR 2023.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from egraff.analysis.trajectory import Trajectory, as_trajectory, minimum_image, unwrapped_positions
from egraff.units import FTM2V, kinetic_temperature


def wright_factor(g: np.ndarray, g_ref: np.ndarray) -> float:
    """WF = Σ_r (g(r) − g_ref(r))² / Σ_r g_ref(r)², as EGraFFBench's ``wright_factor.py`` computes it
    (which prints it ×100 as a percentage). This is the square of Wright's R_χ (A. C. Wright, J. Non-Cryst.
    Solids 159, 264 (1993)): no square root is taken, as in the authors' code. Not symmetric in g, g_ref."""
    g, g_ref = _same_grid(g, g_ref)
    denominator = float(np.sum(g_ref**2))
    if denominator == 0:
        raise ValueError("the reference g(r) is zero everywhere; Wright's factor is undefined (is r_max too small?)")
    return float(np.sum((g - g_ref) ** 2) / denominator)


def jsd_base2(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits (log base 2) — the divergence, not its square root (the JS
    *distance* that ``scipy.spatial.distance.jensenshannon`` returns):

        JSD(P, Q) = ½ KL(P‖M) + ½ KL(Q‖M),  M = (P + Q)/2,  KL(A‖M) = Σ a log₂(a/m),

    so 0 ≤ JSD ≤ 1 (J. Lin, IEEE Trans. Inf. Theory 37, 145 (1991)). P and Q are histograms on the same
    grid (an RDF, an ADF), each normalised to sum 1 first. Symmetric; 0 exactly when the normalised
    histograms are equal. Reported under labels ending in ``jsd_base2``."""
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
#
# EGraFFBench's paper names EV and FV without a formula in its released code; its reviews describe them as
# the model's energies and forces along its own trajectory against the ground truth's along the reference
# trajectory from the same start. The form is the study group's earlier definition of energy violation
# and rollout error, per frame ‖x̂ − x‖ / (‖x̂‖ + ‖x‖), summarised by the geometric mean over the trajectory:
# A. Thangamuthu, G. Kumar, S. Bishnoi, R. Bhattoo, N. M. A. Krishnan, S. Ranu, "Unravelling the
# performance of physics-informed graph neural networks for dynamical systems", NeurIPS 2022 Datasets and
# Benchmarks; R. Bhattoo, S. Ranu, N. M. A. Krishnan, Mach. Learn.: Sci. Technol. 4, 015003 (2023).


def relative_violation(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """‖x̂ − x‖ / (‖x̂‖ + ‖x‖) per frame, the 2-norm over everything after the first axis (0 where both are 0).

    In [0, 1]; symmetric; unchanged when both are scaled by the same factor; 1 for opposite vectors.
    """
    predicted, reference = _same_grid(predicted, reference)
    flat = lambda x: x.reshape(x.shape[0], -1)  # noqa: E731
    difference = np.linalg.norm(flat(predicted - reference), axis=1)
    size = np.linalg.norm(flat(predicted), axis=1) + np.linalg.norm(flat(reference), axis=1)
    return np.divide(difference, size, out=np.zeros_like(difference), where=size > 0)


def energy_violation(energy: np.ndarray, energy_ref: np.ndarray) -> np.ndarray:
    """EV(t) = |Ê(t) − E(t)| / (|Ê(t)| + |E(t)|) per frame (Ê model, E reference), see the section comment.

    It depends on the energy zero: pass total potential energies on the reference's scale (DFT totals
    make it small; subtract the same per-atom baseline from both to sharpen it).
    """
    return relative_violation(np.asarray(energy, dtype=np.float64)[:, None], np.asarray(energy_ref, dtype=np.float64)[:, None])


def force_violation(forces: np.ndarray, forces_ref: np.ndarray) -> np.ndarray:
    """FV(t) = ‖F̂(t) − F(t)‖ / (‖F̂(t)‖ + ‖F(t)‖) per frame, forces [F, N, 3], norms over all 3N components."""
    forces = np.asarray(forces, dtype=np.float64)
    if forces.ndim != 3 or forces.shape[-1] != 3:
        raise ValueError(f"forces must have shape (frames, atoms, 3), got {forces.shape}")
    return relative_violation(forces, forces_ref)


def geometric_mean(values: np.ndarray) -> float:
    """exp(mean(log v)); 0 when any value is 0 (e.g. identical trajectories)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no frames to average")
    return 0.0 if np.any(values <= 0) else float(np.exp(np.mean(np.log(values))))


@dataclass
class Violations:
    """EV(t), FV(t) at ``times`` (ps; None when unknown) and their geometric means over the trajectory;
    ``variant`` is "trajectory" or "reference-on-model"."""

    variant: str
    times: np.ndarray | None
    energy: np.ndarray
    force: np.ndarray
    energy_gmean: float
    force_gmean: float


def common_frames(model: Trajectory, reference: Trajectory, tolerance: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(model frames, reference frames) at the times both have, within ``tolerance`` × the shorter frame interval."""
    t_model, t_ref = model.times, reference.times
    spacing = min(np.min(np.diff(t)) if t.size > 1 else np.inf for t in (t_model, t_ref))
    tol = tolerance * spacing if np.isfinite(spacing) else 1e-9
    nearest = np.clip(np.searchsorted(t_ref, t_model), 1, max(t_ref.size - 1, 1))
    candidates = np.stack([nearest - 1, np.minimum(nearest, t_ref.size - 1)])
    best = candidates[np.argmin(np.abs(t_ref[candidates] - t_model), axis=0), np.arange(t_model.size)]
    match = np.abs(t_ref[best] - t_model) <= tol
    return np.nonzero(match)[0], best[match]


def trajectory_violations(model, reference) -> Violations:
    """EV and FV of a model trajectory against a ground-truth trajectory from the same start: the model's
    energies and forces along its own trajectory against the reference's along its own, frame by frame at
    the times both have (e.g. model dumped every 10 steps, reference every 15: every 30 steps), up to the
    end of the shorter run; geometric means over those frames. Both need energies, forces and times.
    """
    model, reference = as_trajectory(model), as_trajectory(reference)
    for traj in (model, reference):
        if traj.energies is None or traj.forces is None:
            raise ValueError(f"{traj.source} has no energies and forces; write them (extxyz/ASE .traj with a "
                             "calculator) or evaluate the reference potential on the model's frames instead")
    if model.n_atoms != reference.n_atoms or not np.array_equal(model.symbols, reference.symbols):
        raise ValueError(f"{model.source} and {reference.source} do not hold the same atoms in the same order")
    ours, theirs = common_frames(model, reference)
    if ours.size < 2:
        raise ValueError(f"{model.source} and {reference.source} share {ours.size} frame time(s); EV/FV need a common "
                         "time grid (same start, frame intervals with a common multiple, correct timesteps)")
    ev = energy_violation(model.energies[ours], reference.energies[theirs])
    fv = force_violation(model.forces[ours], reference.forces[theirs])
    return Violations("trajectory", model.times[ours], ev, fv, geometric_mean(ev), geometric_mean(fv))


def reference_on_model_violations(model, reference_potential: Callable, verbose: bool = False) -> Violations:
    """Variant for teacher data: the reference potential evaluated on the model's own frames.

    ``reference_potential`` is an ASE calculator or a function ``atoms → (energy, forces)``; the model
    trajectory must carry its own energies and forces. Every frame counts in the geometric mean.
    """
    from egraff.progress import track

    model = as_trajectory(model)
    if model.energies is None or model.forces is None:
        raise ValueError(f"{model.source} has no energies and forces of the model; write them with the trajectory")
    energies, forces = [], []
    for frame in track(range(model.n_frames), model.n_frames, "reference on model frames", verbose):
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
    return Violations("reference-on-model", model.times if model.timestep else None, ev, fv, geometric_mean(ev),
                      geometric_mean(fv))


# ------------------------------------------------------------------------------------ contiguous trajectories

@dataclass
class Contiguity:
    """Whether frames are a contiguous trajectory, with the statistics that decided it."""

    contiguous: bool
    consecutive_rms: float  # Å, median RMS displacement between consecutive frames
    random_rms: float  # Å, median RMS displacement between randomly paired frames
    reason: str


def contiguity(frames, threshold: float = 0.5, n_pairs: int = 500, seed: int = 0) -> Contiguity:
    """Are ``frames`` (a Trajectory, an MDAnalysis universe or a sequence of ``ase.Atoms`` of the same atoms) a
    contiguous trajectory, or samples in no time order?

    Consecutive frames of an MD trajectory saved faster than its decorrelation time are closer to each
    other than random pairs of its frames; for random samples consecutive pairs are random pairs. The
    frames are contiguous when the median RMS displacement between consecutive frames is below
    ``threshold`` × that between random pairs. Displacements are minimum-image along periodic axes; a
    structure periodic along no axis (a molecule) is first aligned on the other frame (Kabsch), so
    rotation and translation do not count.
    """
    traj = _trajectory_of(frames)
    if traj.n_frames < 3:
        raise ValueError(f"{traj.source}: {traj.n_frames} frames are too few to tell a trajectory from samples")
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, traj.n_frames, (2, n_pairs))
    keep = first != second
    consecutive = np.median([_rms_displacement(traj, k, k + 1) for k in range(traj.n_frames - 1)])
    random = np.median([_rms_displacement(traj, i, j) for i, j in zip(first[keep], second[keep])])
    contiguous = bool(consecutive < threshold * random)
    verdict = "a contiguous trajectory" if contiguous else "samples in no time order"
    return Contiguity(contiguous, float(consecutive), float(random),
                      f"consecutive frames move {consecutive:.3g} Å (RMS, median) against {random:.3g} Å between random "
                      f"pairs (ratio {consecutive / random:.2g}, threshold {threshold:g}): {verdict}")


def _trajectory_of(frames) -> Trajectory:
    """A Trajectory, an MDAnalysis universe or a sequence of ``ase.Atoms`` (with their energies and forces
    where every frame has them) as a :class:`Trajectory`."""
    if isinstance(frames, Trajectory) or (hasattr(frames, "atoms") and hasattr(frames.atoms, "universe")):
        return as_trajectory(frames)
    frames = list(frames)
    results = [a.calc.results if a.calc is not None else {} for a in frames]
    labelled = all("energy" in r and "forces" in r for r in results)
    return Trajectory(symbols=frames[0].get_chemical_symbols(), positions=np.array([a.positions for a in frames]),
                      cells=np.array([a.cell.array for a in frames]), pbc=frames[0].pbc, steps=np.arange(len(frames)),
                      energies=np.array([r["energy"] for r in results]) if labelled else None,
                      forces=np.array([r["forces"] for r in results]) if labelled else None, source="frames")


def _rms_displacement(traj: Trajectory, i: int, j: int) -> float:
    a, b = traj.positions[i], traj.positions[j]
    if traj.pbc.any():
        moves = minimum_image(b - a, traj.cells[i], traj.pbc)
    else:  # molecules: rigid-body motion removed by the Kabsch rotation of b onto a
        a, b = a - a.mean(axis=0), b - b.mean(axis=0)
        u, _, vt = np.linalg.svd(b.T @ a)
        d = np.sign(np.linalg.det(u @ vt))
        moves = b @ (u @ np.diag([1.0, 1.0, d]) @ vt) - a
    return float(np.sqrt(np.mean(np.sum(moves**2, axis=1))))


# ------------------------------------------------------------------------------- ab initio trajectories as ground truth

#: a consecutive-frame RMS displacement above this multiple of the median is a break (frames missing there)
BREAK_FACTOR = 3.0
#: frames follow their own forces when their second differences correlate with F/m at least this well
NEWTONIAN_CORRELATION = 0.9


@dataclass
class FrameInterval:
    """Whether frames are consecutive steps of dynamics driven by their own forces, and how far apart in time."""

    resolved: bool
    interval_ps: float | None  # measured time between consecutive frames; None when not resolved
    correlation: float  # of the second differences x(t+τ) − 2x(t) + x(t−τ) with F(t)/m, inside pieces
    temperature_K: float | None  # kinetic temperature of the central-difference velocities at interval_ps
    pieces: list[tuple[int, int]]  # [start, stop) frame ranges without a break
    reason: str


def frame_interval(frames, min_correlation: float = NEWTONIAN_CORRELATION) -> FrameInterval:
    """The time between consecutive frames of an ab initio trajectory, measured from the frames themselves.

    Velocity Verlet moves an atom by x(t+τ) − 2x(t) + x(t−τ) = F(t)/m · τ² (to order τ⁴); τ² is the
    least-squares solution of that relation over every frame with a neighbour on each side, and the
    correlation of its two sides says whether the frames are consecutive steps of dynamics driven by their
    own forces at all (random samples, a trajectory sampled too coarsely to resolve its vibrations, or
    geometries from another method relabelled with these forces give a low correlation). A consecutive
    displacement above :data:`BREAK_FACTOR` × the median is a break (frames missing): second differences
    do not straddle it. Displacements are minimum-image along periodic axes. The kinetic temperature of the
    central-difference velocities at the measured interval (3N − 3 degrees of freedom) is a cross-check
    against the dataset's documented temperature.
    """
    traj = _trajectory_of(frames)
    if traj.forces is None:
        raise ValueError(f"{traj.source} carries no forces; the frame interval is measured from them")
    if traj.n_frames < 3:
        raise ValueError(f"{traj.source}: {traj.n_frames} frames are too few to measure a frame interval")
    positions = unwrapped_positions(traj)
    moves = np.sqrt(np.mean(np.sum(np.diff(positions, axis=0) ** 2, axis=2), axis=1))
    breaks = np.nonzero(moves > BREAK_FACTOR * np.median(moves))[0] + 1  # first frame after each break
    bounds = [0, *breaks.tolist(), traj.n_frames]
    pieces = [(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    masses = _masses(traj)[None, :, None]
    second, acceleration = [], []
    for a, b in pieces:
        if b - a >= 3:
            second.append(positions[a + 2:b] - 2 * positions[a + 1:b - 1] + positions[a:b - 2])
            acceleration.append(traj.forces[a + 1:b - 1] / masses * FTM2V)  # Å/ps²
    if not second:
        return FrameInterval(False, None, float("nan"), None, pieces, "no piece of three frames without a break")
    second, acceleration = np.concatenate(second), np.concatenate(acceleration)
    dot = float(np.sum(second * acceleration))
    norms = float(np.sqrt(np.sum(second**2) * np.sum(acceleration**2)))
    correlation = dot / norms if norms > 0 else float("nan")  # no force or no motion: nothing follows
    if not correlation >= min_correlation:
        return FrameInterval(False, None, correlation, None, pieces,
                             f"the frames do not follow their own forces: x(t+τ) − 2x(t) + x(t−τ) correlates "
                             f"{correlation:.2f} with F/m (needs {min_correlation:g}); they are samples, or a "
                             "trajectory saved too sparsely to resolve its vibrations")
    interval = float(np.sqrt(dot / np.sum(acceleration**2)))
    velocities = finite_difference_velocities(traj, interval, pieces)
    temperature = float(np.nanmean([kinetic_temperature(masses[0, :, 0], v) for v in velocities]))
    return FrameInterval(True, interval, correlation, temperature, pieces,
                         f"consecutive steps {interval * 1000:.3g} fs apart (second differences correlate "
                         f"{correlation:.3f} with F/m; central-difference kinetic temperature {temperature:.0f} K)")


def finite_difference_velocities(frames, interval_ps: float, pieces: list[tuple[int, int]] | None = None
                                 ) -> np.ndarray:
    """Velocities [F, N, 3] (Å/ps) of the frames: central differences of the (unwrapped) positions
    ``interval_ps`` apart, second-order one-sided at the ends of each piece (numpy.gradient, edge_order 2);
    NaN in pieces shorter than three frames. ``pieces``: [start, stop) ranges without a break (default:
    all frames)."""
    traj = _trajectory_of(frames)
    positions = unwrapped_positions(traj)
    velocities = np.full_like(positions, np.nan)
    for a, b in pieces or [(0, traj.n_frames)]:
        if b - a >= 3:
            velocities[a:b] = np.gradient(positions[a:b], interval_ps, axis=0, edge_order=2)
    return velocities


def _masses(traj: Trajectory) -> np.ndarray:
    from ase.data import atomic_masses, atomic_numbers

    unknown = sorted({s for s in traj.symbols if s not in atomic_numbers})
    if unknown:
        raise ValueError(f"{traj.source}: atom names {', '.join(unknown)} are not elements; masses are needed")
    return np.array([atomic_masses[atomic_numbers[s]] for s in traj.symbols])
