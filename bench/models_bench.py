"""Size and speed of the six architectures behind the egraff interface.

Per architecture and preset (``paper`` = the EGraFFBench configuration, ``tiny`` = the test preset):
the number of trainable parameters, and the time of one energy + forces call on rattled fcc CuAu
with ~100 and ~1000 atoms (108 and 1000; r_max 5 Å, the EGraFFBench cutoff), for

* eager: the ``EnergyModel`` in Python, energy and ∂E/∂edge_vectors by autograd;
* deployed: the TorchScript file written by ``egraff.deploy.export.deploy`` (the contract forward,
  what the LAMMPS plugin and the ASE calculator call).

Both times are the model call only (neighbour list and force scatter excluded), 1 thread, median of
the timed calls after two warm-up calls (TorchScript optimises during its first calls). One table,
measured in one run. Training: one optimiser step of the training engine (energy + forces with
``create_graph=True``, energy/force loss, backward, Adam) on a batch of four 108-atom frames, per frame.

Usage: python bench/models_bench.py [--dtype float32] [--architectures nequip mace …]
       [--presets paper tiny] [--out bench/results/models_bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase.build import bulk  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from egraff.data.graph import atoms_graph  # noqa: E402
from egraff.deploy import load_deployed  # noqa: E402
from egraff.deploy.export import deploy  # noqa: E402
from egraff.models import ARCHITECTURES, build  # noqa: E402
from egraff.train.data import FrameGraph, collate  # noqa: E402
from egraff.train.module import predict  # noqa: E402

R_MAX = 5.0
TYPE_NAMES = ("Cu", "Au")
#: conventional fcc cells per axis: 108 and 1000 atoms
SIZES = {108: (3, 3, 3), 1000: (5, 5, 10)}


TRAIN_BATCH = 4


def structure(cells, seed: int = 0) -> tuple:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(cells)
    atoms.positions += np.random.default_rng(seed).normal(scale=0.1, size=atoms.positions.shape)
    atoms.symbols[::3] = "Au"
    graph = atoms_graph(atoms, TYPE_NAMES, R_MAX)
    return (torch.tensor(graph.edge_vectors), torch.tensor(graph.edge_index), torch.tensor(graph.atom_types))


def timed(call, budget_s: float = 2.0, max_calls: int = 5) -> float:
    """Median milliseconds per call after two warm-up calls; at least one timed call, more while the
    budget lasts."""
    call()
    call()
    times = []
    while not times or (sum(times) < budget_s and len(times) < max_calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def eager_call(model, vectors, edge_index, types, dtype):
    def call():
        leaf = vectors.to(dtype).requires_grad_(True)
        energy = model(leaf, edge_index, types).sum()
        torch.autograd.grad(energy, leaf)
    return call


def training_batch():
    """TRAIN_BATCH rattled 108-atom frames with placeholder labels (timing only)."""
    frames = []
    for seed in range(TRAIN_BATCH):
        vectors, edge_index, types = structure(SIZES[108], seed)
        n = types.shape[0]
        frames.append(FrameGraph(edge_vectors=vectors, edge_index=edge_index, atom_types=types,
                                 energy=torch.tensor(0.0, dtype=torch.float64),
                                 forces=torch.zeros(n, 3, dtype=torch.float64),
                                 stress=torch.zeros(3, 3, dtype=torch.float64), has_stress=False, volume=0.0))
    return collate(frames)


def training_step_call(model, batch):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)

    def call():
        energy, forces, _ = predict(model, batch, create_graph=True)
        loss = (energy - batch.energy).pow(2).mean() + (forces - batch.forces).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return call


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--presets", nargs="+", default=["paper", "tiny"], choices=["paper", "tiny"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "models_bench.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    inputs = {natoms: structure(cells) for natoms, cells in SIZES.items()}
    batch = training_batch()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for architecture in args.architectures:
            for preset in args.presets:
                torch.manual_seed(0)
                model = build(architecture, TYPE_NAMES, R_MAX, preset=preset, model_dtype=args.dtype).eval()
                deployed, _ = load_deployed(deploy(model, Path(tmp) / f"{architecture}-{preset}.pt"))
                parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
                for natoms, (vectors, edge_index, types) in inputs.items():
                    n_local = torch.tensor(natoms)
                    row = {
                        "architecture": architecture, "preset": preset, "parameters": parameters,
                        "num_layers": model.num_layers, "natoms": natoms, "edges": int(edge_index.shape[1]),
                        "eager_ms": timed(eager_call(model, vectors, edge_index, types, dtype)),
                        "deployed_ms": timed(lambda: deployed(vectors, edge_index, types, n_local)),
                        "train_ms_per_frame": None,
                    }
                    if natoms == 108:  # the model is deployed (a frozen copy) before it is trained here
                        step_ms = timed(training_step_call(model.train(), batch))
                        row["train_ms_per_frame"] = step_ms / TRAIN_BATCH
                    rows.append(row)
                    print(json.dumps(row), flush=True)

    result = {
        "benchmark": "models_bench", "dtype": args.dtype, "r_max": R_MAX, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "structures": "rattled fcc CuAu, a = 3.6 Å, 1/3 Au",
        "timing": "model call only (energy + dE/d edge vectors), median after 2 warm-up calls", "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_out, args.out)

    table = Table(title=f"egraff models: energy + forces per call, ms ({args.dtype}, 1 thread, r_max {R_MAX} Å)")
    for column in ("architecture", "preset", "parameters", "atoms", "edges", "eager ms", "deployed ms",
                   "train ms/frame"):
        table.add_column(column, justify="left" if column in ("architecture", "preset") else "right")
    for row in rows:
        table.add_row(row["architecture"], row["preset"], f"{row['parameters']:,}", str(row["natoms"]), f"{row['edges']:,}",
                      f"{row['eager_ms']:.1f}", f"{row['deployed_ms']:.1f}",
                      "" if row["train_ms_per_frame"] is None else f"{row['train_ms_per_frame']:.1f}")
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
