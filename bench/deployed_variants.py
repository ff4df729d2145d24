"""What float32 and AOTInductor (.pt2) deployed files buy, per architecture (issue #15, items 3 and 4).

For each architecture's ``tiny`` preset (seed 0, r_max 5 Å, Ar/Kr) four deployed files of the same
weights: the float64 TorchScript file (``egraff export``), the float32 one (``--dtype float32``: its
force difference to the float64 model is measured at export on a perturbed 108-atom crystal and
recorded), and each of them compiled with AOTInductor (``--compile aotinductor``) where the
architecture compiles (a refused export is recorded with its reason).
Each file runs NVE MD in LAMMPS (pair_style egraff, in this process, 1 thread) on the perturbed Ar/Kr
fcc crystals of bench/plugin_overhead.py, after a 2-step warm-up; the variants run one after another
for each (architecture, size), in reverse order in the second repeat. Speed-up = float64 TorchScript
step time / the variant's step time, within one repeat.

Compiled files are kept in ``--work`` and reused by later runs (an Equiformer compile takes minutes).

Usage: python bench/deployed_variants.py [--architectures nequip allegro ...] [--sizes 6 10] [--repeats 2]
       [--work DIR] [--out bench/results/deployed_variants.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from ase.build import bulk  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from egraff.contract import DeployedModelError  # noqa: E402
from egraff.deploy import load_deployed  # noqa: E402
from egraff.deploy.export import export_model  # noqa: E402
from egraff.files import atomic_write_text  # noqa: E402
from egraff.models import ARCHITECTURES, build  # noqa: E402
from plugin_overhead import TYPE_NAMES, lammps_run, load_average  # noqa: E402  (bench/, the script's directory)

R_MAX = 5.0
#: name: (dtype, compile)
VARIANTS = {"float64": ("float64", "torchscript"), "float32": ("float32", "torchscript"),
            "float64.pt2": ("float64", "aotinductor"), "float32.pt2": ("float32", "aotinductor")}


def check_frame():
    """A perturbed 108-atom Ar/Kr crystal, for the float32 export's force check."""
    atoms = bulk("Ar", "fcc", a=5.4, cubic=True).repeat(3)
    atoms.symbols[::3] = "Kr"
    atoms.rattle(0.15, seed=1)
    return atoms


def write_variants(name: str, variants: list[str], work: Path, console: Console) -> tuple[dict, dict]:
    """The deployed files of `name` (reused from `work` when an earlier run wrote them), and per variant
    what the export recorded: the float32 force check, the compile time, or why it was refused."""
    files, records = {}, {}
    for variant in variants:
        dtype, compile = VARIANTS[variant]
        path = work / f"{name}.{variant}" if variant.endswith(".pt2") else work / f"{name}.{variant}.pt"
        record_path = path.with_name(path.name + ".json")
        if not record_path.exists():
            torch.manual_seed(0)
            model = build(name, TYPE_NAMES, R_MAX, preset="tiny").eval()
            console.log(f"{name}: exporting {variant}")
            start = time.perf_counter()
            try:
                export_model(model, path, compile=compile, dtype=dtype, frames=([check_frame()], "a 108-atom crystal"))
                record = {"export_s": time.perf_counter() - start}
                check = load_deployed(path)[1].float32_check if compile == "torchscript" else ""
                if check:
                    record["float32_check"] = json.loads(check)
            except DeployedModelError as err:  # a refused compile says why; the other variants still run
                record = {"refused": str(err).splitlines()[0][:300]}
            atomic_write_text(record_path, json.dumps(record) + "\n")
        records[variant] = json.loads(record_path.read_text())
        if "refused" not in records[variant]:
            files[variant] = path
    return files, records


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architectures", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 10], help="FCC cells per side (4 n^3 atoms)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "results" / "deployed_variants_work")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "deployed_variants.json")
    args = parser.parse_args()
    if "float64" not in args.variants:
        parser.error("--variants must include float64, the reference of every speed-up")
    torch.set_num_threads(1)
    console = Console(width=160)
    args.work.mkdir(parents=True, exist_ok=True)
    result = dict(benchmark="deployed_variants", threads=1, torch=torch.__version__, machine=platform.machine(),
                  cpu_count=os.cpu_count(), exports={}, runs=[], speedups=[])
    files = {}
    for name in args.architectures:
        files[name], result["exports"][name] = write_variants(name, args.variants, args.work, console)
    for repeat in range(1, args.repeats + 1):
        for name in args.architectures:
            for cells in args.sizes:
                order = list(files[name]) if repeat % 2 else list(files[name])[::-1]
                step_ms = {}
                for variant in order:
                    run = lammps_run(files[name][variant], cells, "auto", args.work / "log.lammps")
                    step_ms[variant] = run["step_ms"]
                    result["runs"].append(dict(architecture=name, variant=variant, repeat=repeat, atoms=run["natoms"],
                                               steps=run["steps"], step_ms=run["step_ms"],
                                               plugin_model_ms=run["plugin_model_ms"],
                                               load=load_average()))
                    console.log(f"repeat {repeat}: {name} {run['natoms']} atoms {variant}: {run['step_ms']:.1f} ms/step")
                for variant, ms in step_ms.items():
                    if variant != "float64":
                        result["speedups"].append(dict(architecture=name, variant=variant, repeat=repeat,
                                                       atoms=4 * cells ** 3, speedup=step_ms["float64"] / ms))
                atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")

    table = Table(title="speed-up over the float64 TorchScript file, LAMMPS, 1 thread (repeat 1 / repeat 2)")
    for col in ("architecture", "atoms", "float64 ms/step", *[v for v in args.variants if v != "float64"],
                "float32 max |ΔF| eV/Å"):
        table.add_column(col, justify="right")
    for name in args.architectures:
        check = result["exports"][name].get("float32", {}).get("float32_check", {})
        for cells in args.sizes:
            natoms = 4 * cells ** 3

            def cell(variant):
                if variant not in files[name]:
                    return "refused"
                values = [s["speedup"] for s in result["speedups"]
                          if (s["architecture"], s["variant"], s["atoms"]) == (name, variant, natoms)]
                return " / ".join(f"{v:.2f}" for v in values)

            base = [r["step_ms"] for r in result["runs"]
                    if (r["architecture"], r["variant"], r["atoms"]) == (name, "float64", natoms)]
            table.add_row(name, str(natoms), " / ".join(f"{v:.1f}" for v in base),
                          *[cell(v) for v in args.variants if v != "float64"],
                          f"{check['max_force_difference']:.1e}" if "max_force_difference" in check else "–")
    console.print(table)
    for name, records in result["exports"].items():
        for variant, record in records.items():
            if "refused" in record:
                console.print(f"{name} {variant}: refused at export: {record['refused']}")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
