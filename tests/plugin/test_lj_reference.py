"""The LJ deployed model through pair_style egraff reproduces LAMMPS's own lj/cut.

Forces, per-atom energies, per-atom virials and the pressure tensor are compared on the same
configuration in one LAMMPS instance, in every graph mode, for orthogonal and triclinic cells, a box
smaller than twice the cutoff (self-images) and atom IDs with gaps.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import LJ_CUT, compute_atom, compute_global_vector, fcc_binary, lj_cut_commands, new_lammps, per_atom

GEOMETRIES = {
    "orthogonal": dict(cmds=fcc_binary((3, 3, 3))),
    "triclinic": dict(cmds=fcc_binary((3, 3, 3), triclinic=True)),
    # a = 5.4 Å < 2 r_c = 17 Å: every atom sees many images of itself
    "small-fcc-cell": dict(cmds=fcc_binary((1, 1, 1), jitter=0.1)),
    "id-gaps-triclinic": dict(
        cmds=fcc_binary((3, 3, 3), triclinic=True) + ["delete_atoms random count 17 no all NULL 2024 compress no"]
    ),
}

PROBES = [
    "compute pe all pe/atom",
    "compute sv all stress/atom NULL virial",
    "compute pv all pressure NULL virial",
    "thermo_style custom step pe c_pv[*]",
    "run 0",
]


def snapshot(lmp) -> dict[str, np.ndarray]:
    return {
        "f": per_atom(lmp, "f"),
        "pe_atom": compute_atom(lmp, "pe"),
        "virial_atom": compute_atom(lmp, "sv", 6),
        "pressure": compute_global_vector(lmp, "pv"),
        "pe": np.array(lmp.get_thermo("pe")),
    }


def compare(ours, ref):
    assert ours["f"].shape == ref["f"].shape
    assert np.abs(ours["f"] - ref["f"]).max() <= 1e-12
    assert np.abs(ours["pe_atom"] - ref["pe_atom"]).max() <= 1e-12
    assert abs(ours["pe"] - ref["pe"]) <= 1e-10
    scale = np.abs(ref["pressure"]).max()
    assert np.abs(ours["pressure"] - ref["pressure"]).max() <= 1e-10 * scale
    vscale = np.abs(ref["virial_atom"]).max()
    assert np.abs(ours["virial_atom"] - ref["virial_atom"]).max() <= 1e-10 * vscale


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("mode", ["map", "ghost", "ghostmp"])
def test_lj_matches_lj_cut(lj_file, geometry, mode):
    lmp = new_lammps()
    try:
        lmp.commands_list(GEOMETRIES[geometry]["cmds"])
        # ghostmp in the 4-atom cell evaluates ~116 ghost atoms per local atom, over the default limit
        lmp.commands_list([f"pair_style egraff mode {mode} ghost_limit 200", f"pair_coeff * * {lj_file} Ar Kr"]
                          + PROBES)
        ours = snapshot(lmp)
        assert np.abs(ours["f"]).max() > 1e-3, "test configuration has no forces to compare"
        lmp.commands_list(LJ_CUT + ["run 0"])
        compare(ours, snapshot(lmp))
    finally:
        lmp.close()


def test_pair_specific_cutoffs_match_lj_cut(model_dir):
    """Per-type-pair cutoffs from the model metadata (Ar-Ar 6, Kr-Kr 8.5, Ar-Kr 7 Å)."""
    from conftest import write_model
    from egraff.models.reference import ARGON_KRYPTON, lennard_jones

    cut = [[6.0, 7.0], [7.0, 8.5]]
    params = dict(ARGON_KRYPTON, cutoff=cut)
    path = write_model(model_dir, "lj_paircut.pt", lennard_jones, ["Ar", "Kr"], **params)
    lmp = new_lammps()
    try:
        lmp.commands_list(fcc_binary((3, 3, 3), triclinic=True))
        lmp.commands_list(["pair_style egraff", f"pair_coeff * * {path} Ar Kr"] + PROBES)
        ours = snapshot(lmp)
        lmp.commands_list(lj_cut_commands(cutoff=cut) + ["run 0"])
        ref = snapshot(lmp)
        compare(ours, ref)
        # the cutoffs matter: the same model with one 8.5 Å cutoff gives different forces
        lmp.commands_list(LJ_CUT + ["run 0"])
        assert np.abs(snapshot(lmp)["f"] - ours["f"]).max() > 1e-4
    finally:
        lmp.close()


def test_element_order_follows_pair_coeff(lj_file):
    """pair_coeff maps LAMMPS types by name: swapping the names swaps the species."""
    lmp = new_lammps()
    try:
        lmp.commands_list(fcc_binary((2, 2, 2)))
        lmp.commands_list(["pair_style egraff", f"pair_coeff * * {lj_file} Kr Ar"] + PROBES)
        ours = snapshot(lmp)
        lmp.commands_list(lj_cut_commands(type_order=(1, 0)) + ["run 0"])
        compare(ours, snapshot(lmp))
    finally:
        lmp.close()


def test_float32_model_agrees_to_single_precision(model_dir):
    from conftest import write_model
    from egraff.models.reference import ARGON_KRYPTON, lennard_jones

    path = write_model(model_dir, "lj32.pt", lennard_jones, ["Ar", "Kr"], **ARGON_KRYPTON, model_dtype="float32")
    lmp = new_lammps()
    try:
        lmp.commands_list(fcc_binary((3, 3, 3)))
        lmp.commands_list(["pair_style egraff", f"pair_coeff * * {path} Ar Kr"] + PROBES)
        ours = snapshot(lmp)
        lmp.commands_list(LJ_CUT + ["run 0"])
        ref = snapshot(lmp)
        fscale = np.abs(ref["f"]).max()
        err = np.abs(ours["f"] - ref["f"]).max()
        assert 0 < err <= 1e-5 * fscale  # float32 inside: close, but not float64-exact
        assert abs(ours["pe"] - ref["pe"]) <= 1e-5 * abs(ref["pe"])
    finally:
        lmp.close()


NVE = [
    "velocity all create 80.0 8765 loop geom",
    "fix nve all nve",
    "timestep 0.002",
    "thermo_style custom step temp pe ke etotal",
    "neighbor 1.0 bin",
    "neigh_modify every 1 delay 0 check yes",
]


@pytest.mark.parametrize("mode", ["map", "ghost"])
def test_nve_1000_steps_identical_to_lj_cut(model_dir, mode):
    """Same start, 1000 NVE steps with shifted LJ: trajectories agree to 1e-10 Å, and energy is
    conserved (shifted LJ has no energy jump at the cutoff)."""
    from conftest import write_model
    from egraff.models.reference import ARGON_KRYPTON, lennard_jones

    path = write_model(model_dir, "lj_shifted.pt", lennard_jones, ["Ar", "Kr"], **ARGON_KRYPTON, shift=True)
    runs = []
    for pair in ([f"pair_style egraff mode {mode}", f"pair_coeff * * {path} Ar Kr"], LJ_CUT + ["pair_modify shift yes"]):
        lmp = new_lammps()
        try:
            lmp.commands_list(fcc_binary((3, 3, 3), jitter=0.05) + pair + NVE + ["run 0"])
            etot0 = lmp.get_thermo("etotal")
            lmp.command("run 1000")
            runs.append((per_atom(lmp, "x"), per_atom(lmp, "v"), etot0, lmp.get_thermo("etotal")))
        finally:
            lmp.close()
    (x1, v1, e01, e1), (x2, v2, e02, e2) = runs
    assert np.abs(x1 - x2).max() <= 1e-10
    assert np.abs(v1 - v2).max() <= 1e-10
    assert abs(e01 - e02) <= 1e-10 and abs(e1 - e2) <= 1e-9
    assert abs(e1 - e01) < 1e-3, f"total energy drifted {e1 - e01:.2e} eV in 1000 steps"
