"""A model's MD run judged against reference frames: the EGraFFBench evaluation in one place.

:func:`evaluate` answers, for a model trajectory and a reference (frames of the reference method, or its
own trajectory from the same start):

- how long the run stayed physical (:func:`stability`: the run's own failure, e.g. egraff.md's watchdog,
  and Fu et al.'s bond / RDF criteria);
- how close its structure is (:func:`structure`: RDFs on EGraFFBench's grid — for an isolated molecule, not
  periodic, its shell-normalised g(r) in the reference's box as the study computes it — and ADFs;
  :func:`structure_errors`: Wright's factor and JSD in bits; for a run judged for stability also
  Wright's factor over all its frames, the study's use, and over the frames before its failure);
- whether it violates the reference's energies and forces (:func:`violations`: EGraFFBench's EV / FV,
  variant (b), the reference potential on the model's own frames; or variant (a), a model run against a
  ground-truth trajectory from the same state, both carrying energies and forces, frame by frame);
- for crystals and liquids, crystallinity (:func:`crystal_fractions`) and self-diffusion (:func:`diffusion`).

Used by ``egraff analyze metrics`` and by the benchmark's analyze step; the formulas themselves are in
:mod:`egraff.analysis.metrics`, :mod:`~egraff.analysis.stability` and friends.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np

from egraff.analysis.trajectory import Trajectory

VIOLATION_FRAMES = 20  # model frames (evenly spaced) on which the reference potential is evaluated for EV/FV


@dataclass
class Evaluation:
    metrics: dict  # JSON-able numbers and words
    distributions: dict = field(default_factory=dict)  # rdf_<pair>_{r,g,g_ref}, adf_<triplet>_{theta,p,p_ref}


def evaluate(model: Trajectory, reference: Trajectory, *, requested_ps: float | None = None,
             failure: tuple[float, str] | None = None, model_potential=None, reference_potential=None,
             pairs: str | Sequence | None = "all", triplets: str | Sequence | None = "all", cutoff=None,
             same_start: tuple[Trajectory, Trajectory] | None = None, violations_undefined: str | None = None,
             stable_part: bool = True,
             bond_criterion: bool | None = None, rdf_criterion: bool | None = None, rdf_threshold: float = 3.0,
             phase_method: str | None = None, diffusion_coefficients: bool = False, verbose: bool = False
             ) -> Evaluation:
    """Everything above for one run.

    ``requested_ps``: the run's intended length (None: no stability analysis; with it, Wright's factor of
    the total RDF is also reported over all frames and over the frames before the first failure,
    :func:`egraff.analysis.compare.wright_factors`); ``failure``: (time in ps, reason) at which the run
    itself stopped. With ``stable_part``, structure and violations are computed on the frames before the first failure.
    ``pairs`` / ``triplets``: "all" (every element pair that has atom pairs, every triplet), a list or
    "A-B,C-D" text, or None (the total RDF only / no ADF). ``model_potential`` and ``reference_potential``
    (ASE calculators, or an egraff teacher for the reference) give EV/FV variant (b); ``same_start`` —
    (a model run, a ground-truth trajectory) from the same state, e.g. the model in NVE from a frame of an
    ab initio trajectory with its velocities — gives variant (a) on those two instead of on ``model``;
    ``violations_undefined``: why neither variant is defined for this run (EV/FV NaN with that reason, never
    variant (a) on ``model`` and ``reference``, whose frames do not share a start).
    """
    from egraff.analysis.compare import wright_factors

    metrics = {}
    if requested_ps is not None:
        metrics.update(stability(model, reference, requested_ps, failure=failure, bond_criterion=bond_criterion,
                                 rdf_criterion=rdf_criterion, rdf_threshold=rdf_threshold))
        metrics.update(wright_factors(model, reference, metrics["failure_frame"]))
        if stable_part and metrics["failure_frame"] is not None:
            model = model[: max(metrics["failure_frame"], 2)]
        metrics["analyzed_ps"] = float(model.times[-1])
    distributions = structure(model, reference, pairs=pairs, triplets=triplets, cutoff=cutoff, verbose=verbose)
    metrics.update(structure_errors(distributions))
    metrics.update(structure_table(distributions))
    if model_potential is not None and reference_potential is not None:
        metrics.update(violations(model, model_potential, reference_potential))
    elif violations_undefined is not None and same_start is None:
        metrics.update(energy_violation=float("nan"), force_violation=float("nan"), violations=violations_undefined)
    else:
        metrics.update(trajectory_violations(*(same_start or (model, reference))))
    if phase_method:
        metrics.update(crystal_fractions(model, reference, phase_method))
    if diffusion_coefficients:
        metrics.update(diffusion(model, reference))
    return Evaluation(metrics, distributions)


def without_frames(requested_ps: float, failure: tuple[float, str]) -> Evaluation:
    """The evaluation of a run that stopped (``failure``: time in ps, reason) before writing a frame, e.g. a
    model that refuses the start structure: stable until then, and no structure or violation to compare."""
    nothing = float("nan")
    reason = f"the run wrote no frame: {failure[1]}"
    return Evaluation({"stable_ps": float(failure[0]), "stability_criterion": "watchdog: " + str(failure[1]),
                       "failure_frame": 0, "stable_fraction": float(failure[0] / requested_ps),
                       "wright_factor_all_frames": nothing, "wright_factor_before_failure": nothing,
                       "analyzed_ps": 0.0, **structure_errors({}), "rdf": {}, "adf": {},
                       "energy_violation": nothing, "force_violation": nothing, "violations": reason})


def _element_pairs(trajectory: Trajectory) -> list[str]:
    """Every element pair that has atom pairs: a lone atom (the O of ethanol) has no partial g(r) of its own."""
    elements, symbols = trajectory.elements, list(trajectory.symbols)
    return [f"{a}-{b}" for i, a in enumerate(elements) for b in elements[i:] if a != b or symbols.count(a) > 1]


def _element_triplets(elements: list[str]) -> list[str]:
    return [f"{a}-{b}-{c}" for b in elements for i, a in enumerate(elements) for c in elements[i:]]


def structure(model: Trajectory, reference: Trajectory, *, pairs="all", triplets="all", cutoff=None,
              verbose: bool = False) -> dict:
    """RDFs on EGraFFBench's grid (:func:`egraff.analysis.compare_rdfs`: periodic systems, and isolated
    molecules with no periodic images), total and per pair, and ADFs at natural bond cutoffs, of both runs."""
    from egraff.analysis.compare import compare_rdfs
    from egraff.analysis.structure import ADF

    arrays = {}
    elements = reference.elements
    chosen = _element_pairs(reference) if pairs == "all" else pairs
    for key, entry in compare_rdfs(model, reference, pairs=chosen, verbose=verbose).items():
        arrays.update({f"rdf_{key}_r": entry["r"], f"rdf_{key}_g": entry["g"], f"rdf_{key}_g_ref": entry["g_ref"]})
    if triplets:
        chosen = _element_triplets(elements) if triplets == "all" else triplets
        model_adf, reference_adf = (ADF(t, chosen, cutoff=cutoff, verbose=verbose).run().results
                                    for t in (model, reference))
        for key, p in model_adf.adf.items():
            arrays.update({f"adf_{key}_theta": model_adf.bins, f"adf_{key}_p": p,
                           f"adf_{key}_p_ref": reference_adf.adf[key]})
    return arrays


def _adf_keys(distributions: Mapping) -> list[str]:
    """ADF triplets present in both runs (a triplet absent from one has no divergence)."""
    return [k[4:-2] for k in distributions if k.startswith("adf_") and k.endswith("_p")
            and np.sum(distributions[k]) > 0 and np.sum(distributions[k + "_ref"]) > 0]


def structure_errors(distributions: Mapping) -> dict:
    """WF and JSD (bits) of the total RDF, mean JSD over the ADF triplets present in both runs (NaN where
    there is nothing to compare)."""
    from egraff.analysis.metrics import jsd_base2, wright_factor

    d = distributions
    result = {"rdf_wright_factor": float("nan"), "rdf_jsd_base2": float("nan"), "adf_jsd_base2": float("nan")}
    if "rdf_total_g" in d:
        result["rdf_wright_factor"] = wright_factor(d["rdf_total_g"], d["rdf_total_g_ref"])
        result["rdf_jsd_base2"] = jsd_base2(d["rdf_total_g"], d["rdf_total_g_ref"])
    adf = [jsd_base2(d[f"adf_{k}_p"], d[f"adf_{k}_p_ref"]) for k in _adf_keys(d)]
    if adf:
        result["adf_jsd_base2"] = float(np.mean(adf))
    return result


def structure_table(distributions: Mapping) -> dict:
    """WF and JSD (bits) per RDF pair, JSD per ADF triplet present in both runs."""
    from egraff.analysis.metrics import jsd_base2, wright_factor

    d = distributions
    rdf = {k[4:-2]: {"wright_factor": wright_factor(d[k], d[k + "_ref"]), "jsd_base2": jsd_base2(d[k], d[k + "_ref"])}
           for k in d if k.startswith("rdf_") and k.endswith("_g")}
    adf = {k: {"jsd_base2": jsd_base2(d[f"adf_{k}_p"], d[f"adf_{k}_p_ref"])} for k in _adf_keys(d)}
    return {"rdf": rdf, "adf": adf}


def stability(model: Trajectory, reference: Trajectory, requested_ps: float, *,
              failure: tuple[float, str] | None = None, bond_criterion: bool | None = None,
              rdf_criterion: bool | None = None, rdf_threshold: float = 3.0) -> dict:
    """Stable time: the earliest of the run's own ``failure`` (time in ps, reason), Fu et al.'s bond criterion
    (default: non-periodic systems) and their RDF criterion (default: periodic systems) when the run is
    long enough for its 1 ps windows."""
    from egraff.analysis.stability import bond_stability, rdf_stability

    failures = [(failure[0], "watchdog: " + str(failure[1]))] if failure is not None else []
    periodic = bool(model.pbc.any())
    checks = []
    if (not periodic) if bond_criterion is None else bond_criterion:
        checks.append(lambda: bond_stability(model, reference))
    if periodic if rdf_criterion is None else rdf_criterion:
        checks.append(lambda: rdf_stability(model, reference, threshold=rdf_threshold))
    checked = ["watchdog"]
    for check in checks:
        try:
            result = check()
        except ValueError:  # e.g. too short for the RDF windows: the other criteria decide
            continue
        checked.append(result.criterion)
        if result.failure_frame is not None:
            failures.append((result.stable_time, f"{result.criterion} criterion"))
    stable, criterion = min(failures) if failures else (requested_ps, f"no failure ({', '.join(checked)})")
    failure_frame = int(np.searchsorted(model.times, stable)) if failures else None
    return {"stable_ps": float(stable), "stability_criterion": criterion, "failure_frame": failure_frame,
            "stable_fraction": float(stable / requested_ps)}


def diffusion(model: Trajectory, reference: Trajectory) -> dict:
    """Self-diffusion coefficients (Å²/ps, mean over elements) of the model run and of the reference
    trajectory (NaN where a trajectory is too short for the MSD fit or has no time information)."""
    from egraff.analysis.dynamics import MSD

    def coefficient(trajectory):
        try:
            coefficients = MSD(trajectory).run().results.diffusion
        except ValueError:
            return float("nan")
        return float(np.mean([d for element, d in coefficients.items() if element != "all"]))

    return {"diffusion_model": coefficient(model),
            "diffusion_ref": coefficient(reference) if reference.timestep else float("nan")}


def violations(model: Trajectory, model_potential, reference_potential, frames: int = VIOLATION_FRAMES) -> dict:
    """EV/FV variant (b) (:func:`egraff.analysis.metrics.reference_on_model_violations`) on ``frames`` evenly
    spaced frames of the model run: the model's energies and forces there (``model_potential``, an ASE
    calculator) against the reference potential's (an ASE calculator, a function atoms → (E, F), or an
    egraff teacher, which labels all frames in one LAMMPS session)."""
    from egraff.analysis.metrics import reference_on_model_violations

    chosen = model[::max(1, model.n_frames // frames)]
    energies, forces = [], []
    for frame in range(chosen.n_frames):
        atoms = chosen.atoms(frame)
        atoms.calc = model_potential
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    chosen = replace(chosen, energies=np.array(energies), forces=np.array(forces))
    if hasattr(reference_potential, "label"):
        reference_potential = _prelabelled(reference_potential, chosen)
    result = reference_on_model_violations(chosen, reference_potential)
    return {"energy_violation": result.energy_gmean, "force_violation": result.force_gmean}


def _prelabelled(teacher, trajectory: Trajectory):
    """atoms → (E, F) answering the frames of ``trajectory`` in order, labelled by ``teacher`` in one session."""
    labels = iter(teacher.label([trajectory.atoms(frame) for frame in range(trajectory.n_frames)]))

    def energy_and_forces(atoms):
        label = next(labels)
        if not np.array_equal(label.positions, atoms.positions):
            raise RuntimeError("the reference labels came back for other frames than asked (order changed)")
        return label.get_potential_energy(), label.get_forces()

    return energy_and_forces


def trajectory_violations(model: Trajectory, reference: Trajectory) -> dict:
    """EV/FV variant (a) when both runs carry energies and forces and their times are known (frames are
    matched on common times, :func:`egraff.analysis.metrics.trajectory_violations`), else NaN with the reason."""
    from egraff.analysis.metrics import trajectory_violations as compare

    nan = {"energy_violation": float("nan"), "force_violation": float("nan")}
    if any(t.energies is None or t.forces is None for t in (model, reference)):
        return {**nan, "violations": "skipped: a trajectory carries no energies and forces, and no reference "
                                     "potential was given"}
    if model.timestep is None or reference.timestep is None:
        return {**nan, "violations": "skipped: EV and FV compare frames at the same times; give the timestep"}
    result = compare(model, reference)
    return {"energy_violation": result.energy_gmean, "force_violation": result.force_gmean,
            "violation_times_ps": result.times.tolist(), "energy_violation_per_frame": result.energy.tolist(),
            "force_violation_per_frame": result.force.tolist()}


def crystal_fractions(model: Trajectory, reference: Trajectory, method: str) -> dict:
    """Fraction of atoms in any crystalline structure (not "Other"), model's last frame vs reference mean."""
    from egraff.analysis.phases import PhaseFractions

    def crystalline(trajectory):
        fractions = PhaseFractions(trajectory, method=method).run().results
        other = fractions.structures.index("Other")
        return 1.0 - fractions.fractions[:, other]

    return {"crystalline_fraction": float(crystalline(model[[-1]])[0]),
            "crystalline_fraction_ref": float(np.mean(crystalline(reference)))}
