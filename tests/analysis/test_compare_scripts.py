"""Model-vs-reference across temperatures, and the scripts in analysis/: outputs, headless plots, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from egraff.analysis import compare_temperatures, read_trajectory

from analysis_helpers import dump_text, fluid_dumps, lj_crystal_and_melt  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_temperature_comparison(fluid_dumps, lj_crystal_and_melt):
    """40 K crystal and 700 K fluid, each 'model' compared with a reference of the same state."""
    crystal = read_trajectory(lj_crystal_and_melt["crystal"], timestep=0.002)
    fluid = read_trajectory(fluid_dumps["orthogonal"], types=None, timestep=0.002)
    runs = {700: (fluid, fluid), 40: (crystal[10:], crystal[:11])}
    rows = compare_temperatures(runs, triplets="Ar-Ar-Ar", adf_cutoff=4.5)
    assert [c.temperature for c in rows] == [40.0, 700.0]
    cold, hot = rows
    assert hot.rdf["total"]["wright_factor"] == 0.0 and hot.adf["Ar-Ar-Ar"]["jsd_base2"] == 0.0  # identical runs
    assert 0 < cold.rdf["total"]["wright_factor"] < 0.2  # two halves of one crystal run: close, not equal
    # physics across temperatures: the crystal's first peak is higher and its atoms do not diffuse
    assert cold.rdf["total"]["g"].max() > 2 * hot.rdf["total"]["g"].max()
    assert hot.diffusion["Ar"]["model"] > 20 * abs(cold.diffusion["Ar"]["model"])
    assert {r["metric"] for r in cold.rows()} >= {"wright_factor", "jsd_base2", "D_model_A2_per_ps"}


def script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run analysis/<name>.py as a user would: no display, no matplotlib backend set."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(ROOT / "python"), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "analysis" / f"{name}.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def check_outputs(result, csv: Path) -> dict:
    assert result.returncode == 0, result.stderr[-2000:]
    assert csv.is_file() and csv.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC
    assert not list(csv.parent.glob(".*.tmp"))  # atomic writes leave no temporary files
    return json.loads(csv.with_suffix(".json").read_text())


@pytest.mark.parametrize("name", ["rdf", "adf", "hr", "msd", "stability", "metrics", "phases", "temperatures"])
def test_every_script_has_help(name, tmp_path):
    result = script(name, "--help", cwd=tmp_path)
    assert result.returncode == 0 and "Usage" in result.stdout and "--" in result.stdout


def test_rdf_script_writes_csv_json_png(fluid_dumps, lj_crystal_and_melt, tmp_path):
    out = tmp_path / "out" / "rdf.csv"
    result = script("rdf", str(fluid_dumps["triclinic"]), "--ref", str(fluid_dumps["orthogonal"]), "--pairs", "Ar-Ar,Ar-Kr",
                    "--r-max", "7", "-o", str(out), "--quiet", cwd=tmp_path)
    summary = check_outputs(result, out)
    table = np.genfromtxt(out, delimiter=",", names=True)
    assert set(table.dtype.names) >= {"r", "g_ArAr", "g_ArKr", "g_total", "g_ref_ArKr"}
    ours = read_trajectory(fluid_dumps["triclinic"])
    from egraff.analysis import RDF

    np.testing.assert_allclose(table["g_ArKr"], RDF(ours, pairs="Ar-Kr", r_max=7).run().results.rdf["Ar-Kr"], rtol=1e-9)
    assert 0 < summary["wright_factor"]["total"] < 0.05  # the same fluid in two cells
    assert 11 < summary["first_shell"]["total"]["coordination"] < 14


def test_stability_and_phase_scripts_on_a_melting_crystal(lj_crystal_and_melt, tmp_path):
    melt, crystal = lj_crystal_and_melt["melt"], lj_crystal_and_melt["crystal"]
    result = script("stability", str(melt), "--ref", str(crystal), "--criterion", "rdf", "--threshold", "1.0",
                    "--timestep", "0.002", "-o", str(tmp_path / "stab.csv"), "--quiet", cwd=tmp_path)
    summary = check_outputs(result, tmp_path / "stab.csv")
    assert 3 <= summary["failure_frame"] <= 9 and "fails at frame" in result.stdout
    result = script("phases", str(melt), "--timestep", "0.002", "-o", str(tmp_path / "ph.csv"), "--quiet", cwd=tmp_path)
    summary = check_outputs(result, tmp_path / "ph.csv")
    assert summary["mean_fractions"]["Other"] > 0.5 and summary["mean_fractions"]["FCC"] > 0.2
    result = script("msd", str(melt), "--timestep", "0.002", "--start", "20", "-o", str(tmp_path / "msd.csv"), cwd=tmp_path)
    summary = check_outputs(result, tmp_path / "msd.csv")
    assert summary["D_A2_per_ps"]["Ar"] > 0.5  # a hot liquid diffuses (Å²/ps)


def test_metrics_hr_and_adf_scripts_on_labelled_molecules(tmp_path):
    import ase.io
    from ase.build import molecule
    from ase.calculators.emt import EMT

    def run(scale, seed):
        frames = []
        for k in range(5):
            atoms = molecule("CH3CH2OH", vacuum=6.0)
            atoms.pbc = True
            atoms.rattle(0.03, seed=seed + k)
            atoms.calc = EMT()
            energy, forces = atoms.get_potential_energy(), atoms.get_forces()
            from ase.calculators.singlepoint import SinglePointCalculator

            atoms.calc = SinglePointCalculator(atoms, energy=scale * energy, forces=scale * forces)
            frames.append(atoms)
        return frames

    ase.io.write(tmp_path / "ref.xyz", run(1.0, 0))
    ase.io.write(tmp_path / "model.xyz", run(1.2, 0))  # same frames, labels 20 % too large
    result = script("metrics", "model.xyz", "--ref", "ref.xyz", "--triplets", "H-C-H", "--timestep", "0.001",
                    "-o", "m.csv", "--quiet", cwd=tmp_path)
    summary = check_outputs(result, tmp_path / "m.csv")
    assert summary["rdf"]["total"]["wright_factor"] == 0.0  # identical structures
    np.testing.assert_allclose(summary["force_violation"], 0.2 / 2.2, rtol=1e-6)  # ‖1.2F − F‖/(1.2‖F‖ + ‖F‖)
    assert summary["energy_violation_gmean"] == pytest.approx(0.2 / 2.2, rel=1e-6)
    result = script("hr", "model.xyz", "--ref", "ref.xyz", "-o", "h.csv", "--quiet", cwd=tmp_path)
    assert check_outputs(result, tmp_path / "h.csv")["hr_mae"] == 0.0
    result = script("adf", "model.xyz", "--triplets", "H-C-H,C-C-O", "-o", "a.csv", "--quiet", cwd=tmp_path)
    assert check_outputs(result, tmp_path / "a.csv")["angles_per_frame"]["H-C-H"] == 4  # 3 + 1 on the two carbons


def test_scripts_turn_bad_input_into_one_sentence(fluid_dumps, tmp_path):
    result = script("rdf", str(fluid_dumps["orthogonal"]), "--pairs", "Ar-Ne", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: element pair Ar-Ne: element Ne is not in the trajectory, which has Ar, Kr"
    grow = tmp_path / "grow.dump"
    rows = [(1, "Ar", 1.0, 1.0, 1.0), (2, "Ar", 2.0, 2.0, 2.0)]
    bounds = [(0.0, 10.0)] * 3
    grow.write_text(dump_text([{"step": 0, "bounds": bounds, "columns": "id element x y z", "rows": rows[:1]},
                               {"step": 1, "bounds": bounds, "columns": "id element x y z", "rows": rows}]))
    result = script("rdf", str(grow), cwd=tmp_path)
    assert result.returncode == 2 and "has 2 atoms but frame 0 has 1" in result.stderr and "Traceback" not in result.stderr
    result = script("stability", str(grow), "--ref", str(grow), "--criterion", "rdf", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
