#!/usr/bin/env bash
# The GPU check, run ON a GPU machine without network, from the repository root, after
# `python bench/gpu/prepare.py --lammps-src DIR` filled .whl/ here. With the run tool:
#
#   run(command="bash bench/gpu/run.sh", carry=[".whl"], timeout_s=590)
#
# It needs python3 (3.12) with a CUDA torch, numpy, scipy, pytest; cmake, ninja (or make), nvcc.
#  1. installs the carried wheels (pip --no-index --no-deps) under /tmp/egraff-gpu
#  2. builds a minimal LAMMPS from .whl/lammps-src.tar.gz (shared library, PLUGIN, EXTRA-FIX for
#     the tests' fix numdiff, MPI from the mpich wheel) and its Python module: the source-tree route
#     of README "Using the plugin"
#  3. builds the plugin against that source tree and the machine's torch with CUDA
#     (cmake -DLAMMPS_SOURCE_DIR=... -DTorch_DIR=...)
#  4. runs tests/plugin and tests/models/test_lammps_vs_ase.py, on the CPU and on the GPU
#  5. measures MD speed (bench/gpu/speed.py): steps/s per architecture at 10^3-10^5 atoms,
#     LAMMPS on the GPU against ASE on the GPU on the same file
# Everything goes to $OUT (default bench/results/gpu): console.log, env.txt, tests.xml,
# tests.txt, speed.json. A step that fails is logged and the next one still runs.
#
# Rehearsal on a CPU machine (the same steps, CPU only): REHEARSAL=1 with python3 on PATH having
# egraff's dependencies, LAMMPS_SRC and LAMMPS_BUILD naming an existing source tree and its build
# (shared library, PLUGIN), MPICXX its MPI compiler wrapper: steps 1 and 2 are skipped.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$REPO/bench/results/gpu}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/console.log") 2>&1
START=$SECONDS
PREFIX=/tmp/egraff-gpu
LAMMPS=/tmp/egraff-lammps
JOBS=$(nproc)
step() { echo; echo "=== [$((SECONDS - START)) s] $*"; }
export OMP_NUM_THREADS=1

