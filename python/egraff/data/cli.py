"""``egraff data``: list, fetch, info and generate datasets."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

data_app = typer.Typer(no_args_is_help=True, help="Datasets: registry, download, statistics, teacher generation.")


def _fail(err: Exception, status: int = 2):
    """Exit statuses as every egraff command (egraff.exits): 2 bad input, 1 a failure while running."""
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(status)


@data_app.command("list")
def list_datasets():
    """Registered datasets with their documented splits."""
    from egraff.data.registry import DATASETS

    for name, dataset in DATASETS.items():
        sizes = ", ".join(f"{split} {n}" for split, n in dataset.split_sizes().items())
        typer.echo(f"{name:20s} {dataset.title}\n{'':20s} {sizes}")
        if dataset.unavailable:
            typer.echo(f"{'':20s} not pinned: {', '.join(dataset.unavailable)}")


@data_app.command()
def fetch(name: str = typer.Argument(..., help="dataset name, see `egraff data list`")):
    """Download (or copy from $EGRAFF_DATA_MIRROR) every pinned file of NAME and verify its sha256."""
    from egraff.data.download import ChecksumError, DownloadError, cache_dir, fetch_file
    from egraff.data.registry import UnknownDatasetError, get_dataset

    try:
        files = get_dataset(name).all_files()
    except UnknownDatasetError as err:
        _fail(err)
    failures = []
    for remote in files:  # one unobtainable file should not stop the others
        try:
            fetch_file(remote)
        except (ChecksumError, DownloadError) as err:
            failures.append(str(err))
    typer.echo(f"{len(files) - len(failures)} files verified in {cache_dir()}")
    if failures:
        _fail(RuntimeError(f"{len(failures)} file(s) not fetched:\n" + "\n".join(failures)), 1)


@data_app.command()
def info(name: str = typer.Argument(..., help="dataset name, see `egraff data list`")):
    """Composition, frames per split, cell, energy and force statistics of NAME."""
    from rich.console import Console
    from rich.table import Table

    from egraff.data.datasets import info as dataset_info
    from egraff.data.download import ChecksumError
    from egraff.data.formats import DataFormatError
    from egraff.data.registry import UnknownDatasetError

    try:
        facts = dataset_info(name, progress=False)
    except (UnknownDatasetError, DataFormatError) as err:
        _fail(err)
    except ChecksumError as err:
        _fail(err, 1)
    console = Console()
    console.print(f"[bold]{facts['name']}[/bold]: {facts['title']} — {facts['system']}; {facts['reference']}")
    console.print(facts["notes"])
    table = Table("split", "frames", "atoms", "E mean (eV)", "E std", "E/atom std", "F rms (eV/Å)", "|F| max",
                  "stress")
    missing = {}
    for split, stats in facts["splits"].items():
        if "error" in stats:
            missing[split] = stats["error"]
            table.add_row(split, "[red]missing[/red]")
            continue
        energy, per_atom = stats.get("energy", {}), stats.get("energy_per_atom", {})
        forces = stats.get("forces", {})
        table.add_row(split, str(stats["frames"]), "-".join(str(n) for n in sorted(set(stats["atoms_per_frame"]))),
                      f"{energy.get('mean', float('nan')):.3f}", f"{energy.get('std', float('nan')):.4f}",
                      f"{per_atom.get('std', float('nan')):.5f}", f"{forces.get('rms', float('nan')):.4f}",
                      f"{forces.get('max_norm', float('nan')):.3f}", str(stats["with_stress"]))
    console.print(table)
    compositions = {}
    for split, stats in facts["splits"].items():
        if "composition" in stats:
            compositions.setdefault(", ".join(stats["composition"]), []).append(split)
    for formulas, splits in compositions.items():
        console.print(f"composition ({', '.join(splits)}): {formulas}")
    first = next((s for s in facts["splits"].values() if "cell" in s), None)
    if first:
        console.print(f"pbc {first['pbc']}, cell (rows, Å) {first['cell']}; distinct cells: {first['distinct_cells']}")
    for split, reason in missing.items():
        console.print(f"[red]{split}[/red]: {reason}")
    for split, reason in facts["unavailable"].items():
        console.print(f"[yellow]{split}[/yellow]: {reason}")
    if facts["subsets"]:
        console.print(f"subsets: {', '.join(facts['subsets'])}")
    for repo, licence in facts["licence"].items():
        console.print(f"licence ({repo}): {licence}")


@data_app.command()
def generate(
    system: str = typer.Argument(..., help="water, silicon or copper"),
    output: Path = typer.Option(Path("teacher-data"), "-o", "--output", help="directory to write runs into"),
    phase: Optional[List[str]] = typer.Option(None, "--phase", help="phase(s); default all of the system's"),
    temperature: Optional[List[float]] = typer.Option(None, "-T", "--temperature", help="temperature(s) in K"),
    frames: Optional[int] = typer.Option(None, help="labelled frames per run"),
    sample_every: Optional[int] = typer.Option(None, help="MD steps between frames"),
    trajectory_steps: Optional[int] = typer.Option(None, help="NVE reference trajectory length in steps"),
    seed: int = typer.Option(1, help="velocity seed"),
    molecules: int = typer.Option(64, help="water: number of molecules"),
    coulomb: str = typer.Option("pppm", help="water: pppm (long range) or dsf (damped shifted force)"),
    min_atoms: Optional[int] = typer.Option(None, help="silicon/copper: smallest supercell size"),
    overwrite: bool = typer.Option(False, help="replace existing runs"),
):
    """Label frames and write NVE reference trajectories with a classical teacher in LAMMPS."""
    from dataclasses import replace

    from egraff.data import generate as gen

    defaults = {"water": gen.water, "silicon": gen.silicon, "copper": gen.copper}
    if system not in defaults:
        _fail(ValueError(f"unknown system {system!r}; choose water, silicon or copper"))
    base = gen.DEFAULT_PROTOCOLS[system]
    changes = {k: v for k, v in {"n_frames": frames, "sample_every": sample_every,
                                 "trajectory_steps": trajectory_steps}.items() if v is not None}
    protocol = replace(base, seed=seed, **changes)
    options = {"protocol": protocol, "overwrite": overwrite}
    if system == "water":
        if phase and phase != ["liquid"]:
            _fail(ValueError("water has only the liquid phase"))
        options.update(n_molecules=molecules, coulomb=coulomb)
        if temperature:
            options["temperatures"] = temperature
    else:
        if phase:
            options["phases"] = phase
        if temperature:
            options["temperatures"] = temperature
        if min_atoms:
            options["min_atoms"] = min_atoms
    try:
        runs = defaults[system](output, **options)
    except (ValueError, FileExistsError) as err:
        _fail(err)
    for run in runs:
        typer.echo(f"wrote {run}")
