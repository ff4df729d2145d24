"""The README's main job (`egraff demo`) runs end to end with the installed console scripts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_demo_reproduces_lj_cut_with_the_plugin(tmp_path):
    egraff = Path(sys.executable).parent / "egraff"
    result = subprocess.run([str(egraff), "demo", "-o", str(tmp_path), "--inputs", str(REPO / "inputs")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = (tmp_path / "report.md").read_text()
    deviation = float(re.search(r"Largest position difference between the two trajectories: \*\*([\d.e+-]+) Å", report)[1])
    assert deviation <= 1e-10
    drifts = re.search(r"total energy drift \(eV\) \| ([\d.e+-]+) \| ([\d.e+-]+)", report)
    assert abs(float(drifts[1])) < 1e-3 and abs(float(drifts[1]) - float(drifts[2])) < 1e-9
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_demo_without_inputs_directory_says_where_to_run(tmp_path):
    egraff = Path(sys.executable).parent / "egraff"
    result = subprocess.run([str(egraff), "demo", "-o", str(tmp_path), "--inputs", str(tmp_path / "nowhere")],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "run the demo from the egraff checkout" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
