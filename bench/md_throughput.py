"""MD throughput of one deployed model in LAMMPS (pair_style egraff) and in ASE (EGraFFCalculator).

The simulations are what `egraff md` runs (egraff.md.run_simulation, NVE velocity Verlet, 1 fs, one
process, 1 thread), on jittered Ar/Kr fcc crystals of ~100, ~1000 and ~10000 atoms, all in one run:

* `lj`: the reference Lennard-Jones potential (r_c 8.5 Å, a cheap model: the engines' own overhead shows);
* `nequip`: a tiny NequIP model from the model zoo (r_max 4 Å, 2 layers: the model dominates).

Steps/s is timed inside the MD loop (set-up, model loading and the first force call excluded);
atom-steps/s = steps/s × atoms; ratio = LAMMPS steps/s ÷ ASE steps/s.

Usage: python bench/md_throughput.py [--cells 3 6 14] [--models lj nequip] [--out bench/results/md_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from ase.build import bulk  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from egraff.data import write_extxyz  # noqa: E402
from egraff.files import atomic_write_text  # noqa: E402
from egraff.deploy import deploy, save_deployed  # noqa: E402
from egraff.md import SystemSource, run_simulation, single_spec  # noqa: E402
from egraff.models import build  # noqa: E402
from egraff.models.reference import ARGON_KRYPTON, lennard_jones  # noqa: E402

ENGINES = ("lammps", "ase")


def write_models(directory: Path, names) -> dict[str, Path]:
    paths = {}
    for name in names:
        path = directory / f"{name}.pt"
        if name == "lj":
            model, metadata = lennard_jones(["Ar", "Kr"], **ARGON_KRYPTON)
            save_deployed(model, path, metadata)
        else:
            torch.manual_seed(0)
            deploy(build(name, ["Ar", "Kr"], 4.0, preset="tiny").eval(), path)
        paths[name] = path
    return paths


def crystal(directory: Path, cells: int) -> SystemSource:
    atoms = bulk("Ar", "fcc", a=5.4, cubic=True).repeat(cells)
    atoms.symbols[::3] = "Kr"
    atoms.rattle(0.05, seed=1)
    return SystemSource(name=f"fcc{len(atoms)}", file=str(write_extxyz(directory / f"fcc{cells}.extxyz", [atoms])))


def steps_for(natoms: int, model: str) -> int:
    budget = 200_000 if model == "lj" else 40_000  # atom-steps per measurement (at least 10 steps)
    return max(10, min(400, budget // natoms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[3, 6, 14], help="fcc cells per side (4·n³ atoms)")
    parser.add_argument("--models", nargs="+", default=["lj", "nequip"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "md_throughput.json")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        models = write_models(scratch, args.models)
        systems = [crystal(scratch, cells) for cells in args.cells]
        with Progress(transient=True) as progress:
            task = progress.add_task("md throughput", total=len(models) * len(systems) * len(ENGINES))
            for (name, path), system in ((m, s) for m in models.items() for s in systems):
                runs = {}
                for engine in ENGINES:
                    natoms = int(system.name[3:])
                    steps = steps_for(natoms, name)
                    progress.update(task, description=f"{name} {natoms} atoms {engine} ({steps} steps)")
                    spec = single_spec(path, system, 60.0, engine=engine, protocol="nve", steps=steps,
                                       dump_every=steps, check_every=steps)
                    record = run_simulation(spec, scratch / "runs")
                    if record["status"] != "completed":
                        raise RuntimeError(f"{name} {engine} {natoms} atoms: {record['failure_reason']}")
                    runs[engine] = record
                    progress.advance(task)
                results.append({
                    "model": name, "atoms": runs["lammps"]["n_atoms"], "steps": runs["lammps"]["steps_completed"],
                    **{f"{engine}_steps_per_s": runs[engine]["steps_per_s"] for engine in ENGINES},
                    **{f"{engine}_atom_steps_per_s": runs[engine]["atom_steps_per_s"] for engine in ENGINES},
                    "ratio_lammps_over_ase": runs["lammps"]["steps_per_s"] / runs["ase"]["steps_per_s"],
                })

    payload = {
        "benchmark": "md_throughput",
        "description": "NVE steps/s of egraff.md.run_simulation, LAMMPS (pair_style egraff) vs ASE (EGraFFCalculator), "
                       "same deployed file, 1 process, 1 thread",
        "threads": int(os.environ["OMP_NUM_THREADS"]), "torch_threads": torch.get_num_threads(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count()},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(payload, indent=1) + "\n")

    table = Table("model", "atoms", "steps", "LAMMPS steps/s", "ASE steps/s", "LAMMPS atom-steps/s",
                  "ASE atom-steps/s", "LAMMPS/ASE", title="MD throughput (1 thread)")
    for r in results:
        table.add_row(r["model"], str(r["atoms"]), str(r["steps"]), f"{r['lammps_steps_per_s']:.3g}",
                      f"{r['ase_steps_per_s']:.3g}", f"{r['lammps_atom_steps_per_s']:.3g}",
                      f"{r['ase_atom_steps_per_s']:.3g}", f"{r['ratio_lammps_over_ase']:.2f}")
    Console().print(table)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
