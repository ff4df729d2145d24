"""EGraFFBench metrics: Wright's factor, JSD, energy and force violation (both variants)."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.analysis import (Trajectory, compare_rdfs, egraffbench_r_max, energy_violation, force_violation,
                             geometric_mean, jensen_shannon, reference_on_model_violations, trajectory_violations,
                             wright_factor)

from analysis_helpers import fluid_dumps, lj_crystal_and_melt  # noqa: F401 (fixtures)


def test_wright_factor_by_hand_and_as_the_authors_code():
    g_ref = np.array([0.0, 1.0, 2.0, 1.0])
    g = np.array([0.0, 2.0, 1.0, 1.0])
    assert wright_factor(g, g_ref) == pytest.approx((1 + 1) / (1 + 4 + 1))
    # wright_factor.py: np.sum((gr_sim - gr_ref)**2) / np.sum(gr_ref**2), with no square root
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 3, 200), rng.uniform(0, 3, 200)
    assert wright_factor(a, b) == pytest.approx(np.sum((a - b) ** 2) / np.sum(b**2), rel=1e-14)
    assert wright_factor(a, a) == 0.0
    assert wright_factor(a, b) != pytest.approx(wright_factor(b, a))  # normalised by the reference only
    with pytest.raises(ValueError, match="same grid"):
        wright_factor(a, b[:-1])


def test_jensen_shannon_divergence():
    rng = np.random.default_rng(1)
    p, q = rng.uniform(0, 1, 50), rng.uniform(0, 1, 50)
    assert jensen_shannon(p, p) == 0.0
    assert jensen_shannon(p, 3 * p) == pytest.approx(0.0, abs=1e-15)  # histograms are normalised first
    assert jensen_shannon(p, q) == pytest.approx(jensen_shannon(q, p), rel=1e-14)
    from scipy.spatial.distance import jensenshannon  # scipy returns the square root (a distance)

    assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, rel=1e-10)
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)  # disjoint supports: 1 bit
    # hand-made: P = (1/2, 1/2, 0), Q = (0, 1/2, 1/2): M = (1/4, 1/2, 1/4), KL(P‖M) = ½·log2(2) = ½
    assert jensen_shannon([1, 1, 0], [0, 1, 1]) == pytest.approx(0.5)


def test_egraffbench_r_max_follows_the_authors_formula():
    assert egraffbench_r_max(np.diag([12.4447] * 3)) == 5.7  # round((12.4447 − 1)/2, 1)
    assert egraffbench_r_max(np.diag([50.0, 60, 70])) == 10.0


def test_wright_factor_of_identical_and_different_structures(fluid_dumps, lj_crystal_and_melt):
    from egraff.analysis import read_trajectory

    fluid = read_trajectory(fluid_dumps["orthogonal"])
    same = compare_rdfs(fluid, fluid, pairs="Ar-Kr")
    assert same["total"]["wright_factor"] == 0.0 and same["Ar-Kr"]["jsd"] == 0.0
    assert same["total"]["r"][-1] == pytest.approx(10.0 - 0.025)  # r_max = round(min((22 − 1)/2, 10), 1)
    crystal = read_trajectory(lj_crystal_and_melt["crystal"])
    melt = read_trajectory(lj_crystal_and_melt["melt"])[-10:]
    different = compare_rdfs(melt, crystal)
    assert different["total"]["wright_factor"] > 0.1 and different["total"]["jsd"] > 0.01


def test_wright_factor_equals_the_authors_pipeline(fluid_dumps):
    """EGraFFBench: ASE get_rdf averaged over all frames on their grid, then Σ(g − g_ref)² / Σ g_ref²."""
    from ase.geometry.rdf import get_rdf

    from egraff.analysis import read_trajectory

    fluid = read_trajectory(fluid_dumps["orthogonal"])
    # move atoms off the dump's binary grid: ASE bins (r_k, r_k+1], we bin [r_k, r_k+1), which differ only
    # for distances exactly on an edge, as gridded coordinates can produce
    fluid.positions += np.random.default_rng(0).normal(0, 1e-6, fluid.positions.shape)
    model, reference = fluid[:3], fluid[-3:]
    r_max = round(min((np.linalg.norm(reference.cells[0], axis=1).min() - 1) / 2, 10.0), 1)
    n_bins = int((r_max - 0) / 0.05)
    g_model = get_rdf([model.atoms(k) for k in range(3)], r_max, n_bins, no_dists=True)
    g_ref = get_rdf([reference.atoms(k) for k in range(3)], r_max, n_bins, no_dists=True)
    authors = np.sum((g_model - g_ref) ** 2) / np.sum(g_ref**2)
    ours = compare_rdfs(model, reference)["total"]
    np.testing.assert_allclose(ours["g"], g_model, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours["g_ref"], g_ref, rtol=1e-12, atol=1e-12)
    assert ours["wright_factor"] == pytest.approx(authors, rel=1e-10) and authors > 1e-4


def test_energy_violation_bounds_symmetry_sign_and_scale():
    e = np.array([-10.0, -5.0, 2.0, 0.0])
    e_hat = np.array([-11.0, -5.0, -2.0, 0.0])
    np.testing.assert_allclose(energy_violation(e_hat, e), [1 / 21, 0, 1, 0])  # opposite signs → 1; both 0 → 0
    np.testing.assert_array_equal(energy_violation(e_hat, e), energy_violation(e, e_hat))
    np.testing.assert_allclose(energy_violation(7 * e_hat, 7 * e), energy_violation(e_hat, e))
    assert np.all(energy_violation(e, e) == 0)


def test_force_violation_per_atom_relative_norm():
    f = np.zeros((1, 3, 3))
    f[0, 0] = [3, 4, 0]  # |F| = 5
    f[0, 1] = [1, 0, 0]
    f_hat = f.copy()
    f_hat[0, 0] = [0, 0, 0]  # atom 0: |0 − F| / (0 + 5) = 1
    f_hat[0, 1] = [-1, 0, 0]  # atom 1: opposite: 2/2 = 1; atom 2: both zero → 0
    assert force_violation(f_hat, f)[0] == pytest.approx(2 / 3)
    assert force_violation(f, f)[0] == 0.0
    assert force_violation(2.5 * f_hat, 2.5 * f)[0] == pytest.approx(2 / 3)


def test_geometric_mean():
    assert geometric_mean([1e-2, 1e-4]) == pytest.approx(1e-3)
    assert geometric_mean([0.5, 0.0]) == 0.0


def labelled_lj_frames(calculator, n_frames=6, seed=0):
    """Rattled argon FCC frames with energies and forces from ``calculator``."""
    from ase.build import bulk

    positions, energies, forces = [], [], []
    base = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 2, 2))
    for k in range(n_frames):
        atoms = base.copy()
        atoms.rattle(0.1, seed=seed + k)
        atoms.calc = calculator
        positions.append(atoms.positions)
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    return Trajectory(symbols=base.get_chemical_symbols(), positions=positions, cells=base.cell.array, pbc=True,
                      steps=np.arange(n_frames), energies=energies, forces=forces, source="lj frames")


def test_violations_variant_a_reference_trajectory():
    from ase.calculators.lj import LennardJones

    reference = labelled_lj_frames(LennardJones(sigma=3.4, epsilon=0.0104, rc=8.5))
    same = trajectory_violations(reference, reference)
    assert same.energy_gmean == 0.0 and same.force_gmean == 0.0
    model = labelled_lj_frames(LennardJones(sigma=3.4, epsilon=0.0104 * 1.1, rc=8.5))
    off = trajectory_violations(model, reference)
    # a 10 % stiffer well scales E and F by 1.1: EV = FV = 0.1/2.1 in every frame
    np.testing.assert_allclose(off.energy, 0.1 / 2.1, rtol=1e-10)
    np.testing.assert_allclose(off.force, 0.1 / 2.1, rtol=1e-10)
    assert off.energy_gmean == pytest.approx(0.1 / 2.1)


def test_violations_variant_b_reference_potential_on_model_frames():
    from ase.calculators.lj import LennardJones

    teacher = LennardJones(sigma=3.4, epsilon=0.0104, rc=8.5)
    model = labelled_lj_frames(teacher)
    exact = reference_on_model_violations(model, teacher)
    assert exact.variant == "reference-on-model" and exact.energy_gmean == 0.0 and exact.force_gmean == 0.0
    # a callable reference works too; a sign-flipped potential violates maximally
    flipped = reference_on_model_violations(model, lambda atoms: (-model.energies[0], -np.ones((len(atoms), 3))))
    assert flipped.energy[0] == pytest.approx(1.0)
    unlabelled = Trajectory(symbols=["Ar"], positions=np.zeros((2, 1, 3)), cells=np.eye(3) * 5, pbc=True, steps=[0, 1])
    with pytest.raises(ValueError, match="no energies and forces"):
        trajectory_violations(unlabelled, unlabelled)
