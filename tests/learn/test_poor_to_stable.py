"""`egraff learn` repairs a committee that does not know the conditions it is run at, on teacher water.

16 SPC/Fw molecules (damped shifted-force Coulomb, a strictly local teacher). Two small float32 NequIPs are
trained to early stopping on 12 frames at 300 K; explored at 600 K (0.5 ps, Nosé–Hoover, two seeds) they are
halted by their own disagreement within ~0.1 ps. The loop labels the frames in the trust window with the
teacher, retrains (warm start) and explores again until both explorations run their full length. A fresh
exploration from a seed the loop never used then checks the result: the final committee runs it to the end,
iteration 0's is halted again.

The labels are what repairs the model: with every added frame's forces set to zero (a loop that trains longer
on frames it does not learn from) the same loop had not converged after 6 iterations, its held-out error
growing. What this shows is stability as the committee and the watchdog judge it at the explored
temperature; the closing notes of #13 give longer checks. One loop serves both tests (5 iterations, 5 min 45 s
on 2 quiet cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]  # the loop is one fixture: its setup is timed

LEARN = textwrap.dedent("""\
    data:
      train: {teacher: teacher, take: [0, 12]}
      val: {teacher: teacher, take: [48, 60]}
      test: {teacher: teacher, trajectory: true, n: 20}
    training:
      model: {architecture: nequip, preset: tiny, r_max: 4.5, dtype: float32, hyperparameters: {num_features: 16}}
      train: {max_epochs: 150, batch_size: 4, seed: 123, early_stopping_patience: 20,
              early_stopping_monitor: val/force_mae}
      optim: {lr: 0.01, plateau_patience: 5}
    retrain: {train: {max_epochs: 30}, optim: {lr: 0.005}}
    committee: {size: 2}
    explore:
      systems: [{name: water, teacher: teacher, trajectory: true}]
      temperatures: [600]
      seeds: [0, 1]
      protocol: fu-water
      overrides: {steps: 1000, timestep_fs: 0.5, dump_every: 10, check_every: 10}
      watchdog: {bond_check: true}
    trust: {lo: 0.35, hi: 1.2, halt: 2.0}
    select: {max_frames: 20, max_force: 10.0}
    convergence: {max_iterations: 6, fraction_above_lo: 0.1}
    reference: {teacher: water-spcfw, options: {coulomb: dsf}}
    """)
TEMPERATURE = 600.0
FRESH_SEED = 7  # not one of explore.seeds


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    from dataclasses import replace

    from egraff.data.generate import DEFAULT_PROTOCOLS, water

    directory = tmp_path_factory.mktemp("poor-to-stable")
    water(directory / "teacher", n_molecules=16, coulomb="dsf", progress=False,
          protocol=replace(DEFAULT_PROTOCOLS["water"], n_frames=60, trajectory_steps=400))
    (directory / "learn.yaml").write_text(LEARN)
    result = subprocess.run([sys.executable, "-c", "from egraff.cli import app; app()", "learn", "learn.yaml",
                             "-o", "out"], cwd=directory, capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return directory, json.loads((directory / "out" / "summary.json").read_text())


def fresh_exploration(directory, iteration: int, name: str) -> dict:
    """The loop's exploration, from a seed it never used, with iteration ``iteration``'s committee."""
    from egraff.md.plan import single_spec
    from egraff.md.runner import run_simulation
    from egraff.md.systems import SystemSource

    models = directory / "out" / "iterations" / f"{iteration:03d}" / "models"
    spec = single_spec(models / "model_0.pt", SystemSource(name="water", teacher=str(directory / "teacher"),
                                                           trajectory=True),
                       TEMPERATURE, protocol="fu-water", seed=FRESH_SEED, steps=1000, timestep_fs=0.5, dump_every=10,
                       check_every=10, watchdog={"bond_check": True},
                       committee={"members": [str(models / "model_1.pt")], "every": 10, "max_force_deviation": 2.0})
    return run_simulation(spec, directory / name)


def test_the_committee_is_halted_at_600_K_until_the_loop_has_labelled_frames_there(loop):
    _, summary = loop
    first, last = summary["iterations"][0], summary["iterations"][-1]
    assert not first["all_completed"]
    assert all(e["stable_ps"] < e["requested_ps"] and "committee force deviation" in e["failure_reason"]
               for e in first["explorations"] if e["status"] == "failed")
    assert summary["converged"] and len(summary["iterations"]) <= 5
    assert last["all_completed"] and last["fraction_above_lo"] <= 0.1
    added = sum(i["n_labelled"] for i in summary["iterations"][:-1])  # frames over select.max_force not counted
    assert last["n_train"] == first["n_train"] + added > first["n_train"]


def test_a_seed_the_loop_never_used_runs_to_the_end_with_the_final_committee_only(loop):
    directory, summary = loop
    final = fresh_exploration(directory, len(summary["iterations"]) - 1, "final")
    poor = fresh_exploration(directory, 0, "poor")
    assert final["status"] == "completed", final
    assert poor["status"] == "failed" and "committee force deviation" in poor["failure_reason"], poor
