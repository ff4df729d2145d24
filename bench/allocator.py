"""What glibc's malloc settings cost training and MD: egraff.processes.keep_freed_memory at work.

A model call allocates and frees the same large tensors every step. glibc returns freed blocks to the
kernel (mmap'd blocks above its mmap threshold, the heap's top above its trim threshold), so each
step faults them back in page by page. Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536,
which also pins the mmap threshold at 128 KiB: every job of egraff's engine ran so. egraff now sets
the thresholds itself (Python: keep_freed_memory at every job and CLI start; LAMMPS: libegraff_runtime.so
when the pair style loads it). Measured here, interleaved, ``--repeats`` times:

* ``train``: 2 epochs of a tiny float32 NequIP on 40 training frames of 256-atom Lennard-Jones Ar/Kr (labels from
  egraff's deployed LJ), in a child process started with glibc's defaults or with Dask's setting, with
  or without keep_freed_memory() — wall seconds, system seconds and minor page faults of the child;
* ``lammps``: NVE steps of a tiny NequIP on 4000 atoms in ``lmp`` (pair_style egraff), started with
  glibc's defaults or with Dask's setting (the runtime applies its thresholds in both).

Usage: python bench/allocator.py [--repeats 2] [--out bench/results/allocator.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

DASK = {"MALLOC_TRIM_THRESHOLD_": "65536"}  # distributed.nanny.pre-spawn-environ
LAMMPS_INPUT = """units metal
atom_style atomic
read_data {data}
pair_style egraff
pair_coeff * * {model} Ar Kr
velocity all create 50 1
fix 1 all nve
run 2
run {steps}
"""


def write_inputs(directory: Path) -> dict[str, Path]:
    import torch
    from ase.build import bulk
    from ase.io import write

    from egraff.data import write_extxyz
    from egraff.deploy import EGraFFCalculator, deploy, save_deployed
    from egraff.models import build
    from egraff.models.reference import ARGON_KRYPTON, lennard_jones

    reference, metadata = lennard_jones(["Ar", "Kr"], **ARGON_KRYPTON)
    save_deployed(reference, directory / "lj.pt", metadata)
    teacher = EGraFFCalculator(directory / "lj.pt")
    frames = []
    for seed in range(48):
        atoms = bulk("Ar", "fcc", a=5.4, cubic=True).repeat(4)
        atoms.symbols[::3] = "Kr"
        atoms.rattle(0.1, seed=seed)
        atoms.calc = teacher
        atoms.get_potential_energy()
        frames.append(atoms)
    write_extxyz(directory / "frames.extxyz", frames)
    torch.manual_seed(0)
    deploy(build("nequip", ["Ar", "Kr"], 4.0, preset="tiny").eval(), directory / "nequip.pt")
    crystal = bulk("Ar", "fcc", a=5.4, cubic=True).repeat(10)
    crystal.symbols[::3] = "Kr"
    crystal.rattle(0.05, seed=1)
    write(directory / "fcc4000.data", crystal, format="lammps-data", specorder=["Ar", "Kr"], masses=True)
    return {"frames": directory / "frames.extxyz", "model": directory / "nequip.pt",
            "data": directory / "fcc4000.data"}


def train_here(frames: str, run_dir: str, keep: bool) -> None:
    """The child's work: keep_freed_memory() (or not), then 2 epochs; prints the training seconds."""
    if keep:
        from egraff.processes import keep_freed_memory
        keep_freed_memory()
    from egraff.train.config import load_config
    from egraff.train.engine import train

    config = load_config(None, ["model=nequip", "model.preset=tiny", "model.dtype=float32", "model.r_max=4.0",
                                f"data={frames}", "data.n_train=40", "data.n_val=4", "train.max_epochs=2",
                                "train.batch_size=4", "train.progress=false", f"output.dir={run_dir}"])
    print(json.dumps({"train_s": train(config).seconds}))


def child_usage(command: list[str], env: dict) -> tuple[subprocess.CompletedProcess, dict]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-600:]}")
    return result, {"wall_s": wall, "user_s": after.ru_utime - before.ru_utime,
                    "system_s": after.ru_stime - before.ru_stime, "minor_faults": after.ru_minflt - before.ru_minflt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30, help="timed lmp steps (4000 atoms)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "allocator.json")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    lmp = str(Path(sys.executable).parent / "lmp")
    train_cases = {"glibc default": (base, False), "Dask's setting": ({**base, **DASK}, False),
                   "Dask's setting + keep_freed_memory": ({**base, **DASK}, True),
                   "glibc default + keep_freed_memory": (base, True)}
    lammps_cases = {"glibc default": base, "Dask's setting": {**base, **DASK}}
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        files = write_inputs(scratch)
        (scratch / "md.in").write_text(LAMMPS_INPUT.format(data=files["data"], model=files["model"], steps=args.steps))
        for repeat in range(1, args.repeats + 1):
            for case, (env, keep) in train_cases.items():
                run_dir = scratch / f"run-{repeat}-{len(results)}"
                result, usage = child_usage([sys.executable, __file__, "--child-train", str(files["frames"]),
                                             str(run_dir), str(int(keep))], env)
                results.append({"work": "train", "case": case, "repeat": repeat, **usage,
                                **json.loads(result.stdout.strip().splitlines()[-1])})
                print(results[-1], flush=True)
            for case, env in lammps_cases.items():
                log = scratch / "md.log"
                _, usage = child_usage([lmp, "-in", str(scratch / "md.in"), "-screen", "none", "-nocite",
                                        "-log", str(log)], env)
                loop = [line.split() for line in log.read_text().splitlines() if line.startswith("Loop time")][-1]
                results.append({"work": "lammps", "case": case, "repeat": repeat, **usage,
                                "ms_per_step": 1000.0 * float(loop[3]) / int(loop[8])})
                print(results[-1], flush=True)

    def mean(work, case, key):
        values = [r[key] for r in results if r["work"] == work and r["case"] == case]
        return sum(values) / len(values)

    ratios = {
        "train: Dask's setting / glibc default": mean("train", "Dask's setting", "train_s")
        / mean("train", "glibc default", "train_s"),
        "train: Dask's setting / (Dask's setting + keep_freed_memory)": mean("train", "Dask's setting", "train_s")
        / mean("train", "Dask's setting + keep_freed_memory", "train_s"),
        "train: glibc default / (glibc default + keep_freed_memory)": mean("train", "glibc default", "train_s")
        / mean("train", "glibc default + keep_freed_memory", "train_s"),
        "lammps (runtime keeps freed memory): Dask's setting / glibc default":
            mean("lammps", "Dask's setting", "ms_per_step") / mean("lammps", "glibc default", "ms_per_step"),
    }
    payload = {"benchmark": "allocator", "description": __doc__.split("\n\n")[0],
               "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
               "threads": int(os.environ["OMP_NUM_THREADS"]), "results": results, "ratios": ratios}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from egraff.files import atomic_write_text
    atomic_write_text(args.out, json.dumps(payload, indent=1) + "\n")
    for name, value in ratios.items():
        print(f"{value:6.2f}  {name}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child-train":
        train_here(sys.argv[2], sys.argv[3], bool(int(sys.argv[4])))
    else:
        main()
