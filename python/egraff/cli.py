"""The ``egraff`` command line."""

from __future__ import annotations

from pathlib import Path

import typer

from egraff.analysis.cli import analysis_app
from egraff.data.cli import data_app

app = typer.Typer(add_completion=False, no_args_is_help=True, help="egraff: equivariant GNN force fields in LAMMPS.")
app.add_typer(data_app, name="data")
app.add_typer(analysis_app, name="analyze")


@app.command()
def info():
    """Versions of egraff and its stack, and where the LAMMPS plugin lives."""
    import importlib.metadata as md

    import egraff
    from egraff.lammps import plugin_path

    typer.echo(f"egraff {egraff.__version__}")
    for dist in ("torch", "lammps", "mpich", "e3nn", "nequip", "nequip-allegro", "mace-torch", "torchmd-net", "ase"):
        try:
            typer.echo(f"  {dist:15s} {md.version(dist)}")
        except md.PackageNotFoundError:
            typer.echo(f"  {dist:15s} (not installed)")
    try:
        typer.echo(f"LAMMPS plugin: {plugin_path()}")
    except FileNotFoundError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1)


@app.command("reference-model")
def reference_model(
    kind: str = typer.Argument(..., help="lj (two-species Lennard-Jones) or mp2 (two-layer message-passing toy)"),
    output: Path = typer.Option(..., "-o", "--output", help="deployed model file to write (.pt)"),
    elements: str = typer.Option("Ar Kr", help="space-separated element names"),
    dtype: str = typer.Option("float64", help="float32 or float64 inside the model"),
    shift: bool = typer.Option(False, help="lj: shift the pair energy to zero at the cutoff (pair_modify shift yes)"),
):
    """Write an analytic reference potential as a deployed file (for checking a LAMMPS set-up)."""
    from egraff.deploy import save_deployed
    from egraff.models import reference

    names = elements.split()
    if kind == "lj":
        if len(names) != 2:
            raise typer.BadParameter("the lj reference model has parameters for exactly two elements")
        model, meta = reference.lennard_jones(names, **reference.ARGON_KRYPTON, shift=shift, model_dtype=dtype)
    elif kind == "mp2":
        model, meta = reference.message_passing_toy(names, model_dtype=dtype)
    else:
        raise typer.BadParameter(f"unknown reference model {kind!r}; use lj or mp2")
    save_deployed(model, output, meta)
    typer.echo(f"wrote {output} ({meta.architecture}, elements {' '.join(names)}, r_max {meta.r_max})")


@app.command()
def demo(
    output: Path = typer.Option(Path("egraff-demo"), "-o", "--output", help="directory for models, trajectories, report"),
    inputs: Path = typer.Option(Path("inputs"), help="the repository's inputs/ directory"),
):
    """The main job on the embedded default: reference potential through `lmp`, checked against LAMMPS."""
    from egraff.demo import run_demo

    try:
        report = run_demo(output, inputs)
    except (FileNotFoundError, RuntimeError) as err:
        typer.secho(f"error: {err}", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(f"report: {report}")


def main():
    app()
