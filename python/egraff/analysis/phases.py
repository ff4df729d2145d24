"""Phases: per-frame local structure identification with OVITO, as fractions of atoms over time.

Methods (OVITO modifiers, applied to each frame built in memory; no display needed):

* ``"ptm"`` — polyhedral template matching (Larsen, Schmidt & Schiøtz, Modelling Simul. Mater. Sci. Eng.
  24, 055007 (2016)); OVITO's default templates FCC, HCP, BCC, or all nine with ``all_structures=True``.
* ``"cna"`` — adaptive common neighbour analysis (Stukowski, Modelling Simul. Mater. Sci. Eng. 20,
  045021 (2012)): FCC, HCP, BCC, ICO.
* ``"diamond"`` — OVITO's diamond identification (cubic/hexagonal diamond and their first/second
  neighbours), for silicon, germanium, carbon.

Atoms no template matches are "Other" (liquids, amorphous solids, surfaces, defects).
"""

from __future__ import annotations

import numpy as np

from egraff.analysis._base import AnalysisBase

METHODS = ("ptm", "cna", "diamond")


def _modifier(method: str, all_structures: bool):
    from ovito.modifiers import CommonNeighborAnalysisModifier, IdentifyDiamondModifier, PolyhedralTemplateMatchingModifier

    if method == "ptm":
        modifier = PolyhedralTemplateMatchingModifier()
        if all_structures:
            for structure in modifier.structures:
                structure.enabled = True
        return modifier
    if method == "cna":
        return CommonNeighborAnalysisModifier()
    if method == "diamond":
        return IdentifyDiamondModifier()
    raise ValueError(f"unknown structure identification method {method!r}; use one of {', '.join(METHODS)}")


class PhaseFractions(AnalysisBase):
    """Fraction of atoms in each OVITO structure type, per frame.

    ``results``: ``structures`` (OVITO's names, e.g. "Other", "FCC", "Cubic diamond"), ``steps``,
    ``counts`` [F, S] and ``fractions`` [F, S] (rows sum to 1), ``mean_fractions`` {name: mean over frames}.
    """

    description = "phases"

    def __init__(self, trajectory, method: str = "ptm", all_structures: bool = False, verbose: bool = False):
        super().__init__(trajectory, verbose)
        self.modifier = _modifier(method, all_structures)
        self.method = method

    def _prepare(self):
        self.structures = [s.name for s in self.modifier.structures]
        self._counts = []

    def _single_frame(self, frame: int):
        from ovito.data import DataCollection

        traj = self.trajectory
        data = DataCollection()
        data.create_cell(np.column_stack([traj.cells[frame].T, np.zeros(3)]), pbc=tuple(bool(p) for p in traj.pbc))
        particles = data.create_particles(count=traj.n_atoms)
        particles.create_property("Position", data=traj.positions[frame])
        data.apply(self.modifier)
        kinds = np.asarray(data.particles["Structure Type"])
        self._counts.append(np.bincount(kinds, minlength=len(self.structures)))

    def _conclude(self):
        r = self.results
        r.method = self.method
        r.structures = self.structures
        r.steps = self.trajectory.steps[self.frames]
        r.counts = np.array(self._counts)
        r.fractions = r.counts / self.trajectory.n_atoms
        r.mean_fractions = dict(zip(self.structures, r.fractions.mean(axis=0).tolist()))
