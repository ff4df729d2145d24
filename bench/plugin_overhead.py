"""How much does LAMMPS + pair_style egraff add on top of the bare model call, and does the cost per
atom-step stay flat from 10^2 to 10^5 atoms?

For the reference LJ (strictly local, r_c 8.5 Å), the 2-layer message-passing toy (r_max 5 Å) and the
six architectures (``tiny`` presets, random weights: the cost does not depend on the weights' values,
r_max 5 Å) on perturbed binary FCC crystals of 4 n³ atoms (default n = 3, 10, 20, 30: 108 to 108 000
atoms), measured in one run, 1 thread:

* LAMMPS steps/s with the plugin (NVE, the graph mode `auto` picks on one rank);
* the plugin's own split per step (graph build, model call, force scatter) from `timing yes`;
* the bare call of the same deployed file in Python on the same configuration's graph;
* ratio = plugin step time / bare model call time (1.0 = LAMMPS costs nothing);
* per model, the spread of µs per atom-step over the sizes of ≥ 1000 atoms (1.0 = linear scaling).

Each model runs in its own process (its memory goes back to the system before the next model; the
process's peak resident memory is recorded after each size). A size whose step the previous size
projects (linearly in atoms) above ``--max-step-s`` is skipped and recorded with that reason, as is a
model whose process dies (out of memory at 10^5 atoms, say).

Usage: python bench/plugin_overhead.py [--models lj mp2 nequip ...] [--sizes 3 10 20 30]
       [--dtype float64|float32] [--out bench/results/plugin_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from egraff import processes  # noqa: E402
from egraff.data.graph import atoms_graph  # noqa: E402
from egraff.deploy import load_deployed, save_deployed  # noqa: E402
from egraff.deploy.export import deploy  # noqa: E402
from egraff.files import atomic_write_text  # noqa: E402
from egraff.lammps_adaptor import LammpsBox, start_lammps  # noqa: E402
from egraff.models import ARCHITECTURES, build  # noqa: E402
from egraff.models.reference import ARGON_KRYPTON, lennard_jones, message_passing_toy  # noqa: E402

TYPE_NAMES = ("Ar", "Kr")
REFERENCE_MODELS = {
    "lj": lambda: lennard_jones(list(TYPE_NAMES), **ARGON_KRYPTON),
    "mp2": lambda: message_passing_toy(list(TYPE_NAMES), r_max=5.0),
}


def write_model(name: str, path: Path, dtype: str) -> Path:
    """The deployed file of a reference model or of an architecture's tiny preset (seeded random weights)."""
    if name in REFERENCE_MODELS:
        model, meta = REFERENCE_MODELS[name]()
        return save_deployed(model, path, meta)
    torch.manual_seed(0)
    return deploy(build(name, TYPE_NAMES, 5.0, preset="tiny", model_dtype=dtype).eval(), path)


TIMING = re.compile(r"pair egraff timing: calls (\d+) graph ([\d.]+) ms/call model ([\d.]+) ms/call scatter ([\d.]+)")
#: LAMMPS's "Loop time" line: seconds, steps, atoms
LOOP = re.compile(r"Loop time of ([\d.eE+-]+) on \d+ procs for (\d+) steps with (\d+) atoms")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, recorded beside a timing on a machine others may share."""
    return [round(x, 2) for x in os.getloadavg()]


def steps_for(natoms: int) -> int:
    return max(5, min(100, 400_000 // natoms))


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
    # as the contract's callers pass them: the edge vectors a leaf that requires grad
    inputs = (torch.tensor(g.edge_vectors).requires_grad_(True), torch.tensor(g.edge_index),
              torch.tensor(g.atom_types), torch.tensor(len(atoms)))
    for _ in range(3):
        model(*inputs)
    start = time.perf_counter()
    for _ in range(repeats):
        model(*inputs)
    return 1000 * (time.perf_counter() - start) / repeats, g.num_edges


def write_result(args, rows: list[dict], skipped: list[dict]) -> dict:
    """Write what has been measured so far (atomically), with each model's spread of µs per atom-step."""
    linearity = {}
    for name, repeat in {(r["model"], r["repeat"]) for r in rows}:
        per_atom = [r["us_per_atom_step"] for r in rows
                    if r["model"] == name and r["repeat"] == repeat and r["natoms"] >= 1000]
        if len(per_atom) >= 2:
            linearity.setdefault(name, []).append(max(per_atom) / min(per_atom))
    result = dict(benchmark="plugin_overhead", threads=1, dtype=args.dtype, torch=torch.__version__,
                  machine=platform.machine(), cpu_count=os.cpu_count(), rows=rows, skipped=skipped,
                  us_per_atom_step_max_over_min=linearity)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    return result


