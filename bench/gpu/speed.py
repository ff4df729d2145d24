"""MD speed on one GPU: steps/s per architecture at 10^3-10^5 atoms, LAMMPS (pair_style egraff
device cuda) against ASE (EGraFFCalculator on cuda) on the same deployed file. Without a GPU the
same runs happen on the CPU (a rehearsal of bench/gpu/run.sh; the device is recorded).

Tiny preset of every architecture (float64 unless --dtypes), rattled fcc CuAu (a = 3.7 Å, so the
r_max = 3.5 Å graph has 12 neighbours per atom), NVE at 300 K, 1 fs. LAMMPS steps/s from its own
loop time after warm-up steps; ASE steps/s over velocity-Verlet steps after warm-up. Results are
written after every measurement (a run cut short by --deadline keeps what it has).

Usage: python bench/gpu/speed.py [--cells 6 14 29] [--ase-max-atoms 20000] [--deadline SECONDS] --out FILE
Needs `lmp` on PATH (or --lmp) and the plugin in LAMMPS_PLUGIN_PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet
from ase.units import fs

from egraff.deploy import EGraFFCalculator
from egraff.deploy.export import deploy
from egraff.files import atomic_write_text
from egraff.lammps_adaptor import write_lammps_data
from egraff.models import ARCHITECTURES, build

TYPE_NAMES = ("Cu", "Au")
R_MAX = 3.5
LOOP = re.compile(r"Loop time of ([\d.eE+-]+) on \d+ procs for (\d+) steps with (\d+) atoms")


def crystal(cells: int):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((cells, cells, cells))
    rng = np.random.default_rng(5)
    atoms.positions += rng.normal(scale=0.04, size=atoms.positions.shape)
    atoms.symbols[rng.permutation(len(atoms))[: len(atoms) // 3]] = "Au"
    return atoms


DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def synchronize():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def lammps_steps_per_s(lmp: str, model: Path, cells: int, work: Path) -> dict:
    data = write_lammps_data(work / f"crystal-{cells}.data", crystal(cells), TYPE_NAMES)

    def run(steps: int) -> tuple[float, int]:
        script = "\n".join([
            "units metal", "atom_style atomic", "atom_modify map yes", f"read_data {data}",
            f"pair_style egraff device {DEVICE}", f"pair_coeff * * {model} Cu Au",
            "velocity all create 300 4928 loop geom", "fix nve all nve", "timestep 0.001",
            "neighbor 1.0 bin", "neigh_modify every 10 delay 0 check yes", "thermo 0",
            "run 5",  # warm-up: CUDA context, TorchScript profiling runs
            f"run {steps}",
        ]) + "\n"
        (work / "in.speed").write_text(script)
        result = subprocess.run([lmp, "-in", "in.speed", "-log", "none"], cwd=work, capture_output=True, text=True,
                                timeout=600)
        if result.returncode != 0:
            raise RuntimeError((result.stdout + result.stderr)[-1500:])
        loop_s, n, natoms = LOOP.findall(result.stdout)[-1]
        return float(loop_s), int(natoms)

    # one process per measurement (CUDA and TorchScript start-up are paid once, in the warm-up)
    steps = 100 if cells**3 * 4 < 5000 else 50 if cells**3 * 4 < 50000 else 20
    loop_s, natoms = run(steps)
    return dict(atoms=natoms, steps=steps, steps_per_s=steps / loop_s)


def ase_steps_per_s(model: Path, cells: int, budget_s: float) -> dict:
    atoms = crystal(cells)
    atoms.calc = EGraFFCalculator(model, device=DEVICE)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(1))
    md = VelocityVerlet(atoms, 1 * fs)
    md.run(3)  # warm-up
    synchronize()
    start = time.perf_counter()
    md.run(1)
    per_step = time.perf_counter() - start
    steps = int(max(2, min(200, budget_s / per_step)))
    start = time.perf_counter()
    md.run(steps)
    synchronize()
    return dict(atoms=len(atoms), steps=steps, steps_per_s=steps / (time.perf_counter() - start))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="+", default=[6, 14, 29], help="fcc cells per side (4 n^3 atoms)")
    parser.add_argument("--architectures", nargs="+", default=[a for a in ARCHITECTURES if a != "torchmd-et"])
    parser.add_argument("--dtypes", nargs="+", default=["float64"])
    parser.add_argument("--ase-max-atoms", type=int, default=20000)
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of timed ASE MD per measurement")
    parser.add_argument("--deadline", type=float, default=1e9, help="stop starting measurements after this many seconds")
    parser.add_argument("--lmp", default=shutil.which("lmp") or "lmp")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    lmp = os.path.abspath(shutil.which(args.lmp) or args.lmp)
    t0 = time.perf_counter()
    result = dict(benchmark="gpu_speed", device=DEVICE,
                  gpu=torch.cuda.get_device_name(0) if DEVICE == "cuda" else None, torch=torch.__version__,
                  r_max=R_MAX, rows=[])

    def save():
        atomic_write_text(args.out, json.dumps(result, indent=2))

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for dtype in args.dtypes:
            for architecture in args.architectures:
                torch.manual_seed(11)
                model = build(architecture, TYPE_NAMES, R_MAX, preset="tiny", model_dtype=dtype)
                model_file = deploy(model.eval(), work / f"{architecture}-{dtype}.pt")
                for cells in args.cells:
                    natoms = 4 * cells**3
                    for engine in ("lammps", "ase"):
                        if time.perf_counter() - t0 > args.deadline:
                            result["stopped_at_deadline"] = True
                            save()
                            return
                        if engine == "ase" and natoms > args.ase_max_atoms:
                            continue
                        row = dict(architecture=architecture, dtype=dtype, engine=engine, cells=cells)
                        try:
                            row.update(lammps_steps_per_s(lmp, model_file, cells, work)
                                       if engine == "lammps" else ase_steps_per_s(model_file, cells, args.budget))
                            row["atom_steps_per_s"] = row["steps_per_s"] * row["atoms"]
                        except Exception as err:  # keep measuring the others; the row says what failed
                            row["error"] = f"{type(err).__name__}: {str(err)[-800:]}"
                        result["rows"].append(row)
                        print(json.dumps(row), flush=True)
                        save()
    for row in result["rows"]:
        if row["engine"] == "lammps" and "steps_per_s" in row:
            ase = [r for r in result["rows"] if r["engine"] == "ase" and "steps_per_s" in r and
                   (r["architecture"], r["dtype"], r["cells"]) == (row["architecture"], row["dtype"], row["cells"])]
            if ase:
                row["lammps_over_ase"] = row["steps_per_s"] / ase[0]["steps_per_s"]
    save()


if __name__ == "__main__":
    main()
