"""What does watching a simulation with a committee cost?

A committee of 4 tiny models (the `tiny` presets of egraff.models, NequIP and MACE, four seeds each,
exported with egraff.deploy) against member 0 alone, in LAMMPS (`pair_style egraff`, 1 rank, 1
thread, NVE) on perturbed binary FCC crystals of 108 and 500 atoms:

* single       — `pair_style egraff`, member 0 only;
* committee/1  — `committee m1 m2 m3` (deviation every step; member 0 drives);
* committee/10 — `committee m1 m2 m3 every 10`.

Each configuration runs after a warm-up (TorchScript's first calls), in two repeats, interleaved
(repeat 1 of every configuration, then repeat 2), so that load from other jobs on the machine
spreads over all of them. Step times are wall time and this process's CPU time (LAMMPS runs in
it on one thread; CPU time is less disturbed by other jobs on shared cores). ratio = step time /
the single model's step time in the same repeat and size; `calls_ratio` = 1 + (K - 1) / every is
what the model calls alone would cost.

Usage: python bench/committee_cost.py [--sizes 3 5] [--out bench/results/committee_cost.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from egraff.deploy.export import deploy  # noqa: E402
from egraff.files import atomic_write_text  # noqa: E402
from egraff.lammps_adaptor import start_lammps  # noqa: E402
from egraff.models import build  # noqa: E402
from plugin_overhead import crystal_md  # noqa: E402  (bench/, the script's directory)

ARCHITECTURES = ("nequip", "mace")
MEMBERS = 4
CONFIGS = {"single": None, "committee/1": 1, "committee/10": 10}


def write_members(architecture: str, directory: Path) -> list[Path]:
    files = []
    for k in range(MEMBERS):
        torch.manual_seed(100 + k)
        files.append(deploy(build(architecture, ["Ar", "Kr"], 5.0), directory / f"{architecture}_{k}.pt"))
    return files


def step_ms(files: list[Path], every: int | None, cells: int, log: Path) -> tuple[float, float, int, int]:
    """Milliseconds per MD step (wall, CPU), the atom count and the steps timed."""
    committee = "" if every is None else f"committee {' '.join(map(str, files[1:]))} every {every}"
    lmp = start_lammps(cmdargs=["-screen", "none", "-log", str(log), "-nocite"])
    try:
        lmp.commands_list(crystal_md(cells, f"pair_style egraff {committee}", files[0]) + [
            "run 30",  # warm-up: every member called at least 4 times (steps 0, 10, 20, 30)
        ])
        natoms = lmp.get_natoms()
        steps = 40 if natoms < 300 else 20  # multiples of 10: `every 10` evaluates steps / 10 times
        wall, cpu = time.perf_counter(), time.process_time()
        lmp.command(f"run {steps} pre no post no")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return 1000 * wall / steps, 1000 * cpu / steps, natoms, steps
    finally:
        lmp.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 5], help="FCC cells per side (4 n^3 atoms)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "committee_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    console = Console(width=150)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        members = {a: write_members(a, Path(tmp)) for a in ARCHITECTURES}
        for repeat in range(1, args.repeats + 1):
            for architecture, cells in ((a, c) for a in ARCHITECTURES for c in args.sizes):
                single = None
                for config, every in CONFIGS.items():
                    wall, cpu, natoms, steps = step_ms(members[architecture], every, cells, Path(tmp) / "log.lammps")
                    single = (wall, cpu) if every is None else single
                    calls = 1.0 if every is None else 1.0 + (MEMBERS - 1) / every
                    rows.append(dict(model=architecture, natoms=natoms, config=config, repeat=repeat, steps=steps,
                                     step_ms=wall, step_cpu_ms=cpu, ratio=wall / single[0], cpu_ratio=cpu / single[1],
                                     calls_ratio=calls))
                    console.log(f"repeat {repeat}: {architecture}, {natoms} atoms, {config}: {wall:.2f} ms/step")
    result = dict(benchmark="committee_cost", members=MEMBERS, threads=1, torch=torch.__version__,
                  machine=platform.machine(), cpu_count=os.cpu_count(), rows=rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2))

    table = Table(title=f"committee of {MEMBERS} vs one model, ms per MD step (1 thread)")
    for col in ("model", "atoms", "config", "repeat", "ms/step", "CPU ms/step", "ratio", "CPU ratio",
                "model calls ratio"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["model"], str(r["natoms"]), r["config"], str(r["repeat"]), f"{r['step_ms']:.2f}",
                      f"{r['step_cpu_ms']:.2f}", f"{r['ratio']:.2f}", f"{r['cpu_ratio']:.2f}", f"{r['calls_ratio']:.2f}")
    console.print(table)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
