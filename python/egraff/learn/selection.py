"""Which explored frames are labelled, and when the loop is done: DP-GEN's trust levels on the committee's
largest atomic force deviation of a frame, σ = max_i σ_F,i (Zhang et al., Phys. Rev. Mater. 3, 023804
(2019): σ < lo accurate, lo ≤ σ < hi candidate, σ ≥ hi failed — a frame the models no longer describe,
never labelled).

Candidates are taken in time order, exploration after exploration; when there are more than the cap,
evenly spaced ones are kept (the first and the last included), so the frames added spread over the
runs' time rather than bunching where the deviation first rose. The loop is done when every exploration
ran its full length and at most a target fraction of all frames reached ``lo``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

ACCURATE, CANDIDATE, FAILED = 0, 1, 2
CLASSES = ("accurate", "candidate", "failed")


def trust_classes(deviation, lo: float, hi: float) -> np.ndarray:
    """ACCURATE, CANDIDATE or FAILED for each frame's deviation (a NaN deviation is FAILED)."""
    deviation = np.asarray(deviation, dtype=np.float64)
    classes = np.full(deviation.shape, FAILED)
    classes[deviation < lo] = ACCURATE
    classes[(deviation >= lo) & (deviation < hi)] = CANDIDATE
    return classes


def spread(count: int, cap: int) -> np.ndarray:
    """Indices of at most ``cap`` of ``count`` items in order, evenly spaced, the first and last included."""
    if count <= cap:
        return np.arange(count)
    if cap == 1:
        return np.array([0])
    return np.round(np.linspace(0, count - 1, cap)).astype(int)  # spacing >= 1: no index twice


def select_candidates(deviations: Sequence, lo: float, hi: float, cap: int) -> list[tuple[int, int]]:
    """(exploration, frame) of the frames to label: candidates of every exploration in time order, at most
    ``cap``, spread evenly."""
    candidates = [(run, int(frame)) for run, deviation in enumerate(deviations)
                  for frame in np.flatnonzero(trust_classes(deviation, lo, hi) == CANDIDATE)]
    return [candidates[k] for k in spread(len(candidates), cap)]


def class_counts(deviations: Sequence, lo: float, hi: float) -> dict[str, int]:
    classes = trust_classes(np.concatenate([np.asarray(d, dtype=np.float64) for d in deviations]) if deviations
                            else np.zeros(0), lo, hi)
    return {name: int(np.sum(classes == k)) for k, name in enumerate(CLASSES)}


def is_converged(all_completed: bool, counts: dict[str, int], fraction_above_lo: float) -> bool:
    """Every exploration ran its full length and at most ``fraction_above_lo`` of the frames reached lo."""
    total = sum(counts.values())
    return all_completed and total > 0 and (counts["candidate"] + counts["failed"]) <= fraction_above_lo * total


def empty_selection(counts: dict[str, int], lo: float, hi: float, iteration: int) -> str:
    """Why iteration ``iteration`` found nothing to label although it is not done, and what to change."""
    total = sum(counts.values())
    what = (f"iteration {iteration} selected no frame to label: of its {total} explored frames {counts['accurate']} "
            f"have a force deviation below trust.lo = {lo:g} eV/Å and {counts['failed']} at or above trust.hi = "
            f"{hi:g} eV/Å, none in between")
    if counts["failed"]:
        return (f"{what}; raise trust.hi (the models leave the trust window faster than frames are dumped), or "
                "dump more often (explore.overrides.dump_every)")
    return (f"{what}, yet an exploration stopped early; lower trust.lo so that the frames before the failure are "
            "labelled, or dump more often (explore.overrides.dump_every)")
