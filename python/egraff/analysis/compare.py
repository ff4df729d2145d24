"""Model against reference: RDFs, ADFs and diffusion side by side, with WF and JSD, and across temperatures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from egraff.analysis.dynamics import MSD
from egraff.analysis.metrics import EGRAFFBENCH_BIN_WIDTH, egraffbench_r_max, jsd_base2, wright_factor
from egraff.analysis.structure import ADF, RDF
from egraff.analysis.trajectory import Trajectory, as_trajectory, max_minimum_image_radius


def compare_rdfs(model, reference, pairs: str | Sequence | None = None, r_max: float | None = None,
                 bin_width: float = EGRAFFBENCH_BIN_WIDTH, verbose: bool = False) -> dict:
    """Frame-averaged RDFs of both trajectories on one grid, with Wright's factor and JSD per pair.

    The grid and g(r) are EGraFFBench's (``wright_factor.py``): ASE ``get_rdf`` (N_A·N_B ideal pairs) from
    0 to :func:`egraffbench_r_max` of the reference's first cell in int(r_max / 0.05) bins, capped at half
    the narrowest periodic cell width of either trajectory (which only binds in strongly tilted cells).
    Molecules (not periodic) get ASE's shell-normalised g(r) too, with the reference's cell volume as the
    density volume for both runs, as when the study's frames all carry their dataset's box (WF does not
    depend on that volume as long as both share it). ``pairs`` "A-B,..." adds partials to the total RDF
    (the authors' default is the total alone). Returns {pair: {"r", "g", "g_ref", "wright_factor", "jsd_base2"}}.
    """
    model, reference = as_trajectory(model), as_trajectory(reference)
    if r_max is None:
        if abs(np.linalg.det(reference.cells[0])) < 1e-9:
            raise ValueError(f"{reference.source} has no cell to take EGraFFBench's r_max from; give r_max")
        limit = min(max_minimum_image_radius(model), max_minimum_image_radius(reference))
        r_max = min(egraffbench_r_max(reference.cells[0]), limit)
    volume = None
    if not reference.pbc.all():
        volume = abs(float(np.linalg.det(reference.cells[0]))) or 1.0
    n_bins = int(r_max / bin_width)  # truncated, as wright_factor.py: 4.3 Å gives 85 bins of 0.0506 Å
    model_rdf, ref_rdf = (RDF(t, pairs=pairs or [], r_max=r_max, n_bins=n_bins, ideal_pairs="all",
                              volume=None if t.pbc.all() else volume, verbose=verbose).run()
                          for t in (model, reference))
    return {key: {"r": model_rdf.results.bins, "g": g, "g_ref": ref_rdf.results.rdf[key],
                  "wright_factor": wright_factor(g, ref_rdf.results.rdf[key]),
                  "jsd_base2": jsd_base2(g, ref_rdf.results.rdf[key])}
            for key, g in model_rdf.results.rdf.items()}


def wright_factors(model, reference, failure_frame: int | None = None, r_max: float | None = None) -> dict:
    """Wright's factor of the total RDF over all frames of the run — the study's use — and over the frames
    before its failure (all frames when it did not fail): ``{"wright_factor_all_frames", "wright_factor_before_failure"}``.
    """
    model = as_trajectory(model)
    everything = compare_rdfs(model, reference, r_max=r_max)["total"]["wright_factor"]
    before = everything
    if failure_frame is not None and failure_frame < model.n_frames:
        before = compare_rdfs(model[:max(failure_frame, 1)], reference, r_max=r_max)["total"]["wright_factor"]
    return {"wright_factor_all_frames": everything, "wright_factor_before_failure": before}


def compare_adfs(model, reference, triplets: str | Sequence, cutoff=None, n_bins: int = 180,
                 verbose: bool = False) -> dict:
    """ADFs of both trajectories (same triplets, cutoffs, bins) and their JSD.
    Returns {triplet: {"theta", "p", "p_ref", "jsd_base2"}}."""
    model_adf, ref_adf = (ADF(t, triplets, cutoff=cutoff, n_bins=n_bins, verbose=verbose).run() for t in (model, reference))
    return {key: {"theta": model_adf.results.bins, "p": p, "p_ref": ref_adf.results.adf[key],
                  "jsd_base2": jsd_base2(p, ref_adf.results.adf[key])}
            for key, p in model_adf.results.adf.items()}


def compare_diffusion(model, reference, elements=None) -> dict:
    """{element: {"model": D, "reference": D}} in Å²/ps (see :class:`MSD`)."""
    model_msd, ref_msd = (MSD(t, elements).run() for t in (model, reference))
    return {e: {"model": d, "reference": ref_msd.results.diffusion[e]} for e, d in model_msd.results.diffusion.items()}


@dataclass
class TemperatureComparison:
    temperature: float
    rdf: dict
    adf: dict = field(default_factory=dict)
    diffusion: dict = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """Flat rows (temperature, quantity, name, metric, value) for CSV/JSON tables."""
        rows = []
        for kind, table in (("rdf", self.rdf), ("adf", self.adf)):
            for name, entry in table.items():
                for metric in ("wright_factor", "jsd_base2"):
                    if metric in entry:
                        rows.append({"temperature": self.temperature, "quantity": kind, "name": name,
                                     "metric": metric, "value": entry[metric]})
        for element, entry in self.diffusion.items():
            for who in ("model", "reference"):
                rows.append({"temperature": self.temperature, "quantity": "diffusion", "name": element,
                             "metric": f"D_{who}_A2_per_ps", "value": entry[who]})
        return rows


def compare_temperatures(runs: Mapping[float, tuple[Trajectory, Trajectory]], pairs=None, triplets=None,
                         adf_cutoff=None, diffusion: bool = True, verbose: bool = False) -> list[TemperatureComparison]:
    """For each temperature T: (model trajectory, reference trajectory) → RDF (+WF, JSD), ADF (+JSD) when
    ``triplets`` are given, and D per element when ``diffusion`` (needs timesteps). Sorted by T."""
    comparisons = []
    for temperature in sorted(runs):
        model, reference = runs[temperature]
        comparisons.append(TemperatureComparison(
            temperature=float(temperature),
            rdf=compare_rdfs(model, reference, pairs, verbose=verbose),
            adf=compare_adfs(model, reference, triplets, adf_cutoff, verbose=verbose) if triplets else {},
            diffusion=compare_diffusion(model, reference) if diffusion else {}))
    return comparisons


def temperature_panels(comparisons: Sequence[TemperatureComparison]) -> list[tuple]:
    """Panels for :func:`egraff.analysis.plots.plot_temperature_panels`: RDF and (if any) ADF per temperature."""
    panels = []
    for c in comparisons:
        panels.append((f"RDF @ {c.temperature:g} K", next(iter(c.rdf.values()))["r"],
                       {k: v["g"] for k, v in c.rdf.items()}, {k: v["g_ref"] for k, v in c.rdf.items()}, "r (Å)", "g(r)"))
        if c.adf:
            panels.append((f"ADF @ {c.temperature:g} K", next(iter(c.adf.values()))["theta"],
                           {k: v["p"] for k, v in c.adf.items()}, {k: v["p_ref"] for k, v in c.adf.items()},
                           "angle (°)", "P(θ) (1/°)"))
    return panels
