"""Command-line front ends: ``egraff analyze <command>`` and the scripts in ``analysis/``.

Each command reads LAMMPS text dumps, extxyz or ASE .traj files, writes a CSV, a JSON summary and a PNG,
and turns bad input into one sentence on stderr (exit status 2) instead of a traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import List, Optional

import typer

analysis_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Analyse trajectories: RDF, ADF, h(r), MSD, stability, EGraFFBench metrics, phases.")

TRAJ = typer.Argument(..., help="trajectory: LAMMPS text dump, extxyz or ASE .traj")
REF = typer.Option(None, "--ref", help="reference trajectory (same formats) to compare with")
TYPES = typer.Option(None, "--types", help="LAMMPS type → element map for dumps without an element column, e.g. 1=O,2=H")
TIMESTEP = typer.Option(None, "--timestep", help="ps per MD step (dumps) or per frame (extxyz/.traj without info['step'])")
START = typer.Option(None, "--start", help="first frame")
STOP = typer.Option(None, "--stop", help="stop before this frame")
STEP = typer.Option(None, "--step", help="use every STEP-th frame")
OUTPUT = typer.Option(None, "-o", "--output", help="CSV to write (a JSON summary goes beside it); default from the trajectory name")
PLOT = typer.Option(None, "--plot", help="PNG to write; default beside the CSV")
QUIET = typer.Option(False, "--quiet", help="no progress bar")


def friendly(command):
    """Bad input → 'error: <sentence>' on stderr and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ValueError, FileNotFoundError, KeyError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(2)

    return wrapper


def load(path: Path, types, timestep, start=None, stop=None, step=None):
    from egraff.analysis._base import frame_indices
    from egraff.analysis.trajectory import read_trajectory

    trajectory = read_trajectory(path, types=types, timestep=timestep)
    return trajectory[frame_indices(trajectory.n_frames, start, stop, step)]


def outputs(trajectory: Path, name: str, output: Optional[Path], plot: Optional[Path]) -> tuple[Path, Path, Path]:
    csv = output or trajectory.with_name(f"{trajectory.stem}_{name}.csv")
    return csv, csv.with_suffix(".json"), plot or csv.with_suffix(".png")


def report(*paths: Path):
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


@friendly
def rdf(trajectory: Path = TRAJ, ref: Optional[Path] = REF,
        pairs: Optional[str] = typer.Option(None, "--pairs", help="element pairs, e.g. O-O,O-H (default: all)"),
        r_max: Optional[float] = typer.Option(None, "--r-max", help="Å; default min(10, half the narrowest cell width)"),
        bin_width: float = typer.Option(0.05, "--bin-width", help="Å"),
        ideal_pairs: str = typer.Option("distinct", "--ideal-pairs", help="distinct: N_A(N_B−δ_AB) (MDAnalysis); all: N_A·N_B (OVITO, ASE)"),
        volume: Optional[float] = typer.Option(None, "--volume", help="Å³: the density volume of a non-periodic structure (default: its cell's, as ASE)"),
        types: Optional[str] = TYPES, timestep: Optional[float] = TIMESTEP, start: Optional[int] = START,
        stop: Optional[int] = STOP, step: Optional[int] = STEP, output: Optional[Path] = OUTPUT,
        plot: Optional[Path] = PLOT, quiet: bool = QUIET):
    """Total and partial g(r) averaged over frames, coordination numbers, and WF/JSD against --ref."""
    from egraff.analysis.metrics import jsd_base2, wright_factor
    from egraff.analysis.output import write_csv, write_json
    from egraff.analysis.plots import plot_curves
    from egraff.analysis.structure import RDF

    traj = load(trajectory, types, timestep, start, stop, step)
    options = dict(pairs=pairs, r_max=r_max, bin_width=bin_width, ideal_pairs=ideal_pairs, volume=volume,
                   verbose=not quiet)
    result = RDF(traj, **options).run()
    if ref is not None and r_max is None:
        options["r_max"] = result.results.edges[-1]
    reference = RDF(load(ref, types, timestep), **options).run() if ref else None
    res = result.results
    columns = {"r": res.bins, **{f"g_{k}": g for k, g in res.rdf.items()}}
    summary = {"trajectory": str(trajectory), "frames": res.n_frames, "ideal_pairs": ideal_pairs,
               "r_max": float(res.edges[-1]), "bins": len(res.bins), "first_shell": {}}
    for key in res.rdf:
        n, radius = result.first_shell_coordination(key)
        summary["first_shell"][key] = {"coordination": n, "r_cut": radius}
    if reference:
        columns.update({f"g_ref_{k}": g for k, g in reference.results.rdf.items()})
        summary["reference"] = str(ref)
        summary["wright_factor"] = {k: wright_factor(g, reference.results.rdf[k]) for k, g in res.rdf.items()}
        summary["jsd_base2"] = {k: jsd_base2(g, reference.results.rdf[k]) for k, g in res.rdf.items()}
    csv, js, png = outputs(trajectory, "rdf", output, plot)
    write_csv(csv, columns)
    write_json(js, summary)
    plot_curves(png, res.bins, dict(res.rdf), "r (Å)", "g(r)", reference.results.rdf if reference else None,
                title=trajectory.name)
    report(csv, js, png)


