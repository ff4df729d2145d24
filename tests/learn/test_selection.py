"""DP-GEN's trust window on a hand-made model-deviation table, the cap, and the convergence criterion."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.learn.selection import class_counts, is_converged, select_candidates, spread, trust_classes

#: DeePMD-kit's model_devi.out layout: step max_devi_v min_devi_v avg_devi_v max_devi_f min_devi_f avg_devi_f
TABLE = """\
#       step         max_devi_v         min_devi_v         avg_devi_v         max_devi_f         min_devi_f         avg_devi_f
           0   0.000000e+00   0.000000e+00   0.000000e+00   0.010000e+00   0.001000e+00   0.005000e+00
          10   0.000000e+00   0.000000e+00   0.000000e+00   0.099999e+00   0.001000e+00   0.005000e+00
          20   0.000000e+00   0.000000e+00   0.000000e+00   0.100000e+00   0.001000e+00   0.005000e+00
          30   0.000000e+00   0.000000e+00   0.000000e+00   0.250000e+00   0.001000e+00   0.005000e+00
          40   0.000000e+00   0.000000e+00   0.000000e+00   0.399999e+00   0.001000e+00   0.005000e+00
          50   0.000000e+00   0.000000e+00   0.000000e+00   0.400000e+00   0.001000e+00   0.005000e+00
          60   0.000000e+00   0.000000e+00   0.000000e+00   3.000000e+00   0.001000e+00   0.005000e+00
          70   0.000000e+00   0.000000e+00   0.000000e+00            nan   0.001000e+00   0.005000e+00
"""
LO, HI = 0.1, 0.4


@pytest.fixture
def max_devi_f(tmp_path):
    path = tmp_path / "model_devi.out"
    path.write_text(TABLE)
    return np.loadtxt(path, ndmin=2)[:, 4]  # the column the loop reads


def test_trust_window_is_lo_inclusive_and_hi_exclusive(max_devi_f):
    # accurate below lo; candidates in [lo, hi); at or above hi, or NaN: failed, never labelled
    assert list(trust_classes(max_devi_f, LO, HI)) == [0, 0, 1, 1, 1, 2, 2, 2]
    assert select_candidates([max_devi_f], LO, HI, cap=10) == [(0, 2), (0, 3), (0, 4)]
    assert class_counts([max_devi_f, max_devi_f[:2]], LO, HI) == {"accurate": 4, "candidate": 3, "failed": 3}


def test_cap_spreads_over_explorations_in_time_order(max_devi_f):
    quiet = np.full(5, 0.01)
    busy = np.full(9, 0.2)  # nine candidates
    chosen = select_candidates([max_devi_f, quiet, busy], LO, HI, cap=4)
    # 12 candidates in time order (3 of run 0, then 9 of run 2): four evenly spaced, first and last kept
    assert chosen == [(0, 2), (2, 1), (2, 4), (2, 8)]
    assert list(spread(12, 4)) == [0, 4, 7, 11] and list(spread(3, 4)) == [0, 1, 2] and list(spread(5, 1)) == [0]
    assert select_candidates([quiet], LO, HI, cap=4) == []


@pytest.mark.parametrize("completed, counts, target, done", [
    (True, {"accurate": 95, "candidate": 4, "failed": 1}, 0.05, True),    # 5 % above lo: at the target
    (True, {"accurate": 94, "candidate": 5, "failed": 1}, 0.05, False),   # 6 %
    (True, {"accurate": 96, "candidate": 0, "failed": 4}, 0.05, True),    # failed frames count as above lo
    (True, {"accurate": 94, "candidate": 0, "failed": 6}, 0.05, False),
    (False, {"accurate": 100, "candidate": 0, "failed": 0}, 0.05, False),  # an exploration stopped early
    (True, {"accurate": 0, "candidate": 0, "failed": 0}, 0.05, False),    # nothing explored: nothing shown
])
def test_convergence_needs_full_runs_and_few_frames_above_lo(completed, counts, target, done):
    assert is_converged(completed, counts, target) is done


def test_frames_at_or_after_the_failure_and_fused_frames_are_never_labelled(tmp_path):
    """An exploration whose watchdog stopped it at step 50, with two atoms fused (0.05 Å) at step 30: of the
    window's candidates (steps 20, 30, 40, 50) only 20 and 40 are selected."""
    import json

    from ase import Atoms

    from egraff.data import read_extxyz, write_extxyz
    from egraff.learn.steps import SELECTED, select_frames

    run = tmp_path / "explore"
    run.mkdir()
    # step 50 (where the watchdog stopped the run) is in the window here: still not a candidate
    (run / "model_devi.out").write_text(TABLE.replace("0.400000e+00", "0.300000e+00"))
    (run / "thermo.csv").write_text("step,time_ps,temperature_K\n" + "".join(f"{s},{s / 1000},300\n" for s in range(0, 80, 10)))
    frames = []
    for step in range(0, 80, 10):
        gap = 0.05 if step == 30 else 2.5
        atoms = Atoms("Ar3", positions=[[1, 1, 1], [1 + gap, 1, 1], [5, 5, 5]], cell=[10, 10, 10], pbc=True)
        atoms.info["step"] = step
        frames.append(atoms)
    write_extxyz(run / "trajectory.extxyz", frames)
    summary = {"label": "ar[0] 300 K seed 0", "status": "failed", "failure_reason": "temperature exploded",
               "failure_step": 50, "time_to_failure_ps": 0.05, "simulated_time_ps": 0.05, "requested_ps": 0.07,
               "temperature_K": 300.0, "timestep_ps": 0.001,
               "files": {"model_devi": "model_devi.out", "thermo": "thermo.csv", "trajectory": "trajectory.extxyz"}}
    (run / "record.json").write_text(json.dumps({"summary": summary}))
    (tmp_path / "select").mkdir()
    result, _ = select_frames({"iteration": 0, "lo": LO, "hi": HI, "halt": None, "max_frames": 10,
                               "fraction_above_lo": 0.05}, {"explore000": run}, tmp_path / "select")
    selected = read_extxyz(tmp_path / "select" / SELECTED)
    assert [atoms.info["step"] for atoms in selected] == [20, 40] and result["n_selected"] == 2
    assert not result["converged"] and result["explorations"][0]["stable_ps"] == 0.05


