"""The main job on the embedded default (``egraff demo`` / ``make demo``).

Runs ``inputs/lj_md.in`` twice with the plain ``lmp`` console script — once with the reference
Lennard-Jones potential exported as a deployed file (pair_style egraff, autoloaded plugin) and once
with LAMMPS's own ``lj/cut`` with the same parameters — then writes a report with the trajectory
difference, energy conservation and speed. Offline, no user data, under a minute on 2 cores.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np


def _run_lmp(input_file: Path, workdir: Path, variables: dict[str, str]) -> str:
    cmd = [str(Path(sys.executable).parent / "lmp"), "-in", str(input_file.resolve()), "-screen", "none"]
    for name, value in variables.items():
        cmd += ["-var", name, value]
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    log = workdir / f"{variables['out']}.log"
    text = log.read_text() if log.exists() else result.stdout
    if result.returncode != 0:
        errors = [line for line in text.splitlines() + result.stderr.splitlines() if "ERROR" in line]
        raise RuntimeError(f"LAMMPS failed on {input_file}: {errors[0] if errors else result.stderr[-500:]}")
    return text


def _thermo(log: str) -> np.ndarray:
    rows, reading = [], False
    for line in log.splitlines():
        words = line.split()
        if words[:1] == ["Step"]:
            reading = True
        elif reading:
            try:
                rows.append([float(w) for w in words])
            except ValueError:
                reading = False
    return np.array(rows)


def _loop_rate(log: str) -> float:
    """steps/s from LAMMPS's 'Loop time of T on P procs for N steps'."""
    seconds, steps = re.findall(r"Loop time of ([\d.eE+-]+) on \d+ procs for (\d+) steps", log)[-1]
    return int(steps) / float(seconds)


def run_demo(output: Path, inputs: Path, steps: int = 1000) -> Path:
    from ase.io import read
    from rich.console import Console

    from egraff.deploy import save_deployed
    from egraff.models.reference import ARGON_KRYPTON, lennard_jones

    console = Console()
    input_file = inputs / "lj_md.in"
    if not input_file.is_file():
        raise FileNotFoundError(f"{input_file} not found: run the demo from the egraff checkout or pass --inputs")
    output.mkdir(parents=True, exist_ok=True)

    with console.status("exporting the reference Lennard-Jones potential"):
        model, meta = lennard_jones(["Ar", "Kr"], **ARGON_KRYPTON, shift=True)
        save_deployed(model, output / "lj.pt", meta)
    runs = {}
    for name, extra in (("egraff", {}), ("lj_cut", {"reference": "yes"})):
        with console.status(f"lmp -in {input_file}: {name}, {steps} steps"):
            log = _run_lmp(input_file, output, {"model": "lj.pt", "out": name, "steps": str(steps), **extra})
        frames = read(output / f"{name}.dump", index=":", format="lammps-dump-text")
        runs[name] = dict(thermo=_thermo(log), rate=_loop_rate(log), positions=np.stack([f.positions for f in frames]))
        console.log(f"{name}: {runs[name]['rate']:.1f} steps/s")

    ours, ref = runs["egraff"], runs["lj_cut"]
    deviation = np.abs(ours["positions"] - ref["positions"]).max(axis=(1, 2))
    etot = {k: r["thermo"][:, 4] for k, r in runs.items()}
    drift = {k: float(e[-1] - e[0]) for k, e in etot.items()}
    figure = _plot(ours["thermo"][:, 0], etot, deviation, output / "demo.png")

    natoms = ours["positions"].shape[1]
    report = output / "report.md"
    report.write_text(
        "# egraff demo: deployed Lennard-Jones in LAMMPS vs lj/cut\n\n"
        f"`lmp -in {input_file}` with `pair_style egraff` (reference LJ exported to `lj.pt`) and with LAMMPS's own "
        f"`lj/cut`, same parameters and start: {natoms} Ar/Kr atoms, NVE, {steps} steps of 2 fs.\n\n"
        "| | egraff plugin | lj/cut |\n|---|---|---|\n"
        f"| steps/s | {ours['rate']:.1f} | {ref['rate']:.1f} |\n"
        f"| total energy drift (eV) | {drift['egraff']:.3e} | {drift['lj_cut']:.3e} |\n\n"
        f"Largest position difference between the two trajectories: **{deviation.max():.2e} Å** "
        f"(after {steps} steps).\n\n![energy and deviation]({figure.name})\n"
    )
    console.log(f"max |Δx| = {deviation.max():.2e} Å; report written to {report}")
    return report


def _plot(steps, etot, deviation, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, e in etot.items():
        ax1.plot(steps, e - e[0], label=name, ls="-" if name == "egraff" else "--")
    ax1.set(xlabel="step", ylabel="E_total - E_total(0) (eV)", title="energy conservation")
    ax1.legend()
    ax2.semilogy(np.linspace(steps[0], steps[-1], len(deviation)), np.maximum(deviation, 1e-17), "o-")
    ax2.set(xlabel="step", ylabel="max |x_egraff - x_lj/cut| (Å)", title="trajectory difference")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
