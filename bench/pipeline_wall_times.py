"""Wall time of the main job (`egraff demo`) and of `egraff benchmark --preset smoke`, each from scratch.

Both run as their console commands in fresh temporary directories (nothing cached from an earlier
run, except egraff.data's download cache), from the repository root, with OMP_NUM_THREADS=1. The
smoke benchmark reads MD17 through egraff.data: set EGRAFF_DATA_MIRROR when offline.

Usage: python bench/pipeline_wall_times.py [--out bench/results/pipeline_wall_times.json] [--workers 2]
                                          [--keep DIR  (keep DIR/demo and DIR/benchmark; DIR must not exist)]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from egraff.files import atomic_write_text

REPO = Path(__file__).resolve().parent.parent
EGRAFF = Path(sys.executable).parent / "egraff"


def timed(command: list[str], console: Console) -> dict:
    console.log(" ".join(command))
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    console.log(f"{seconds:.0f} s")
    return {"command": " ".join(command[1:]), "wall_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pipeline_wall_times.json")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers of the smoke benchmark")
    parser.add_argument("--keep", type=Path, help="run in this new directory and keep the reports")
    args = parser.parse_args()
    console = Console()
    if args.keep is not None and args.keep.exists():
        raise SystemExit(f"{args.keep} exists; give a new directory so that nothing is reused")
    with tempfile.TemporaryDirectory() as scratch:
        where = args.keep or Path(scratch)
        results = {
            "main_job": timed([str(EGRAFF), "demo", "-o", str(where / "demo")], console),
            "smoke_benchmark": timed([str(EGRAFF), "benchmark", "--preset", "smoke", "-o", str(where / "benchmark"),
                                  "--workers", str(args.workers)], console),
        }
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_average_at_end": os.getloadavg()}
    atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
    console.log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
