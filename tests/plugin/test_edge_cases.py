"""Sparse and unusual systems: empty MPI domains, isolated atoms, unused atom types."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import fcc_binary, lammps_error, new_lammps, per_atom, run_lmp, thermo_rows


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


@pytest.mark.mpi
def test_timing_report_with_an_empty_rank_does_not_hang(lj_file, tmp_path):
    """The rank that owns no atoms must still join the timing reduction at the end of the run."""
    script = slab_script(lj_file, steps=5).replace("pair_style egraff", "pair_style egraff timing yes")
    result = run_lmp(script, tmp_path, nprocs=2, timeout=60)
    assert result.returncode == 0, result.stdout[-3000:]
    nlocal = next(line for line in result.stdout.splitlines() if line.startswith("Nlocal:"))
    assert nlocal.split()[-2:] == ["0", "min"], nlocal
    timing = next(line for line in result.stdout.splitlines() if line.startswith("pair egraff timing"))
    warmup = next(line for line in result.stdout.splitlines() if line.startswith("pair egraff warm-up"))
    # setup + 5 steps on the one busy rank, the first 3 of them reported as the warm-up
    assert "calls 3 " in timing and "summed over 2 ranks" in timing and "calls 3 " in warmup


def test_non_finite_position_is_an_error_not_a_missing_atom(mp2_file):
    """A NaN coordinate between reneighbourings (LAMMPS checks only when it rebuilds the lists, and a
    NaN displacement never triggers a rebuild) would give an atom without edges."""
    lmp = new_lammps()
    try:
        lmp.commands_list(fcc_binary((2, 2, 2)) + ["pair_style egraff", f"pair_coeff * * {mp2_file} Ar Kr",
                                                   "fix nve all nve", "run 0"])
        ids = np.array(lmp.numpy.extract_atom("id"))
        lmp.numpy.extract_atom("x")[3, 1] = np.nan
        with pytest.raises(Exception, match=rf"atom {ids[3]} has a non-finite position \(.*, nan, .*\) at step 1"):
            lmp.command("run 3 pre no")
    finally:
        lmp.close()


def ghost_counts(stdout: str) -> tuple[float, float]:
    """Average local and ghost atoms per rank from LAMMPS's end-of-run summary."""
    values = {}
    for line in stdout.splitlines():
        words = line.split()
        if words and words[0] in ("Nlocal:", "Nghost:"):
            values[words[0]] = float(words[1])
    return values["Nlocal:"], values["Nghost:"]


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_wide_ghost_shell_warns_with_the_ghost_count(mp2_file, tmp_path, nprocs):
    """ghostmp in a 32-atom triclinic cell (shell 12 Å, cell ~10.5 Å): a warning with the number of
    ghost atoms per local atom, which matches what LAMMPS then creates."""
    script = "\n".join(fcc_binary((2, 2, 2), triclinic=True) + [
        "pair_style egraff mode ghostmp", f"pair_coeff * * {mp2_file} Ar Kr", "run 0"]) + "\n"
    result = run_lmp(script, tmp_path, nprocs=nprocs)
    assert result.returncode == 0, result.stdout[-3000:]
    warning = next(line for line in result.stdout.splitlines() if line.startswith("WARNING") and "ghost" in line)
    estimate = float(warning.split("evaluates about ")[1].split()[0])
    nlocal, nghost = ghost_counts(result.stdout)
    assert abs(estimate - nghost / nlocal) <= 0.1 * nghost / nlocal, (estimate, nghost / nlocal)
    assert "use mode map on 1 MPI rank, fewer MPI ranks or a larger box" in warning


def test_ghost_shell_many_cells_wide_is_refused_unless_allowed(mp2_file):
    """4 atoms in a 5.4 Å cell with a 12 Å ghost shell: ~160 ghost copies per atom, each evaluated
    by the model at every step. Refused by default; `ghost_limit` allows it, with exact results."""
    def commands(style):
        return fcc_binary((1, 1, 1), jitter=0.2) + [style, f"pair_coeff * * {mp2_file} Ar Kr", "run 0"]

    error = lammps_error(commands("pair_style egraff mode ghostmp"))
    assert "the model evaluates about 160 ghost atoms per local atom at every step, more than ghost_limit 100" in error
    assert "raise the limit with 'pair_style egraff ghost_limit N'" in error
    energies = []
    for style in ("pair_style egraff mode ghostmp ghost_limit 500", "pair_style egraff mode map"):
        lmp = new_lammps()
        try:
            lmp.commands_list(commands(style))
            energies.append(lmp.get_thermo("pe"))
        finally:
            lmp.close()
    assert abs(energies[0] - energies[1]) <= 1e-10


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_bad_ghost_limit_is_refused(value):
    error = lammps_error(["units metal", f"pair_style egraff ghost_limit {value}"])
    assert f"ghost_limit must be a number > 0 (ghost atoms per local atom), got '{value}'" in error

