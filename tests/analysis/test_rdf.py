"""g(r): equal to MDAnalysis and OVITO on the same LAMMPS trajectory, and right in the analytic limits."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.analysis import RDF, Trajectory, read_trajectory
from egraff.analysis.structure import first_minimum

from analysis_helpers import fluid_dumps, ideal_gas  # noqa: F401 (fixture)

R_MAX, BINS = 7.3, 73  # 7.3² is no multiple of 2⁻¹² Å²: no snapped distance sits exactly on r_max
KINDS = ("orthogonal", "triclinic")


@pytest.mark.filterwarnings("ignore::UserWarning")  # MDAnalysis: no dt, guessed masses
@pytest.mark.parametrize("kind", KINDS)
def test_rdf_equals_mdanalysis_interrdf(fluid_dumps, kind):
    """Same bins, self pairs excluded (exclusion_block=(1, 1)), N_A(N_B − δ_AB) normalisation.

    MDAnalysis keeps the cell in float32, so its volume of the tilted cell is off by ~1e-8 relative;
    the pair counts must agree exactly and g to 1e-10 once both use the same volume."""
    import MDAnalysis as mda
    from MDAnalysis.analysis.rdf import InterRDF

    ours = RDF(read_trajectory(fluid_dumps[kind]), r_max=R_MAX, n_bins=BINS).run().results
    universe = mda.Universe(str(fluid_dumps[kind]), format="LAMMPSDUMP")
    mda_volume = np.mean([ts.volume for ts in universe.trajectory])
    exact_volume = read_trajectory(fluid_dumps[kind]).volumes.mean()
    ar, kr = universe.select_atoms("type 1"), universe.select_atoms("type 2")
    for a, b, key, exclusion in ((ar, ar, "Ar-Ar", (1, 1)), (ar, kr, "Ar-Kr", None), (kr, kr, "Kr-Kr", (1, 1))):
        theirs = InterRDF(a, b, nbins=BINS, range=(0.0, R_MAX), exclusion_block=exclusion).run().results
        np.testing.assert_allclose(ours.bins, theirs.bins, atol=1e-12)
        assert ours.count[key].sum() > 1000
        np.testing.assert_array_equal(ours.count[key], theirs.count)
        np.testing.assert_allclose(ours.rdf[key], theirs.rdf * exact_volume / mda_volume, rtol=0, atol=1e-10)
        if kind == "orthogonal":  # float32 is exact for this cell: no correction at all
            np.testing.assert_allclose(ours.rdf[key], theirs.rdf, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_rdf_equals_ovito_time_averaged_partials(fluid_dumps, kind):
    """OVITO's CoordinationAnalysisModifier normalises by N_A·N_B (ideal_pairs="all"), per frame, averaged."""
    from ovito.io import import_file
    from ovito.modifiers import CoordinationAnalysisModifier, TimeAveragingModifier

    ours = RDF(read_trajectory(fluid_dumps[kind]), r_max=R_MAX, n_bins=BINS, ideal_pairs="all").run().results
    pipeline = import_file(str(fluid_dumps[kind]))
    pipeline.modifiers.append(CoordinationAnalysisModifier(cutoff=R_MAX, number_of_bins=BINS, partial=True))
    pipeline.modifiers.append(TimeAveragingModifier(operate_on="table:coordination-rdf"))
    table = pipeline.compute().tables["coordination-rdf[average]"]
    columns = table.xy()
    assert pipeline.source.num_frames == ours.n_frames > 5
    np.testing.assert_allclose(columns[:, 0], ours.bins, atol=1e-12)
    for k, name in enumerate(table.y.component_names):  # "Ar-Ar", "Ar-Kr", "Kr-Kr" from the element column
        assert ours.rdf[name].max() > 1.5
        np.testing.assert_allclose(columns[:, k + 1], ours.rdf[name], rtol=0, atol=1e-6)


def test_rdf_equals_ase_get_rdf_on_one_frame(fluid_dumps):
    """EGraFFBench's g(r) is ASE's get_rdf; ideal_pairs="all" on a 0.05 Å grid is the same function."""
    from ase.geometry.rdf import get_rdf

    traj = read_trajectory(fluid_dumps["triclinic"])
    traj.positions += np.random.default_rng(0).normal(0, 1e-6, traj.positions.shape)  # off the grid: ASE bins (r_k, r_k+1]
    ours = RDF(traj[3:4], pairs="Ar-Kr", r_max=6.0, n_bins=120, ideal_pairs="all").run().results
    theirs, r = get_rdf(traj.atoms(3), 6.0, 120, elements=["Ar", "Kr"])
    np.testing.assert_allclose(r, ours.bins, atol=1e-12)
    np.testing.assert_allclose(ours.rdf["Ar-Kr"], theirs, rtol=1e-12, atol=1e-12)


