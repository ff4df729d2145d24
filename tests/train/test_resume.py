"""A killed `egraff train` resumes where it stopped: kill -9 after some epochs, rerun the same
command, and the run ends with the weights of an uninterrupted run, bit for bit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from train.conftest import base_overrides, metrics

EGRAFF = os.path.join(os.path.dirname(sys.executable), "egraff")
EPOCHS = 10


@pytest.mark.slow  # three `egraff train` processes (two at once): ~25 s of CPU, 50-75 s on a busy 2-core machine
def test_killed_run_resumes_at_its_last_epoch_and_ends_as_an_uninterrupted_run(emt_file, tmp_path):
    # plateau patience 1 makes the scheduler act, AMSGrad and EMA carry state: all must survive the kill
    def command(run):
        return [EGRAFF, "train"] + base_overrides(emt_file, run, **{
            "train.max_epochs": EPOCHS, "optim.plateau_patience": 1, "optim.amsgrad": True})

    run, reference = tmp_path / "run", tmp_path / "reference"
    uninterrupted = subprocess.Popen(command(reference), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = subprocess.Popen(command(run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and killed.poll() is None:
        if (run / "metrics.csv").exists() and len(metrics(run)) >= 3:
            break
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    rows_at_kill = len(metrics(run))
    assert 3 <= rows_at_kill < EPOCHS, "the run finished before it could be killed; make it longer"
    seconds_before = [float(r["seconds"]) for r in metrics(run)]

    rerun = subprocess.run(command(run), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    resumed = re.search(r"resumed at epoch (\d+)", rerun.stdout)
    assert resumed, f"the rerun started from scratch:\n{rerun.stdout}"
    # the metrics row of an epoch is written just before its checkpoint: at most one finished epoch is redone
    first = int(resumed.group(1))
    assert rows_at_kill - 1 <= first <= rows_at_kill
    assert f"trained {EPOCHS} epochs" in rerun.stdout

    rows = metrics(run)
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    seconds = [float(r["seconds"]) for r in rows]
    assert seconds[:first] == seconds_before[:first]  # rows of restored epochs are kept as they were
    assert all(b > a for a, b in zip(seconds, seconds[1:])), seconds  # the wall-time column continues
    # 36 training frames (40 minus 10 % validation) in batches of 4: 9 optimiser steps per epoch, none repeated
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == EPOCHS * 9
    assert not [p for p in run.rglob("*.tmp")]

    out, err = uninterrupted.communicate(timeout=600)
    assert uninterrupted.returncode == 0, err[-2000:]
    assert "resumed" not in out
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in rows] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in metrics(reference)]
    for name in ("final_model.pt", "best_model.pt"):
        ours = torch.load(run / name, weights_only=True)["state_dict"]
        theirs = torch.load(reference / name, weights_only=True)["state_dict"]
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), f"{name}: {key} differs from the uninterrupted run"


def test_a_run_directory_is_trained_by_one_process_at_a_time(emt_file, tmp_path):
    import fcntl

    from egraff.train import ConfigError, load_config, train

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    stale = run / "checkpoints" / ".last.ckpt.x1y2z3.tmp"  # what a kill during a checkpoint write leaves
    stale.write_bytes(b"partial")
    config = load_config(None, base_overrides(emt_file, run, **{"train.max_epochs": 1}))
    with open(run / ".lock", "a") as other:  # another process training there
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ConfigError, match="is being trained by another process"):
            train(config)
        assert stale.exists()  # not touched while another process may be writing it
    train(config)
    assert not stale.exists()


def test_random_states_travel_in_the_checkpoint():
    """What is drawn after a resume is what the uninterrupted run draws (no model draws today; a
    dropout layer would), through a checkpoint loadable with weights_only=True."""
    import io
    import random

    import numpy as np

    from egraff.train.module import ForceFieldModule

    module = ForceFieldModule(torch.nn.Linear(1, 1), {"energy_weight": 1.0, "force_weight": 1.0,
                                                      "stress_weight": 0.0}, {})
    checkpoint = {}
    module.on_save_checkpoint(checkpoint)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    drawn = (torch.rand(3), np.random.rand(3), random.random())
    buffer.seek(0)
    module.on_load_checkpoint(torch.load(buffer, weights_only=True))
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(drawn[0], again[0]) and np.array_equal(drawn[1], again[1]) and drawn[2] == again[2]
