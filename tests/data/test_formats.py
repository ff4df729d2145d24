"""Readers and the writer: bit-exact round trips, DeePMD virial → ASE stress, clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from egraff import data
from egraff.data.formats import DataFormatError, read_deepmd, read_extxyz, read_nequip_npz, write_extxyz


def _write_npz(path, n_frames=4, n_atoms=5, periodic=True, seed=0, **replace):
    rng = np.random.default_rng(seed)
    arrays = {
        "pos": rng.normal(size=(n_frames, n_atoms, 3)) * 2,
        "energy": rng.normal(size=(n_frames, 1)) * 100,
        "forces": rng.normal(size=(n_frames, n_atoms, 3)),
        "atomic_numbers": rng.integers(1, 30, size=n_atoms),
        "cell": np.diag([8.1, 9.2, 10.3]) + rng.normal(size=(3, 3)) * 0.1,
        "pbc": np.array([periodic] * 3),
    }
    arrays.update(replace)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def _assert_same_frames(a_frames, b_frames):
    assert len(a_frames) == len(b_frames)
    for a, b in zip(a_frames, b_frames):
        assert np.array_equal(a.numbers, b.numbers)
        assert np.array_equal(a.positions, b.positions)
        assert np.array_equal(a.cell.array, b.cell.array)
        assert np.array_equal(a.pbc, b.pbc)
        assert a.get_potential_energy() == b.get_potential_energy()
        assert np.array_equal(a.get_forces(), b.get_forces())


def test_npz_extxyz_round_trip_is_bit_exact(tmp_path):
    arrays = _write_npz(tmp_path / "d.npz")
    frames = read_nequip_npz(tmp_path / "d.npz")
    assert np.array_equal(frames[2].positions, arrays["pos"][2])
    assert frames[2].get_potential_energy() == arrays["energy"][2, 0]
    write_extxyz(tmp_path / "d.extxyz", frames)
    _assert_same_frames(frames, read_extxyz(tmp_path / "d.extxyz"))


@pytest.mark.parametrize("name,split", [("md17_aspirin", "val"), ("gete", "val"), ("3bpa", "train")])
def test_mirror_npz_round_trip_is_bit_exact(name, split, mirror_cache, tmp_path):
    frames = list(data.load(name, split, **mirror_cache))[:50]
    write_extxyz(tmp_path / "f.extxyz", frames)
    back = read_extxyz(tmp_path / "f.extxyz")
    _assert_same_frames(frames, back)
    assert data.frames_fingerprint(back) == data.frames_fingerprint(frames)


def test_extxyz_keeps_stress_velocities_and_info(tmp_path):
    from egraff.data.formats import labelled_atoms

    rng = np.random.default_rng(3)
    atoms = labelled_atoms([14, 14], rng.random((2, 3)), np.diag([5.0, 5.0, 5.0]), True, energy=-1.5,
                           forces=rng.random((2, 3)), stress=rng.random(6),
                           info={"phase": "liquid", "temperature": 900.0})
    atoms.set_velocities(rng.normal(size=(2, 3)))
    write_extxyz(tmp_path / "s.extxyz", [atoms])
    back = read_extxyz(tmp_path / "s.extxyz")[0]
    assert np.array_equal(back.get_stress(), atoms.get_stress())
    assert np.array_equal(back.get_velocities(), atoms.get_velocities())
    assert back.info["phase"] == "liquid" and back.info["temperature"] == 900.0


def _write_deepmd(directory, coord, force, energy, box, virial=None, types=(0, 1), type_map=("Si", "O"), raw=False):
    directory.mkdir(parents=True)
    (directory / "type.raw").write_text("\n".join(map(str, types)) + "\n")
    (directory / "type_map.raw").write_text("\n".join(type_map) + "\n")
    arrays = {"coord": coord, "force": force, "energy": energy, "box": box, "virial": virial}
    if raw:
        for key, value in arrays.items():
            if value is not None:
                np.savetxt(directory / f"{key}.raw", np.atleast_2d(value) if key != "energy" else value)
    else:
        (directory / "set.000").mkdir()
        for key, value in arrays.items():
            if value is not None:
                np.save(directory / "set.000" / f"{key}.npy", value)


@pytest.mark.parametrize("raw", [False, True])
def test_deepmd_virial_becomes_ase_stress_with_sign_and_units(tmp_path, raw):
    """Hand-computed frame: two atoms 2 Å apart on x, a spring E = k/2 (d - d0)² with k = 1 eV/Å², d0 = 2.5 Å.

    Compressed spring: each atom is pushed outwards with 0.5 eV/Å. Virial W_xx = Σ x_i f_i =
    0·(−0.5) + 2·0.5 = 1 eV. In a 10 Å cube the ASE stress is −W/V = −1e-3 eV/Å³ (compressive:
    negative), equal to (1/V) dE/dε_xx = (1/V)·k(d − d0)·d = −1/1000.
    """
    box = np.diag([10.0, 10.0, 10.0]).reshape(1, 9)
    coord = np.array([[0.0, 0.0, 0.0, 2.0, 0.0, 0.0]])
    force = np.array([[-0.5, 0.0, 0.0, 0.5, 0.0, 0.0]])
    virial = np.zeros((1, 9))
    virial[0, 0] = 1.0
    _write_deepmd(tmp_path / "sys", coord, force, np.array([0.125]), box, virial, raw=raw)
    frame = read_deepmd(tmp_path / "sys")[0]
    assert frame.get_chemical_symbols() == ["Si", "O"]
    assert frame.get_potential_energy() == 0.125
    np.testing.assert_array_equal(frame.get_forces(), force.reshape(2, 3))
    np.testing.assert_allclose(frame.get_stress(), [-1e-3, 0, 0, 0, 0, 0], atol=1e-18)
    d, d0, k, volume = 2.0, 2.5, 1.0, 1000.0
    assert frame.get_stress()[0] == pytest.approx(k * (d - d0) * d / volume)
    assert frame.get_stress(voigt=False).trace() / -3 > 0, "a compressed system has positive pressure"


def test_deepmd_without_virial_has_no_stress_and_nopbc_is_molecular(tmp_path):
    coord = np.zeros((2, 6))
    coord[:, 3] = 1.0
    _write_deepmd(tmp_path / "sys", coord, np.zeros((2, 6)), np.zeros(2), None)
    (tmp_path / "sys" / "nopbc").touch()
    frames = read_deepmd(tmp_path / "sys")
    assert len(frames) == 2 and not frames[0].pbc.any()
    assert "stress" not in frames[0].calc.results


def test_npz_missing_keys_is_a_clear_error(tmp_path):
    _write_npz(tmp_path / "d.npz", forces=None)
    with pytest.raises(DataFormatError, match=r"d\.npz: missing key\(s\) forces; a nequip-style npz needs"):
        read_nequip_npz(tmp_path / "d.npz")


def test_npz_inconsistent_atom_counts_is_a_clear_error(tmp_path):
    _write_npz(tmp_path / "d.npz", atomic_numbers=np.arange(1, 7))
    with pytest.raises(DataFormatError, match="'atomic_numbers' has 6 atoms but 'pos' has 5"):
        read_nequip_npz(tmp_path / "d.npz")
    _write_npz(tmp_path / "e.npz", forces=np.zeros((4, 4, 3)))
    with pytest.raises(DataFormatError, match=r"'forces' has shape \(4, 4, 3\) but 'pos' has shape \(4, 5, 3\)"):
        read_nequip_npz(tmp_path / "e.npz")


def test_periodic_zero_cell_is_a_clear_error(tmp_path):
    _write_npz(tmp_path / "d.npz", cell=np.zeros((3, 3)))
    with pytest.raises(DataFormatError, match="periodic .* cell is all zeros .*set pbc to False"):
        read_nequip_npz(tmp_path / "d.npz")
    _write_npz(tmp_path / "m.npz", cell=np.zeros((3, 3)), periodic=False)
    assert len(read_nequip_npz(tmp_path / "m.npz")) == 4  # molecules need no cell
    (tmp_path / "z.extxyz").write_text('2\nLattice="0 0 0 0 0 0 0 0 0" Properties=species:S:1:pos:R:3 energy=-1.0 '
                                       'pbc="T T T"\nSi 0 0 0\nSi 1 1 1\n')
    with pytest.raises(DataFormatError, match=r"z\.extxyz frame 0: the frame is periodic"):
        read_extxyz(tmp_path / "z.extxyz")


def test_deepmd_inconsistent_atom_counts_is_a_clear_error(tmp_path):
    _write_deepmd(tmp_path / "sys", np.zeros((1, 9)), np.zeros((1, 9)), np.zeros(1), np.eye(3).reshape(1, 9) * 5)
    with pytest.raises(DataFormatError, match="coord has 3 atoms per frame but type.raw has 2"):
        read_deepmd(tmp_path / "sys")


def test_failed_write_leaves_nothing(tmp_path):
    _write_npz(tmp_path / "d.npz")
    frames = read_nequip_npz(tmp_path / "d.npz")
    out = tmp_path / "out"
    out.mkdir()
    write_extxyz(out / "f.extxyz", frames)
    before = (out / "f.extxyz").read_bytes()

    def broken():
        yield frames[0]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_extxyz(out / "f.extxyz", broken())
    with pytest.raises(RuntimeError):
        write_extxyz(out / "g.extxyz", broken())
    assert sorted(p.name for p in out.iterdir()) == ["f.extxyz"]
    assert (out / "f.extxyz").read_bytes() == before, "a failed rewrite must keep the old file intact"


def test_lammps_data_file_round_trip(tmp_path):
    from ase.build import bulk

    from egraff.lammps_adaptor import read_lammps_data, write_lammps_data

    crystal = bulk("Cu", "fcc", a=3.615, cubic=True).repeat(2)
    crystal.rattle(0.05, seed=2)
    write_lammps_data(tmp_path / "cu.data", crystal, ["Cu"])
    back = read_lammps_data(tmp_path / "cu.data", ["Cu"])
    np.testing.assert_allclose(back.positions, crystal.positions, atol=1e-12)  # image flags unwrap
    np.testing.assert_array_equal(back.cell.array, crystal.cell.array)
    with pytest.raises(DataFormatError, match="not element names"):
        read_lammps_data(tmp_path / "cu.data", ["Xx"])
