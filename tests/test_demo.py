"""The README's main job (`egraff demo`): teacher water → a committee → explorations it watches → frames
labelled by the teacher → the final model in `lmp -in inputs/water_md.in` → report.

The test runs a micro version (1 epoch, 200 MD steps, 2 iterations) with the installed console script; the
full default (20 epochs, 4000 steps, up to 5 iterations) is the same graph with larger numbers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
EGRAFF = Path(sys.executable).parent / "egraff"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    # as `make demo` runs it: relative output and inputs paths, from the directory that holds them
    workdir = tmp_path_factory.mktemp("demo")
    (workdir / "inputs").symlink_to(REPO / "inputs")
    out = workdir / "egraff-demo"
    command = [str(EGRAFF), "demo", "-o", "egraff-demo", "--inputs", "inputs", "--epochs", "1", "--steps", "200",
               "--iterations", "2"]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=480)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out, command


@pytest.mark.slow
def test_demo_writes_a_quantitative_report_with_every_plot(demo):
    out, _ = demo
    report = (out / "report.md").read_text()
    for quantity in ("RDF Wright's factor", "RDF Jensen–Shannon divergence", "energy violation EV",
                     "force violation FV", "stable time", "MD speed", "force MAE / RMSE"):
        value = re.search(rf"\| {re.escape(quantity)}[^|]* \| ([^|]+) \|", report)
        assert value and re.search(r"\d", value[1]), quantity
    assert "water_md.in" in report
    for png in ("training_curve.png", "parity.png", "rdf.png"):
        assert (out / png).stat().st_size > 20_000, png
        assert f"src='{png}'" in (out / "report.html").read_text()


@pytest.mark.slow
def test_demo_report_shows_the_loop_and_its_numbers_come_from_the_iterations(demo):
    """The loop's table (one row per iteration), its figures, and the frames added = the labelled files."""
    from egraff.data import read_extxyz

    out, _ = demo
    summary = json.loads((out / "summary.json").read_text())["learn"]
    report = (out / "report.md").read_text()
    assert "Active learning" in report and "Iteration 0's model" in report
    rows = [line for line in report.splitlines() if re.match(r"\| [0-9]+ \|", line)]
    assert len(rows) == summary["iterations"] >= 1
    for png in ("learning_progress.png", "deviation_traces.png", "deviation_histograms.png"):
        assert (out / png).stat().st_size > 10_000 and f"src='{png}'" in (out / "report.html").read_text()
    labelled = sorted((out / "iterations").glob("*/data/added.extxyz"))
    assert summary["frames_added"] == (len(read_extxyz(labelled[-1])) if labelled else 0)
    selections = [json.loads(p.read_text()) for p in sorted((out / "iterations").glob("*/selection/selection.json"))]
    assert summary["stable_ps_first"] == [e["stable_ps"] for e in selections[0]["explorations"]]
    assert summary["stable_ps_last"] == [e["stable_ps"] for e in selections[-1]["explorations"]]
    final_model = out / "iterations" / f"{summary['iterations'] - 1:03d}" / "models" / "model_0.pt"
    run = json.loads(next((out / "jobs" / "lammps_input").glob("*/record.json")).read_text())["summary"]
    assert Path(run["command"].split("-var model ")[1].split()[0]).read_bytes() == final_model.read_bytes()


@pytest.mark.slow
def test_demo_numbers_come_from_its_stored_files(demo):
    out, _ = demo
    from egraff.analysis import jsd_base2, wright_factor

    summary = json.loads((out / "summary.json").read_text())
    analyze = next((out / "jobs" / "analyze").glob("*/distributions.npz"))
    d = np.load(analyze)
    assert summary["metrics"]["rdf_wright_factor"] == pytest.approx(wright_factor(d["rdf_total_g"], d["rdf_total_g_ref"]))
    assert summary["metrics"]["rdf_jsd_base2"] == pytest.approx(jsd_base2(d["rdf_total_g"], d["rdf_total_g_ref"]))
    assert {"rdf_O-O_g", "rdf_H-O_g", "rdf_H-H_g"} <= set(d.files)
    p = np.load(next((out / "jobs" / "evaluate").glob("*/predictions.npz")))
    assert summary["static"]["force_mae"] == pytest.approx(np.abs(p["forces_pred"] - p["forces_true"]).mean())
    assert p["n_atoms"][0] == 192


@pytest.mark.slow
def test_demo_rerun_reuses_every_job(demo):
    out, command = demo
    before = {p: p.stat().st_mtime_ns for p in (out / "jobs").glob("*/*/record.json")}
    result = subprocess.run(command, cwd=out.parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in (out / "jobs").glob("*/*/record.json")} == before
    kinds = {p.parent.parent.name for p in before}
    assert kinds >= {"teacher", "learn_train", "export", "learn_explore", "learn_select", "evaluate", "lammps_input",
                     "reference", "analyze", "demo_report"}, kinds


def test_demo_without_inputs_directory_says_where_to_run(tmp_path):
    result = subprocess.run([str(EGRAFF), "demo", "-o", str(tmp_path), "--inputs", str(tmp_path / "nowhere")],
                            capture_output=True, text=True)
    assert result.returncode == 2  # bad input (egraff.exits)
    assert "run the demo from the egraff checkout" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "jobs").exists()


def test_demo_with_negative_iterations_says_what_to_give(tmp_path):
    result = subprocess.run([str(EGRAFF), "demo", "-o", str(tmp_path), "--inputs", str(REPO / "inputs"),
                             "--iterations", "-1"], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "--iterations -1: give 0 (no loop) or more" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "jobs").exists()
