"""The shape every analysis class shares (modelled on MDAnalysis ``AnalysisBase``).

``run(start, stop, step)`` visits the selected frames once, calling ``_prepare``, ``_single_frame`` for
each frame and ``_conclude``; the answers are in ``results`` (a dict with attribute access).
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np


class Results(dict):
    """A dict whose keys are also attributes: ``results.rdf`` is ``results["rdf"]``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no result named {name!r}; available: {', '.join(self) or 'none (call run() first)'}")

    def __setattr__(self, name, value):
        self[name] = value


def progress(items: Iterable, total: int, description: str, enabled: bool) -> Iterator:
    """``items`` with a rich progress bar on stderr when ``enabled``."""
    if not enabled:
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    yield from track(items, total=total, description=description, transient=True, console=Console(stderr=True))


class AnalysisBase:
    """Subclasses set ``self.trajectory`` and implement ``_prepare``, ``_single_frame(frame)`` and ``_conclude``."""

    description = "analysing"

    def __init__(self, trajectory, progress: bool = False):
        self.trajectory = trajectory
        self.progress = progress
        self.results = Results()

    def run(self, start: int | None = None, stop: int | None = None, step: int | None = None):
        self.frames = np.arange(self.trajectory.n_frames)[slice(start, stop, step)]
        if self.frames.size == 0:
            raise ValueError(f"no frames selected (start={start}, stop={stop}, step={step}) "
                             f"from a trajectory of {self.trajectory.n_frames} frames")
        self.n_frames = int(self.frames.size)
        self._prepare()
        for frame in progress(self.frames, self.n_frames, self.description, self.progress):
            self._single_frame(int(frame))
        self._conclude()
        return self

    def _prepare(self):
        pass

    def _single_frame(self, frame: int):
        raise NotImplementedError

    def _conclude(self):
        pass
