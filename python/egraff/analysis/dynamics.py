"""Dynamics: mean-squared displacement and self-diffusion coefficients per element."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from egraff.analysis._base import AnalysisBase
from egraff.analysis.structure import parse_names
from egraff.analysis.trajectory import unwrapped_positions

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


class MSD(AnalysisBase):
    """Mean-squared displacement per element and its self-diffusion coefficient.

    Positions are unwrapped first when the file does not say they already are (summing per-frame
    minimum-image moves along periodic axes). With ``remove_drift`` (default, as Fu et al.) the centre
    of mass of the whole system (atomic masses where the names are elements, else equal weights) is
    subtracted per frame. MSD is averaged over all time origins (:func:`windowed_msd`, which
    MDAnalysis's ``EinsteinMSD`` also computes); D from :func:`diffusion_coefficient`. The selected
    frames must be evenly spaced in time.

    ``results``: ``times`` (lag times, ps), ``msd[element]`` and ``msd["all"]`` (Å²),
    ``diffusion[...]`` (Å²/ps; × 1e-8 for m²/s).
    """

    description = "MSD"

    def __init__(self, trajectory, elements: str | Sequence[str] | None = None, remove_drift: bool = True,
                 fit: tuple[float, float] = (0.2, 0.6), verbose: bool = False):
        super().__init__(trajectory, verbose)
        known = self.trajectory.elements
        self.elements = [e[0] for e in parse_names(known if elements is None else elements, 1, "element", known)]
        if not (len(fit) == 2 and 0 <= fit[0] < fit[1] <= 1):
            raise ValueError(f"fit must be two fractions 0 ≤ a < b ≤ 1 of the longest lag, got {fit}")
        self.remove_drift = remove_drift
        self.fit = fit

    def _prepare(self):
        if self.n_frames < 3:
            raise ValueError(f"{self.trajectory.source}: an MSD needs at least 3 frames, {self.n_frames} selected")
        lags = np.diff(self.trajectory.times[self.frames])
        if not np.allclose(lags, lags[0], rtol=1e-9, atol=0) or lags[0] <= 0:
            raise ValueError(f"{self.trajectory.source}: the selected frames are not evenly spaced in time; an MSD over "
                             "time origins needs a constant frame interval (use start/stop/step)")

    def _single_frame(self, frame: int):
        pass  # the MSD needs every frame at once: see _conclude

    def _conclude(self):
        traj = self.trajectory[self.frames]
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


def atom_masses(symbols: np.ndarray) -> np.ndarray:
    """Atomic masses when every name is an element, else ones."""
    from ase.data import atomic_masses, atomic_numbers

    if all(s in atomic_numbers for s in symbols):
        return np.array([atomic_masses[atomic_numbers[s]] for s in symbols])
    return np.ones(len(symbols))
