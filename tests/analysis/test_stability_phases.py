"""Stability criteria (Fu et al.) and OVITO phase fractions."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.analysis import PhaseFractions, Trajectory, bond_stability, rdf_stability, read_trajectory

from analysis_helpers import lj_crystal_and_melt  # noqa: F401 (fixture)

DT = 0.0005  # ps per frame


def ethanol_run(stretch_frame: int | None, stretch: float, n_frames: int = 20, seed: int = 0) -> Trajectory:
    """Ethanol with small thermal noise; from ``stretch_frame`` on, the C–O bond grows by ``stretch`` Å."""
    from ase.build import molecule

    atoms = molecule("CH3CH2OH")
    rng = np.random.default_rng(seed)
    positions = atoms.positions + rng.normal(0, 0.01, (n_frames, len(atoms), 3))
    symbols = atoms.get_chemical_symbols()
    carbon, oxygen = 1, 2  # C bonded to O in ASE's ethanol
    assert symbols[carbon] == "C" and symbols[oxygen] == "O"
    bond = atoms.positions[oxygen] - atoms.positions[carbon]
    if stretch_frame is not None:
        # move the O and its H rigidly along the C–O bond
        moved = [oxygen, int(np.argmin(np.linalg.norm(atoms.positions - atoms.positions[oxygen], axis=1)[3:])) + 3]
        positions[stretch_frame:, moved] += stretch * bond / np.linalg.norm(bond)
    return Trajectory(symbols=symbols, positions=positions, cells=np.zeros((3, 3)), pbc=False,
                      steps=np.arange(n_frames), timestep=DT)


def test_bond_criterion_flags_the_frame_where_a_bond_passes_half_an_angstrom():
    reference = ethanol_run(None, 0.0, seed=1)
    broken = bond_stability(ethanol_run(12, 0.6), reference)
    assert broken.failure_frame == 12
    assert broken.stable_time == pytest.approx(12 * DT)
    assert broken.error[12] == pytest.approx(0.6, abs=0.06) and broken.error[:12].max() < 0.1
    stretched = bond_stability(ethanol_run(12, 0.4), reference)  # below the threshold: stable
    assert stretched.failure_frame is None and stretched.stable_time == pytest.approx(19 * DT)
    assert stretched.error[12:].min() > 0.3


def test_bonds_come_from_natural_cutoffs_of_the_reference():
    from egraff.analysis.stability import reference_bonds

    bonds, lengths = reference_bonds(ethanol_run(None, 0.0))
    assert len(bonds) == 8  # ethanol: C–C, C–O, O–H and five C–H
    assert np.all((lengths > 0.9) & (lengths < 1.6))


def test_rdf_criterion_flags_a_melted_crystal(lj_crystal_and_melt):
    """Frames 0–9 are the 40 K crystal, then the run is heated and melts (PTM: all 'Other' from frame 16)."""
    crystal = read_trajectory(lj_crystal_and_melt["crystal"], timestep=0.002)
    melt = read_trajectory(lj_crystal_and_melt["melt"], timestep=0.002)  # frames every 0.1 ps: 10-frame windows
    result = rdf_stability(melt, crystal, threshold=1.0)
    assert result.failure_frame is not None
    assert 3 <= result.failure_frame <= 9  # the first window that reaches into the melting frames
    assert result.error[0] < 0.6 and result.error[-1] > 3.0
    steady = rdf_stability(crystal[10:], crystal[:10], threshold=1.0)  # crystal against crystal never fails
    assert steady.failure_frame is None and steady.error.max() < 0.8
    with pytest.raises(ValueError, match="window"):
        rdf_stability(melt[:5], crystal, threshold=1.0)


def crystal(name: str, structure: str, a: float, repeat=(3, 3, 3), rattle: float = 0.0) -> Trajectory:
    """Frame 0 perfect; frame 1 rattled, with atoms moved to other periodic images (as unwrapped dumps are)."""
    from ase.build import bulk

    atoms = bulk(name, structure, a=a, cubic=True).repeat(repeat)
    rng = np.random.default_rng(0)
    images = rng.integers(-2, 3, (len(atoms), 3)) @ atoms.cell.array
    positions = [atoms.positions, atoms.positions + images + rng.normal(0, rattle, atoms.positions.shape)]
    return Trajectory(symbols=atoms.get_chemical_symbols(), positions=positions, cells=atoms.cell.array, pbc=True,
                      steps=[0, 1])


@pytest.mark.parametrize("method", ["ptm", "cna"])
def test_perfect_copper_is_all_fcc(method):
    res = PhaseFractions(crystal("Cu", "fcc", 3.615, rattle=0.05), method).run().results
    fcc = res.structures.index("FCC")
    np.testing.assert_array_equal(res.fractions[:, fcc], 1.0)
    assert res.mean_fractions["FCC"] == 1.0


def test_copper_in_a_tilted_cell_is_all_fcc():
    """A triclinic cell reaches OVITO with its lattice vectors as columns: the transposed cell is wrong."""
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.615).repeat((5, 5, 5))
    a1, a2, a3 = atoms.cell.array
    cell = np.array([a1, a2, a3 + a1])  # the same lattice in a non-symmetric basis
    traj = Trajectory(symbols=atoms.get_chemical_symbols(), positions=[atoms.positions], cells=cell, pbc=True, steps=[0])
    assert PhaseFractions(traj, "ptm").run().results.mean_fractions["FCC"] == 1.0
    transposed = Trajectory(symbols=traj.symbols, positions=traj.positions, cells=cell.T, pbc=True, steps=[0])
    assert PhaseFractions(transposed, "ptm").run().results.mean_fractions["FCC"] < 0.5


def test_perfect_silicon_is_all_cubic_diamond():
    res = PhaseFractions(crystal("Si", "diamond", 5.431), "diamond").run().results
    np.testing.assert_array_equal(res.fractions[:, res.structures.index("Cubic diamond")], 1.0)
    ptm = PhaseFractions(crystal("Si", "diamond", 5.431), "ptm", all_structures=True).run().results
    assert ptm.mean_fractions["Cubic diamond"] == 1.0


def test_bcc_iron_is_not_fcc():
    res = PhaseFractions(crystal("Fe", "bcc", 2.87, repeat=(4, 4, 4)), "cna").run().results
    assert res.mean_fractions["BCC"] == 1.0 and res.mean_fractions["FCC"] == 0.0


def test_liquid_is_other(lj_crystal_and_melt):
    melt = read_trajectory(lj_crystal_and_melt["melt"])
    res = PhaseFractions(melt, "ptm").run().results
    fcc, other = res.structures.index("FCC"), res.structures.index("Other")
    assert np.all(res.fractions[:10, fcc] > 0.95)  # the 40 K crystal before heating
    assert np.all(res.fractions[-10:, other] > 0.95)  # the liquid
    np.testing.assert_allclose(res.fractions.sum(axis=1), 1.0)


def test_unknown_method():
    with pytest.raises(ValueError, match="use one of ptm, cna, diamond"):
        PhaseFractions(crystal("Cu", "fcc", 3.615), "voronoi")