def test_frames_beyond_the_force_limit_are_labelled_but_not_added(tmp_path):
    """select.max_force: the demo's committee once agreed (max σ_F below hi) on water with a broken molecule, which
    the bonded teacher labelled with a 320 eV/Å force; one such frame dominated the next training's loss."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    from egraff.data import read_extxyz, write_extxyz
    from egraff.learn.steps import ADDED, LABELLED, collect_frames

    inputs = {}
    for n, largest in enumerate([3.0, 320.0, 10.0]):
        atoms = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], cell=[10, 10, 10], pbc=True)
        forces = np.zeros((3, 3))
        forces[1] = [0.0, largest, 0.0]
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0 - n, forces=forces)
        atoms.info.update(exploration="water", step=10 * n)
        inputs[f"frame{n:03d}"] = tmp_path / f"frame{n}"
        inputs[f"frame{n:03d}"].mkdir()
        write_extxyz(inputs[f"frame{n:03d}"] / LABELLED, [atoms])
    (tmp_path / "data").mkdir()
    summary, _ = collect_frames({"iteration": 0, "max_force": 10.0}, inputs, tmp_path / "data")
    added = read_extxyz(tmp_path / "data" / ADDED)
    assert [a.get_potential_energy() for a in added] == [-10.0, -12.0]  # 10 eV/Å is at the limit: kept
    assert summary["n_new"] == 2 and summary["n_frames"] == 2
    assert summary["beyond_max_force"] == [{"exploration": "water", "step": 10, "max_force": 320.0}]
    # no limit: every labelled frame joins
    (tmp_path / "all").mkdir()
    summary, _ = collect_frames({"iteration": 0, "max_force": None}, inputs, tmp_path / "all")
    assert summary["n_new"] == 3 and summary["beyond_max_force"] == []