def measure(args, name: str, console: Console) -> tuple[list[dict], list[dict]]:
    """The rows of one model, all sizes and modes, in this process."""
    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as tmp:
        model_path = write_model(name, Path(tmp) / f"{name}.pt", args.dtype)
        for mode in args.modes:
            if mode == "ghost" and name != "lj":
                continue  # ghost mode is refused for message-passing models
            previous = None
            for cells in sorted(args.sizes):
                natoms = 4 * cells ** 3
                if previous and previous["step_ms"] * natoms / previous["natoms"] > 1000 * args.max_step_s:
                    projected = previous["step_ms"] * natoms / previous["natoms"] / 1000
                    skipped.append(dict(model=name, mode=mode, natoms=natoms,
                                        reason=f"projected {projected:.0f} s per step > --max-step-s"))
                    console.log(f"{name}: {natoms} atoms skipped ({skipped[-1]['reason']})")
                    continue
                for repeat in range(1, args.repeats + 1):
                    console.log(f"{name}: {natoms} atoms, mode {mode}, repeat {repeat}")
                    run = lammps_run(model_path, cells, mode, Path(tmp) / "log.lammps")
                    bare_ms, edges = bare_model_ms(model_path, run.pop("symbols"), run.pop("positions"),
                                                   run.pop("cell"), repeats=run["steps"])
                    previous = dict(model=name, repeat=repeat, **run, edges=edges, bare_model_ms=bare_ms,
                                    ratio_step_over_model=run["step_ms"] / bare_ms,
                                    us_per_atom_step=1000 * run["step_ms"] / run["natoms"],
                                    steps_per_s=1000 / run["step_ms"],
                                    peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
                    rows.append(previous)
                    write_result(args, rows, skipped)
    write_result(args, rows, skipped)  # a skip after the last row
    return rows, skipped


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=[*REFERENCE_MODELS, *ARCHITECTURES],
                        choices=[*REFERENCE_MODELS, *ARCHITECTURES])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 10, 20, 30], help="FCC cells per side (4 n^3 atoms)")
    parser.add_argument("--modes", nargs="+", default=["auto"], help="graph modes to run (auto, map, ghost, ghostmp)")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"], help="the architectures' dtype")
    parser.add_argument("--max-step-s", type=float, default=20.0, help="skip a size projected to take longer per step")
    parser.add_argument("--repeats", type=int, default=2, help="LAMMPS run + bare call pairs per size, interleaved")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "plugin_overhead.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    console = Console(width=150)
    if len(args.models) == 1:
        measure(args, args.models[0], console)
        return
    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            part = Path(tmp) / f"{name}.json"
            command = [sys.executable, __file__, "--models", name, "--sizes", *map(str, args.sizes), "--modes",
                       *args.modes, "--dtype", args.dtype, "--max-step-s", str(args.max_step_s), "--repeats",
                       str(args.repeats), "--out", str(part)]
            status = processes.run(command).returncode
            if part.exists():
                measured = json.loads(part.read_text())
                rows += measured["rows"]
                skipped += measured["skipped"]
            if status != 0:
                done = {r["natoms"] for r in rows if r["model"] == name}
                in_progress = min((4 * c ** 3 for c in args.sizes if 4 * c ** 3 not in done), default=None)
                skipped.append(dict(model=name, natoms=in_progress,
                                    reason=f"its process ended with status {status}" + (" (killed: out of memory?)" if status == -9 else "")))
                console.log(f"{name}: {skipped[-1]['reason']}")
            write_result(args, rows, skipped)
    result = write_result(args, rows, skipped)
    table = Table(title=f"pair_style egraff overhead (1 thread, architectures in {args.dtype})")
    for col in ("model", "rep", "atoms", "edges", "mode", "steps/s", "µs/atom-step", "graph ms", "plugin model ms",
                "bare model ms", "step ÷ model", "peak GB"):
        table.add_column(col, justify="right")
    for r in result["rows"]:
        table.add_row(r["model"], str(r["repeat"]), str(r["natoms"]), str(r["edges"]), r["mode"], f"{r['steps_per_s']:.2f}",
                      f"{r['us_per_atom_step']:.2f}", f"{r['plugin_graph_ms']:.2f}", f"{r['plugin_model_ms']:.2f}",
                      f"{r['bare_model_ms']:.2f}", f"{r['ratio_step_over_model']:.3f}", f"{r['peak_rss_gb']:.1f}")
    console.print(table)
    for name, spread in result["us_per_atom_step_max_over_min"].items():
        console.print(f"{name}: µs per atom-step, largest / smallest over ≥ 1000 atoms = "
                      + " / ".join(f"{s:.2f}" for s in spread))
    for s in result["skipped"]:
        console.print(f"{s['model']}: {s['natoms']} atoms not measured: {s['reason']}")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
