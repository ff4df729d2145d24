"""Molecule runs are not periodic: a real LAMMPS ``boundary s s s`` dump read with its flags, bonds, angles and
g(r) without periodic images, and the study's shell-normalised g(r) and Wright's factor equal to ASE's."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.analysis import ADF, RDF, Trajectory, bond_stability, compare_rdfs, read_trajectory, wright_factors
from egraff.analysis.stability import reference_bonds

from analysis_helpers import molecule_dump  # noqa: F401 (fixture)

BOX = 20.0  # Å, the box of inputs/data/ethanol.data: the molecule's "dataset cell"


def in_box(trajectory: Trajectory, frames) -> list:
    """Frames as ASE atoms in the 20 Å box, not periodic (as EGraFFBench's MD17 frames carry their dataset's box)."""
    atoms = [trajectory.atoms(k) for k in frames]
    for a in atoms:
        a.set_cell([BOX] * 3)
        a.pbc = False
    return atoms


def test_molecule_dump_is_read_as_non_periodic(molecule_dump):
    """``ss ss ss``: no axis periodic. Read as periodic, the molecule would touch its images across its
    bounding box (1.8 Å thick along z): spurious bonds, extra angles, no g(r) beyond 0.9 Å."""
    traj = read_trajectory(molecule_dump, timestep=0.0005)
    assert traj.pbc.tolist() == [False, False, False] and traj.unwrapped and traj.n_frames == 7
    bonds, _ = reference_bonds(traj)
    assert len(bonds) == 8  # ethanol: C–C, C–O, O–H and five C–H
    stability = bond_stability(traj, traj)
    assert stability.failure_frame is None and stability.error.max() < 0.2  # free flight for 30 fs
    angles = ADF(traj, "H-C-H,C-C-O,C-O-H,H-H-H").run().results.angles_per_frame
    assert angles == {"H-C-H": 4, "C-C-O": 1, "C-O-H": 1, "H-H-H": 0}
    rdf = RDF(traj, r_max=6.0, volume=BOX**3, ideal_pairs="all").run().results
    assert rdf.count["total"].sum() == 9 * 8 * traj.n_frames  # every ordered pair once: no images
    with pytest.raises(ValueError, match="is not periodic and has no cell volume"):
        RDF(Trajectory(symbols=["C", "O"], positions=np.zeros((1, 2, 3)) + [[0, 0, 0], [1.2, 0, 0]], cells=np.zeros((3, 3)),
                       pbc=False, steps=[0]))


def test_molecule_rdf_equals_ase_get_rdf(molecule_dump):
    """EGraFFBench's g(r) of a molecule: ASE get_rdf with the cell volume as density volume (no periodic images),
    total and partial, over all frames; ours to 1e-10."""
    from ase.geometry.rdf import get_rdf

    traj = read_trajectory(molecule_dump)
    ours = RDF(traj, pairs="C-H,H-H", r_max=4.0, n_bins=80, ideal_pairs="all", volume=BOX**3).run().results
    frames = in_box(traj, range(traj.n_frames))
    np.testing.assert_allclose(ours.rdf["total"], get_rdf(frames, 4.0, 80, no_dists=True), rtol=0, atol=1e-10)
    for pair in ("C-H", "H-H"):
        theirs = get_rdf(frames, 4.0, 80, elements=pair.split("-"), no_dists=True)
        assert theirs.max() > 10  # shell-normalised: a molecule in a large box is dense at bond lengths
        np.testing.assert_allclose(ours.rdf[pair], theirs, rtol=0, atol=1e-10)


def test_study_wright_factor_of_a_molecule_over_all_frames_and_before_failure(molecule_dump):
    """compare_rdfs on a molecule is ASE's g(r) on EGraFFBench's grid (r_max from the reference's box) with the
    reference's box volume for both runs; WF over all frames and over the frames before a failure."""
    from ase.geometry.rdf import get_rdf

    traj = read_trajectory(molecule_dump)
    reference_frames = in_box(traj, range(3, 7))
    reference = Trajectory(symbols=traj.symbols, positions=[a.positions for a in reference_frames],
                           cells=np.diag([BOX] * 3), pbc=False, steps=np.arange(4))
    model = traj[:5]  # the dump itself: shrink-wrapped boxes, not periodic
    r_max = round(min((BOX - 1) / 2, 10.0), 1)
    n_bins = int(r_max / 0.05)
    g_ref = get_rdf(reference_frames, r_max, n_bins, no_dists=True)

    def authors(frames):
        g = get_rdf(in_box(traj, frames), r_max, n_bins, no_dists=True)
        return np.sum((g - g_ref) ** 2) / np.sum(g_ref**2)

    result = compare_rdfs(model, reference)["total"]
    assert result["r"][-1] == pytest.approx(r_max - 0.025)
    assert result["wright_factor"] == pytest.approx(authors(range(5)), rel=1e-10) and result["wright_factor"] > 1e-4
    both = wright_factors(model, reference, failure_frame=2)
    assert both["wright_factor_all_frames"] == pytest.approx(authors(range(5)), rel=1e-10)
    assert both["wright_factor_before_failure"] == pytest.approx(authors(range(2)), rel=1e-10)
    assert wright_factors(model, reference)["wright_factor_before_failure"] == both["wright_factor_all_frames"]


def test_a_molecule_run_is_evaluated_without_images_by_bonds_and_the_study_wright_factors(molecule_dump):
    """egraff.analysis.evaluate (the benchmark's analyze step) on a molecule dump read non-periodic: Fu et al.'s
    bond criterion is chosen by itself (no RDF criterion), g(r) is the study's molecule g(r) in the reference's
    box, and Wright's factor is reported over all frames and over the frames before the run's failure."""
    from egraff.analysis.evaluate import evaluate

    traj = read_trajectory(molecule_dump, timestep=0.0005)
    frames = in_box(traj, range(3, 7))
    reference = Trajectory(symbols=traj.symbols, positions=[a.positions for a in frames], cells=np.diag([BOX] * 3),
                           pbc=False, steps=np.arange(4))
    calm = evaluate(traj, reference, requested_ps=float(traj.times[-1]), triplets=None).metrics
    assert calm["stability_criterion"] == "no failure (watchdog, bond)" and calm["failure_frame"] is None
    assert calm["wright_factor_all_frames"] == calm["wright_factor_before_failure"] == calm["rdf_wright_factor"]
    assert calm["wright_factor_all_frames"] == pytest.approx(compare_rdfs(traj, reference)["total"]["wright_factor"])

    failed = evaluate(traj, reference, requested_ps=float(traj.times[-1]), failure=(float(traj.times[3]), "too hot"),
                      triplets=None)
    metrics, distributions = failed.metrics, failed.distributions
    assert metrics["failure_frame"] == 3 and metrics["stability_criterion"] == "watchdog: too hot"
    assert {k: metrics[k] for k in ("wright_factor_all_frames", "wright_factor_before_failure")} == \
        wright_factors(traj, reference, failure_frame=3)
    assert metrics["wright_factor_before_failure"] != pytest.approx(metrics["wright_factor_all_frames"])
    before = compare_rdfs(traj[:3], reference)["total"]
    assert distributions["rdf_total_r"][-1] == pytest.approx(round((BOX - 1) / 2, 1) - 0.025)
    np.testing.assert_allclose(distributions["rdf_total_g"], before["g"], rtol=0, atol=1e-12)
    assert metrics["rdf_wright_factor"] == pytest.approx(metrics["wright_factor_before_failure"], rel=1e-12)
