#!/usr/bin/env python
"""RDF benchmark: egraff.analysis.RDF vs MDAnalysis InterRDF vs OVITO on one LAMMPS trajectory.

A Lennard-Jones argon liquid (default 1000 atoms, 1000 frames) is run in LAMMPS and dumped once; each tool
then reads the same dump and computes the frame-averaged total g(r) on the same bins, timed in this one
process (wall clock, reading included, since reading is part of each tool's work). The results must agree:
MDAnalysis with self pairs excluded (``exclusion_block=(1, 1)``) equals ``ideal_pairs="distinct"``, OVITO
(time-averaged ``CoordinationAnalysisModifier``) equals ``ideal_pairs="all"``.

    .venv/bin/python bench/rdf_bench.py             # 1000 atoms × 1000 frames
    .venv/bin/python bench/rdf_bench.py --small     # 500 atoms × 100 frames, seconds

Writes bench/results/rdf_bench.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "rdf_bench.json"
# Å; coordinates are snapped to this grid so every reader (MDAnalysis keeps float32) sees the same
# numbers. Squared distances are then exact multiples of 2⁻¹² Å², which keeps every distance either on a
# bin edge (a multiple of 0.25 Å, exact in float32) or ≥ 6e-7 Å from one, beyond float32 rounding:
# no pair can change bin between tools (bins of 0.05 or 0.1 Å, r < 8 Å).
GRID = 2.0**-6


def make_trajectory(path: Path, cells: int, frames: int, every: int = 10) -> None:
    """Argon liquid at 300 K from a melting simple-cubic lattice (cells³ atoms; 3.25 Å spacing, so the cell
    lengths are exact in float32), dumped every ``every`` steps."""
    from egraff.lammps_adaptor import start_lammps

    lmp = start_lammps()
    for command in ["units metal", "atom_style atomic", "lattice sc 3.25", f"region box block 0 {cells} 0 {cells} 0 {cells}",
                    "create_box 1 box", "create_atoms 1 box", "mass 1 39.95", "pair_style lj/cut 8.5",
                    "pair_coeff 1 1 0.0104 3.40", "velocity all create 300 4242 mom yes rot no",
                    "fix t all nvt temp 300 300 0.1", "timestep 0.002", "run 500",
                    f"dump d all custom {every} {path} id element x y z", "dump_modify d element Ar sort id "
                    "format float %.10f", f"run {(frames - 1) * every}"]:
        lmp.command(command)
    lmp.close()
    # snap coordinates to GRID (moves of ≤ 0.008 Å) so every reader gets identical distances
    lines = path.read_text().splitlines()
    out, atoms = [], False
    for line in lines:
        if line.startswith("ITEM:"):
            atoms = line.startswith("ITEM: ATOMS")
        elif atoms:
            words = line.split()
            words[2:5] = [f"{round(float(w) / GRID) * GRID:.10f}" for w in words[2:5]]
            line = " ".join(words)
        out.append(line)
    path.write_text("\n".join(out) + "\n")


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def run_egraff(path, r_max, n_bins):
    from egraff.analysis import RDF, read_trajectory

    traj, read_s = timed(lambda: read_trajectory(path))
    distinct, distinct_s = timed(lambda: RDF(traj, pairs=[], r_max=r_max, n_bins=n_bins).run().results)
    all_pairs, _ = timed(lambda: RDF(traj, pairs=[], r_max=r_max, n_bins=n_bins, ideal_pairs="all").run().results)
    return {"read_s": read_s, "rdf_s": distinct_s, "total_s": read_s + distinct_s, "frames": traj.n_frames,
            "atoms": traj.n_atoms}, distinct.rdf["total"], all_pairs.rdf["total"], distinct.bins


def run_mdanalysis(path, r_max, n_bins):
    import MDAnalysis as mda
    from MDAnalysis.analysis.rdf import InterRDF

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        universe, read_s = timed(lambda: mda.Universe(str(path), format="LAMMPSDUMP"))
        result, rdf_s = timed(lambda: InterRDF(universe.atoms, universe.atoms, nbins=n_bins, range=(0.0, r_max),
                                               exclusion_block=(1, 1)).run().results)
    return {"read_s": read_s, "rdf_s": rdf_s, "total_s": read_s + rdf_s,
            "note": "Universe() indexes the file; frames are read inside run()"}, result.rdf


def run_ovito(path, r_max, n_bins):
    from ovito.io import import_file
    from ovito.modifiers import CoordinationAnalysisModifier, TimeAveragingModifier

    pipeline, read_s = timed(lambda: import_file(str(path)))
    pipeline.modifiers.append(CoordinationAnalysisModifier(cutoff=r_max, number_of_bins=n_bins))
    pipeline.modifiers.append(TimeAveragingModifier(operate_on="table:coordination-rdf"))
    table, rdf_s = timed(lambda: pipeline.compute().tables["coordination-rdf[average]"].xy())
    return {"read_s": read_s, "rdf_s": rdf_s, "total_s": read_s + rdf_s,
            "note": "import_file() scans the file; frames are read inside compute()"}, table[:, 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--atoms-per-side", type=int, default=10, help="simple-cubic cells per side (atoms = n³; default 10)")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--small", action="store_true", help="500 atoms (8³ = 512) × 100 frames")
    parser.add_argument("--r-max", type=float, default=7.9, help="Å (7.9² is no multiple of GRID²: no pair at exactly r_max)")
    parser.add_argument("--bin-width", type=float, default=0.05)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    cells, frames = (8, 100) if args.small else (args.atoms_per_side, args.frames)
    n_bins = int(round(args.r_max / args.bin_width))
    from egraff.analysis.output import write_json

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "liquid.dump"
        _, md_s = timed(lambda: make_trajectory(path, cells, frames))
        size = path.stat().st_size
        ours, g_distinct, g_all, bins = run_egraff(path, args.r_max, n_bins)
        mda_timing, g_mda = run_mdanalysis(path, args.r_max, n_bins)
        ovito_timing, g_ovito = run_ovito(path, args.r_max, n_bins)
    import MDAnalysis
    import ovito

    payload = {
        "benchmark": "total g(r) of one LAMMPS dump, frame-averaged",
        "system": {"atoms": ours["atoms"], "frames": ours["frames"], "dump_bytes": size, "r_max": args.r_max,
                   "bins": n_bins, "lammps_run_s": md_s},
        "wall_s": {"egraff": ours, "mdanalysis": mda_timing, "ovito": ovito_timing},
        "max_abs_difference": {"egraff_vs_mdanalysis": float(np.abs(g_distinct - g_mda).max()),
                               "egraff_vs_ovito": float(np.abs(g_all - g_ovito).max())},
        "first_peak": {"r": float(bins[np.argmax(g_distinct)]), "g": float(g_distinct.max())},
        "versions": {"mdanalysis": MDAnalysis.__version__, "ovito": ".".join(map(str, ovito.version)),
                     "numpy": np.__version__, "python": platform.python_version()},
        "machine": {"cpus": os.cpu_count(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                    "platform": platform.platform()},
    }
    write_json(args.output, payload)
    for tool, timing in payload["wall_s"].items():
        print(f"{tool:11s} read {timing['read_s']:7.2f} s  rdf {timing['rdf_s']:7.2f} s  total {timing['total_s']:7.2f} s")
    print("max |Δg|:", payload["max_abs_difference"], f"→ {args.output}")
    differences = payload["max_abs_difference"]
    if differences["egraff_vs_mdanalysis"] > 1e-10 or differences["egraff_vs_ovito"] > 1e-6:
        raise SystemExit("the three RDFs differ beyond 1e-10 (MDAnalysis) / 1e-6 (OVITO)")


if __name__ == "__main__":
    main()
