"""One exit-status convention for every egraff command (egraff.exits): 2 for bad input or usage, 1 for a failure
while running, and always one line on stderr instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EGRAFF = Path(sys.executable).parent / "egraff"


def egraff(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(EGRAFF), *args], capture_output=True, text=True, timeout=180, cwd=cwd,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args, status, phrase", [
    (["train", "data=x.xyz", "train.max_epochs=1.7"], 2, "error: train.max_epochs = 1.7: expected an integer"),
    (["export", "nowhere.pt", "-o", "model.pt"], 2, "error: checkpoint nowhere.pt does not exist"),
    (["reference-model", "lj", "-o", "lj.pt", "--dtype", "float16"], 2, "model_dtype must be float32 or float64"),
    (["benchmark", "--preset", "smoke", "--check", "seeds=1"], 2, "error: seeds = 1: expected a list"),
])
def test_bad_input_exits_2_with_one_line(args, status, phrase, tmp_path):
    result = egraff(*args, cwd=tmp_path)
    assert result.returncode == status, result.stderr[-1000:]
    assert phrase in result.stderr and "Traceback" not in result.stderr


def test_a_failure_while_running_exits_1(lj_file, tmp_path):
    plan = tmp_path / "plan.toml"
    structure = tmp_path / "fcc.xyz"
    from ase.build import bulk

    bulk("Ar", "fcc", a=5.4, cubic=True).write(structure)
    plan.write_text(f'models = ["{lj_file}"]\ntemperatures = [30]\n[[systems]]\nname = "fcc"\nfile = "{structure}"\n')
    result = egraff("md", "run", str(plan), "--root", str(tmp_path / "runs"), "--scheduler", "tcp://127.0.0.1:9",
                    "--no-progress", env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"})
    assert result.returncode == 1, result.stderr[-1000:]
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr
