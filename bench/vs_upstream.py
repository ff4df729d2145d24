"""egraff against the upstream LAMMPS pair styles, on the same upstream-trained models (issue #15, item 5).

Tiny models are trained with the upstream packages (1 epoch on EMT CuAu frames; speed does not depend on
the weights): NequIP and Allegro with ``nequip-train`` (l_max 1, float32; notes/model-backends.md §4.1
and §5), MACE with ``mace_run_train`` (16 channels, max_L 1, correlation 3, 2 interactions, float64).
Upstream compiles them for its pair styles (``nequip-compile`` to a TorchScript ``.nequip.pth``, through
the documented torch ≥ 2.10 bypass, and an AOTInductor ``.nequip.pt2``; ``mace_create_lammps_model`` for
``pair_style mace``); egraff imports the same training outputs with ``egraff export --from nequip|mace``
(and ``--compile aotinductor`` to a ``.pt2`` where egraff compiles the architecture).

1. Agreement: energy and forces of one rattled 108-atom CuAu fcc crystal from every engine against
   egraff's LAMMPS plugin on the egraff file (float64 MACE agrees to ~1e-12; float32 NequIP/Allegro to
   float32 round-off). A model whose files disagree beyond ``TOLERANCE`` is not timed.
2. Speed: NVE MD (300 K, 1 fs) on rattled CuAu fcc (a = 3.85 Å: neighbour shells at 2.72, 3.85 and
   4.72 Å, away from r_max = 4.5 Å) of 108, 1000 and 4000 atoms, 1 thread, one process per run, timed by
   LAMMPS's own ``Loop time`` of a run after a warm-up run (the ASE calculator: the same steps with ASE's
   VelocityVerlet, after the same warm-up). Engines, one after another on each (model, size), in
   reverse order in the second repeat, so that load from other jobs spreads over all of them:
   egraff LAMMPS (``pair_style egraff``, graph mode ``auto``), egraff LAMMPS on the egraff ``.pt2``,
   upstream ``.pth``, upstream ``.pt2`` (NequIP/Allegro), egraff's ASE calculator on the egraff file
   and on the egraff ``.pt2``.
   Upstream styles: ``pair_style nequip`` (newton off, as it requires), ``allegro`` and
   ``mace no_domain_decomposition`` (its fastest single-rank mode).
   Ratios are taken within one repeat; load averages are recorded next to every repeat.

Upstream files are trained and compiled once into ``--work`` (reused by later runs: AOTInductor
compiles take minutes); the egraff files are exported from them on every run.

Building the upstream LAMMPS (by hand, outside this repository; none of it is part of egraff).
Take a LAMMPS source tree of 10 Sep 2025 or newer (the mir-group pair styles require it; we used the
Debian source package of LAMMPS 4 Jul 2026) and copy four files into its ``src/``:
``pair_nequip_allegro.cpp`` and ``pair_nequip_allegro.h`` from github.com/mir-group/pair_nequip_allegro
(we used commit 2e19360; its ``patch_lammps.sh`` does the same copy plus the CMake lines below, and also
copies a fix, a compute and Kokkos files that are not needed here), and ``src/ML-MACE/pair_mace.cpp``
and ``pair_mace.h`` from the ``mace`` branch of github.com/ACEsuit/lammps (commit f51963a); copying them
into ``src/`` instead of registering an ML-MACE package works because the lines below link libtorch to
all of LAMMPS. Append to ``cmake/CMakeLists.txt``: ``if(NEQUIP_AOT_COMPILE)
add_compile_definitions(NEQUIP_AOT_COMPILE) endif()``, ``find_package(Torch REQUIRED)`` and
``target_link_libraries(lammps PUBLIC "${TORCH_LIBRARIES}")``. Configure against the torch wheel of
egraff's environment (the same libtorch egraff's plugin uses): ``cmake -S cmake -B build
-DCMAKE_BUILD_TYPE=Release -DBUILD_MPI=on -DBUILD_OMP=on -DNEQUIP_AOT_COMPILE=ON
-DCMAKE_PREFIX_PATH=$(python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
-DMKL_INCLUDE_DIR=<that torch>/include`` — the last one because LAMMPS's own FindMKL module shadows
torch's and leaves an ``MKL_INCLUDE_DIR-NOTFOUND`` include path that CMake refuses; no LAMMPS package
is needed (atom_style atomic, fix nve and velocity are in the core). Then ``cmake --build build -j2``
(about 9 minutes of one core; BUILD_MPI found Debian's OpenMPI, and one rank is all this benchmark runs) gives ``build/lmp``; pass
it as ``--lmp`` or in ``EGRAFF_UPSTREAM_LMP``. ``lmp -h`` lists ``allegro``, ``mace`` and ``nequip``
among the pair styles. (This AOTInductor-enabled binary may crash in a destructor at exit, after the
run; a run that printed its ``Total wall time`` counts, and the exit status is recorded.)

Usage: python bench/vs_upstream.py [--lmp PATH] [--quick] [--models nequip allegro mace] [--sizes 108 1000 4000]
       [--repeats 2] [--work DIR] [--out bench/results/vs_upstream.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase.build import bulk  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from egraff import processes  # noqa: E402
from egraff.data.graph import atoms_graph  # noqa: E402
from egraff.files import atomic_write_text  # noqa: E402
from egraff.lammps_adaptor import write_lammps_data  # noqa: E402
from plugin_overhead import LOOP, load_average  # noqa: E402  (bench/, the script's directory)

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).parent / "results"
TYPE_NAMES = ("Cu", "Au")
R_MAX = 4.5
LATTICE = 3.85
REPEATS = {108: (3, 3, 3), 1000: (5, 5, 10), 4000: (10, 10, 10)}
MODELS = ("nequip", "allegro", "mace")
#: atom-steps per timed run (at least 3 steps, at most 300: a second or more at every size), per model
ATOM_STEPS = {"nequip": 60_000, "allegro": 60_000, "mace": 3_000}
#: upstream pair_style and the newton setting it requires
UPSTREAM_STYLE = {"nequip": ("nequip", "off"), "allegro": ("allegro", "on"), "mace": ("mace no_domain_decomposition", "on")}
#: agreement with egraff LAMMPS on the egraff file: (energy eV, max force component eV/Å) per model dtype
TOLERANCE = {"float32": (1e-3, 1e-4), "float64": (1e-9, 1e-9)}
CPU_USE = re.compile(r"([\d.]+)% CPU use")

# ---- upstream models ------------------------------------------------------------------------------

NEQUIP_MODEL = """\
    _target_: nequip.model.NequIPGNNModel
    l_max: 1
    parity: true
    num_layers: 2
    num_features: 16
    radial_mlp_depth: 1
    radial_mlp_width: 16"""

ALLEGRO_MODEL = """\
    _target_: allegro.model.AllegroModel
    l_max: 1
    parity: true
    radial_chemical_embed: {_target_: allegro.nn.TwoBodyBesselScalarEmbed, num_bessels: 8, bessel_trainable: false, polynomial_cutoff_p: 6}
    radial_chemical_embed_dim: 16
    scalar_embed_mlp_hidden_layers_depth: 1
    scalar_embed_mlp_hidden_layers_width: 32
    num_layers: 1
    num_scalar_features: 32
    num_tensor_features: 8
    allegro_mlp_hidden_layers_depth: 1
    allegro_mlp_hidden_layers_width: 32
    readout_mlp_hidden_layers_depth: 1
    readout_mlp_hidden_layers_width: 16"""

NEQUIP_CONFIG = """\
run: [train]
seed: 1
cutoff_radius: {r_max}
model_type_names: [Cu, Au]
chemical_species: ${{model_type_names}}
data:
  _target_: nequip.data.datamodule.NequIPDataModule
  seed: ${{seed}}
  split_dataset:
    dataset:
      _target_: nequip.data.dataset.ASEDataset
      file_path: {data}
      key_mapping: {{REF_energy: total_energy, REF_forces: forces}}
      transforms:
        - _target_: nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper
          model_type_names: ${{model_type_names}}
          chemical_species_to_atom_type_map: ${{list_to_identity_dict:${{chemical_species}}}}
        - _target_: nequip.data.transforms.NeighborListTransform
          r_max: ${{cutoff_radius}}
    train: 6
    val: 2
  train_dataloader: {{_target_: torch.utils.data.DataLoader, batch_size: 2}}
  val_dataloader: {{_target_: torch.utils.data.DataLoader, batch_size: 2}}
  stats_manager:
    _target_: nequip.data.CommonDataStatisticsManager
    type_names: ${{model_type_names}}
trainer:
  _target_: lightning.Trainer
  accelerator: cpu
  max_epochs: 1
  logger: false
  enable_progress_bar: false
  callbacks:
    - _target_: lightning.pytorch.callbacks.ModelCheckpoint
      dirpath: ${{hydra:runtime.output_dir}}
      save_last: true
training_module:
  _target_: nequip.train.EMALightningModule
  loss: {{_target_: nequip.train.EnergyForceLoss, per_atom_energy: true, coeffs: {{total_energy: 1.0, forces: 1.0}}}}
  val_metrics: {{_target_: nequip.train.EnergyForceMetrics, coeffs: {{total_energy_mae: 1.0, forces_mae: 1.0}}}}
  optimizer: {{_target_: torch.optim.Adam, lr: 0.01}}
  model:
    seed: ${{seed}}
    model_dtype: float32
    type_names: ${{model_type_names}}
    r_max: ${{cutoff_radius}}
    avg_num_neighbors: ${{training_data_stats:num_neighbors_mean}}
    per_type_energy_shifts: ${{training_data_stats:per_atom_energy_mean}}
    per_type_energy_scales: ${{training_data_stats:forces_rms}}
{model}
"""

#: nequip-compile refuses TorchScript on torch >= 2.10; the module flag is its only guard (model-backends.md §4.2)
NEQUIP_COMPILE_TORCHSCRIPT = ("import sys, nequip.scripts.compile as c; c._TORCH_GE_2_10 = False; "
                              "c.main(sys.argv[1:])")


def command(args: list, cwd: Path, what: str, timeout: float = 3600) -> str:
    """Run a program to completion; its output, or a RuntimeError naming `what` with the output's tail."""
    result = processes.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, OMP_NUM_THREADS="1"))
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout + result.stderr