@friendly
def adf(trajectory: Path = TRAJ, triplets: str = typer.Option(..., "--triplets", help="A-B-C with B the vertex, e.g. H-O-H,O-O-O"),
        ref: Optional[Path] = REF,
        cutoff: Optional[str] = typer.Option(None, "--cutoff", help="bond cutoff in Å, or per pair O-H=1.2,O-O=3.3 (default: natural cutoffs)"),
        bins: int = typer.Option(180, "--bins"), types: Optional[str] = TYPES, timestep: Optional[float] = TIMESTEP,
        start: Optional[int] = START, stop: Optional[int] = STOP, step: Optional[int] = STEP,
        output: Optional[Path] = OUTPUT, plot: Optional[Path] = PLOT, quiet: bool = QUIET):
    """Bond-angle distributions P(θ) for element triplets, and JSD against --ref."""
    from egraff.analysis.metrics import jsd_base2
    from egraff.analysis.output import write_csv, write_json
    from egraff.analysis.plots import plot_curves
    from egraff.analysis.structure import ADF

    cut = parse_cutoff(cutoff)
    traj = load(trajectory, types, timestep, start, stop, step)
    res = ADF(traj, triplets, cutoff=cut, n_bins=bins, verbose=not quiet).run().results
    reference = ADF(load(ref, types, timestep), triplets, cutoff=cut, n_bins=bins).run().results if ref else None
    columns = {"angle_deg": res.bins, **{f"p_{k}": p for k, p in res.adf.items()}}
    summary = {"trajectory": str(trajectory), "angles_per_frame": res.angles_per_frame}
    if reference:
        columns.update({f"p_ref_{k}": p for k, p in reference.adf.items()})
        summary["jsd_base2"] = {k: jsd_base2(p, reference.adf[k]) for k, p in res.adf.items()}
    csv, js, png = outputs(trajectory, "adf", output, plot)
    write_csv(csv, columns)
    write_json(js, summary)
    plot_curves(png, res.bins, dict(res.adf), "angle (°)", "P(θ) (1/°)", reference.adf if reference else None,
                title=trajectory.name)
    report(csv, js, png)


