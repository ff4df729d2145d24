"""Dynamics: mean-squared displacement and self-diffusion coefficients per element."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from egraff.analysis._base import Results
from egraff.analysis.structure import parse_names
from egraff.analysis.trajectory import Trajectory, unwrapped_positions

#: 1 Å²/ps in m²/s
ANGSTROM2_PER_PS = 1e-8


def windowed_msd(positions: np.ndarray) -> np.ndarray:
    """MSD(m) = ⟨|r(t + m) − r(t)|²⟩ over all time origins t and atoms, for every lag m = 0 … F − 1.

    positions: [F, N, 3], continuous (unwrapped). O(F log F) with the FFT algorithm of nMoldyn
    (Calandrini, Pellegrini, Calligari, Hinsen & Kneller, Collection SFN 12, 201 (2011)):
    (F − m)·MSD(m) = Σ_t [r(t)² + r(t+m)²] − 2 Σ_t r(t)·r(t+m), the last sum an autocorrelation.
    """
    n_frames = positions.shape[0]
    x = positions.reshape(n_frames, -1)
    squares = np.concatenate([np.zeros(1), np.cumsum((x * x).sum(axis=1))])
    lags = np.arange(n_frames)
    # Σ_{t=0}^{F-m-1} r(t)² + Σ_{t=m}^{F-1} r(t)²
    square_sum = squares[n_frames - lags] + (squares[n_frames] - squares[lags])
    spectrum = np.fft.rfft(x, n=2 * n_frames, axis=0)
    autocorrelation = np.fft.irfft(spectrum * spectrum.conj(), n=2 * n_frames, axis=0)[:n_frames].sum(axis=1)
    msd = (square_sum - 2.0 * autocorrelation) / (n_frames - lags) / positions.shape[1]
    msd[0] = 0.0
    return np.maximum(msd, 0.0)


def diffusion_coefficient(times: np.ndarray, msd: np.ndarray, fit: tuple[float, float] = (0.2, 0.6),
                          dimensions: int = 3) -> float:
    """D = slope / (2·d) of a least-squares line through MSD(t) (Einstein relation), fitted between the
    fractions ``fit`` of the longest lag: past the ballistic start, before the noisy long lags. Å²/ps."""
    t_max = times[-1]
    window = (times >= fit[0] * t_max) & (times <= fit[1] * t_max)
    if window.sum() < 2:
        raise ValueError(f"only {window.sum()} lag(s) fall in the fit window {fit} of a {len(times)}-frame MSD; "
                         "use a longer trajectory or a wider fit window")
    slope = np.polyfit(times[window], msd[window], 1)[0]
    return float(slope / (2 * dimensions))


class MSD:
    """Mean-squared displacement per element and its self-diffusion coefficient.

    Positions are unwrapped first when the file does not say they already are (summing per-frame
    minimum-image moves). With ``remove_drift`` (default, as Fu et al.) the centre of mass of the
    whole system (atomic masses where the names are elements, else equal weights) is subtracted per
    frame. MSD is averaged over all time origins (:func:`windowed_msd`); D from :func:`diffusion_coefficient`.

    ``results``: ``times`` (ps), ``msd[element]`` and ``msd["all"]`` (Å²), ``diffusion[...]`` (Å²/ps;
    × 1e-8 for m²/s).
    """

    def __init__(self, trajectory: Trajectory, elements: str | Sequence[str] | None = None,
                 remove_drift: bool = True, fit: tuple[float, float] = (0.2, 0.6)):
        self.trajectory = trajectory
        names = trajectory.elements if elements is None else elements
        self.elements = [e[0] for e in parse_names(names, 1, "element", trajectory.elements)]
        self.remove_drift = remove_drift
        self.fit = fit
        self.results = Results()

    def run(self, start: int | None = None, stop: int | None = None, step: int | None = None):
        traj = self.trajectory[slice(start, stop, step)]
        if traj.n_frames < 3:
            raise ValueError(f"{traj.source}: an MSD needs at least 3 frames, {traj.n_frames} selected")
        positions = unwrapped_positions(traj)
        if self.remove_drift:
            weights = atom_masses(traj.symbols)
            positions = positions - np.einsum("n,fnk->fk", weights / weights.sum(), positions)[:, None, :]
        r = self.results
        r.times = traj.times
        r.msd, r.diffusion = {}, {}
        for name in [*self.elements, "all"]:
            atoms = np.ones(traj.n_atoms, bool) if name == "all" else traj.symbols == name
            r.msd[name] = windowed_msd(positions[:, atoms])
            r.diffusion[name] = diffusion_coefficient(r.times, r.msd[name], self.fit)
        return self


def atom_masses(symbols: np.ndarray) -> np.ndarray:
    """Atomic masses when every name is an element, else ones."""
    from ase.data import atomic_masses, atomic_numbers

    if all(s in atomic_numbers for s in symbols):
        return np.array([atomic_masses[atomic_numbers[s]] for s in symbols])
    return np.ones(len(symbols))
