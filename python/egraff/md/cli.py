"""``egraff md``: run simulation plans, list protocols, write the data files of ``inputs/``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

md_app = typer.Typer(add_completion=False, no_args_is_help=True,
                     help="MD with deployed models: plans of LAMMPS/ASE simulations with a stability watchdog.")


@md_app.command("run")
def run(
    plan_file: Path = typer.Argument(..., help="plan (TOML, JSON or YAML): models, systems, temperatures, seeds, "
                                                "protocol"),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value changes of the plan, e.g. "
                                                              "overrides.steps=200"),
    root: Path = typer.Option(Path("md-runs"), "--root", help="directory holding the simulations (md/<key>/)"),
    workers: int = typer.Option(1, "--workers", min=0, help="local worker processes (0: run in this process)"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="address of a running Dask scheduler"),
    engine: Optional[str] = typer.Option(None, "--engine", help="override the plan's engine: lammps or ase"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
):
    """Run every simulation of a plan not finished yet (finished ones are skipped, interrupted ones restarted)."""
    from rich.console import Console
    from rich.table import Table

    from egraff.exits import exit_statuses
    from egraff.jobs import JobFailed
    from egraff.md import SimulationPlan, run_plan

    with exit_statuses(failures=(JobFailed, OSError)):  # OSError: e.g. no Dask scheduler at --scheduler
        plan = SimulationPlan.from_file(plan_file, [*(overrides or []), *([f"engine={engine}"] if engine else [])])
        specs = plan.specs()
        records = run_plan(specs, root, workers=workers, scheduler=scheduler, progress=progress)
    table = Table("key", "system", "frame", "T (K)", "seed", "engine", "status", "steps", "steps/s",
                  title=f"{len(records)} simulations in {root}")
    for record in records:
        table.add_row(record["key"], record["system"], str(record["frame"]), f"{record['temperature_K']:g}",
                      str(record["seed"]), record["engine"], record["status"],
                      f"{record['steps_completed']}/{record['steps_requested']}",
                      f"{record['steps_per_s']:.1f}" if record["steps_per_s"] else "")
    console = Console(width=None if sys.stdout.isatty() else 132)
    console.print(table)
    for record in records:
        if record["failure_reason"]:
            console.print(f"{record['key']}: stopped at step {record['failure_step']}: {record['failure_reason']}",
                          soft_wrap=True)


@md_app.command("protocols")
def protocols():
    """The named protocols and their settings."""
    from egraff.md import PROTOCOLS

    for protocol in PROTOCOLS.values():
        typer.echo(f"{protocol.name}: {protocol.description}")
        settings = {k: v for k, v in protocol.as_dict().items() if k not in ("name", "description")}
        typer.echo("    " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings.items()))


@md_app.command("write-data")
def write_data(
    name: str = typer.Argument(..., help="water, ethanol, lips or gete"),
    output: Path = typer.Option(..., "-o", "--output", help="file to write (.data: LAMMPS data; ethanol also .xyz)"),
):
    """Write a structure the inputs/ scripts read (see egraff.md.builders for how each is made)."""
    from egraff.md.builders import NAMES, write_data as build

    from egraff.exits import BAD_INPUT, FAILURE, fail

    if name not in NAMES:
        fail(f"unknown data file {name!r}; choose one of {', '.join(NAMES)}", BAD_INPUT)
    try:
        path = build(name, output)
    except Exception as err:  # a dataset that cannot be fetched, an unwritable path
        fail(err, FAILURE)
    typer.echo(f"wrote {path}")