def test_ideal_gas_rdf_is_one_within_statistics():
    traj = ideal_gas(400, 20, 16.0, symbols=["Ar"] * 300 + ["Kr"] * 100)
    res = RDF(traj, r_max=8.0, n_bins=40).run().results
    for key, g in res.rdf.items():
        shell = slice(10, None)  # r > 2 Å: enough pairs per bin for a useful error bar
        expected_pairs = res.count[key][shell] / g[shell]  # ideal-gas count per bin
        sigma = 1.0 / np.sqrt(expected_pairs)  # Poisson error of g in each bin
        assert np.all(np.abs(g[shell] - 1.0) < 5 * sigma), key
        assert abs(np.average(g[shell], weights=expected_pairs) - 1.0) < 3 / np.sqrt(expected_pairs.sum())


def test_ideal_gas_in_a_fluctuating_box_stays_at_one():
    """NPT-like frames (box 14–20 Å): per-frame volumes keep g = 1; pooling counts over ⟨V⟩ would give
    ⟨V⟩⟨1/V⟩ ≈ 1.11 here, far outside the error bar."""
    rng = np.random.default_rng(4)
    lengths = np.linspace(14.0, 20.0, 30)
    positions = rng.uniform(0, 1, (30, 300, 3)) * lengths[:, None, None]
    traj = Trajectory(symbols=["Ar"] * 300, positions=positions, cells=lengths[:, None, None] * np.eye(3), pbc=True,
                      steps=np.arange(30))
    res = RDF(traj, r_max=7.0, n_bins=14, r_min=0.0).run().results
    shell = slice(4, None)  # r > 2 Å
    g, pairs = res.rdf["Ar-Ar"][shell], res.count["Ar-Ar"][shell]
    assert abs(np.average(g, weights=pairs) - 1.0) < 3 / np.sqrt(pairs.sum())
    pooled = np.mean(lengths**3) * np.mean(lengths**-3.0)
    assert pooled - 1 > 10 / np.sqrt(pairs.sum())


def test_perfect_fcc_has_twelve_first_neighbours():
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.615, cubic=True).repeat((4, 4, 4))
    traj = Trajectory(symbols=atoms.get_chemical_symbols(), positions=atoms.positions[None], cells=atoms.cell.array,
                      pbc=True, steps=[0])
    rdf = RDF(traj, r_max=6.0, n_bins=120).run()
    coordination, r_cut = rdf.first_shell_coordination("Cu-Cu")
    assert coordination == pytest.approx(12.0, abs=1e-12)
    assert 3.615 / np.sqrt(2) < r_cut < 3.615  # between the first (a/√2) and second (a) shells
    # the second shell (r = a, in the bin [3.60, 3.65)) holds 6 more
    assert rdf.first_shell_coordination("Cu-Cu", r_cut=3.65)[0] == pytest.approx(18.0)
    assert rdf.first_shell_coordination("Cu-Cu", r_cut=3.60)[0] == pytest.approx(12.0)
    # the running coordination number is ρ ∫ 4πr² g dr with ρ = (N − 1)/V
    res = rdf.results
    rho = (traj.n_atoms - 1) / traj.volumes[0]
    np.testing.assert_allclose(res.coordination["Cu-Cu"],
                               np.cumsum(rho * res.rdf["Cu-Cu"] * 4 / 3 * np.pi * np.diff(res.edges**3)), rtol=1e-12)


def test_first_minimum_ignores_noise_inside_the_shell():
    g = np.array([0, 0, 2.5, 1.4, 0.7, 0.75, 0.6, 0.65, 1.2, 1.1])
    assert first_minimum(g) == 6


def test_rdf_rejects_bad_input(fluid_dumps):
    traj = read_trajectory(fluid_dumps["triclinic"])
    with pytest.raises(ValueError, match="element Xe is not in the trajectory, which has Ar, Kr"):
        RDF(traj, pairs="Ar-Xe")
    with pytest.raises(ValueError, match="write 2 element names joined by '-'"):
        RDF(traj, pairs="Ar")
    with pytest.raises(ValueError, match="exceeds half the narrowest cell width"):
        RDF(traj, r_max=10.6)  # half the narrowest width is 10.55 Å (orthogonal: 11)
    molecule = Trajectory(symbols=["O", "H"], positions=np.zeros((1, 2, 3)), cells=np.zeros((3, 3)), pbc=False, steps=[0])
    with pytest.raises(ValueError, match="not periodic"):
        RDF(molecule)


def test_rdf_is_vectorised_not_quadratic():
    """A 4000-atom frame takes well under a second (an O(N²) Python loop would take minutes)."""
    import time

    traj = ideal_gas(4000, 1, 34.0)
    start = time.perf_counter()
    RDF(traj, r_max=6.0).run()
    assert time.perf_counter() - start < 2.0


def test_binning_matches_numpy_histogram_on_bin_edges():
    """Values exactly on (and one ulp either side of) every edge land where np.histogram puts them."""
    from egraff.analysis.structure import bin_index

    rng = np.random.default_rng(0)
    for edges in (np.linspace(0.0, 7.5, 76), np.linspace(1.3, 6.1, 97)):
        values = np.concatenate([rng.uniform(-1, 9, 10000), edges, np.nextafter(edges, -1), np.nextafter(edges, 10)])
        index = bin_index(values, edges)
        inside = (index >= 0) & (index < len(edges) - 1)
        np.testing.assert_array_equal(np.bincount(index[inside], minlength=len(edges) - 1),
                                      np.histogram(values, bins=edges)[0])
