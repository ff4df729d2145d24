"""`egraff benchmark` on the micro plans: killed half-way and rerun, it loses only the interrupted jobs and leaves
no process behind; leaderboard numbers recomputed from the stored predictions and each MD start's distributions,
reruns that do no work, a deleted checkpoint that reruns exactly its downstream jobs, and LiPS20 compositions of
different atom counts held out (analysed per composition, then aggregated)."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import job_starts, kill_leader
from egraff.analysis import jsd_base2, wright_factor
from egraff.benchmark import prepare
from egraff.jobs import graph, read_journal, read_record, run_jobs

HERE = Path(__file__).parent
EGRAFF = Path(sys.executable).parent / "egraff"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    """The micro plan as `egraff benchmark` runs it (a Dask LocalCluster of two workers), killed with ``kill -9``
    once a few jobs have finished and others are running, then run again to the end."""
    out = tmp_path_factory.mktemp("benchmark")
    root = out / "jobs"
    command = [str(EGRAFF), "benchmark", "--plan", str(HERE / "micro.yaml"), "-o", str(out), "--workers", "2"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline, running = time.monotonic() + 300, set()
    while time.monotonic() < deadline and process.poll() is None:
        events = read_journal(root) if (root / "journal.jsonl").exists() else []
        finished = {e["key"] for e in events if e["event"] == "finish"}
        running = {e["key"] for e in events if e["event"] == "start"} - finished
        if len(finished) >= 3 and running:
            break
        time.sleep(0.05)
    if not running or process.poll() is not None:
        process.kill()
        pytest.fail("the benchmark ended before it could be interrupted: " + process.stdout.read().decode()[-2000:])
    survivors = kill_leader(process)
    # which jobs the kill interrupted is read once every process of the killed run is gone: between the journal read
    # above and the kill, and until a Dask worker notices its parent's death, jobs still finish and workers start
    # the next tasks they hold
    events = read_journal(root)
    interrupted = {e["key"] for e in events if e["event"] == "start"} - {e["key"] for e in events
                                                                          if e["event"] == "finish"}
    finished_before = {p.parent.name: p.read_bytes() for p in root.glob("*/*/record.json")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    plan, leaderboard = prepare(str(HERE / "micro.yaml"))
    records = {job.key: read_record(job, root) for job in graph([leaderboard])}
    return plan, leaderboard, root, records, (survivors, interrupted, finished_before)


def run_mirror_plan(name: str, tmp_path_factory, mirror, patch):
    """A micro plan on registry data from the dataset mirror, run here to the end."""
    patch.setenv("EGRAFF_DATA_MIRROR", str(mirror))
    root = tmp_path_factory.mktemp(name) / "jobs"
    plan, leaderboard = prepare(str(HERE / f"{name}.yaml"))
    run_jobs([leaderboard], root, workers=0, progress=False)
    return plan, leaderboard, root


@pytest.fixture(scope="module")
def micro_md17(tmp_path_factory, mirror, monkeypatch_module):
    """MD17 from the dataset mirror: isolated molecules (non-periodic g(r), bond criterion), registry splits."""
    return run_mirror_plan("micro_md17", tmp_path_factory, mirror, monkeypatch_module)


@pytest.fixture(scope="module")
def micro_lips20(tmp_path_factory, mirror, monkeypatch_module):
    """Two LiPS20 compositions held out (Li54 and S32): each its own reference group of MD starts."""
    return run_mirror_plan("micro_lips20", tmp_path_factory, mirror, monkeypatch_module)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def leaderboard_rows(leaderboard, root, table: str = "leaderboard.csv"):
    with open(leaderboard.directory(root) / table) as handle:
        return list(csv.DictReader(handle))


def run_directories(leaderboard, root, run: dict) -> dict:
    """The md, analyze and reference job directories of one row of runs.csv."""
    role = f"{run['case']}|{run['model']}|{run['seed']}|{run['group']}|{run['start']}"
    found = {step: leaderboard.deps[f"{role}|{step}"].directory(root) for step in ("md", "analyze")}
    return {**found, "reference": leaderboard.deps[f"{run['case']}|{run['group']}|reference"].directory(root)}


def test_a_killed_benchmark_resumes_losing_only_the_interrupted_jobs(micro):
    _, _, root, records, (survivors, interrupted, finished_before) = micro
    assert not survivors, f"processes outlived the killed egraff benchmark: {survivors}"
    assert all(records.values()), "a job of the plan has no record after the rerun"
    for key, content in finished_before.items():
        assert next(root.glob(f"*/{key}/record.json")).read_bytes() == content, "a finished job was run again"
    starts = job_starts(root)
    lost = interrupted - set(finished_before)  # started and not finished when the benchmark was killed
    assert lost and set(starts) == set(records)
    assert starts == {key: 2 if key in lost else 1 for key in records}, "a job ran more often than needed"
    assert not list(root.glob("*/*.lock"))


def test_the_leaderboard_has_every_case_and_model(micro):
    plan, leaderboard, root, _, _ = micro
    rows = leaderboard_rows(leaderboard, root)
    assert {(r["case"], r["model"]) for r in rows} == {(c.name, m) for c in plan.cases for m in plan.model_entries}
    runs = leaderboard_rows(leaderboard, root, "runs.csv")
    assert len(runs) == len(rows) * 2 and {r["start"] for r in runs} == {"0", "1"}  # initial_frames: 2
    for name in ("leaderboard.md", "leaderboard.html", "plan.yaml", "provenance.json", "rdf_overlays.png",
                 "stability.png", "error_vs_md.png", "headline.json"):
        assert (leaderboard.directory(root) / name).stat().st_size > 200, name


def test_the_report_tells_early_stopped_runs_from_runs_that_reached_the_epoch_cap(micro):
    _, leaderboard, root, *_ = micro
    rows = leaderboard_rows(leaderboard, root)
    assert {(r["model"], r["epochs"], r["stopped_by"]) for r in rows} == {("nequip", "1", "epoch cap"),
                                                                          ("allegro", "2", "early stop")}
    capped = ", ".join(f"nequip on {r['case']}" for r in rows if r["model"] == "nequip")
    assert (f"{len(rows) // 2} of {len(rows)} models stopped when their validation error stopped improving (early "
            f"stopping); {len(rows) // 2} reached the epoch cap first: {capped}.") in \
        (leaderboard.directory(root) / "leaderboard.md").read_text()


@pytest.mark.parametrize("run", ["micro", "micro_md17"])
def test_leaderboard_numbers_are_recomputed_from_stored_predictions(run, request):
    _, leaderboard, root, *_ = request.getfixturevalue(run)
    rows = leaderboard_rows(leaderboard, root)
    runs = leaderboard_rows(leaderboard, root, "runs.csv")
    assert rows and runs
    for run in runs:
        d = np.load(root / run["distributions"])
        assert float(run["wright_factor_before_failure"]) == pytest.approx(
            wright_factor(d["rdf_total_g"], d["rdf_total_g_ref"]))
        assert float(run["rdf_jsd_base2"]) == pytest.approx(jsd_base2(d["rdf_total_g"], d["rdf_total_g_ref"]))
    for row in rows:
        mine = [r for r in runs if (r["case"], r["model"], r["seed"]) == (row["case"], row["model"], row["seed"])]
        for key in ("stable_ps", "wright_factor_all_frames", "rdf_jsd_base2"):
            values = [float(r[key]) for r in mine]
            assert float(row[key]) == pytest.approx(np.mean(values), rel=1e-12)
            assert float(row[f"{key}_spread"]) == pytest.approx(np.std(values, ddof=1), rel=1e-12)
        p = np.load(root / row["predictions"])
        assert float(row["energy_mae_per_atom"]) == pytest.approx(
            np.mean(np.abs(p["energy_pred"] - p["energy_true"]) / p["n_atoms"]), rel=1e-12)
        assert float(row["energy_mae_total"]) == pytest.approx(np.mean(np.abs(p["energy_pred"] - p["energy_true"])),
                                                               rel=1e-12)
        error = p["forces_pred"] - p["forces_true"]
        assert error.shape[1] == 3 and error.shape[0] == p["n_atoms"].sum()
        assert float(row["force_mae"]) == pytest.approx(np.mean(np.abs(error)), rel=1e-12)
        assert float(row["force_rmse"]) == pytest.approx(np.sqrt(np.mean(error ** 2)), rel=1e-12)
        assert 0 < float(row["force_mae"]) < float(row["force_rmse"])


def test_molecules_are_compared_without_images_by_bonds_and_both_wright_factors(micro_md17):
    """MD17 runs end to end as molecules: the model's dump and the reference frames are read non-periodic, Fu et
    al.'s bond criterion judges stability, g(r) is the study's molecule g(r) on EGraFFBench's grid of the dataset's
    box, and the leaderboard's WF over all frames and before the failure are those of
    egraff.analysis.wright_factors on the stored trajectory and reference frames."""
    from egraff.analysis import read_trajectory, wright_factors
    from egraff.analysis.evaluate import stability
    from egraff.analysis.metrics import egraffbench_r_max
    from egraff.jobs import summary_of

    _, leaderboard, root = micro_md17
    for row in leaderboard_rows(leaderboard, root, "runs.csv"):
        where = run_directories(leaderboard, root, row)
        run, metrics = summary_of(where["md"]), summary_of(where["analyze"])
        model = read_trajectory(where["md"] / run["trajectory"], timestep=run["timestep_ps"])
        reference = read_trajectory(where["reference"] / "reference.extxyz")
        assert not model.pbc.any() and not reference.pbc.any()
        failure = (run["time_to_failure_ps"], run["failure_reason"]) if run["time_to_failure_ps"] is not None else None
        chosen_by_periodicity = stability(model, reference, run["requested_ps"], failure=failure)  # bonds, no RDF
        assert {k: metrics[k] for k in chosen_by_periodicity} == chosen_by_periodicity
        d = np.load(root / row["distributions"])
        assert d["rdf_total_r"][-1] == pytest.approx(egraffbench_r_max(reference.cells[0]) - 0.025)
        expected = wright_factors(model, reference, metrics["failure_frame"])
        assert {k: float(row[k]) for k in expected} == pytest.approx(expected, rel=1e-12)
        # the MD17 test split is a 0.5 fs ab initio trajectory: EV/FV from a same-start NVE run
        assert float(row["energy_violation"]) > 0 and float(row["force_violation"]) > 0
    for row in leaderboard_rows(leaderboard, root):
        assert row["stress_mae"] == "nan"  # MD17 frames carry no stress


def test_lips20_compositions_held_out_are_analysed_each_then_aggregated(micro_lips20):
    """The held-out compositions (54 and 32 atoms) are reference groups of their own: each start runs and is
    analysed against its own composition's frames; the row is the mean over both compositions' starts."""
    from egraff.analysis import read_trajectory
    from egraff.jobs import summary_of

    _, leaderboard, root = micro_lips20
    (row,) = leaderboard_rows(leaderboard, root)
    runs = leaderboard_rows(leaderboard, root, "runs.csv")
    assert sorted((r["group"], r["start"]) for r in runs) == [("Li", "0"), ("Li", "1"), ("S", "0"), ("S", "1")]
    for run in runs:
        where = run_directories(leaderboard, root, run)
        reference = read_trajectory(where["reference"] / "reference.extxyz")
        md = summary_of(where["md"])
        assert set(reference.symbols) == {run["group"]} and md["n_atoms"] == {"Li": 54, "S": 32}[run["group"]]
        assert np.isfinite(float(run["wright_factor_all_frames"]))
        assert run["violations"].startswith("the frames do not follow their own forces")  # a random split
    assert row["n_runs"] == "4"
    assert float(row["wright_factor_all_frames"]) == pytest.approx(
        np.mean([float(r["wright_factor_all_frames"]) for r in runs]), rel=1e-12)
    assert row["energy_violation"] == "nan"
    report = (leaderboard.directory(root) / "leaderboard.md").read_text()
    per_composition = report.split("## Per composition", 1)[1]
    for group in ("Li", "S"):  # each composition's own mean ± spread over its two starts
        cells = []
        for key in ("stable_ps", "wright_factor_all_frames"):
            values = [float(r[key]) for r in runs if r["group"] == group]
            cells.append(f"{np.mean(values):.3g} ± {np.std(values, ddof=1):.2g}")
        assert f"| {row['case']} | nequip | {group} | {' | '.join(cells)} |" in per_composition


def test_liquid_cases_compare_diffusion_and_crystal_cases_their_crystallinity(micro):
    _, leaderboard, root, *_ = micro
    for row in leaderboard_rows(leaderboard, root):
        if row["case"].endswith("liquid"):
            assert float(row["diffusion_ref"]) > 0 and float(row["diffusion_model"]) > 0
            assert row["crystalline_fraction"] == "nan"
        else:
            assert float(row["crystalline_fraction_ref"]) > 0.5  # the teacher's diamond stays diamond
            assert row["diffusion_ref"] == "nan"


def test_markdown_table_shows_the_csv_numbers(micro):
    _, leaderboard, root, *_ = micro
    table = (leaderboard.directory(root) / "leaderboard.md").read_text()
    for row in leaderboard_rows(leaderboard, root):
        assert f"| {row['model']} | {row['seed']} | {float(row['energy_mae_per_atom']):.3g} | " \
               f"{float(row['energy_mae_total']):.3g} | {float(row['force_mae']):.3g} |" in table


def test_rerunning_the_plan_does_no_work(micro):
    _, leaderboard, root, *_ = micro
    again = run_jobs([leaderboard], root, workers=0, progress=False)
    assert not any(record["ran"] for record in again.values())


def test_deleting_one_checkpoint_reruns_exactly_the_jobs_downstream_of_it(micro):
    _, leaderboard, root, *_ = micro
    role = next(r for r in leaderboard.deps if r.endswith("|nequip|0|train") and r.startswith("in_distribution"))
    trained = leaderboard.deps[role]
    (trained.directory(root) / "run" / "best_model.pt").unlink()
    # keys, not objects: two cases that train on the same frames share one training job (and its downstream)
    downstream = {job.key for job in graph([leaderboard]) if trained.key in _ancestor_keys(job)} | {trained.key}
    rerun = run_jobs([leaderboard], root, workers=0, progress=False)
    assert {key for key, record in rerun.items() if record["ran"]} == downstream
    assert {record["kind"] for key, record in rerun.items() if key in downstream} == \
        {"train", "export", "evaluate", "md", "analyze", "leaderboard"}


def _ancestor_keys(job) -> set:
    found = set()
    for dep in job.deps.values():
        found |= {dep.key} | _ancestor_keys(dep)
    return found
