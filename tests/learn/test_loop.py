"""`egraff learn` end to end on silicon: two iterations that label frames with an external command (the
Stillinger–Weber teacher behind a script), killed with SIGKILL in the middle of its labelling and rerun.

One run serves every test here (~30 s on a busy core): tiny NequIP committee of 2, 40 MD steps."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

#: the reference as a cluster code: reads {input}, writes {output}; logs each call; KILL_ON_CALL=n kills
#: the egraff process (its parent) with SIGKILL on the n-th call, in the middle of a label job
LABEL_PROGRAM = textwrap.dedent("""\
    import os, signal, sys, time
    from egraff.data import read_extxyz, write_extxyz
    from egraff.data.teacher import TEACHERS
    calls = os.environ["LABEL_CALLS"]
    with open(calls, "a") as log:
        log.write("call\\n")
    if len(open(calls).read().split()) == int(os.environ.get("KILL_ON_CALL", 0)):
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(60)  # killed with the parent (PR_SET_PDEATHSIG)
    write_extxyz(sys.argv[2], TEACHERS["silicon-sw"]().label(read_extxyz(sys.argv[1])))
""")
# every explored frame is a candidate (so the loop labels max_frames of them); iteration 1 warm-starts
# from iteration 0 and, with a vanishing learning rate, keeps its weights
OVERRIDES = ["trust.lo=1e-6", "trust.hi=1e6", "reference.teacher=null", "retrain.train.max_epochs=1",
             "retrain.optim.lr=1e-12"]


def learn(directory, env, overrides=()):
    command = [sys.executable, "-c", "from egraff.cli import app; app()", "learn", "learn.yaml", "-o", "out",
               f"reference.command=[{sys.executable}, {directory / 'label.py'}, '{{input}}', '{{output}}']",
               *OVERRIDES, *overrides]
    return subprocess.run(command, cwd=directory, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


@pytest.fixture(scope="module")
def loop_run(silicon_dir, tmp_path_factory):
    directory = tmp_path_factory.mktemp("learn")
    for name in ("si.extxyz", "start.extxyz", "learn.yaml"):
        shutil.copy(silicon_dir / name, directory / name)
    (directory / "label.py").write_text(LABEL_PROGRAM)
    calls = directory / "calls.log"
    killed = learn(directory, {"LABEL_CALLS": str(calls), "KILL_ON_CALL": "2"})
    journal = (directory / "out" / "jobs" / "journal.jsonl").read_text().splitlines()
    calls_before = len(calls.read_text().split())
    resumed = learn(directory, {"LABEL_CALLS": str(calls)})
    events = [json.loads(line) for line in (directory / "out" / "jobs" / "journal.jsonl").read_text().splitlines()]
    return {"directory": directory, "out": directory / "out", "killed": killed, "resumed": resumed,
            "first": events[:len(journal)], "second": events[len(journal):], "calls_before": calls_before,
            "calls": len(calls.read_text().split())}


def test_killed_loop_resumes_without_redoing_finished_jobs(loop_run):
    killed, resumed = loop_run["killed"], loop_run["resumed"]
    assert killed.returncode == -9, killed.stderr
    # not converged (every frame is above lo), so exit status 1 with the one-line reason
    assert resumed.returncode == 1 and "not converged after 2 iteration(s)" in resumed.stderr, resumed.stderr
    finished = {e["key"] for e in loop_run["first"] if e["event"] == "finish"}
    in_progress = {e["key"] for e in loop_run["first"] if e["event"] == "start"} - finished
    started_again = {e["key"] for e in loop_run["second"] if e["event"] == "start"}
    kinds = {e["key"]: e["kind"] for e in loop_run["first"]}
    assert finished and {kinds[k] for k in finished} >= {"learn_train", "export", "learn_explore", "learn_select",
                                                         "learn_label"}
    assert not finished & started_again  # nothing finished ran again
    assert [kinds[k] for k in in_progress] == ["learn_label"] and in_progress <= started_again
    # the reference ran once for the finished label, once killed, then once per remaining frame (2 per iteration 0)
    assert loop_run["calls_before"] == 2 and loop_run["calls"] == 3


def test_two_iterations_add_the_reference_labels_and_warm_start(loop_run):
    from ase.io import read

    from egraff.data import read_extxyz
    from egraff.data.teacher import TEACHERS
    from egraff.deploy.calculator import EGraFFCalculator

    out = loop_run["out"]
    added = read_extxyz(out / "iterations" / "000" / "data" / "added.extxyz")
    assert len(added) == 2 and all(a.info["iteration"] == 0 for a in added)
    expected = TEACHERS["silicon-sw"]().label([a.copy() for a in added])
    for frame, reference in zip(added, expected):
        assert frame.get_potential_energy() == pytest.approx(reference.get_potential_energy(), rel=1e-12)
        np.testing.assert_allclose(frame.get_forces(), reference.get_forces(), rtol=1e-10, atol=1e-12)
    records = {int(e["label"].split()[1]): e["key"] for e in loop_run["first"] + loop_run["second"]
               if e["kind"] == "learn_train" and e["label"].endswith("model 0")}
    summaries = {i: json.loads(next((out / "jobs" / "learn_train").glob(f"{key}*/record.json")).read_text())["summary"]
                 for i, key in records.items()}
    assert summaries[0]["n_added"] == 0 and not summaries[0]["warm_start"]
    assert summaries[1]["n_added"] == 2 and summaries[1]["warm_start"]
    assert summaries[1]["n_train"] == summaries[0]["n_train"] + 2
    # warm start: iteration 1's model 0 starts from iteration 0's and (lr 1e-12) stays there
    frames = read(loop_run["directory"] / "si.extxyz", ":3")
    models = [EGraFFCalculator(str(out / "iterations" / f"00{i}" / "models" / "model_0.pt")) for i in (0, 1)]
    for atoms in frames:  # each model called three times in a row
        first, second = (m.get_potential_energy(atoms.copy()) for m in models)
        assert second == pytest.approx(first, rel=1e-9, abs=1e-9)


def test_iteration_reports(loop_run):
    out = loop_run["out"]
    for i in (0, 1):
        selection = json.loads((out / "iterations" / f"00{i}" / "selection" / "selection.json").read_text())
        (exploration,) = selection["explorations"]
        assert selection["iteration"] == i and exploration["status"] == "completed"
        assert exploration["counts"]["candidate"] == 5 and selection["n_selected"] == 2  # 40 steps, dumped every 10
        assert (out / "iterations" / f"00{i}" / "selection" / "deviation.png").stat().st_size > 1000
        page = (out / "iterations" / f"00{i}" / "selection" / "iteration.html").read_text()
        assert "si[0] 600 K seed 0" in page and "src='deviation.png'" in page and "2 frame(s) selected" in page
        trace = np.loadtxt(out / "iterations" / f"00{i}" / "explore" / "000" / "model_devi.out", ndmin=2)
        assert exploration["max_devi_f"] == pytest.approx(trace[:, 4].max()) and trace[:, 4].max() > 0
    summary = json.loads((out / "summary.json").read_text())
    assert [s["n_labelled"] for s in summary["iterations"]] == [2, 0] and not summary["converged"]
    assert (out / "report.html").is_file() and (out / "deviation_traces.png").is_file()


def test_bad_outcomes_are_one_sentence_and_lose_nothing(loop_run):
    """A reference that fails, and an iteration with nothing in the trust window, on the finished loop: exit 2,
    one sentence naming the frame or the keys to change, and every finished job still there."""
    directory, jobs = loop_run["directory"], loop_run["out"] / "jobs"
    records = sorted(jobs.glob("*/*/record.json"))
    failing = learn(directory, {"LABEL_CALLS": str(directory / "calls.log")},
                    ["convergence.max_iterations=3", f"reference.command=[{sys.executable}, -c, 'raise SystemExit(\"SCF "
                                                     "did not converge\")', '{input}', '{output}']"])
    assert failing.returncode == 2, failing.stderr
    (line,) = failing.stderr.strip().splitlines()
    assert re.fullmatch(r"error: the reference command `.*` failed \(exit status 1\) on the frame of exploration "
                        r"si\[0\] 600 K seed 0 at step \d+ \(iteration \d, selected frame \d\): SCF did not converge", line)
    empty = learn(directory, {"LABEL_CALLS": str(directory / "calls.log")}, ["trust.lo=1e-6", "trust.hi=1e-5"])
    assert empty.returncode == 2, empty.stderr
    (line,) = empty.stderr.strip().splitlines()
    assert line.startswith("error: iteration 0 selected no frame to label: of its 5 explored frames 0 have a force "
                           "deviation below trust.lo = 1e-06 eV/Å and 5 at or above trust.hi = 1e-05 eV/Å") \
        and "raise trust.hi" in line
    assert all(path.is_file() for path in records)


@pytest.mark.parametrize("change, phrase", [
    ({"r_max": 5.0}, "has r_max 4.0 but the config gives 5.0"),
    ({"hyperparameters": {"num_features": 12}}, "has hyperparameters.num_features 8 but the config gives 12"),
    ({"architecture": "allegro"}, "has architecture 'nequip' but the config gives 'allegro'"),
])
def test_warm_start_refuses_another_network(loop_run, change, phrase):
    from egraff.config import ConfigError
    from egraff.models import hyperparameters
    from egraff.train.engine import initial_model

    (checkpoint, *_) = sorted((loop_run["out"] / "jobs" / "learn_train").glob("*/run/best_model.pt"))
    m = {"architecture": "nequip", "preset": "tiny", "r_max": 4.0, "dtype": "float64", "hyperparameters": {},
         "initial_weights": str(checkpoint), **change}
    expected = hyperparameters(m["architecture"], m["preset"], zbl=False, **m["hyperparameters"])
    with pytest.raises(ConfigError, match=rf"^model\.initial_weights = '.*best_model\.pt' {re.escape(phrase)}; start "):
        initial_model(m, ["Si"], expected)
    assert initial_model({**m, **{"r_max": 4.0, "architecture": "nequip", "hyperparameters": {}}}, ["Si"],
                         hyperparameters("nequip", "tiny", zbl=False)) is not None


def test_a_halted_exploration_fails_and_is_reported(loop_run):
    """trust.halt below the committee's deviation: the exploration stops at its first check and the report says so
    (run last: it republishes the report)."""
    out = loop_run["out"]
    halted = learn(loop_run["directory"], {"LABEL_CALLS": str(loop_run["directory"] / "calls.log")},
                   ["trust.lo=1e-6", "trust.hi=1e-5", "trust.halt=1e-5", "convergence.max_iterations=1"])
    assert halted.returncode == 1 and "not converged after 1 iteration(s)" in halted.stderr, halted.stderr
    (exploration,) = json.loads((out / "iterations" / "000" / "selection" / "selection.json").read_text())["explorations"]
    assert exploration["status"] == "failed" and exploration["stable_ps"] == pytest.approx(0.01)  # step 10 of 1 fs
    assert exploration["failure_reason"].startswith("committee force deviation ")
    report = (out / "report.md").read_text()
    assert "Explorations that stopped early: iteration 0, si[0] 600 K seed 0: committee force deviation" in report
    assert "(first_failure.png)" in report and (out / "first_failure.png").is_file()
