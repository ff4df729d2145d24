#!/usr/bin/env bash
# pair_style egraff compiled into LAMMPS (README "Compiled into LAMMPS"), checked: a LAMMPS source
# tree configured with lammps_plugins/cmake/egraff-package.cmake and built, then the LJ reference
# model through the in-tree `pair_style egraff` against LAMMPS's own lj/cut on a triclinic cell with
# ID gaps, on 1 rank (mode ghost) and 2 MPI ranks (mode ghostmp). No plugin is loaded.
#
# Usage: bench/static_package.sh LAMMPS_SRC BUILD_DIR [extra cmake -D options]
#   e.g. bench/static_package.sh ~/lammps ~/lammps/build-egraff -DBUILD_MPI=on -DMPI_CXX_COMPILER=mpicxx
# A full LAMMPS build: ~25 min on 2 cores (a reconfigured existing build recompiles everything, since
# libtorch's flags change). The package copies egraff's sources into LAMMPS_SRC/src, as LAMMPS
# packages do; remove them again with `rm LAMMPS_SRC/src/{pair_egraff,egraff_}*` for plugin builds.
# Writes bench/results/static_package.json.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SRC=$(cd "$1" && pwd); BUILD=$2; shift 2
PY=${PY:-$REPO/.venv/bin/python}
TORCH_DIR=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')/Torch
cmake -S "$SRC/cmake" -B "$BUILD" -C "$REPO/lammps_plugins/cmake/egraff-package.cmake" -DTorch_DIR="$TORCH_DIR" "$@" >/dev/null
cmake --build "$BUILD" -j "${JOBS:-2}" >/dev/null
LMP=$(cd "$BUILD" && pwd)/lmp
STYLES=$("$LMP" -h)  # captured first: grep -q closing the pipe early would fail it under pipefail
tr ' ' '\n' <<<"$STYLES" | grep -qx egraff || { echo "$LMP has no pair style egraff" >&2; exit 1; }
MPIRUN=${MPIRUN:-$(command -v mpirun)}

WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$REPO/.venv/bin/egraff" reference-model lj -o lj.pt >/dev/null
"$PY" - "$REPO" <<'PY'
import sys
sys.path.insert(0, f"{sys.argv[1]}/tests")
from conftest import LJ_CUT, fcc_binary  # the plugin tests' own LJ set-up

geometry = fcc_binary((3, 3, 3), triclinic=True) + ["delete_atoms random count 17 no all NULL 2024 compress no"]
for mode in ("ghost", "ghostmp"):
    dump = "dump_modify d format float %.16e sort id"
    lines = geometry + [f"pair_style egraff mode {mode}", "pair_coeff * * lj.pt Ar Kr", "compute pe all pe/atom",
                        f"dump d all custom 1 egraff-{mode}.dump id fx fy fz c_pe", dump, "run 0", "undump d"]
    lines += LJ_CUT + [f"dump d all custom 1 lj_cut-{mode}.dump id fx fy fz c_pe", dump, "run 0"]
    open(f"in.{mode}", "w").write("\n".join(lines) + "\n")
PY
OMP_NUM_THREADS=1 "$LMP" -in in.ghost -log none >/dev/null
OMP_NUM_THREADS=1 "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$LMP" -in in.ghostmp -log none >/dev/null 2>&1 \
  || OMP_NUM_THREADS=1 "$MPIRUN" -np 2 "$LMP" -in in.ghostmp -log none >/dev/null
"$PY" - "$REPO/bench/results/static_package.json" "$LMP" <<'PY'
import json, sys
from pathlib import Path
import numpy as np

from egraff.files import atomic_write_text


def atoms(path):
    lines = Path(path).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ITEM: ATOMS")) + 1
    return np.array([[float(x) for x in line.split()] for line in lines[start:]])

result = {"lmp": sys.argv[2], "tolerance_force_eV_per_A": 1e-12}
for mode, ranks in (("ghost", 1), ("ghostmp", 2)):
    ours, reference = atoms(f"egraff-{mode}.dump"), atoms(f"lj_cut-{mode}.dump")
    result[f"{ranks}_rank_{mode}"] = {"atoms": len(ours),
                                      "max_force_difference": float(np.abs(ours[:, 1:4] - reference[:, 1:4]).max()),
                                      "max_peratom_energy_difference": float(np.abs(ours[:, 4] - reference[:, 4]).max())}
ok = all(r["max_force_difference"] <= 1e-12 and r["max_peratom_energy_difference"] <= 1e-12
         for k, r in result.items() if k.endswith(("ghost", "ghostmp")))
result["ok"] = ok
Path(sys.argv[1]).parent.mkdir(parents=True, exist_ok=True)
atomic_write_text(sys.argv[1], json.dumps(result, indent=1))
print(json.dumps(result, indent=1))
sys.exit(0 if ok else 1)
PY
