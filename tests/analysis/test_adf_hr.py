"""Angular distributions and the intramolecular distance histogram h(r)."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.analysis import ADF, DistanceHistogram, Trajectory


def as_trajectory(frames) -> Trajectory:
    return Trajectory(symbols=frames[0].get_chemical_symbols(), positions=[a.positions for a in frames],
                      cells=[a.cell.array for a in frames], pbc=frames[0].pbc, steps=np.arange(len(frames)))


def test_fcc_bond_angles_are_60_90_120_180_in_ratio_24_12_24_6():
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.615, cubic=True).repeat((3, 3, 3))
    # 35 bins of 180/35°: no bin edge at 60°, 90° or 120°, where rounding would split the count
    res = ADF(as_trajectory([atoms]), "Cu-Cu-Cu", cutoff=3.0, n_bins=35).run().results
    count = res.count["Cu-Cu-Cu"]
    assert res.angles_per_frame["Cu-Cu-Cu"] == 66 * len(atoms)  # 12 neighbours → 12·11/2 angles each
    for angle, per_atom in ((60, 24), (90, 12), (120, 24), (180, 6)):
        k = min(int(angle / (180 / 35)), 34)  # 180° falls in the last bin
        assert count[k] == per_atom * len(atoms), angle
    assert count.sum() == 66 * len(atoms)
    assert np.sum(res.adf["Cu-Cu-Cu"] * np.diff(res.edges)) == pytest.approx(1.0)


def test_water_angles_match_ase_get_angles():
    """Rattled periodic water: our H-O-H angles and ASE's Analysis.get_angles histogram identically."""
    from ase import Atoms
    from ase.build import molecule
    from ase.geometry.analysis import Analysis
    from ase.neighborlist import NeighborList

    rng = np.random.default_rng(7)
    box = Atoms(cell=[9.0, 9.0, 9.0], pbc=True)
    for corner in np.ndindex(2, 2, 2):
        water = molecule("H2O")
        water.rotate(rng.uniform(0, 360), rng.normal(size=3))
        water.translate(np.array(corner) * 4.5 + rng.uniform(-0.3, 0.3, 3) - 0.2)  # some cross the boundary
        box += water
    frames = []
    for seed in range(3):
        atoms = box.copy()
        atoms.rattle(0.04, seed=seed)
        frames.append(atoms)
    res = ADF(as_trajectory(frames), "H-O-H", cutoff={"O-H": 1.2}, n_bins=90).run().results
    nl = NeighborList([0.6] * len(box), self_interaction=False, bothways=True, skin=0.0)
    nl.update(frames[0])
    analysis = Analysis(frames, nl=nl)
    ase_angles = np.concatenate(analysis.get_values(analysis.get_angles("H", "O", "H", unique=True), mic=True))
    assert len(ase_angles) == 24 and 95 < ase_angles.mean() < 115
    np.testing.assert_array_equal(res.count["H-O-H"], np.histogram(ase_angles, bins=res.edges)[0])


def test_triplet_errors():
    from ase.build import molecule

    traj = as_trajectory([molecule("H2O")])
    with pytest.raises(ValueError, match="element C is not in the trajectory, which has H, O"):
        ADF(traj, "H-C-H")
    with pytest.raises(ValueError, match="write 3 element names"):
        ADF(traj, "H-O")


def test_distance_histogram_of_a_3_4_5_triangle():
    traj = Trajectory(symbols=["C", "C", "C"], positions=[[[0, 0, 0], [3.02, 0, 0], [3.02, 4.02, 0]]],
                      cells=np.zeros((3, 3)), pbc=False, steps=[0])
    res = DistanceHistogram(traj, r_max=10.0, n_bins=100).run().results
    # distances 3.02, 4.02, √(3.02² + 4.02²) = 5.028: one third of the weight in each of three bins
    occupied = np.nonzero(res.count)[0]
    np.testing.assert_array_equal(occupied, [30, 40, 50])
    np.testing.assert_allclose(res.hr[occupied], 1 / 3 / 0.1)
    assert np.sum(res.hr * np.diff(res.edges)) == pytest.approx(1.0)


def test_default_bonds_are_ase_natural_cutoffs():
    """With no cutoff, bonds are ASE's: the angles equal ASE Analysis defaults (what EGraFFBench's angle_dist uses)."""
    from ase.build import molecule
    from ase.geometry.analysis import Analysis

    frames = []
    for seed in range(4):
        atoms = molecule("CH3CH2OH")
        atoms.rattle(0.05, seed=seed)
        frames.append(atoms)
    res = ADF(as_trajectory(frames), "H-C-H,C-C-O,C-O-H", n_bins=60).run().results
    analysis = Analysis(frames)
    for triplet in ("H-C-H", "C-C-O", "C-O-H"):
        a, b, c = triplet.split("-")
        angles = np.concatenate(analysis.get_values(analysis.get_angles(a, b, c, unique=True)))
        assert len(angles) == res.angles_per_frame[triplet] * len(frames) > 0
        np.testing.assert_array_equal(res.count[triplet], np.histogram(angles, bins=res.edges)[0])
