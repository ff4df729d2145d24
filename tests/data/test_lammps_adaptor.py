"""The LAMMPS adaptor against LAMMPS itself: boxes and their rotation, velocities and units, data files both ways."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from egraff.data.formats import DataFormatError
from egraff.lammps_adaptor import (LammpsBox, Topology, create_atoms, gather_by_id, read_lammps_data, start_lammps,
                                   write_lammps_data)
from egraff.units import (BOLTZ, FTM2V, MVV2E, NKTV2P, QQR2E, kinetic_temperature, velocities_from_ase,
                          velocities_to_ase)


def random_cells(count: int, seed: int = 3):
    """Random cells of every kind: skewed, left-handed, strongly tilted, nearly flat, already lower-triangular."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        cell = rng.normal(size=(3, 3)) * rng.uniform(3, 12) + np.eye(3) * rng.uniform(0, 8)
        if k % 5 == 1:
            cell[2] *= -1  # left-handed
        if k % 5 == 2:
            cell = np.tril(np.abs(cell)) + np.eye(3)
        if abs(np.linalg.det(cell)) > 1.0:
            yield cell


def structure(cell, n_atoms: int = 24, seed: int = 0) -> Atoms:
    """Atoms inside and outside ``cell``, with velocities (Å/ps) and two elements, one of them with a custom mass."""
    rng = np.random.default_rng(seed)
    atoms = Atoms(["Cu", "Au"] * (n_atoms // 2), scaled_positions=rng.uniform(-1.5, 2.5, (n_atoms, 3)), cell=cell,
                  pbc=True)
    masses = atoms.get_masses()
    masses[atoms.numbers == 79] = 200.5
    atoms.set_masses(masses)
    atoms.set_velocities(velocities_to_ase(rng.normal(0, 5, (n_atoms, 3))))
    return atoms


def session(*commands: str):
    lmp = start_lammps()
    lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map yes", *commands])
    return lmp


def test_units_are_lammps_metal_constants():
    """Not CODATA: the numbers the installed LAMMPS itself uses (extract_global after `units metal`)."""
    lmp = session()
    try:
        for name, ours in (("boltz", BOLTZ), ("mvv2e", MVV2E), ("ftm2v", FTM2V), ("nktv2p", NKTV2P), ("qqr2e", QQR2E)):
            assert lmp.extract_global(name) == ours, name
    finally:
        lmp.close()


def test_box_of_random_cells_round_trips_positions_and_velocities():
    """cell @ Q is LAMMPS's lower-triangular box (positive diagonal), Q orthogonal: vectors turned in and back
    are the same to 1e-12, lengths and angles are kept, and wrapping with image flags loses nothing."""
    checked = 0
    for cell in random_cells(40):
        box = LammpsBox.from_cell(cell)
        assert box.cell[0, 1] == box.cell[0, 2] == box.cell[1, 2] == 0 and np.all(np.diag(box.cell) > 0)
        rotated = box.to_lammps(cell)
        np.testing.assert_allclose(rotated, box.cell, atol=1e-12 * np.abs(cell).max())
        rng = np.random.default_rng(checked)
        positions, velocities = rng.uniform(-30, 30, (50, 3)), rng.normal(0, 10, (50, 3))
        for vectors in (positions, velocities):
            np.testing.assert_allclose(box.from_lammps(box.to_lammps(vectors)), vectors, rtol=0, atol=1e-12)
            np.testing.assert_allclose(np.linalg.norm(box.to_lammps(vectors), axis=1), np.linalg.norm(vectors, axis=1),
                                       rtol=1e-14)
        wrapped, images = box.wrap(box.to_lammps(positions))
        fractional = np.linalg.solve(box.cell.T, wrapped.T).T
        assert np.all((fractional >= -1e-12) & (fractional < 1 + 1e-12))
        np.testing.assert_allclose(box.from_lammps(wrapped + images @ box.cell), positions, rtol=0, atol=1e-12)
        stress = rng.normal(size=(3, 3))
        stress += stress.T
        turned = box.rotation.T @ stress @ box.rotation if box.rotation is not None else stress
        np.testing.assert_allclose(box.tensor_from_lammps(turned), stress, atol=1e-14)
        checked += 1
    assert checked > 30


def test_atoms_created_in_lammps_come_back_in_their_own_frame():
    """Through LAMMPS's library API on random triclinic cells: unwrapped positions and velocities gathered
    by atom ID and turned back equal the given ones to 1e-12; the box LAMMPS holds is the adaptor's."""
    for k, cell in enumerate(list(random_cells(12, seed=11))[:6]):
        atoms = structure(cell, seed=k)
        velocities = np.random.default_rng(k).normal(0, 5, (len(atoms), 3))  # Å/ps
        lmp = session()
        try:
            placed = create_atoms(lmp, atoms, ["Cu", "Au"], velocities=velocities)
            lmp.commands_list(["pair_style zero 4.0", "pair_coeff * *", "compute xu all property/atom xu yu zu",
                               "run 0"])
            box = LammpsBox.from_session(lmp)
            np.testing.assert_allclose(box.cell, placed.box.cell, atol=1e-12)
            unwrapped = gather_by_id(lmp, "c_xu")
            np.testing.assert_allclose(placed.box.from_lammps(unwrapped), atoms.positions, rtol=0, atol=1e-12)
            np.testing.assert_allclose(placed.box.from_lammps(gather_by_id(lmp, "v")), velocities, rtol=0, atol=1e-12)
            assert list(gather_by_id(lmp, "type", 1, integer=True)) == [1, 2] * (len(atoms) // 2)
            assert lmp.extract_atom("mass")[2] == 200.5  # custom masses survive
        finally:
            lmp.close()


def test_velocities_read_from_lammps_give_lammps_kinetic_energy(tmp_path):
    """LAMMPS draws velocities and writes them (Å/ps) in its own data file; read back, ASE's ½mv² and egraff's
    temperature equal LAMMPS's ke and temp to 1e-13 (ASE's CODATA time unit would be 2e-8 off)."""
    lmp = session("lattice fcc 3.6", "region r block 0 3 0 3 0 3", "create_box 2 r", "create_atoms 1 region r",
                  "set type 1 type/fraction 2 0.3 4242", "mass 1 63.546", "mass 2 196.97",
                  "pair_style zero 4.0", "pair_coeff * *", "velocity all create 700.0 8861 dist gaussian mom yes",
                  "thermo_style custom step ke temp", "run 0")
    try:
        ke, temperature = lmp.get_thermo("ke"), lmp.get_thermo("temp")
        lmp.command(f"write_data {tmp_path / 'state.data'}")
    finally:
        lmp.close()
    atoms = read_lammps_data(tmp_path / "state.data", ["Cu", "Au"])
    assert atoms.get_kinetic_energy() == pytest.approx(ke, rel=1e-13)
    assert kinetic_temperature(atoms.get_masses(), velocities_from_ase(atoms.get_velocities())) == \
        pytest.approx(temperature, rel=1e-13)
    codata = 0.5 * np.sum(atoms.get_masses()[:, None] * (velocities_from_ase(atoms.get_velocities()) / 98.22694788)**2)
    assert abs(codata / ke - 1) > 1e-8  # the difference this test exists to catch


def test_data_file_written_read_by_lammps_and_read_back(tmp_path):
    """Our file → LAMMPS read_data → LAMMPS write_data (its own layout: image flags, Pair Coeffs, Velocities) →
    our reader: cell, unwrapped positions, velocities, elements and masses survive to 1e-12."""
    cell = next(random_cells(5, seed=21))
    atoms = structure(cell, seed=5)
    write_lammps_data(tmp_path / "ours.data", atoms, ["Cu", "Au"])
    lmp = session(f"read_data {tmp_path / 'ours.data'}", "pair_style zero 4.0", "pair_coeff * *", "run 0",
                  f"write_data {tmp_path / 'lammps.data'}")
    try:
        assert lmp.get_natoms() == len(atoms)
    finally:
        lmp.close()
    back = read_lammps_data(tmp_path / "lammps.data", ["Cu", "Au"])
    box = LammpsBox.from_cell(atoms.cell.array)
    np.testing.assert_allclose(back.cell.array, box.cell, atol=1e-12)
    np.testing.assert_allclose(box.from_lammps(back.positions), atoms.positions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(box.from_lammps(back.get_velocities()), atoms.get_velocities(), rtol=0, atol=1e-12)
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_array_equal(back.get_masses(), atoms.get_masses())


def test_full_style_topology_reaches_lammps_and_reads_back(tmp_path):
    """Water with atom_style full: LAMMPS counts the written bonds and angles, and its own write_data reads back."""
    from egraff.data.teacher import water_molecule, water_topology

    water = Atoms("OHHOHH", positions=np.vstack([water_molecule() + 2.0, water_molecule() + [6.0, 5.0, 5.0]]),
                  cell=[10.0, 10.0, 10.0], pbc=True)
    write_lammps_data(tmp_path / "w.data", water, ["O", "H"], topology=water_topology(water.get_chemical_symbols()))
    lmp = start_lammps()
    try:
        lmp.commands_list(["units metal", "atom_style full", f"read_data {tmp_path / 'w.data'}",
                           "pair_style zero 4.0", "pair_coeff * *", "bond_style zero", "bond_coeff *",
                           "angle_style zero", "angle_coeff *", "run 0", f"write_data {tmp_path / 'back.data'}"])
        assert (lmp.extract_global("nbonds"), lmp.extract_global("nangles")) == (4, 2)
    finally:
        lmp.close()
    back = read_lammps_data(tmp_path / "back.data", ["O", "H"])
    np.testing.assert_allclose(back.positions, water.positions, atol=1e-12)
    assert back.get_chemical_symbols() == list("OHHOHH")


def test_topology_of_two_molecules():
    from egraff.data.teacher import water_topology

    topology = water_topology(list("OHHOHH"))
    assert isinstance(topology, Topology)
    np.testing.assert_array_equal(topology.molecule_ids, [1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(topology.bonds, [[1, 1, 2], [1, 1, 3], [1, 4, 5], [1, 4, 6]])
    np.testing.assert_array_equal(topology.angles, [[1, 2, 1, 3], [1, 5, 4, 6]])


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("\n2 2 ", "\n2 3 ", 1), r"atoms have type 3 but 2 element names were given"),
    (lambda t: t.replace("\n3 1 ", "\n3 1 7 ", 1), r"line 19: 9 values in the Atoms # atomic section, expected 5 or 8"),
    (lambda t: t.replace("0 0 0\n4 ", "0 0 x\n4 ", 1), r"line 19: 'x' in the Atoms # atomic section is not a number"),
    (lambda t: t.replace("4 atoms", "5 atoms"), "the header promises 5 atoms but the Atoms section has 4 lines"),
])
def test_bad_data_files_name_the_file_and_line(tmp_path, change, message):
    atoms = Atoms("CuAuCuAu", positions=np.eye(4, 3) * 2 + 1, cell=[6.0, 6.0, 6.0], pbc=True)
    good = write_lammps_data(tmp_path / "good.data", atoms, ["Cu", "Au"]).read_text()
    bad = tmp_path / "bad.data"
    bad.write_text(change(good))
    assert bad.read_text() != good
    with pytest.raises(DataFormatError, match=message) as err:
        read_lammps_data(bad, ["Cu", "Au"])
    assert str(bad) in str(err.value)
