"""The trajectory reader: LAMMPS dumps (types, elements, image flags, tilted boxes), extxyz, ASE .traj; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.analysis import Trajectory, read_trajectory, unwrapped_positions
from egraff.analysis.trajectory import cell_widths

from analysis_helpers import dump_text, run_lammps

BOUNDS = [(0.0, 10.0), (0.0, 12.0), (0.0, 8.0)]


def test_type_only_dump_with_type_map_and_image_flags(tmp_path):
    rows0 = [(2, 1, 1.0, 2.0, 3.0, 0, 0, 0), (1, 2, 9.5, 1.0, 7.5, 0, 0, 0)]
    rows1 = [(1, 2, 0.5, 1.0, 7.5, 1, 0, -1), (2, 1, 1.5, 2.0, 3.0, 0, 0, 0)]
    path = tmp_path / "a.dump"
    path.write_text(dump_text([{"step": 100, "bounds": BOUNDS, "columns": "id type x y z ix iy iz", "rows": rows0},
                               {"step": 200, "bounds": BOUNDS, "columns": "id type x y z ix iy iz", "rows": rows1}]))
    traj = read_trajectory(path, types="1=O,2=H", timestep=0.001)
    assert list(traj.symbols) == ["H", "O"]  # sorted by atom id
    assert traj.unwrapped
    np.testing.assert_allclose(traj.positions[1, 0], [10.5, 1.0, -0.5])  # x + ix·Lx, z + iz·Lz
    np.testing.assert_allclose(traj.times, [0.0, 0.1])
    assert list(read_trajectory(path).symbols) == ["2", "1"]  # without a map the type numbers are the names


def test_wrapped_dump_is_unwrapped_by_minimum_image_moves(tmp_path):
    """Ballistic atoms crossing the boundary: unwrapping recovers the straight lines."""
    rng = np.random.default_rng(3)
    length = np.array([10.0, 12.0, 8.0])
    start, velocity = rng.uniform(0, 1, (20, 3)) * length, rng.normal(0, 0.8, (20, 3))
    true = start + velocity * np.arange(30)[:, None, None]
    frames = [{"step": k, "bounds": BOUNDS, "columns": "id element x y z",
               "rows": [(i + 1, "Ar", *np.mod(true[k, i], length)) for i in range(20)]} for k in range(30)]
    path = tmp_path / "wrapped.dump"
    path.write_text(dump_text(frames))
    traj = read_trajectory(path)
    assert not traj.unwrapped
    np.testing.assert_allclose(unwrapped_positions(traj), true, atol=1e-9)


def test_triclinic_lammps_box_becomes_the_right_cell(tmp_path):
    path = tmp_path / "tri.dump"
    run_lammps(["units metal", "region box prism 1 11 -2 10 0.5 8.5 3.0 -1.5 2.0 units box", "create_box 1 box",
                "create_atoms 1 single 2 3 4 units box", "mass 1 1", f"write_dump all custom {path} id type xu yu zu",
                f"write_dump all custom {tmp_path / 'scaled.dump'} id type xs ys zs"])
    traj = read_trajectory(path)
    scaled = read_trajectory(tmp_path / "scaled.dump")
    np.testing.assert_allclose(scaled.positions, traj.positions, atol=1e-5)  # dumps print 6 significant digits
    np.testing.assert_allclose(scaled.cells, traj.cells)
    np.testing.assert_allclose(traj.cells[0], [[10, 0, 0], [3, 12, 0], [-1.5, 2, 8]], atol=1e-12)
    np.testing.assert_allclose(traj.positions[0, 0], [2, 3, 4], atol=1e-12)
    assert traj.unwrapped
    assert cell_widths(traj.cells[0])[2] == pytest.approx(8.0)


def test_extxyz_and_ase_traj_carry_energies_and_forces(tmp_path):
    import ase.io
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for k in range(3):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.rattle(0.05, seed=k)
        atoms.calc = SinglePointCalculator(atoms, energy=-3.5 - k, forces=np.full((4, 3), 0.1 * k))
        frames.append(atoms)
    for name in ("frames.xyz", "frames.traj"):
        ase.io.write(tmp_path / name, frames)
        traj = read_trajectory(tmp_path / name)
        np.testing.assert_allclose(traj.energies, [-3.5, -4.5, -5.5])
        np.testing.assert_allclose(traj.forces[2], 0.2)
        np.testing.assert_allclose(traj.positions, [a.positions for a in frames], atol=1e-7)  # extxyz: 8 decimals
        assert traj.pbc.all() and list(traj.symbols) == ["Cu"] * 4


def test_changing_atom_count_is_refused(tmp_path):
    rows = [(1, "Ar", 1.0, 1.0, 1.0), (2, "Ar", 2.0, 2.0, 2.0)]
    path = tmp_path / "grow.dump"
    path.write_text(dump_text([{"step": 0, "bounds": BOUNDS, "columns": "id element x y z", "rows": rows[:1]},
                               {"step": 1, "bounds": BOUNDS, "columns": "id element x y z", "rows": rows}]))
    with pytest.raises(ValueError, match="frame 1 of .* has 2 atoms but frame 0 has 1; these analyses need the same atoms"):
        read_trajectory(path)


def test_cell_of_zeros_is_refused(tmp_path):
    import ase.io
    from ase import Atoms

    path = tmp_path / "zero.dump"
    path.write_text(dump_text([{"step": 0, "bounds": [(0.0, 0.0)] * 3, "columns": "id element x y z",
                                "rows": [(1, "Ar", 0.0, 0.0, 0.0)]}]))
    with pytest.raises(ValueError, match="frame 0 of .* is periodic but its cell has zero volume"):
        read_trajectory(path)
    ase.io.write(tmp_path / "zero.xyz", Atoms("Ar2", positions=[[0, 0, 0], [1, 0, 0]], pbc=True))
    with pytest.raises(ValueError, match="zero volume"):
        read_trajectory(tmp_path / "zero.xyz")


def test_bad_input_messages(tmp_path):
    path = tmp_path / "x.dump"
    path.write_text(dump_text([{"step": 0, "bounds": BOUNDS, "columns": "id type x y z", "rows": [(1, 1, 0, 0, 0)]}]))
    with pytest.raises(ValueError, match="write it as TYPE=ELEMENT"):
        read_trajectory(path, types="O,H")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_trajectory(tmp_path / "missing.dump")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_trajectory(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="frames"):
        Trajectory(symbols=["Ar"], positions=np.zeros((1, 2, 3)), cells=np.eye(3), pbc=True, steps=[0])
    with pytest.raises(ValueError, match="no time information"):
        Trajectory(symbols=["Ar"], positions=np.zeros((2, 1, 3)), cells=np.eye(3), pbc=True, steps=[0, 1]).times
