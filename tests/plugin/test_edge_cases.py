"""Sparse and unusual systems: empty MPI domains, isolated atoms, unused atom types."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import fcc_binary, new_lammps, per_atom, run_lmp, thermo_rows


def slab_script(model, steps=10):
    """All atoms in a slab inside the first half of a long box: with `processors 2 1 1` the
    second rank owns no atom but holds periodic ghost images of the slab."""
    return "\n".join([
        "units metal", "atom_style atomic", "processors * 1 1",
        "lattice fcc 5.4", "region box block 0 12 0 2 0 2", "create_box 2 box",
        "region lower block 1 3 0 2 0 2", "create_atoms 1 region lower",
        "set type 1 type/fraction 2 0.35 12345", "mass * 39.95",
        "displace_atoms all random 0.1 0.1 0.1 777 units box",
        "pair_style egraff", f"pair_coeff * * {model} Ar Kr",
        "velocity all create 200 99 loop geom", "fix nve all nve", "timestep 0.002",
        "thermo_style custom step pe etotal pxx pyy pzz pxy",
        "thermo_modify format float %22.15g", "thermo 5",
        f"run {steps}",
    ]) + "\n"


@pytest.mark.mpi
@pytest.mark.parametrize("model", ["lj_file", "mp2_file"])
def test_empty_domain_on_second_rank(model, request, tmp_path):
    path = request.getfixturevalue(model)
    one = run_lmp(slab_script(path), tmp_path, name="one.in")
    two = run_lmp(slab_script(path), tmp_path, nprocs=2, name="two.in")
    assert one.returncode == 0, one.stdout[-3000:]
    assert two.returncode == 0, two.stdout[-3000:]
    nlocal = next(line for line in two.stdout.splitlines() if line.startswith("Nlocal:"))
    assert nlocal.split()[-2:] == ["0", "min"], nlocal
    rows1, rows2 = np.array(thermo_rows(one.stdout)), np.array(thermo_rows(two.stdout))
    assert rows1.shape == rows2.shape and rows1.shape[0] == 3
    assert np.allclose(rows1, rows2, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["map", "ghostmp"])
def test_isolated_atom_has_its_reference_energy_and_no_force(mp2_file, mode):
    """An atom with no neighbour still goes through the model (node energy e0 of its type)."""
    lmp = new_lammps()
    try:
        lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map yes", "region box block 0 30 0 30 0 30",
            "create_box 2 box", "mass * 39.95",
            "create_atoms 1 single 5 5 5", "create_atoms 2 single 20 20 20",  # both isolated
            f"pair_style egraff mode {mode}", f"pair_coeff * * {mp2_file} Ar Kr",
            "compute pe all pe/atom", "run 0",
        ])
        from conftest import compute_atom

        assert np.allclose(compute_atom(lmp, "pe"), [-1.0, -1.5], atol=1e-14)  # MessagePassingToy e0
        assert np.abs(per_atom(lmp, "f")).max() == 0.0
        lmp.command("create_atoms 1 single 6.5 5 5")  # a neighbour for the first atom
        lmp.command("run 0")
        f = per_atom(lmp, "f")
        assert np.abs(f[0]).max() > 0 and np.allclose(f[0], -f[2], atol=1e-14) and np.abs(f[1]).max() == 0.0
    finally:
        lmp.close()


def test_unused_null_type_is_allowed(lj_file):
    lmp = new_lammps()
    try:
        lmp.commands_list(fcc_binary((2, 2, 2), ntypes=3) + ["pair_style egraff", f"pair_coeff * * {lj_file} Ar Kr NULL",
                                                            "run 0"])
        pe3 = lmp.get_thermo("pe")
    finally:
        lmp.close()
    lmp = new_lammps()
    try:
        lmp.commands_list(fcc_binary((2, 2, 2)) + ["pair_style egraff", f"pair_coeff * * {lj_file} Ar Kr", "run 0"])
        assert lmp.get_thermo("pe") == pe3
    finally:
        lmp.close()
