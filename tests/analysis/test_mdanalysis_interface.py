"""The analysis classes speak MDAnalysis: a Universe or AtomGroup in, ``run(start, stop, step, frames, verbose)``,
``results``; the same numbers as on egraff's own reader, and MSD equal to MDAnalysis's EinsteinMSD."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.analysis import ADF, MSD, RDF, DistanceHistogram, as_trajectory, rdf_stability, read_trajectory

from analysis_helpers import fluid_dumps, lj_fluid  # noqa: F401 (fixture)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # MDAnalysis: guessed masses, reader dt


def universe(path, **options):
    import MDAnalysis as mda

    return mda.Universe(str(path), format="LAMMPSDUMP", **options)


def test_universe_and_atomgroup_give_the_numbers_of_our_reader(fluid_dumps):
    """Coordinates on the dump's dyadic grid are exact in MDAnalysis's float32: identical pair counts and g(r)."""
    path = fluid_dumps["orthogonal"]
    ours = RDF(read_trajectory(path), r_max=7.3, n_bins=73).run().results
    u = universe(path)
    theirs = RDF(u, r_max=7.3, n_bins=73).run().results
    for key in ("Ar-Ar", "Ar-Kr", "Kr-Kr", "total"):
        np.testing.assert_array_equal(theirs.count[key], ours.count[key])
        np.testing.assert_allclose(theirs.rdf[key], ours.rdf[key], rtol=1e-12)
    argon = RDF(u.select_atoms("type 1"), r_max=7.3, n_bins=73).run().results  # an AtomGroup: argon alone
    np.testing.assert_allclose(argon.rdf["Ar-Ar"], ours.rdf["Ar-Ar"], rtol=1e-12)
    assert list(argon.rdf) == ["Ar-Ar", "total"]
    angles = ADF(u, "Ar-Ar-Ar", cutoff=4.5).run(step=2).results
    np.testing.assert_array_equal(angles.count["Ar-Ar-Ar"],
                                  ADF(read_trajectory(path), "Ar-Ar-Ar", cutoff=4.5).run(step=2).results.count["Ar-Ar-Ar"])
    assert as_trajectory(u).n_frames == u.trajectory.n_frames and as_trajectory(u).pbc.all()


def test_run_selects_frames_as_mdanalysis_does(fluid_dumps):
    traj = read_trajectory(fluid_dumps["orthogonal"])
    sliced = RDF(traj, r_max=6.0).run(start=1, stop=9, step=3)
    assert sliced.frames.tolist() == [1, 4, 7] and sliced.n_frames == 3 and sliced.times is None
    by_index = RDF(traj, r_max=6.0).run(frames=[1, 4, 7])
    mask = np.zeros(traj.n_frames, bool)
    mask[[1, 4, 7]] = True
    by_mask = RDF(traj, r_max=6.0).run(frames=mask, verbose=True)
    for other in (by_index, by_mask):
        np.testing.assert_array_equal(other.results.count["total"], sliced.results.count["total"])
    with pytest.raises(ValueError, match="start/stop/step cannot be combined with frames"):
        RDF(traj, r_max=6.0).run(start=1, frames=[1, 2])
    with pytest.raises(ValueError, match="step must be a positive whole number of frames, got 0"):
        RDF(traj, r_max=6.0).run(step=0)
    with pytest.raises(ValueError, match="no frames selected"):
        RDF(traj, r_max=6.0).run(start=50)
    with pytest.raises(AttributeError, match="no result named 'rdff'; available: edges, bins"):
        sliced.results.rdff
    with pytest.raises(TypeError, match="give an egraff Trajectory .* or an MDAnalysis Universe or AtomGroup"):
        DistanceHistogram([[0.0, 0.0, 0.0]])


def test_msd_equals_mdanalysis_einstein_msd(tmp_path):
    """Unwrapped LAMMPS coordinates (xu yu zu) through a Universe: our FFT MSD over all time origins equals
    MDAnalysis's direct EinsteinMSD, and D = slope/6 follows from it."""
    from MDAnalysis.analysis.msd import EinsteinMSD

    path = lj_fluid(tmp_path / "hot.dump", triclinic=False, temperature=900.0, steps=1000, every=25,
                    columns="id type element xu yu zu")
    u = universe(path, dt=0.05)  # 25 steps of 2 fs per frame
    theirs = EinsteinMSD(u, select="all", msd_type="xyz", fft=False).run().results.timeseries
    result = MSD(u, remove_drift=False).run()
    ours = result.results
    np.testing.assert_allclose(ours.msd["all"], theirs, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.times, np.arange(len(theirs)) * 0.05, atol=1e-12)
    assert ours.msd["all"][-1] > 10.0  # a liquid: atoms moved several Å
    assert ours.diffusion["Ar"] > 0 and ours.diffusion["Kr"] > 0
    every_other = MSD(u, remove_drift=False).run(step=2).results
    np.testing.assert_allclose(every_other.msd["all"], ours.msd["all"][::2][:len(every_other.msd["all"])], rtol=0.05)
    with pytest.raises(ValueError, match="not evenly spaced in time"):
        MSD(u).run(frames=[0, 1, 3, 4])


def test_stability_takes_universes(fluid_dumps):
    u = universe(fluid_dumps["orthogonal"], dt=0.1)  # 50 steps of 2 fs per frame
    result = rdf_stability(u, u, threshold=1.0, window_ps=0.5, r_max=5.0, n_bins=50)
    assert result.failure_frame is None and result.error.max() < 1.0
