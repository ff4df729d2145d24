"""How much does LAMMPS + pair_style egraff add on top of the bare model call?

For the reference LJ (strictly local, r_c 8.5 Å) and the 2-layer message-passing toy (r_max 5 Å)
on perturbed binary FCC crystals of ~500, ~4000 and ~32000 atoms, measured in one run, 1 thread:

* LAMMPS steps/s with the plugin (NVE, the graph mode `auto` picks on one rank);
* the plugin's own split per step (graph build, model call, force scatter) from `timing yes`;
* the bare call of the same deployed file in Python on the same configuration's graph;
* ratio = plugin step time / bare model call time (1.0 = LAMMPS costs nothing).

Usage: python bench/plugin_overhead.py [--sizes 5 10 20] [--out bench/results/plugin_overhead.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from egraff.data.graph import atoms_graph  # noqa: E402
from egraff.deploy import load_deployed, save_deployed  # noqa: E402
from egraff.lammps_adaptor import LammpsBox, start_lammps  # noqa: E402
from egraff.models.reference import ARGON_KRYPTON, lennard_jones, message_passing_toy  # noqa: E402

MODELS = {
    "lj": lambda: lennard_jones(["Ar", "Kr"], **ARGON_KRYPTON),
    "mp2": lambda: message_passing_toy(["Ar", "Kr"], r_max=5.0),
}
TIMING = re.compile(r"pair egraff timing: calls (\d+) graph ([\d.]+) ms/call model ([\d.]+) ms/call scatter ([\d.]+)")


def steps_for(natoms: int) -> int:
    return max(3, min(100, 400_000 // natoms))


def crystal_md(cells: int, pair_style: str, model_path: Path) -> list[str]:
    """LAMMPS commands for NVE of a perturbed Ar/Kr FCC crystal of 4 cells³ atoms with `pair_style`."""
    return [
        "units metal", "atom_style atomic", "atom_modify map yes",
        "lattice fcc 5.4", f"region box block 0 {cells} 0 {cells} 0 {cells}", "create_box 2 box",
        "create_atoms 1 box", "set type 1 type/fraction 2 0.35 12345", "mass * 39.95",
        "displace_atoms all random 0.1 0.1 0.1 4321 units box",
        pair_style, f"pair_coeff * * {model_path} Ar Kr",
        "velocity all create 60 8765 loop geom", "fix nve all nve", "timestep 0.002",
        "neighbor 1.0 bin", "neigh_modify every 10 delay 0 check yes", "thermo 0",
    ]


def lammps_run(model_path: Path, cells: int, mode: str, log: Path) -> dict:
    lmp = start_lammps(cmdargs=["-screen", "none", "-log", str(log), "-nocite"])
    try:
        lmp.commands_list(crystal_md(cells, f"pair_style egraff mode {mode} timing yes", model_path) + [
            "run 2",  # warm-up: TorchScript profiling calls, neighbour list allocation
        ])
        natoms = lmp.get_natoms()
        steps = steps_for(natoms)
        start = time.perf_counter()
        lmp.command(f"run {steps} pre no post yes")
        wall = time.perf_counter() - start
        symbols = ["Ar" if t == 1 else "Kr" for t in np.array(lmp.numpy.extract_atom("type"))[:natoms]]
        positions = np.array(lmp.numpy.extract_atom("x"))[:natoms].copy()
        cell = LammpsBox.from_session(lmp).cell
        log_text = log.read_text()
    finally:
        lmp.close()
    calls, graph_ms, model_ms, scatter_ms = TIMING.findall(log_text)[-1]
    mode = re.findall(r"mode (\w+), device", log_text)[-1]
    return dict(natoms=natoms, steps=steps, mode=mode, step_ms=1000 * wall / steps,
                plugin_graph_ms=float(graph_ms), plugin_model_ms=float(model_ms), plugin_scatter_ms=float(scatter_ms),
                symbols=symbols, positions=positions, cell=cell)


def bare_model_ms(model_path: Path, symbols, positions, cell, repeats: int) -> tuple[float, int]:
    import ase

    model, meta = load_deployed(model_path)
    atoms = ase.Atoms(symbols, positions=positions, cell=cell, pbc=True)
    g = atoms_graph(atoms, meta.type_names, meta.r_max)
    inputs = (torch.tensor(g.edge_vectors), torch.tensor(g.edge_index), torch.tensor(g.atom_types),
              torch.tensor(len(atoms)))
    for _ in range(3):
        model(*inputs)
    start = time.perf_counter()
    for _ in range(repeats):
        model(*inputs)
    return 1000 * (time.perf_counter() - start) / repeats, g.num_edges


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20], help="FCC cells per side (4 n^3 atoms)")
    parser.add_argument("--modes", nargs="+", default=["auto"], help="graph modes to run (auto, map, ghost, ghostmp)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "plugin_overhead.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    console = Console(width=150)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, factory in MODELS.items():
            model, meta = factory()
            model_path = save_deployed(model, Path(tmp) / f"{name}.pt", meta)
            for cells, mode in itertools.product(args.sizes, args.modes):
                if mode == "ghost" and name != "lj":
                    continue  # ghost mode is refused for message-passing models
                console.log(f"{name}: {4 * cells ** 3} atoms, mode {mode}")
                run = lammps_run(model_path, cells, mode, Path(tmp) / "log.lammps")
                bare_ms, edges = bare_model_ms(model_path, run.pop("symbols"), run.pop("positions"), run.pop("cell"),
                                               repeats=run["steps"])
                rows.append(dict(model=name, **run, edges=edges, bare_model_ms=bare_ms,
                                 ratio_step_over_model=run["step_ms"] / bare_ms,
                                 us_per_atom_step=1000 * run["step_ms"] / run["natoms"],
                                 steps_per_s=1000 / run["step_ms"]))
    result = dict(benchmark="plugin_overhead", threads=1, torch=torch.__version__, machine=platform.machine(),
                  cpu_count=os.cpu_count(), rows=rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2))
    tmp_out.replace(args.out)

    table = Table(title="pair_style egraff overhead (1 thread)")
    for col in ("model", "atoms", "edges", "mode", "steps/s", "µs/atom-step", "graph ms", "plugin model ms",
                "bare model ms", "step ÷ model"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["model"], str(r["natoms"]), str(r["edges"]), r["mode"], f"{r['steps_per_s']:.2f}",
                      f"{r['us_per_atom_step']:.2f}", f"{r['plugin_graph_ms']:.2f}", f"{r['plugin_model_ms']:.2f}",
                      f"{r['bare_model_ms']:.2f}", f"{r['ratio_step_over_model']:.3f}")
    console.print(table)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