def parse_cutoff(text: Optional[str]):
    """"1.2" → 1.2; "O-H=1.2,O-O=3.3" → {"O-H": 1.2, "O-O": 3.3}; None → None (natural cutoffs)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    table = {}
    for item in text.split(","):
        pair, _, value = item.partition("=")
        try:
            table[pair.strip()] = float(value)
        except ValueError:
            raise ValueError(f"cannot read cutoff {item!r}; write a number or PAIR=Å items such as O-H=1.2") from None
    return table


@friendly
def hr(trajectory: Path = TRAJ, ref: Optional[Path] = REF, r_max: float = typer.Option(10.0, "--r-max"),
       bins: int = typer.Option(500, "--bins"), types: Optional[str] = TYPES, start: Optional[int] = START,
       stop: Optional[int] = STOP, step: Optional[int] = STEP, output: Optional[Path] = OUTPUT,
       plot: Optional[Path] = PLOT, quiet: bool = QUIET):
    """Intramolecular distance histogram h(r) of a molecule, and its MAE against --ref (Fu et al.)."""
    from egraff.analysis.metrics import distribution_mae
    from egraff.analysis.output import write_csv, write_json
    from egraff.analysis.plots import plot_curves
    from egraff.analysis.structure import DistanceHistogram

    res = DistanceHistogram(load(trajectory, types, None, start, stop, step), r_max, bins, verbose=not quiet).run().results
    reference = DistanceHistogram(load(ref, types, None), r_max, bins).run().results if ref else None
    columns = {"r": res.bins, "h": res.hr}
    summary = {"trajectory": str(trajectory), "r_max": r_max, "bins": bins}
    if reference:
        columns["h_ref"] = reference.hr
        summary["hr_mae"] = distribution_mae(res.hr, reference.hr, r_max)
    csv, js, png = outputs(trajectory, "hr", output, plot)
    write_csv(csv, columns)
    write_json(js, summary)
    plot_curves(png, res.bins, {"h(r)": res.hr}, "r (Å)", "h(r) (1/Å)", {"h(r)": reference.hr} if reference else None,
                title=trajectory.name)
    report(csv, js, png)


@friendly
def msd(trajectory: Path = TRAJ, timestep: Optional[float] = TIMESTEP, ref: Optional[Path] = REF,
        elements: Optional[str] = typer.Option(None, "--elements", help="e.g. Li,O (default: all)"),
        keep_drift: bool = typer.Option(False, "--keep-drift", help="do not subtract the centre-of-mass motion"),
        types: Optional[str] = TYPES, start: Optional[int] = START, stop: Optional[int] = STOP,
        step: Optional[int] = STEP, output: Optional[Path] = OUTPUT, plot: Optional[Path] = PLOT, quiet: bool = QUIET):
    """Mean-squared displacement per element and diffusion coefficients D (Å²/ps and m²/s)."""
    from egraff.analysis.dynamics import ANGSTROM2_PER_PS, MSD
    from egraff.analysis.output import write_csv, write_json
    from egraff.analysis.plots import plot_curves

    res = MSD(load(trajectory, types, timestep, start, stop, step), elements, remove_drift=not keep_drift,
              verbose=not quiet).run().results
    columns = {"t_ps": res.times, **{f"msd_{k}": m for k, m in res.msd.items()}}
    summary = {"trajectory": str(trajectory), "D_A2_per_ps": res.diffusion,
               "D_m2_per_s": {k: d * ANGSTROM2_PER_PS for k, d in res.diffusion.items()}}
    references = None
    if ref:
        reference = MSD(load(ref, types, timestep, start, stop, step), elements, remove_drift=not keep_drift).run().results
        if len(reference.times) == len(res.times):
            columns.update({f"msd_ref_{k}": m for k, m in reference.msd.items()})
            references = reference.msd
        summary["reference_D_A2_per_ps"] = reference.diffusion
    csv, js, png = outputs(trajectory, "msd", output, plot)
    write_csv(csv, columns)
    write_json(js, summary)
    plot_curves(png, res.times, dict(res.msd), "t (ps)", "MSD (Å²)", references, title=trajectory.name)
    report(csv, js, png)


@friendly
def stability(trajectory: Path = TRAJ, ref: Path = typer.Option(..., "--ref", help="reference trajectory"),
              criterion: str = typer.Option("bond", "--criterion", help="bond (molecules) or rdf (condensed phases)"),
              threshold: Optional[float] = typer.Option(None, "--threshold", help="bond: Å (default 0.5); rdf: MAE (water 3.0, LiPS 1.0)"),
              pairs: Optional[str] = typer.Option(None, "--pairs", help="rdf criterion: element pairs (default: all)"),
              window: float = typer.Option(1.0, "--window", help="rdf criterion: window length in ps"),
              r_max: float = typer.Option(6.0, "--r-max", help="rdf criterion: Å"),
              timestep: Optional[float] = TIMESTEP, types: Optional[str] = TYPES, output: Optional[Path] = OUTPUT,
              plot: Optional[Path] = PLOT, quiet: bool = QUIET):
    """Time to failure by the bond-length (0.5 Å) or windowed RDF-MAE criterion of Fu et al."""
    from egraff.analysis.output import write_csv, write_json
    from egraff.analysis.plots import plot_stability
    from egraff.analysis import stability as st

    traj, reference = load(trajectory, types, timestep), load(ref, types, timestep)
    if criterion == "bond":
        result = st.bond_stability(traj, reference, threshold or st.BOND_DEVIATION_THRESHOLD)
    elif criterion == "rdf":
        if threshold is None:
            raise ValueError("the rdf criterion needs --threshold (Fu et al.: 3.0 for water, 1.0 for LiPS)")
        result = st.rdf_stability(traj, reference, threshold, pairs, window, r_max, verbose=not quiet)
    else:
        raise ValueError(f"unknown criterion {criterion!r}; use bond or rdf")
    csv, js, png = outputs(trajectory, f"stability_{criterion}", output, plot)
    write_csv(csv, {"t_ps": result.times, "error": result.error})
    summary = result.as_dict()
    summary.pop("times_ps"), summary.pop("error")
    write_json(js, {"trajectory": str(trajectory), "reference": str(ref), **summary})
    plot_stability(png, [result], title=trajectory.name)
    state = "stable throughout" if result.failure_frame is None else f"fails at frame {result.failure_frame}"
    typer.echo(f"{criterion} criterion: {state}; stable for {result.stable_time:g} ps")
    report(csv, js, png)


@friendly
def metrics(trajectory: Path = TRAJ, ref: Path = typer.Option(..., "--ref", help="reference trajectory from the same initial state"),
            pairs: Optional[str] = typer.Option(None, "--pairs", help="RDF pairs for WF/JSD (the total is always included)"),
            triplets: Optional[str] = typer.Option(None, "--triplets", help="ADF triplets for JSD, e.g. P-S-P"),
            cutoff: Optional[str] = typer.Option(None, "--cutoff", help="ADF bond cutoff (Å or O-H=1.2,...)"),
            types: Optional[str] = TYPES, timestep: Optional[float] = TIMESTEP, output: Optional[Path] = OUTPUT,
            plot: Optional[Path] = PLOT, quiet: bool = QUIET):
    """EGraFFBench metrics against a reference run from the same start: WF and JSD of RDFs, JSD of ADFs, EV and FV
    (variant a, on the frames at common times)."""
    from egraff.analysis.evaluate import evaluate
    from egraff.analysis.output import write_csv, write_json
    from egraff.analysis.plots import plot_curves

    traj, reference = load(trajectory, types, timestep), load(ref, types, timestep)
    result = evaluate(traj, reference, pairs=pairs, triplets=triplets or None, cutoff=parse_cutoff(cutoff),
                      verbose=not quiet)
    d, found = result.distributions, result.metrics
    rdfs = list(found["rdf"])
    summary = {"trajectory": str(trajectory), "reference": str(ref), "rdf": found["rdf"]}
    columns = {"r": d["rdf_total_r"], **{f"g_{k}": d[f"rdf_{k}_g"] for k in rdfs},
               **{f"g_ref_{k}": d[f"rdf_{k}_g_ref"] for k in rdfs}}
    if triplets:
        summary["adf"] = found["adf"]
    have_labels = "violations" not in found
    if have_labels:
        summary["energy_violation_gmean"] = found["energy_violation"]
        summary["force_violation_gmean"] = found["force_violation"]
        summary["violation_times_ps"] = found["violation_times_ps"]
        summary["energy_violation"] = found["energy_violation_per_frame"]
        summary["force_violation"] = found["force_violation_per_frame"]
    else:
        summary["violations"] = found["violations"]
    csv, js, png = outputs(trajectory, "metrics", output, plot)
    write_csv(csv, columns)
    write_json(js, summary)
    plot_curves(png, columns["r"], {k: d[f"rdf_{k}_g"] for k in rdfs}, "r (Å)", "g(r)",
                {k: d[f"rdf_{k}_g_ref"] for k in rdfs}, title=f"{trajectory.name} vs {ref.name}")
    for key, value in summary["rdf"].items():
        typer.echo(f"RDF {key}: WF {value['wright_factor']:.4g}  JSD (bits) {value['jsd_base2']:.4g}")
    if have_labels:
        typer.echo(f"EV gmean {summary['energy_violation_gmean']:.4g}  FV gmean {summary['force_violation_gmean']:.4g}")
    report(csv, js, png)


@friendly
def phases(trajectory: Path = TRAJ, method: str = typer.Option("ptm", "--method", help="ptm, cna or diamond"),
           all_structures: bool = typer.Option(False, "--all-structures", help="ptm: enable all nine templates"),
           types: Optional[str] = TYPES, timestep: Optional[float] = TIMESTEP, start: Optional[int] = START,
           stop: Optional[int] = STOP, step: Optional[int] = STEP, output: Optional[Path] = OUTPUT,
           plot: Optional[Path] = PLOT, quiet: bool = QUIET):
    """Per-frame structure identification with OVITO (PTM, CNA, diamond): phase fractions over time."""
    from egraff.analysis.output import write_csv, write_json
    from egraff.analysis.phases import PhaseFractions
    from egraff.analysis.plots import plot_phases

    traj = load(trajectory, types, timestep, start, stop, step)
    res = PhaseFractions(traj, method, all_structures, verbose=not quiet).run().results
    x = traj.times if traj.timestep else res.steps
    csv, js, png = outputs(trajectory, f"phases_{method}", output, plot)
    write_csv(csv, {"t_ps" if traj.timestep else "step": x,
                    **{name.replace(" ", "_"): res.fractions[:, k] for k, name in enumerate(res.structures)}})
    write_json(js, {"trajectory": str(trajectory), "method": method, "mean_fractions": res.mean_fractions})
    plot_phases(png, x, res.structures, res.fractions, "t (ps)" if traj.timestep else "step", title=trajectory.name)
    typer.echo(", ".join(f"{k} {v:.1%}" for k, v in res.mean_fractions.items() if v > 0))
    report(csv, js, png)


@friendly
def temperatures(run: List[str] = typer.Option(..., "--run", help="T:MODEL:REFERENCE, repeat per temperature (K)"),
                 pairs: Optional[str] = typer.Option(None, "--pairs"),
                 triplets: Optional[str] = typer.Option(None, "--triplets"),
                 cutoff: Optional[str] = typer.Option(None, "--cutoff", help="ADF bond cutoff"),
                 no_diffusion: bool = typer.Option(False, "--no-diffusion", help="skip D (needed without --timestep)"),
                 types: Optional[str] = TYPES, timestep: Optional[float] = TIMESTEP,
                 output: Path = typer.Option(Path("temperatures.csv"), "-o", "--output"), plot: Optional[Path] = PLOT,
                 quiet: bool = QUIET):
    """Model vs reference across temperatures: RDF (WF, JSD), ADF (JSD) and D per temperature."""
    from egraff.analysis.compare import compare_temperatures, temperature_panels
    from egraff.analysis.output import write_json, write_rows
    from egraff.analysis.plots import plot_temperature_panels

    runs = {}
    for item in run:
        parts = item.split(":")
        if len(parts) != 3:
            raise ValueError(f"cannot read --run {item!r}; write TEMPERATURE:MODEL:REFERENCE, e.g. 300:md300.dump:ref300.dump")
        runs[float(parts[0])] = (load(Path(parts[1]), types, timestep), load(Path(parts[2]), types, timestep))
    comparisons = compare_temperatures(runs, pairs, triplets, parse_cutoff(cutoff), not no_diffusion, not quiet)
    rows = [row for c in comparisons for row in c.rows()]
    csv, js, png = output, output.with_suffix(".json"), plot or output.with_suffix(".png")
    write_json(js, rows)
    write_rows(csv, rows)
    plot_temperature_panels(png, temperature_panels(comparisons))
    report(csv, js, png)


for _name, _command in (("rdf", rdf), ("adf", adf), ("hr", hr), ("msd", msd), ("stability", stability),
                        ("metrics", metrics), ("phases", phases), ("temperatures", temperatures)):
    analysis_app.command(_name)(_command)


def run_script(command) -> None:
    """Entry point of a script in ``analysis/``: the command alone, with its own --help."""
    typer.run(command)


if __name__ == "__main__":
    analysis_app(sys.argv[1:])
