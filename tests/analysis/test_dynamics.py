"""MSD and diffusion: analytic ballistic and random-walk limits, unwrapping, MDAnalysis EinsteinMSD."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.analysis import MSD, Trajectory, windowed_msd

DT = 0.01  # ps per frame


def ballistic(n_atoms=50, n_frames=40, length=12.0, wrap=True, seed=1):
    """Atoms in straight lines at zero total momentum; stored wrapped into the box when ``wrap``."""
    rng = np.random.default_rng(seed)
    velocity = rng.normal(0, 2.0, (n_atoms, 3))  # Å/ps
    velocity -= velocity.mean(axis=0)
    t = np.arange(n_frames) * DT
    true = rng.uniform(0, length, (n_atoms, 3)) + t[:, None, None] * velocity
    positions = np.mod(true, length) if wrap else true
    traj = Trajectory(symbols=["Ar"] * n_atoms, positions=positions, cells=np.diag([length] * 3), pbc=True,
                      steps=np.arange(n_frames), timestep=DT)
    return traj, velocity, t


def test_ballistic_msd_is_v2_t2_from_wrapped_coordinates():
    traj, velocity, t = ballistic()
    assert (np.abs(np.diff(traj.positions, axis=0)) > 6).any()  # atoms do cross the boundary
    res = MSD(traj).run().results
    mean_v2 = np.mean(np.sum(velocity**2, axis=1))
    np.testing.assert_allclose(res.msd["Ar"], mean_v2 * t**2, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(res.times, t)


def test_windowed_msd_equals_direct_average_over_origins():
    rng = np.random.default_rng(5)
    positions = np.cumsum(rng.normal(size=(30, 7, 3)), axis=0)
    direct = [np.mean(np.sum((positions[m:] - positions[:len(positions) - m]) ** 2, axis=2)) for m in range(30)]
    np.testing.assert_allclose(windowed_msd(positions), direct, rtol=1e-10, atol=1e-10)


def test_random_walk_diffusion_coefficient():
    """Gaussian steps of σ per axis per frame: MSD = 3σ²m exactly in expectation, D = σ²/(2Δt).

    Over 20 seeds D scatters by 1.4 % (4000 atoms) and 1.9 % (2000 per element): tolerances are ~4σ."""
    rng = np.random.default_rng(11)
    sigma, n_atoms, n_frames = 0.1, 4000, 100
    positions = np.cumsum(rng.normal(0, sigma, (n_frames, n_atoms, 3)), axis=0)
    traj = Trajectory(symbols=["Li"] * 2000 + ["S"] * 2000, positions=positions, cells=np.diag([1000.0] * 3),
                      pbc=True, steps=np.arange(n_frames), timestep=DT)
    res = MSD(traj, remove_drift=False).run().results
    expected = sigma**2 / (2 * DT)
    for element in ("Li", "S", "all"):
        assert res.diffusion[element] == pytest.approx(expected, rel=0.08 if element != "all" else 0.06), element


def test_msd_equals_mdanalysis_einstein_msd():
    import MDAnalysis as mda
    from MDAnalysis.analysis.msd import EinsteinMSD
    from MDAnalysis.coordinates.memory import MemoryReader

    rng = np.random.default_rng(2)
    positions = np.cumsum(rng.normal(0, 0.25, (25, 40, 3)), axis=0)
    traj = Trajectory(symbols=["O"] * 40, positions=positions, cells=np.diag([50.0] * 3), pbc=True,
                      steps=np.arange(25), timestep=DT, unwrapped=True)
    universe = mda.Universe.empty(40, trajectory=True)
    universe.load_new(positions.astype(np.float32), format=MemoryReader)
    theirs = EinsteinMSD(universe, select="all", msd_type="xyz", fft=False).run().results.timeseries
    ours = MSD(traj, remove_drift=False).run().results.msd["O"]
    positions32 = positions.astype(np.float32).astype(np.float64)  # MDAnalysis keeps float32 coordinates
    np.testing.assert_allclose(theirs, windowed_msd(positions32), rtol=1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_msd_needs_time_and_frames():
    traj, _, _ = ballistic(n_frames=2)
    with pytest.raises(ValueError, match="at least 3 frames"):
        MSD(traj).run()
    traj, _, _ = ballistic()
    traj.timestep = None
    with pytest.raises(ValueError, match="give the MD timestep in ps"):
        MSD(traj).run()
