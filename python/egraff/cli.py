"""The ``egraff`` command line. Exit statuses (all commands): 0 done, 2 bad input or usage, 1 a failure
while running (egraff.exits)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from egraff.analysis.cli import analysis_app
from egraff.data.cli import data_app
from egraff.md.cli import md_app
from egraff.processes import keep_freed_memory

app = typer.Typer(add_completion=False, no_args_is_help=True, help="egraff: equivariant GNN force fields in LAMMPS.")
app.add_typer(data_app, name="data")
app.add_typer(analysis_app, name="analyze")
app.add_typer(md_app, name="md")


@app.command()
def info():
    """Versions of egraff and its stack, and where the LAMMPS plugin lives."""
    import importlib.metadata as md

    import egraff
    from egraff.lammps_adaptor import plugin_path

    typer.echo(f"egraff {egraff.__version__}")
    for dist in ("torch", "lammps", "mpich", "e3nn", "nequip", "nequip-allegro", "mace-torch", "torchmd-net", "ase"):
        try:
            typer.echo(f"  {dist:15s} {md.version(dist)}")
        except md.PackageNotFoundError:
            typer.echo(f"  {dist:15s} (not installed)")
    try:
        typer.echo(f"LAMMPS plugin: {plugin_path()}")
    except FileNotFoundError as err:
        from egraff.exits import FAILURE, fail

        fail(err, FAILURE)


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
    from egraff.exits import exit_statuses, write_failures
    from egraff.models import reference

    names = elements.split()
    with write_failures(output), exit_statuses(bad_input=(ValueError,)):  # DeployedModelError included
        if kind == "lj":
            if len(names) != 2:
                raise ValueError(f"the lj reference model has parameters for exactly two elements, got --elements {elements!r}")
            model, meta = reference.lennard_jones(names, **reference.ARGON_KRYPTON, shift=shift, model_dtype=dtype)
        elif kind == "mp2":
            if shift:
                raise ValueError("--shift applies to the lj reference model only (mp2's pair term is smooth at r_max)")
            model, meta = reference.message_passing_toy(names, model_dtype=dtype)
        else:
            raise ValueError(f"unknown reference model {kind!r}; use lj or mp2")
        save_deployed(model, output, meta)
    typer.echo(f"wrote {output} ({meta.architecture}, elements {' '.join(names)}, r_max {meta.r_max})")


@app.command()
def demo(
    output: Path = typer.Option(Path("egraff-demo"), "-o", "--output", help="directory for jobs and the report"),
    inputs: Path = typer.Option(Path("inputs"), help="the repository's inputs/ directory"),
    dataset: str = typer.Option(None, help="a registry dataset (e.g. water) instead of the SPC/Fw teacher"),
    model: str = typer.Option("nequip", help="nequip or allegro"),
    epochs: int = typer.Option(20, help="training epochs (iteration 0; later iterations: a quarter, warm-started)"),
    steps: int = typer.Option(4000, help="MD steps of 0.5 fs (explorations, model run and teacher reference)"),
    iterations: int = typer.Option(5, help="at most this many iterations of the active-learning loop (0: none)"),
):
    """The main job: teacher water in LAMMPS -> a committee trained -> LAMMPS explorations it watches -> frames
    labelled by the teacher until the model is stable -> `lmp -in inputs/water_md.in` with it -> report."""
    from egraff.demo import run_demo
    from egraff.exits import exit_statuses
    from egraff.jobs import JobFailed

    with exit_statuses(failures=(JobFailed,)):
        report = run_demo(output, inputs, dataset=dataset, model=model, epochs=epochs, steps=steps,
                          iterations=iterations)
    typer.echo(f"report: {report} (and report.md beside it)")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def benchmark(
    ctx: typer.Context,
    plan: str = typer.Option("smoke", "--plan", "--preset", help="a preset (smoke, cpu, paper) or a plan YAML file"),
    output: Path = typer.Option(Path("egraff-benchmark"), "-o", "--output", help="job directories and the leaderboard"),
    workers: int = typer.Option(2, min=0, help="Dask worker processes on this machine (0: run here, one job at a time)"),
    scheduler: str = typer.Option(None, help="address of a running Dask scheduler (e.g. a dask-jobqueue cluster)"),
    check: bool = typer.Option(False, "--check", help="check the plan, read every dataset split it names and "
                                                     "list its jobs; run nothing"),
):
    """EGraFFBench: datasets x models x tasks -> train, export, MD, analysis, leaderboard (cached by content).

    Arguments after the options change the plan: `egraff benchmark --preset smoke md.overrides.steps=200`."""
    from egraff.benchmark import describe, prepare, run_benchmark
    from egraff.data.download import DownloadError
    from egraff.exits import exit_statuses
    from egraff.jobs import JobFailed

    with exit_statuses(failures=(JobFailed, DownloadError, OSError)):  # OSError: e.g. no scheduler at --scheduler
        if check:
            typer.echo(describe(*prepare(plan, ctx.args, resolve=True)))
            return
        leaderboard = run_benchmark(plan, output, overrides=ctx.args, workers=workers, scheduler=scheduler)
    typer.echo(f"leaderboard: {leaderboard}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def learn(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="learn config (YAML, TOML or JSON); then key=value overrides"),
    output: Path = typer.Option(Path("egraff-learn"), "-o", "--output", help="jobs, iterations and the report"),
    workers: int = typer.Option(0, min=0, help="Dask worker processes on this machine (0: run here, one job at a time)"),
    scheduler: str = typer.Option(None, help="address of a running Dask scheduler (e.g. a dask-jobqueue cluster)"),
):
    """Active learning: train a committee, explore with LAMMPS MD watched by it, label the frames it is unsure
    of with the reference, retrain; until every exploration is stable.

    Rerunning the same command reuses every finished step (also after kill -9)."""
    from egraff.exits import FAILURE, exit_statuses, fail
    from egraff.jobs import JobFailed
    from egraff.learn import load_learn_config, run_learn

    with exit_statuses(failures=(JobFailed, OSError)):  # OSError: e.g. no scheduler at --scheduler
        result = run_learn(load_learn_config(config, ctx.args), output, workers=workers, scheduler=scheduler)
    typer.echo(f"report: {result.report} (and report.md beside it); models: {result.models[0].parent}")
    if not result.converged:
        fail(f"not converged after {result.iterations} iteration(s): raise convergence.max_iterations and rerun "
             "(finished iterations are reused), or see the report", FAILURE)
    typer.echo(f"converged after {result.iterations} iteration(s); the final committee: "
               f"{' '.join(p.name for p in result.models)}")


@app.command()
def export(
    source: Path = typer.Argument(..., help="egraff checkpoint (or, with --from, an upstream model file)"),
    output: Path = typer.Option(..., "-o", "--output", help="deployed model file to write (.pt, or .pt2 compiled)"),
    upstream: str = typer.Option(None, "--from", help="nequip (.ckpt or .nequip.zip) or mace (.model file)"),
    compile: str = typer.Option("torchscript", "--compile",
                                help="torchscript (portable) or aotinductor (compiled for this machine's CPU)"),
    dtype: str = typer.Option(None, "--dtype", help="float32: a float32 model (I/O stays float64); default: the model's"),
    frames: Path = typer.Option(None, "--frames", help="held-out frames (extxyz, ...) for the float32 check; default: "
                                                       "the validation frames of the checkpoint's training run"),
):
    """Write a deployed model file (TorchScript or AOTInductor + metadata) for LAMMPS and the ASE calculator."""
    from egraff.contract import DeployedModelError, load_deployed
    from egraff.data.formats import DataFormatError
    from egraff.deploy.export import COMPILERS, CheckpointError, describe_float32_check, export_checkpoint, \
        export_model, read_frames
    from egraff.deploy.upstream import LOADERS, UpstreamModelError
    from egraff.exits import exit_statuses, write_failures

    if compile not in COMPILERS:
        raise typer.BadParameter(f"--compile {compile!r}: use one of {', '.join(COMPILERS)}")
    if dtype not in (None, "float32", "float64"):
        raise typer.BadParameter(f"--dtype {dtype!r}: use float32 (or float64, a float64 model's own)")
    with write_failures(output), exit_statuses(bad_input=(CheckpointError, UpstreamModelError, DeployedModelError,
                                                          DataFormatError),
                                               failures=(ValueError, RuntimeError)):
        held_out = None if frames is None else (lambda: read_frames(frames))
        if upstream is None:
            from egraff.train.engine import validation_frames

            export_checkpoint(source, output, compile=compile, dtype=dtype,
                              frames=held_out or (lambda: validation_frames(source)))
        elif upstream in LOADERS:
            export_model(LOADERS[upstream](source), output, compile=compile, dtype=dtype, frames=held_out)
        else:
            raise typer.BadParameter(f"--from {upstream!r}: use one of {', '.join(LOADERS)}")
    if dtype == "float32":  # the check export_model measured, as stored in the file
        typer.echo(describe_float32_check(json.loads(load_deployed(output)[1].float32_check)))
    typer.echo(f"wrote {output}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    config: str = typer.Argument(None, help="YAML config file (optional); then key=value overrides"),
):
    """Train a model: `egraff train config.yaml model=mace data=md17_aspirin optim.lr=0.005`.

    Rerunning the same command resumes an interrupted run from its last finished epoch."""
    from egraff.data.download import DownloadError
    from egraff.data.formats import DataFormatError
    from egraff.exits import exit_statuses
    from egraff.train import load_config
    from egraff.train import train as run_training
    from egraff.train.data import TrainingDataError

    overrides = list(ctx.args)
    if config is not None and "=" in config:
        config, overrides = None, [config] + overrides
    with exit_statuses(bad_input=(TrainingDataError, DataFormatError, LookupError),
                       failures=(DownloadError, ValueError, RuntimeError)):
        result = run_training(load_config(config, overrides))
    if result.first_epoch and result.first_epoch == result.epochs:
        typer.echo(f"{result.run_dir} holds a finished run; nothing to do")
    elif result.first_epoch:
        typer.echo(f"resumed at epoch {result.first_epoch} from {result.run_dir / 'checkpoints' / 'last.ckpt'}")
    typer.echo(f"trained {result.epochs} epochs in {result.seconds:.1f} s; best validation loss "
               f"{result.best_val_loss:.4g}; export with: egraff export {result.best_model} -o model.pt")


def main():
    keep_freed_memory()
    app()