def training_frames(path: Path, count: int = 8) -> Path:
    """EMT energies and forces of rattled 32-atom CuAu fcc cells (labels as REF_energy/REF_forces)."""
    import ase.io
    from ase.calculators.emt import EMT

    frames = []
    for k in range(count):
        atoms = bulk("Cu", "fcc", a=LATTICE, cubic=True).repeat(2)
        atoms.symbols[np.random.default_rng(k).permutation(len(atoms))[: len(atoms) // 2]] = "Au"
        atoms.rattle(0.1, seed=k)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = None
        atoms.info["REF_energy"] = energy
        atoms.arrays["REF_forces"] = forces
        frames.append(atoms)
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path.with_suffix(".tmp.xyz"), frames, format="extxyz")
    path.with_suffix(".tmp.xyz").replace(path)
    return path


def finished_directory(target: Path, build) -> Path:
    """`target`, built by `build(partial_directory)` unless an earlier run finished it (then reused)."""
    if target.is_dir():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    build(partial)
    partial.rename(target)
    return target


def upstream_nequip(work: Path, name: str, data: Path, console: Console) -> dict:
    """Train a tiny NequIP or Allegro with nequip-train and compile it for the mir-group pair styles."""
    model_block, target = (NEQUIP_MODEL, "pair_nequip") if name == "nequip" else (ALLEGRO_MODEL, "pair_allegro")

    def build(directory: Path):
        atomic_write_text(directory / "config.yaml", NEQUIP_CONFIG.format(r_max=R_MAX, data=data, model=model_block))
        console.log(f"{name}: nequip-train (1 epoch)")
        command([BIN / "nequip-train", "-cp", directory, "-cn", "config.yaml", f"hydra.run.dir={directory}"],
                directory, f"nequip-train of {name}")
        console.log(f"{name}: nequip-compile to TorchScript")
        command([sys.executable, "-c", NEQUIP_COMPILE_TORCHSCRIPT, directory / "last.ckpt",
                 directory / f"{name}.nequip.pth", "--mode", "torchscript", "--device", "cpu", "--target", target],
                directory, f"nequip-compile --mode torchscript of {name}")
        console.log(f"{name}: nequip-compile to AOTInductor (minutes)")
        command([BIN / "nequip-compile", directory / "last.ckpt", directory / f"{name}.nequip.pt2",
                 "--mode", "aotinductor", "--device", "cpu", "--target", target],
                directory, f"nequip-compile --mode aotinductor of {name}")

    directory = finished_directory(work / name, build)
    return {"source": directory / "last.ckpt", "pth": directory / f"{name}.nequip.pth",
            "pt2": directory / f"{name}.nequip.pt2"}


def upstream_mace(work: Path, data: Path, console: Console) -> dict:
    """Train a tiny float64 MACE with mace_run_train and write its pair_style mace file."""

    def build(directory: Path):
        console.log("mace: mace_run_train (1 epoch)")
        shutil.copy(data, directory / "train.xyz")
        command([BIN / "mace_run_train", "--name", "mace", "--model", "MACE", "--train_file", "train.xyz",
                 "--valid_fraction", "0.25", "--E0s", "average", "--r_max", R_MAX, "--num_channels", "16",
                 "--max_L", "1", "--correlation", "3", "--num_interactions", "2", "--batch_size", "2",
                 "--valid_batch_size", "2", "--max_num_epochs", "1", "--device", "cpu", "--default_dtype",
                 "float64", "--seed", "1", "--energy_key", "REF_energy", "--forces_key", "REF_forces",
                 "--save_cpu"], directory, "mace_run_train")
        console.log("mace: mace_create_lammps_model")
        command([BIN / "mace_create_lammps_model", "mace.model", "--dtype", "float64"], directory,
                "mace_create_lammps_model")

    directory = finished_directory(work / "mace", build)
    return {"source": directory / "mace.model", "pth": directory / "mace.model-lammps.pt"}


def egraff_files(kind: str, source: Path, directory: Path, name: str, notes: list[str]) -> dict:
    """egraff's imports of an upstream training output: the TorchScript file, and the AOTInductor
    file unless egraff refuses to compile the architecture (the reason goes to `notes`)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {"pt": directory / f"{name}.pt"}
    command([BIN / "egraff", "export", "--from", kind, source, "-o", files["pt"]], directory, f"egraff export of {name}")
    try:
        command([BIN / "egraff", "export", "--from", kind, source, "-o", directory / f"{name}.pt2",
                 "--compile", "aotinductor"], directory, f"egraff export --compile aotinductor of {name}")
        files["pt2"] = directory / f"{name}.pt2"
    except RuntimeError as err:
        refusal = next((line for line in str(err).splitlines() if line.startswith("error:")), str(err)[-300:])
        notes.append(f"{name}: no egraff .pt2 ({refusal})")
    return files


# ---- structures and engines ----------------------------------------------------------------------------


def crystal(natoms: int):
    """Rattled CuAu fcc (half the sites Au, at random) of `natoms` atoms."""
    atoms = bulk("Cu", "fcc", a=LATTICE, cubic=True).repeat(REPEATS[natoms])
    atoms.symbols[np.random.default_rng(natoms).permutation(len(atoms))[: len(atoms) // 2]] = "Au"
    atoms.rattle(0.05, seed=natoms)
    return atoms


def lammps_input(data: Path, pair_style: str, model: Path, newton: str, body: list[str]) -> str:
    return "\n".join([
        "units metal", "atom_style atomic", "atom_modify map yes", f"newton {newton}", f"read_data {data}",
        "neighbor 1.0 bin", f"pair_style {pair_style}", f"pair_coeff * * {model} {' '.join(TYPE_NAMES)}", *body, ""])


def run_lammps(binary: Path, directory: Path, text: str, what: str) -> tuple[str, int]:
    """Run one LAMMPS input; its log and exit status. A run that finished (printed its total wall time)
    and then died at exit counts: the upstream AOTInductor-enabled binary can crash in a destructor."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "in.lammps", text)
    result = processes.run([str(binary), "-in", "in.lammps", "-log", "log.lammps", "-nocite"], cwd=directory,
                           capture_output=True, text=True, timeout=7200, env=dict(os.environ, OMP_NUM_THREADS="1"))
    log = (directory / "log.lammps").read_text() if (directory / "log.lammps").exists() else ""
    if "Total wall time" not in log:
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")
    return log, result.returncode


class Engine:
    """One way to run a model file: LAMMPS with a pair style, or egraff's ASE calculator."""

    def __init__(self, name: str, model: Path, binary: Path | None = None, pair_style: str = "", newton: str = "on"):
        self.name, self.model, self.binary, self.pair_style, self.newton = name, model, binary, pair_style, newton

    def single_point(self, atoms, data: Path, directory: Path) -> tuple[float, np.ndarray]:
        if self.binary is None:
            calc = self.calculator()
            return float(calc.get_potential_energy(atoms)), calc.get_forces(atoms)
        log, _ = run_lammps(self.binary, directory, lammps_input(data, self.pair_style, self.model, self.newton, [
            "variable pe equal pe", "dump f all custom 1 forces.dump id fx fy fz",
            "dump_modify f sort id format float %.17g", "run 0", 'print "BENCH_PE $(v_pe:%.17g)"']),
            f"{self.name} single point")
        energy = float(re.findall(r"^BENCH_PE (\S+)", log, re.M)[-1])
        forces = np.loadtxt(directory / "forces.dump", skiprows=9)[:, 1:]
        return energy, forces

    def steps_per_s(self, atoms, data: Path, directory: Path, warmup: int, steps: int) -> dict:
        if self.binary is None:
            return self.ase_steps_per_s(atoms, warmup, steps)
        log, status = run_lammps(self.binary, directory, lammps_input(data, self.pair_style, self.model, self.newton, [
            "velocity all create 300 4928459 loop geom", "fix nve all nve", "timestep 0.001", "thermo 0",
            f"run {warmup}", f"run {steps}"]), f"{self.name} MD")
        loop_s, timed_steps, _ = LOOP.findall(log)[-1]
        assert int(timed_steps) == steps
        return {"steps_per_s": steps / float(loop_s), "cpu_percent": float(CPU_USE.findall(log)[-1]),
                "exit_status": status}

    def calculator(self):
        from egraff.deploy import EGraFFCalculator

        return EGraFFCalculator(self.model)

    def ase_steps_per_s(self, atoms, warmup: int, steps: int) -> dict:
        from ase import units
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
        from ase.md.verlet import VelocityVerlet

        atoms = atoms.copy()
        atoms.calc = self.calculator()
        MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(1))
        dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)
        dynamics.run(warmup)
        wall, cpu = time.perf_counter(), time.process_time()
        dynamics.run(steps)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {"steps_per_s": steps / wall, "cpu_percent": 100 * cpu / wall, "exit_status": 0}


