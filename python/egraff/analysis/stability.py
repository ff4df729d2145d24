"""Stability: when does a simulation stop being physical? (Fu et al., "Forces are not Enough", TMLR 2023, §3.)

Two criteria, each giving the first failing frame and the stable time before it:

* molecules — bond-length deviation: bonds are the pairs closer than their natural cutoff (sum of
  covalent radii + 0.3 Å, :func:`~egraff.analysis.structure.natural_cutoffs`) in the reference's first frame; b̄_ij is the bond's mean minimum-image length over
  the reference trajectory; the simulation fails at the first frame where max_ij |b_ij(t) − b̄_ij|
  exceeds 0.5 Å. (Fu et al. take the bonds from the simulation's first frame, which is the same
  structure when both runs start from it.)
* condensed phases — RDF MAE on windows of 1 ps: for every window start, the partial RDFs over the
  window are compared with the reference RDFs over the whole reference trajectory by
  :func:`~egraff.analysis.metrics.distribution_mae` (mean |Δg| · r_max, r_max 6 Å, 500 bins); the
  largest over the pairs is the window's error and the simulation fails at the first window whose error
  exceeds the threshold (Fu et al.: 3.0 for water's O-O/H-H/H-O, 1.0 for LiPS).

Stable time = time of the failing frame (window start) minus that of the first frame; a run that never
fails is stable for its full length, with ``failure_frame`` None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from egraff.analysis._base import positive
from egraff.analysis.metrics import distribution_mae
from egraff.analysis.structure import RDF, bonded_edges, cutoff_matrix
from egraff.analysis.trajectory import Trajectory, as_trajectory, minimum_image

#: Fu et al.'s thresholds
BOND_DEVIATION_THRESHOLD = 0.5  # Å
RDF_MAE_THRESHOLDS = {"water": 3.0, "lips": 1.0}
RDF_WINDOW_PS = 1.0
RDF_R_MAX = 6.0
RDF_BINS = 500


@dataclass
class StabilityResult:
    criterion: str
    times: np.ndarray  # ps, per frame (bond) or per window start (rdf)
    error: np.ndarray  # max bond deviation (Å) or windowed RDF MAE, per frame / window
    threshold: float
    failure_frame: int | None
    stable_time: float  # ps

    def as_dict(self) -> dict:
        return {"criterion": self.criterion, "threshold": self.threshold, "failure_frame": self.failure_frame,
                "stable_time_ps": self.stable_time, "times_ps": self.times.tolist(), "error": self.error.tolist()}


def _first_failure(times: np.ndarray, error: np.ndarray, threshold: float, frames: np.ndarray, end_time: float):
    failing = np.nonzero(error > threshold)[0]
    if failing.size == 0:
        return None, end_time
    return int(frames[failing[0]]), float(times[failing[0]])


def reference_bonds(reference: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """(bonds [B, 2] with i < j, mean minimum-image length of each over the reference [B])."""
    elements = reference.elements
    type_of = np.array([elements.index(s) for s in reference.symbols])
    index, _ = bonded_edges(reference, 0, cutoff_matrix(elements, None), type_of)
    bonds = np.unique(np.sort(index.T, axis=1), axis=0)
    bonds = bonds[bonds[:, 0] != bonds[:, 1]]
    if bonds.size == 0:
        raise ValueError(f"no bonds in the first frame of {reference.source} at natural cutoffs (covalent radii + 0.3 Å)")
    return bonds, bond_lengths(reference, bonds).mean(axis=0)


def bond_lengths(trajectory: Trajectory, bonds: np.ndarray) -> np.ndarray:
    """[F, B] minimum-image length of each bond in each frame."""
    vectors = trajectory.positions[:, bonds[:, 1]] - trajectory.positions[:, bonds[:, 0]]
    folded = np.stack([minimum_image(v, c, trajectory.pbc) for v, c in zip(vectors, trajectory.cells)])
    return np.linalg.norm(folded, axis=-1)


def bond_stability(trajectory, reference, threshold: float = BOND_DEVIATION_THRESHOLD) -> StabilityResult:
    """Bond-length deviation criterion (see module docstring); needs ``trajectory.timestep``. Trajectories may be
    egraff :class:`Trajectory` objects or MDAnalysis universes."""
    trajectory, reference = as_trajectory(trajectory), as_trajectory(reference)
    positive("threshold", threshold, unit="Å")
    if trajectory.n_atoms != reference.n_atoms or not np.array_equal(trajectory.symbols, reference.symbols):
        raise ValueError(f"{trajectory.source} and {reference.source} are not the same molecule (atoms differ)")
    bonds, mean_length = reference_bonds(reference)
    deviation = np.abs(bond_lengths(trajectory, bonds) - mean_length).max(axis=1)
    times = trajectory.times
    frame, stable = _first_failure(times, deviation, threshold, np.arange(trajectory.n_frames), float(times[-1]))
    return StabilityResult("bond", times, deviation, threshold, frame, stable)


def rdf_stability(trajectory, reference, threshold: float, pairs: str | Sequence | None = None,
                  window_ps: float = RDF_WINDOW_PS, r_max: float = RDF_R_MAX, n_bins: int = RDF_BINS,
                  verbose: bool = False) -> StabilityResult:
    """RDF-MAE criterion on sliding windows of ``window_ps`` (see module docstring); needs ``timestep``."""
    trajectory, reference = as_trajectory(trajectory), as_trajectory(reference)
    positive("threshold", threshold)
    positive("window_ps", window_ps, unit="ps")
    times = trajectory.times
    interval = float(np.median(np.diff(times))) if trajectory.n_frames > 1 else np.inf
    window = int(round(window_ps / interval)) if np.isfinite(interval) and interval > 0 else 0
    if window < 1 or window > trajectory.n_frames:
        raise ValueError(f"a {window_ps} ps window needs frames every ≤ {window_ps} ps and a trajectory at least "
                         f"that long; {trajectory.source} has {trajectory.n_frames} frames {interval:g} ps apart")
    options = dict(pairs=pairs, r_max=r_max, n_bins=n_bins)
    ref = RDF(reference, **options, verbose=verbose).run()
    sim = RDF(trajectory, **options, keep_frames=True, verbose=verbose).run()
    pair_keys = [k for k in sim.results.frame_keys if k != "total"]
    pair_names = [tuple(k.split("-")) for k in pair_keys]
    cumulative = np.concatenate([np.zeros((1, *sim.results.frame_counts.shape[1:])),
                                 np.cumsum(sim.results.frame_counts, axis=0)])
    starts = np.arange(trajectory.n_frames - window + 1)
    error = np.zeros(starts.size)
    for w, start in enumerate(starts):
        counts = cumulative[start + window] - cumulative[start]
        error[w] = max(distribution_mae(sim.normalise(counts[p], window, name), ref.results.rdf[key], r_max)
                       for p, (key, name) in enumerate(zip(pair_keys, pair_names)))
    frame, stable = _first_failure(times[starts], error, threshold, starts, float(times[-1]))
    return StabilityResult("rdf", times[starts], error, threshold, frame, stable)
