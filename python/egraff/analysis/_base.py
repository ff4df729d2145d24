"""The shape every analysis class shares: MDAnalysis's ``AnalysisBase`` (``MDAnalysis/analysis/base.py``).

An analysis is built on an egraff :class:`~egraff.analysis.trajectory.Trajectory` or an MDAnalysis
``Universe``/``AtomGroup`` (read into one, every frame); ``run(start, stop, step, frames, verbose)``
visits the selected frames once — ``_prepare``, ``_single_frame(frame)`` for each, ``_conclude`` — and
the answers are in ``results``, a dict with attribute access like MDAnalysis's ``Results``. As in
MDAnalysis, ``frames`` (indices or a boolean mask) replaces ``start``/``stop``/``step``, and ``run``
sets ``frames`` (the indices visited), ``n_frames`` and ``times`` (ps, where the trajectory has time).
"""

from __future__ import annotations

import numbers

import numpy as np

from egraff.progress import track


class Results(dict):
    """A dict whose keys are also attributes: ``results.rdf`` is ``results["rdf"]``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no result named {name!r}; available: {', '.join(self) or 'none (call run() first)'}")

    def __setattr__(self, name, value):
        if name in dir(dict):
            raise AttributeError(f"{name!r} is a dict method and cannot be a result name")
        self[name] = value

    def __dir__(self):
        return [*super().__dir__(), *self]


def positive(name: str, value, *, integer: bool = False, unit: str = ""):
    """``value`` if it is a finite number > 0 (an integer with ``integer``), else one sentence naming ``name``."""
    kind = "whole number" if integer else "number"
    valid = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool) \
        and np.isfinite(value) and value > 0
    if not valid:
        raise ValueError(f"{name} must be a positive {kind}{f' ({unit})' if unit else ''}, got {value!r}")
    return value


def frame_indices(n_frames: int, start=None, stop=None, step=None, frames=None) -> np.ndarray:
    """The frame indices a ``run`` visits, with MDAnalysis's rules for ``frames`` and slices."""
    if frames is not None:
        if any(v is not None for v in (start, stop, step)):
            raise ValueError("start/stop/step cannot be combined with frames; give either a slice or frame indices")
        frames = np.asarray(frames)
        if frames.dtype == bool:
            if frames.shape != (n_frames,):
                raise ValueError(f"a boolean frames mask needs one entry per frame ({n_frames}), got {frames.shape}")
            frames = np.nonzero(frames)[0]
        if frames.ndim != 1 or frames.dtype.kind not in "iu":
            raise ValueError(f"frames must be frame indices (integers) or a boolean mask, got {frames.dtype} values")
        if frames.size and (frames.min() < -n_frames or frames.max() >= n_frames):
            raise ValueError(f"frames {frames.tolist()} reach outside a trajectory of {n_frames} frames")
        selected = np.arange(n_frames)[frames]
    else:
        for name, value in (("start", start), ("stop", stop), ("step", step)):
            if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool)):
                raise ValueError(f"{name} must be a whole number of frames, got {value!r}")
        if step is not None and step <= 0:
            raise ValueError(f"step must be a positive whole number of frames, got {step}")
        selected = np.arange(n_frames)[slice(start, stop, step)]
    if selected.size == 0:
        raise ValueError(f"no frames selected (start={start}, stop={stop}, step={step}, frames={frames}) "
                         f"from a trajectory of {n_frames} frames")
    return selected


class AnalysisBase:
    """Subclasses implement ``_prepare``, ``_single_frame(frame)`` and ``_conclude``."""

    description = "analysing"

    def __init__(self, trajectory, verbose: bool = False):
        from egraff.analysis.trajectory import as_trajectory

        self.trajectory = as_trajectory(trajectory)
        self._verbose = verbose
        self.results = Results()

    def run(self, start: int | None = None, stop: int | None = None, step: int | None = None, frames=None,
            verbose: bool | None = None):
        """Analyse the frames ``[start:stop:step]`` (or ``frames``); returns ``self``."""
        self.frames = frame_indices(self.trajectory.n_frames, start, stop, step, frames)
        self.n_frames = int(self.frames.size)
        traj = self.trajectory
        self.times = traj.times[self.frames] if traj.timestep is not None else None
        self._prepare()
        verbose = self._verbose if verbose is None else verbose
        for frame in track(self.frames, self.n_frames, self.description, enabled=verbose):
            self._single_frame(int(frame))
        self._conclude()
        return self

    def _prepare(self):
        pass

    def _single_frame(self, frame: int):
        raise NotImplementedError

    def _conclude(self):
        pass