step "environment"
{ nvidia-smi; python3 -c "import sys, torch, numpy; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''); print('numpy', numpy.__version__)"; cmake --version | head -1; nvcc --version | tail -2; which ninja; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

SITE=$(python3 -c "import sysconfig; print(sysconfig.get_path('purelib', vars={'base': '$PREFIX', 'platbase': '$PREFIX'}))")
export PYTHONPATH="$SITE:$REPO/python"
export PATH="$PREFIX/bin:$PATH"
GENERATOR=$(command -v ninja >/dev/null && echo "-G Ninja" || echo "")
if [ -z "${REHEARSAL:-}" ]; then
  MPICXX=$PREFIX/bin/mpicxx
  LAMMPS_SRC=$LAMMPS
  LAMMPS_BUILD=$LAMMPS/build
  step "1. wheels"
  if python3 -m pip --version >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --ignore-installed --prefix "$PREFIX" "$REPO"/.whl/*.whl \
      || echo "pip install failed"
  else  # no pip: unpack the wheels as pip would (purelib/platlib -> SITE, data -> PREFIX, scripts -> bin)
    python3 - "$SITE" "$PREFIX" "$REPO"/.whl/*.whl <<'PY'
import os, sys, zipfile
site, prefix = sys.argv[1], sys.argv[2]
for wheel in sys.argv[3:]:
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            parts = info.filename.split("/")
            if parts[0].endswith(".data") and len(parts) > 2:
                base = {"purelib": site, "platlib": site, "scripts": os.path.join(prefix, "bin")}.get(parts[1], prefix)
                target = os.path.join(base, *parts[2:])
            else:
                target = os.path.join(site, *parts)
            if info.is_dir():
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                dst.write(src.read())
            mode = (info.external_attr >> 16) & 0o777
            os.chmod(target, mode or 0o644)
PY
  fi
  python3 -c "import ase, e3nn, nequip, mace, matscipy; print('imports ok: e3nn', e3nn.__version__)"

  step "2. LAMMPS from source"
  rm -rf "$LAMMPS" && mkdir -p "$LAMMPS" && tar -xzf "$REPO/.whl/lammps-src.tar.gz" -C "$LAMMPS" --strip-components=1
  cmake -S "$LAMMPS/cmake" -B "$LAMMPS_BUILD" $GENERATOR -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=on \
    -DPKG_PLUGIN=on -DPKG_EXTRA-FIX=on -DBUILD_MPI=on -DMPI_CXX_COMPILER="$MPICXX" -DBUILD_OMP=on -DLAMMPS_EXCEPTIONS=on \
    -DWITH_JPEG=off -DWITH_PNG=off -DWITH_FFMPEG=off -DWITH_GZIP=off -DBUILD_TOOLS=off > "$OUT/lammps-cmake.log" 2>&1 \
    && cmake --build "$LAMMPS_BUILD" -j "$JOBS" > "$OUT/lammps-build.log" 2>&1 || { echo "LAMMPS build failed"; tail -30 "$OUT/lammps-build.log"; }
fi
# the Python module next to its library, and lmp/mpirun where tests/conftest.py looks (EGRAFF_TEST_BIN)
mkdir -p "$SITE" && rm -rf "$SITE/lammps" && cp -r "$LAMMPS_SRC/python/lammps" "$SITE/" && cp -P "$LAMMPS_BUILD"/liblammps.so* "$SITE/lammps/"
# a distribution record, so that lammps.__version__ (read from it) is this source's version
python3 - "$SITE" "$LAMMPS_SRC/src/version.h" <<'PY'
import pathlib, re, sys, time
date = re.search(r'LAMMPS_VERSION "(.*)"', pathlib.Path(sys.argv[2]).read_text())[1]
t = time.strptime(date, "%d %b %Y")
info = pathlib.Path(sys.argv[1]) / f"lammps-{t.tm_year}.{t.tm_mon}.{t.tm_mday}.dist-info"
info.mkdir(parents=True, exist_ok=True)
(info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: lammps\nVersion: {t.tm_year}.{t.tm_mon}.{t.tm_mday}\n")
PY
mkdir -p "$PREFIX/testbin" && ln -sf "$LAMMPS_BUILD/lmp" "$PREFIX/testbin/lmp" \
  && ln -sf "$(dirname "$MPICXX")/mpirun" "$PREFIX/testbin/mpirun"
export EGRAFF_TEST_BIN="$PREFIX/testbin"
"$PREFIX/testbin/lmp" -h | sed -n '2p;/Installed packages/,+3p'

step "3. the plugin against that source tree and this torch (CUDA)"
TORCH_CMAKE=$(python3 -c "import torch.utils; print(torch.utils.cmake_prefix_path)")
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
PLUGIN=/tmp/egraff-plugin
configure() {
  cmake -S "$REPO" -B "$PLUGIN" $GENERATOR -DLAMMPS_SOURCE_DIR="$LAMMPS_SRC" -DTorch_DIR="$TORCH_CMAKE/Torch" \
    -DPython3_EXECUTABLE="$(command -v python3)" -DMPI_CXX_COMPILER="$MPICXX" \
    -DCUDAToolkit_ROOT="$(dirname "$(dirname "$NVCC")")" -DCMAKE_CUDA_COMPILER="$NVCC" "$@" > "$OUT/plugin-cmake.log" 2>&1
}
configure || { echo "plugin configure failed; retrying without cuDNN"; tail -20 "$OUT/plugin-cmake.log"; rm -rf "$PLUGIN"; configure -DCAFFE2_USE_CUDNN=OFF -DUSE_CUDNN=OFF; }
cmake --build "$PLUGIN" -j "$JOBS" > "$OUT/plugin-build.log" 2>&1 || { echo "plugin build failed"; tail -30 "$OUT/plugin-build.log"; }
grep "egraff:" "$OUT/plugin-cmake.log"
export EGRAFF_PLUGIN_DIR=$PLUGIN LAMMPS_PLUGIN_PATH=$PLUGIN

step "4. tests on the CPU and the GPU"
WORKERS=$(python3 -c "import xdist" 2>/dev/null && echo "-n $([ -n "${REHEARSAL:-}" ] && echo 2 || echo 12)")
# Left out here: what needs the lammps wheel (entry points, its lmp binary, its BLAS: test_loading's
# entry-point and raw-binary tests, test_symbol_binding), Debian's LAMMPS (skips itself), and
# TorchMD-Net (it imports warp-lang, too large to carry).
timeout $((560 - (SECONDS - START) - 170 > 60 ? 560 - (SECONDS - START) - 170 : 60)) \
python3 -m pytest -q -p no:cacheprovider $WORKERS --timeout 240 -rfEs tests/plugin tests/models/test_lammps_vs_ase.py \
  --ignore tests/plugin/test_symbol_binding.py \
  --deselect tests/plugin/test_loading.py::test_plain_python_api_autoloads_through_entry_point \
  --deselect tests/plugin/test_loading.py::test_lammps_plugin_path_autoloads_into_raw_binary \
  -k "not torchmd" --junitxml="$OUT/tests.xml" > "$OUT/tests.txt" 2>&1
echo "pytest exit $?"; tail -40 "$OUT/tests.txt"

step "5. MD speed, LAMMPS vs ASE on the GPU"
REMAINING=$((575 - (SECONDS - START)))
python3 "$REPO/bench/gpu/speed.py" --lmp "$PREFIX/testbin/lmp" ${REHEARSAL:+--cells 3 --ase-max-atoms 200} --deadline $((REMAINING > 30 ? REMAINING - 30 : 1)) \
  --out "$OUT/speed.json" 2>&1 | grep -v Warning | tail -40
step "done"
