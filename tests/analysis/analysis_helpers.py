"""Helpers that make test trajectories: LAMMPS Lennard-Jones runs, numpy-built frames, hand-written dumps.

The fixtures live here, imported by the test modules that use them, not in a conftest.py: other test
folders do ``from conftest import ...`` and a second conftest module would shadow tests/conftest.py.
A session cache keeps each LAMMPS run to once per session however many modules import the fixture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: Ar/Kr Lennard-Jones (metal units), as tests/conftest.py's LJ_CUT
LJ = ["pair_style lj/cut 8.5", "pair_coeff 1 1 0.0104 3.40", "pair_coeff 2 2 0.0146 3.60", "pair_coeff 1 2 0.0123 3.50"]
#: a triclinic cell whose numbers are exact binary fractions (exact in float32 too)
TILTS = (5.5, 2.75, -2.75)
# Å; coordinates are snapped to this grid so every reader (MDAnalysis keeps float32) sees the same
# numbers. Squared distances are then exact multiples of 2⁻¹² Å², which keeps every distance either on a
# bin edge (a multiple of 0.25 Å, exact in float32) or ≥ 6e-7 Å from one, beyond float32 rounding:
# no pair can change bin between tools (bins of 0.05 or 0.1 Å, r < 8 Å).
GRID = 2.0**-6
_made: dict = {}


def run_lammps(commands: list[str]) -> None:
    from egraff.lammps_adaptor import start_lammps

    lmp = start_lammps()
    try:
        for command in commands:
            lmp.command(command)
    finally:
        lmp.close()


def snap_dump(path: Path) -> Path:
    """Round the coordinates (x y z or xu yu zu) of every atom line to GRID and write them exactly."""
    out, columns = [], None
    for line in path.read_text().splitlines():
        if line.startswith("ITEM: ATOMS"):
            columns = line.split()[2:]
            out.append(line)
            continue
        if line.startswith("ITEM:"):
            columns = None
        words = line.split()
        if columns and len(words) == len(columns):
            for name in ("x", "y", "z", "xu", "yu", "zu"):
                if name not in columns:
                    continue
                k = columns.index(name)
                words[k] = f"{round(float(words[k]) / GRID) * GRID:.10f}"
            line = " ".join(words)
        out.append(line)
    path.write_text("\n".join(out) + "\n")
    return path


def lj_fluid(path: Path, *, triclinic: bool, temperature: float = 700.0, steps: int = 600, every: int = 50,
             columns: str = "id type element x y z", cells: int = 4, a: float = 5.5, seed: int = 2024) -> Path:
    """A hot binary Ar/Kr LJ fluid (256 atoms), dumped every ``every`` steps with dyadic coordinates."""
    commands = ["units metal", "atom_style atomic", "atom_modify map yes", f"lattice fcc {a}",
                f"region box block 0 {cells} 0 {cells} 0 {cells}", "create_box 2 box", "create_atoms 1 box",
                "set type 1 type/fraction 2 0.3 777", "mass 1 39.95", "mass 2 83.80", *LJ]
    if triclinic:
        xy, xz, yz = TILTS
        commands += ["change_box all triclinic", f"change_box all xy final {xy} xz final {xz} yz final {yz} remap units box"]
    commands += [f"velocity all create {temperature} {seed} mom yes rot no dist gaussian",
                 "fix nvt all nvt temp {0} {0} 0.1".format(temperature), "timestep 0.002",
                 "run 200",  # leave the lattice: its exact distances sit on bin edges
                 f"dump d all custom {every} {path} {columns}", "dump_modify d element Ar Kr sort id",
                 f"run {steps}"]
    run_lammps(commands)
    return snap_dump(path)


def ideal_gas(n_atoms: int, n_frames: int, length: float, seed: int = 0, symbols=None):
    """Uniform random positions in a cubic box: an ideal gas, g(r) = 1."""
    from egraff.analysis import Trajectory

    rng = np.random.default_rng(seed)
    symbols = ["Ar"] * n_atoms if symbols is None else symbols
    return Trajectory(symbols=symbols, positions=rng.uniform(0, length, (n_frames, n_atoms, 3)),
                      cells=np.diag([length] * 3), pbc=True, steps=np.arange(n_frames), timestep=0.001)


def dump_text(frames: list[dict]) -> str:
    """A LAMMPS text dump from frames {step, cell_bounds [3, 2], columns, rows} (for reader tests)."""
    out = []
    for frame in frames:
        out += ["ITEM: TIMESTEP", str(frame["step"]), "ITEM: NUMBER OF ATOMS", str(len(frame["rows"])),
                "ITEM: BOX BOUNDS pp pp pp", *(f"{lo} {hi}" for lo, hi in frame["bounds"]),
                "ITEM: ATOMS " + frame["columns"], *(" ".join(map(str, row)) for row in frame["rows"])]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="session")
def fluid_dumps(tmp_path_factory) -> dict[str, Path]:
    """{"orthogonal": path, "triclinic": path} of the same LJ fluid protocol."""
    if "fluid" not in _made:
        folder = tmp_path_factory.mktemp("fluid")
        _made["fluid"] = {kind: lj_fluid(folder / f"{kind}.dump", triclinic=kind == "triclinic")
                          for kind in ("orthogonal", "triclinic")}
    return _made["fluid"]


@pytest.fixture(scope="session")
def lj_crystal_and_melt(tmp_path_factory) -> dict[str, Path]:
    """Ar FCC crystal at 40 K (reference) and a run that starts from it and is melted after 10 frames."""
    if "melt" in _made:
        return _made["melt"]
    folder = tmp_path_factory.mktemp("melt")
    setup = ["units metal", "atom_style atomic", "lattice fcc 5.26", "region box block 0 4 0 4 0 4",
             "create_box 1 box", "create_atoms 1 box", "mass 1 39.95", "pair_style lj/cut 8.5",
             "pair_coeff 1 1 0.0104 3.40", "timestep 0.002", "velocity all create 40 99 mom yes rot no"]
    crystal, melt = folder / "crystal.dump", folder / "melt.dump"
    run_lammps(setup + ["fix t all nvt temp 40 40 0.1", f"dump d all custom 50 {crystal} id element x y z",
                        "dump_modify d element Ar sort id", "run 1000"])
    run_lammps(setup + ["fix t all nvt temp 40 40 0.1", f"dump d all custom 50 {melt} id element x y z",
                        "dump_modify d element Ar sort id", "run 450", "unfix t",
                        "fix t all nvt temp 2500 2500 0.1", "run 1550"])
    _made["melt"] = {"crystal": crystal, "melt": melt}
    return _made["melt"]


@pytest.fixture(scope="session")
def molecule_dump(tmp_path_factory) -> Path:
    """A real LAMMPS run of one ethanol molecule with shrink-wrapped, non-periodic boundaries (``boundary s s s``,
    as inputs/molecule_md.in): 60 steps of 0.5 fs, no forces, 20 K, every 10 steps, positions unwrapped.
    The dumped box is the molecule's bounding box, so read as periodic its atoms would touch their images."""
    if "molecule" not in _made:
        path = tmp_path_factory.mktemp("molecule") / "ethanol.dump"
        data = Path(__file__).resolve().parents[2] / "inputs" / "data" / "ethanol.data"
        run_lammps(["units metal", "atom_style atomic", "atom_modify map yes", "boundary s s s", f"read_data {data}",
                    "pair_style zero 5.0", "pair_coeff * *", "velocity all create 20.0 4711 mom yes rot yes",
                    "fix nve all nve", "timestep 0.0005", f"dump d all custom 10 {path} id element xu yu zu",
                    "dump_modify d element C H O sort id format float %.15g", "run 60"])
        _made["molecule"] = path
    return _made["molecule"]
