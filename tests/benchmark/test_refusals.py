"""A model that refuses a structure (TorchMD-Net's study graph over its neighbour cap, as the study's
torchmd-net) is a row of refusals in the benchmark, not a crash of the whole plan: its MD run fails at step 0
and is analysed as stable for 0 ps with nothing else to compare, its test errors are NaN with the reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    """A deployed study-graph TorchMD-Net on Si whose cap (4, self-loop counted) no diamond atom meets (16
    neighbours within 4 Å), and four rattled 64-atom diamond frames with (made-up) labels."""
    import torch

    from egraff.data import write_extxyz
    from egraff.deploy.export import deploy
    from egraff.models import build

    root = tmp_path_factory.mktemp("refusals")
    torch.manual_seed(0)
    (root / "model").mkdir()
    deploy(build("torchmd-et", ["Si"], 4.0, study_graph=True, max_num_neighbors=4).eval(), root / "model" / "model.pt")
    frames = []
    for seed in range(4):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
        atoms.rattle(0.02, seed=seed)
        atoms.calc = SinglePointCalculator(atoms, energy=-4.3 * len(atoms), forces=np.zeros((len(atoms), 3)),
                                           stress=np.zeros(6))
        frames.append(atoms)
    write_extxyz(root / "frames.extxyz", frames)
    return root


def finished(directory, step_result):
    """Keep a step's summary as the job engine does (what later steps read with summary_of)."""
    summary, outputs = step_result
    (directory / "record.json").write_text(json.dumps({"summary": summary, "outputs": outputs}, default=float))
    return summary


def test_test_errors_of_refused_frames_are_nan_with_the_reason(capped, tmp_path):
    from egraff.benchmark.scores import static_errors
    from egraff.benchmark.steps import evaluate_on_test_frames

    summary, _ = evaluate_on_test_frames({"test": {"file": str(capped / "frames.extxyz")}},
                                         {"model": capped / "model"}, tmp_path)
    assert summary["refused_frames"] == summary["n_test"] == 4
    assert "more than max_num_neighbors = 4" in summary["refusal"] and "model.pt" in summary["refusal"]
    errors = static_errors(tmp_path / "predictions.npz")
    assert all(np.isnan(errors[k]) for k in ("force_mae", "energy_mae_total", "stress_mae")), errors


def test_a_run_refused_at_step_0_is_stable_for_0_ps_and_compares_nothing(capped, tmp_path):
    from egraff.analysis.plots import rdf_overlays
    from egraff.benchmark.steps import analyze_run, prepare_reference, run_model_md

    directories = {name: tmp_path / name for name in ("reference", "md", "analyze")}
    for directory in directories.values():
        directory.mkdir()
    finished(directories["reference"], prepare_reference(
        {"frames": {"file": str(capped / "frames.extxyz")}, "starts": 1, "start_every": None}, {},
        directories["reference"]))
    inputs = {"model": capped / "model", "reference": directories["reference"]}
    run = finished(directories["md"], run_model_md(
        {"start": 0, "system": "si", "temperature": 300.0, "protocol": "egraffbench",
         "overrides": {"steps": 10, "dump_every": 5, "initial_frames": 1}}, inputs, directories["md"]))
    assert (run["status"], run["failure_step"], run["steps_completed"]) == ("failed", 0, 0)
    assert (directories["md"] / run["trajectory"]).stat().st_size == 0

    metrics, outputs = analyze_run({}, {**inputs, "md": directories["md"]}, directories["analyze"])
    assert metrics["stable_ps"] == 0.0 and metrics["stable_fraction"] == 0.0
    assert metrics["stability_criterion"].startswith("watchdog: ") and "max_num_neighbors" in metrics["violations"]
    for key in ("wright_factor_all_frames", "rdf_jsd_base2", "adf_jsd_base2", "energy_violation", "force_violation"):
        assert np.isnan(metrics[key]), key
    assert json.loads((directories["analyze"] / "metrics.json").read_text())["stable_ps"] == 0.0
    figure = rdf_overlays([("capped", directories["analyze"] / "distributions.npz", ["total"])], tmp_path / "rdf.png")
    assert figure.stat().st_size > 0


def test_an_empty_trajectory_file_says_the_run_wrote_no_frame(tmp_path):
    from egraff.analysis import read_trajectory

    (tmp_path / "trajectory.lammpstrj").write_text("")
    with pytest.raises(ValueError, match="is empty: the run wrote no frame"):
        read_trajectory(tmp_path / "trajectory.lammpstrj")