def engines_for(name: str, upstream: dict, ours: dict, lmp: Path) -> list[Engine]:
    style, newton = UPSTREAM_STYLE[name]
    engines = [Engine("egraff", ours["pt"], BIN / "lmp", "egraff timing yes")]
    if "pt2" in ours:
        engines.append(Engine("egraff_pt2", ours["pt2"], BIN / "lmp", "egraff timing yes"))
    engines.append(Engine("upstream_pth", upstream["pth"], lmp, style, newton))
    if "pt2" in upstream:
        engines.append(Engine("upstream_pt2", upstream["pt2"], lmp, style, newton))
    engines.append(Engine("egraff_ase", ours["pt"]))
    if "pt2" in ours:
        engines.append(Engine("egraff_ase_pt2", ours["pt2"]))
    return engines


def upstream_pair_styles(lmp: Path) -> set[str]:
    """Pair styles the upstream binary was built with (from `lmp -h`)."""
    text = command([lmp, "-h"], Path.cwd(), f"{lmp} -h")
    section = text.split("* Pair styles:", 1)[-1].split("* Bond styles:", 1)[0]
    return set(section.split())


def timed_steps(name: str, natoms: int) -> tuple[int, int]:
    steps = max(3, min(300, ATOM_STEPS[name] // natoms))
    return max(2, steps // 4), steps


# ---- report ------------------------------------------------------------------------------------------------


def pair_ratios(runs: list[dict]) -> list[dict]:
    """Per (model, atoms, repeat): egraff LAMMPS over each peer, and LAMMPS over ASE on the same file."""
    by_key = {}
    for r in runs:
        by_key.setdefault((r["model"], r["atoms"], r["repeat"]), {})[r["engine"]] = r["steps_per_s"]
    rows = []
    for (model, atoms, repeat), s in by_key.items():
        ratio = lambda a, b: s[a] / s[b] if a in s and b in s else None  # noqa: E731
        rows.append({"model": model, "atoms": atoms, "repeat": repeat,
                     "egraff_over_upstream_pth": ratio("egraff", "upstream_pth"),
                     "egraff_over_upstream_pt2": ratio("egraff", "upstream_pt2"),
                     "egraff_pt2_over_upstream_pt2": ratio("egraff_pt2", "upstream_pt2"),
                     "egraff_lammps_over_egraff_ase": ratio("egraff", "egraff_ase"),
                     "egraff_pt2_lammps_over_egraff_pt2_ase": ratio("egraff_pt2", "egraff_ase_pt2")})
    return rows


def print_tables(console: Console, result: dict):
    table = Table(title="agreement with egraff LAMMPS on the egraff file (108 atoms)")
    for col in ("model", "engine", "dtype", "|ΔE| eV", "max |ΔF| eV/Å", "E eV"):
        table.add_column(col, justify="right")
    for a in result["agreement"]:
        table.add_row(a["model"], a["engine"], a["dtype"], f"{a['abs_energy_difference']:.2e}",
                      f"{a['max_force_difference']:.2e}", f"{a['energy']:.6f}")
    console.print(table)

    def cell(rows, key, fmt):
        values = [r[key] for r in sorted(rows, key=lambda r: r["repeat"]) if r.get(key) is not None]
        return " / ".join(format(v, fmt) for v in values) if values else "–"

    table = Table(title="steps/s, 1 thread (repeat 1 / repeat 2)")
    for col in ("model", "atoms", "edges", "egraff LAMMPS", "egraff .pt2", "upstream .pth", "upstream .pt2",
                "egraff ASE", "egraff ASE .pt2", "egraff ÷ .pth", "egraff ÷ .pt2", "egraff .pt2 ÷ .pt2",
                "LAMMPS ÷ ASE", "LAMMPS ÷ ASE, .pt2"):
        table.add_column(col, justify="right")
    for model in dict.fromkeys(r["model"] for r in result["runs"]):
        for atoms in dict.fromkeys(r["atoms"] for r in result["runs"] if r["model"] == model):
            runs = [r for r in result["runs"] if r["model"] == model and r["atoms"] == atoms]
            ratios = [r for r in result["ratios"] if r["model"] == model and r["atoms"] == atoms]
            engine = lambda e: cell([r for r in runs if r["engine"] == e], "steps_per_s", ".3g")  # noqa: E731
            table.add_row(model, str(atoms), str(runs[0]["edges"]), engine("egraff"), engine("egraff_pt2"),
                          engine("upstream_pth"), engine("upstream_pt2"), engine("egraff_ase"), engine("egraff_ase_pt2"),
                          cell(ratios, "egraff_over_upstream_pth", ".2f"),
                          cell(ratios, "egraff_over_upstream_pt2", ".2f"),
                          cell(ratios, "egraff_pt2_over_upstream_pt2", ".2f"),
                          cell(ratios, "egraff_lammps_over_egraff_ase", ".2f"),
                          cell(ratios, "egraff_pt2_lammps_over_egraff_pt2_ase", ".2f"))
    console.print(table)
    for repeat in result["repeats"]:
        console.print(f"repeat {repeat['repeat']}: load average (1, 5, 15 min) {repeat['load_before']} before, "
                      f"{repeat['load_after']} after")
    for note in result["notes"]:
        console.print(note)


def write_result(path: Path, result: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=1, default=str) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lmp", type=Path, default=os.environ.get("EGRAFF_UPSTREAM_LMP"),
                        help="upstream lmp with pair_style nequip/allegro/mace (default: $EGRAFF_UPSTREAM_LMP)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--sizes", type=int, nargs="+", choices=sorted(REPEATS), default=sorted(REPEATS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="108 atoms only, one repeat")
    parser.add_argument("--work", type=Path, default=RESULTS / "vs_upstream_work",
                        help="upstream models (trained and compiled once, reused) and run directories")
    parser.add_argument("--out", type=Path, default=RESULTS / "vs_upstream.json")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats = [108], 1
    console = Console(width=170)
    torch.set_num_threads(1)
    result = {"benchmark": "vs_upstream", "threads": 1, "torch": torch.__version__, "machine": platform.machine(),
              "cpu_count": os.cpu_count(), "upstream_lmp": str(args.lmp) if args.lmp else None,
              "agreement": [], "runs": [], "ratios": [], "repeats": [], "notes": []}
    if args.lmp is None or not args.lmp.is_file():
        reason = ("skipped: no upstream lmp (pass --lmp or set EGRAFF_UPSTREAM_LMP; how to build one is in "
                  "this script's docstring)" if args.lmp is None else f"skipped: upstream lmp {args.lmp} does not exist")
        console.print(reason)  # and bench/results keeps the figures of the last run that had one
        return
    args.lmp = args.lmp.resolve()
    styles = upstream_pair_styles(args.lmp)
    result["upstream_lammps_version"] = re.findall(r"Large-scale Atomic/Molecular Massively Parallel Simulator - (.+)",
                                                   command([args.lmp, "-h"], Path.cwd(), "lmp -h"))[:1]
    work = args.work.resolve()
    data = work / "cuau_emt.xyz"
    if not data.exists():
        training_frames(data)

    setups = {}
    for name in args.models:
        style = UPSTREAM_STYLE[name][0].split()[0]
        if style not in styles:
            result["notes"].append(f"{name} skipped: {args.lmp} has no pair_style {style}")
            continue
        upstream = upstream_mace(work, data, console) if name == "mace" else upstream_nequip(work, name, data, console)
        ours = egraff_files("mace" if name == "mace" else "nequip", upstream["source"], work / "egraff", name,
                            result["notes"])
        setups[name] = engines_for(name, upstream, ours, args.lmp)

    structures = {}
    for natoms in args.sizes:
        atoms = crystal(natoms)
        structures[natoms] = (atoms, write_lammps_data(work / f"cuau_{natoms}.data", atoms, TYPE_NAMES),
                              atoms_graph(atoms, TYPE_NAMES, R_MAX).num_edges)

    # agreement on the smallest structure, against egraff LAMMPS on the egraff file
    atoms, data_file, _ = structures[min(args.sizes)]
    for name, engines in list(setups.items()):
        from egraff.deploy import load_deployed

        dtype = load_deployed(engines[0].model)[1].model_dtype
        ref_energy, ref_forces = engines[0].single_point(atoms, data_file, work / "runs" / f"sp_{name}_{engines[0].name}")
        disagree = []
        for engine in engines[1:]:
            energy, forces = engine.single_point(atoms, data_file, work / "runs" / f"sp_{name}_{engine.name}")
            de, df = abs(energy - ref_energy), float(np.abs(forces - ref_forces).max())
            result["agreement"].append({"model": name, "engine": engine.name, "dtype": dtype, "energy": energy,
                                        "abs_energy_difference": de, "max_force_difference": df})
            if de > TOLERANCE[dtype][0] or df > TOLERANCE[dtype][1]:
                disagree.append(f"{engine.name} (|ΔE| {de:.2e} eV, max |ΔF| {df:.2e} eV/Å)")
        if disagree:
            result["notes"].append(f"{name} not timed: {', '.join(disagree)} disagree with egraff LAMMPS beyond "
                                   f"the {dtype} tolerance {TOLERANCE[dtype]}")
            del setups[name]
        console.log(f"{name}: agreement checked")
    write_result(args.out, result)

    for repeat in range(1, args.repeats + 1):
        result["repeats"].append({"repeat": repeat, "load_before": load_average()})
        for name, engines in setups.items():
            for natoms in args.sizes:
                atoms, data_file, edges = structures[natoms]
                warmup, steps = timed_steps(name, natoms)
                for engine in engines if repeat % 2 else engines[::-1]:
                    load = load_average()
                    run = engine.steps_per_s(atoms, data_file, work / "runs" / f"{name}_{natoms}_{engine.name}",
                                             warmup, steps)
                    result["runs"].append({"model": name, "atoms": natoms, "edges": edges, "engine": engine.name,
                                           "repeat": repeat, "warmup": warmup, "steps": steps, **run,
                                           "load_before": load})
                    console.log(f"repeat {repeat}: {name} {natoms} atoms {engine.name}: "
                                f"{run['steps_per_s']:.3g} steps/s (load {load[0]})")
                result["ratios"] = pair_ratios(result["runs"])
                write_result(args.out, result)
        result["repeats"][-1]["load_after"] = load_average()
    write_result(args.out, result)
    print_tables(console, result)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
