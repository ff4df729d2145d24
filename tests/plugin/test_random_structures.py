"""Property test: on random structures LAMMPS with pair_style egraff equals the ASE calculator on
the same deployed file — energies, per-atom energies, forces and the virial — on 1 and 2 MPI ranks;
bad geometry stops both with a clear error.

Each structure (fixed seeds) has a random triclinic cell (edges 6-16 Å, tilts up to 0.45 of the
edge, sometimes one long vacuum-like axis with atoms far apart), random positions with some
near-coincident pairs (0.7-1.1 Å, energies up to ~1e7 eV), random atom IDs with gaps, 1-3 LAMMPS
types mapped to random elements. The models are the LJ (strictly local) and the two-layer
message-passing toy (receptive field 2 r_max), float64; tolerances are 1e-10 relative to the
magnitudes involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from conftest import assert_lammps_error, lammps_error, read_dump, run_lmp, thermo_rows

SEEDS = range(8)
NKTV2P_METAL = 1.6021765e6  # bar per eV/Å^3 (LAMMPS force->nktv2p in metal units)


@dataclass
class Structure:
    cell: np.ndarray  # rows a, b, c: LAMMPS's restricted triclinic form
    positions: np.ndarray
    ids: np.ndarray
    types: np.ndarray  # LAMMPS types, 1-based
    elements: list[str]  # element of each LAMMPS type

    def data_file(self) -> str:
        (lx, _, _), (xy, ly, _), (xz, yz, lz) = [[repr(float(v)) for v in row] for row in self.cell]
        atoms = [f"{i} {t} " + " ".join(repr(float(v)) for v in x) for i, t, x in zip(self.ids, self.types, self.positions)]
        return "\n".join([
            "random structure", "", f"{len(self.ids)} atoms", f"{len(self.elements)} atom types", "",
            f"0 {lx} xlo xhi", f"0 {ly} ylo yhi", f"0 {lz} zlo zhi", f"{xy} {xz} {yz} xy xz yz", "",
            "Masses", "", *[f"{t + 1} 40.0" for t in range(len(self.elements))], "", "Atoms # atomic", "", *atoms, ""])

    def atoms(self):
        import ase

        symbols = [self.elements[t - 1] for t in self.types]
        return ase.Atoms(symbols, positions=self.positions, cell=self.cell, pbc=True)


def random_structure(seed: int) -> Structure:
    rng = np.random.default_rng(seed)
    lengths = rng.uniform(6.0, 16.0, 3)
    if seed % 3 == 2:
        lengths[rng.integers(3)] = rng.uniform(30.0, 40.0)  # a long axis: atoms far apart, some isolated
    lx, ly, lz = lengths
    xy, xz = rng.uniform(-0.45, 0.45, 2) * lx
    yz = rng.uniform(-0.45, 0.45) * ly
    cell = np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])
    n = int(rng.integers(4, 8) if seed % 3 == 2 else rng.integers(6, 28))  # sparse when one axis is long
    fractional = rng.uniform(0, 1, (n, 3))
    # near-coincident pairs: a partner 0.7-1.1 Å from a few atoms
    partners = rng.choice(n, size=min(3, n // 4), replace=False)
    directions = rng.normal(size=(len(partners), 3))
    offsets = directions / np.linalg.norm(directions, axis=1, keepdims=True) * rng.uniform(0.7, 1.1, (len(partners), 1))
    positions = fractional @ cell
    positions = np.concatenate([positions, positions[partners] + offsets])
    positions = (np.linalg.solve(cell.T, positions.T).T % 1.0) @ cell  # back inside the cell
    ids = np.sort(rng.choice(np.arange(1, 5 * len(positions)), size=len(positions), replace=False))
    ntypes = int(rng.integers(1, 4))
    elements = [str(e) for e in rng.choice(["Ar", "Kr"], size=ntypes)]
    types = rng.integers(1, ntypes + 1, size=len(positions))
    return Structure(cell, positions, ids, types, elements)


def write_structures(directory) -> list[Structure]:
    """The structures of SEEDS, each as s<k>.data in ``directory``."""
    structures = [random_structure(seed) for seed in SEEDS]
    for k, s in enumerate(structures):
        (directory / f"s{k}.data").write_text(s.data_file())
    return structures


def lammps_script(structures: list[Structure], model, mode: str) -> str:
    """One input for all structures: a thermo row and a dump s<k>.dump each (dumped during the run:
    LAMMPS 29 Sep 2021 refuses write_dump of per-atom computes after one)."""
    lines = []
    for k, s in enumerate(structures):
        lines += [
            "clear", "units metal", "atom_style atomic", f"read_data s{k}.data",
            # small cells make ghostmp evaluate hundreds of ghost copies per atom: allowed here
            f"pair_style egraff mode {mode} ghost_limit 5000", f"pair_coeff * * {model} {' '.join(s.elements)}",
            "compute pe all pe/atom", "compute pv all pressure NULL virial",
            "thermo_style custom step pe c_pv[*]", "thermo_modify format float %23.16e",
            f"dump d all custom 1 s{k}.dump id fx fy fz c_pe", "dump_modify d sort id format float %23.16e",
            "run 0",
        ]
    return "\n".join(lines) + "\n"


def assert_close(ours, ref, what, rel=1e-10):
    ours, ref = np.asarray(ours, dtype=float), np.asarray(ref, dtype=float)
    assert ours.shape == ref.shape, what
    scale = 1.0 + np.abs(ref)
    worst = np.max(np.abs(ours - ref) / scale)
    assert worst <= rel, f"{what}: relative deviation {worst:.2e}"


@pytest.mark.parametrize("nprocs, modes", [(1, {"lj": "ghost", "mp2": "map"}),
                                           pytest.param(2, {"lj": "ghost", "mp2": "ghostmp"}, marks=pytest.mark.mpi)])
@pytest.mark.parametrize("model", ["lj", "mp2"])
def test_lammps_equals_ase_on_random_structures(request, tmp_path, model, nprocs, modes):
    path = request.getfixturevalue(f"{model}_file")
    structures = write_structures(tmp_path)
    result = run_lmp(lammps_script(structures, path, modes[model]), tmp_path, nprocs=nprocs, timeout=120)
    assert_lammps_equals_ase(result, structures, path, tmp_path)


def assert_lammps_equals_ase(result, structures: list[Structure], path, directory) -> None:
    """The run of lammps_script in ``directory`` gave the ASE calculator's energies, per-atom
    energies, forces and virial for every structure."""
    from egraff.deploy import EGraFFCalculator

    assert result.returncode == 0, result.stdout[-3000:]
    rows = thermo_rows(result.stdout)
    assert len(rows) == len(structures)
    calc = EGraFFCalculator(path)
    isolated = close_pairs = 0
    for k, (s, row) in enumerate(zip(structures, rows)):
        atoms = s.atoms()
        atoms.calc = calc
        dump = read_dump(directory / f"s{k}.dump")
        assert np.array_equal(dump["id"], s.ids)
        energies, forces = atoms.get_potential_energies(), atoms.get_forces()
        assert_close(row[1], atoms.get_potential_energy(), f"structure {k} energy")
        assert_close(dump["c_pe"], energies, f"structure {k} per-atom energies")
        assert_close(np.stack([dump["fx"], dump["fy"], dump["fz"]], 1), forces, f"structure {k} forces")
        stress = atoms.get_stress()  # xx yy zz yz xz xy, ASE sign (= -virial / volume)
        virial_pressure = -stress[[0, 1, 2, 5, 4, 3]] * NKTV2P_METAL
        assert_close(np.array(row[2:8]) / NKTV2P_METAL, virial_pressure / NKTV2P_METAL, f"structure {k} virial")
        distances = atoms.get_all_distances(mic=True) + 100 * np.eye(len(atoms))
        close_pairs += int((distances < 1.2).sum()) // 2
        isolated += int((distances.min(axis=1) > 8.5).sum())
    assert close_pairs >= len(structures) and isolated >= 1  # the seeds do cover the hard cases


@pytest.mark.parametrize("model", ["lj_file", "mp2_file"])
def test_coincident_atoms_are_refused_by_both(request, tmp_path, model):
    """Two atoms at the same place: the energy is infinite; both callers say so instead of
    returning a number."""
    from egraff.deploy import DeployedModelError, EGraFFCalculator

    path = request.getfixturevalue(model)
    s = random_structure(0)
    s.positions[1] = s.positions[0]
    (tmp_path / "s.data").write_text(s.data_file())
    error = lammps_error(["units metal", "atom_style atomic", f"read_data {tmp_path / 's.data'}",
                          "pair_style egraff", f"pair_coeff * * {path} {' '.join(s.elements)}", "run 0"])
    assert "returned a non-finite energy or force" in error
    atoms = s.atoms()
    atoms.calc = EGraFFCalculator(path)
    with pytest.raises(DeployedModelError, match="returned a non-finite energy or force"):
        atoms.get_potential_energy()


def test_cell_thinner_than_the_ghost_shell_is_refused_on_two_ranks(mp2_file, tmp_path):
    """A 2 Å thin triclinic slab of a cell on 2 ranks in ghostmp: thousands of ghost copies per atom.
    Refused at once with the count, instead of running for hours."""
    s = random_structure(1)
    s.cell[2] = [0.3, -0.2, 2.0]
    s.positions[:, 2] = np.random.default_rng(5).uniform(0, 2.0, len(s.positions))
    (tmp_path / "s.data").write_text(s.data_file())
    script = "\n".join(["units metal", "atom_style atomic", "read_data s.data", "pair_style egraff",
                        f"pair_coeff * * {mp2_file} {' '.join(s.elements)}", "run 0"]) + "\n"
    result = run_lmp(script, tmp_path, nprocs=2, timeout=60)
    assert_lammps_error(result, "ghost atoms per local atom at every step, more than ghost_limit 100")
