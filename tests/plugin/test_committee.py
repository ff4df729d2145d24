"""A committee of models inside pair_style egraff: the model deviation LAMMPS reports (thermo through
`compute pair`, per-atom through `fix pair`, DeePMD-kit's model-deviation file) equals the same
statistics computed here with numpy from each file's own forces, in every graph mode, on 1 and 2
ranks; `drive mean` moves the atoms with the members' mean; `fix halt` stops a run on it.

Committees of reference models with different parameters, so that every deviation is non-trivial
and exactly computable: three Lennard-Jones files (strictly local), three two-layer message-passing
files, and a mixed one with different cutoffs and receptive fields on one graph (LJ r_c 8.5 Å, one
layer; message passing r_max 6 Å, two layers, so a receptive field of 12 Å that the ghost shell of
member 0 alone would not cover; a model without a cutoff of its own and per-pair cutoffs 4.5-6 Å,
which counts every edge it is given).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from ase.stress import voigt_6_to_full_3x3_stress

from egraff.deploy import EGraFFCalculator
from egraff.lammps_adaptor import LammpsBox
from egraff.models.reference import ARGON_KRYPTON, lennard_jones, message_passing_toy

from .test_edge_set import edge_counter
from conftest import assert_lammps_error, fcc_binary, lammps_error, new_lammps, read_dump, run_lmp, thermo_rows, write_model

SYSTEM = fcc_binary((4, 4, 4), triclinic=True)  # 256 atoms, ~21.6 Å box
MD = ["velocity all create 300.0 5151 loop geom", "fix nve all nve", "timestep 0.002", "neighbor 1.0 bin",
      "neigh_modify every 1 delay 0 check yes"]
# pvector order (README): compute pair egraff gives c_ID[1..10]
PVECTOR = ("max_devi_f", "min_devi_f", "avg_devi_f", "max_devi_v", "min_devi_v", "avg_devi_v", "devi_e",
           "max_devi_ae", "min_devi_ae", "avg_devi_ae")
FILE_COLUMNS = ("step", "max_devi_v", "min_devi_v", "avg_devi_v", "max_devi_f", "min_devi_f", "avg_devi_f", "devi_e")
CALCULATOR_NAMES = dict(
    max_devi_f="max_force_deviation", min_devi_f="min_force_deviation", avg_devi_f="avg_force_deviation",
    max_devi_v="max_virial_deviation", min_devi_v="min_virial_deviation", avg_devi_v="avg_virial_deviation",
    devi_e="total_energy_deviation", max_devi_ae="max_energy_deviation", min_devi_ae="min_energy_deviation",
    avg_devi_ae="avg_energy_deviation")


def scaled_lj(scale_eps: float, scale_sigma: float):
    params = dict(ARGON_KRYPTON, epsilon=(np.array(ARGON_KRYPTON["epsilon"]) * scale_eps).tolist(),
                  sigma=(np.array(ARGON_KRYPTON["sigma"]) * scale_sigma).tolist())
    return lennard_jones(["Ar", "Kr"], **params)


@pytest.fixture(scope="module")
def committees(model_dir):
    lj = [write_model(model_dir, f"lj_c{k}.pt", lambda k=k: scaled_lj(*s))
          for k, s in enumerate([(1.0, 1.0), (1.04, 0.99), (0.95, 1.012)])]
    mp = [write_model(model_dir, f"mp_c{k}.pt", message_passing_toy, ["Ar", "Kr"], r_max=5.0, **p)
          for k, p in enumerate([{}, dict(gamma=0.45, beta=0.33), dict(gamma=0.56, alpha=[1.1, 1.2])])]
    wide = write_model(model_dir, "mp_wide.pt", message_passing_toy, ["Ar", "Kr"], r_max=6.0, gamma=0.45)
    counter = write_model(model_dir, "counter_c.pt", edge_counter, (4.5, 5.0, 5.0, 6.0))
    return {"lj": lj, "mp2": mp, "mixed": [lj[0], wide, counter]}


@pytest.fixture(scope="module")
def box():
    lmp = new_lammps()
    try:
        lmp.commands_list(SYSTEM)
        return LammpsBox.from_session(lmp)
    finally:
        lmp.close()


def committee_script(files, *, style="", runs=(5, 5), every=5, extra=(), system=SYSTEM, md=MD, per_atom=True):
    """Two runs by default: the second one's setup repeats the first one's last step. `per_atom`:
    fix pair's per-atom deviations in the dumps (LAMMPS >= 15 Sep 2022)."""
    lines = system + [
        f"pair_style egraff {style} committee {' '.join(str(f) for f in files[1:])} every {every} out_file devi.out",
        f"pair_coeff * * {files[0]} Ar Kr",
        "compute dev all pair egraff",
        *([f"fix atomdevi all pair {every} egraff devi_f 0 devi_e 0"] if per_atom else []),
        *md,
        *extra,
        f"dump frames all custom {every} frame.*.dump id type x y z fx fy fz"
        + (" f_atomdevi[1] f_atomdevi[2]" if per_atom else ""),
        "dump_modify frames sort id format float %.17g",
        "thermo_style custom step pe " + " ".join(f"c_dev[{q + 1}]" for q in range(len(PVECTOR))),
        "thermo_modify format float %.17g",
        f"thermo {every}",
        *(f"run {steps}" for steps in runs),
    ]
    return "\n".join(lines) + "\n"


def frame_atoms(frame, box):
    import ase

    positions = np.stack([frame["x"], frame["y"], frame["z"]], axis=1) - box.origin
    return ase.Atoms(["Ar" if t == 1 else "Kr" for t in frame["type"]], positions=positions, cell=box.cell, pbc=True)


def reference_deviation(files, atoms):
    """Each file's energies, forces and virial from its own calculator; the statistics in numpy."""
    energies, forces, virials = [], [], []
    for path in files:
        atoms.calc = EGraFFCalculator(path)
        forces.append(atoms.get_forces())
        energies.append(atoms.get_potential_energies())
        virials.append(-voigt_6_to_full_3x3_stress(atoms.get_stress()) * atoms.get_volume())
    energies, forces, virials = np.array(energies), np.array(forces), np.array(virials)
    n = len(atoms)
    sigma_f = np.sqrt(np.mean(np.sum((forces - forces.mean(axis=0)) ** 2, axis=-1), axis=0))
    sigma_e = np.std(energies, axis=0)
    sigma_v = np.std(virials.reshape(len(files), 9) / n, axis=0)
    stats = dict(max_devi_f=sigma_f.max(), min_devi_f=sigma_f.min(), avg_devi_f=sigma_f.mean(),
                 max_devi_v=sigma_v.max(), min_devi_v=sigma_v.min(), avg_devi_v=np.sqrt(np.mean(sigma_v ** 2)),
                 devi_e=np.std(energies.sum(axis=1) / n),
                 max_devi_ae=sigma_e.max(), min_devi_ae=sigma_e.min(), avg_devi_ae=sigma_e.mean())
    return stats, sigma_f, sigma_e, forces


def read_deviation_file(path):
    """Header and rows, the rows read as DP-GEN reads them (numpy.loadtxt)."""
    return path.read_text().splitlines()[0].lstrip("#").split(), np.loadtxt(path, ndmin=2)


RUNS = [
    ("lj", "ghost", 1, "first"),
    pytest.param("lj", "ghost", 2, "first", marks=pytest.mark.mpi),
    ("mp2", "map", 1, "first"),
    ("mp2", "ghostmp", 1, "mean"),
    pytest.param("mp2", "ghostmp", 2, "mean", marks=pytest.mark.mpi),
    ("mixed", "map", 1, "mean"),
    pytest.param("mixed", "ghostmp", 2, "first", marks=pytest.mark.mpi),
]


def assert_deviation_equals_numpy(result, files, box, tmp_path, drive, per_atom=True):
    """A committee_script run with `every 5` over 5 + 5 steps: at each deviation step the file's row,
    thermo's c_dev[*] and (per_atom) fix pair's columns equal numpy's statistics of each file's own
    forces on the dumped frame; the dumped forces are the driving ones; the ASE committee
    calculator on the same files agrees."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    header, rows = read_deviation_file(tmp_path / "devi.out")
    assert header == list(FILE_COLUMNS)
    assert rows[:, 0].tolist() == [0, 5, 10]  # `every 5`: exactly these steps, once each
    thermo = {int(row[0]): np.array(row[2:]) for row in thermo_rows(result.stdout)}
    assert sorted(thermo) == [0, 5, 10]
    committee_calc = EGraFFCalculator(files, drive=drive)
    for row in rows:
        step = int(row[0])
        frame = read_dump(tmp_path / f"frame.{step}.dump")
        atoms = frame_atoms(frame, box)
        stats, sigma_f, sigma_e, forces = reference_deviation(files, atoms)
        assert min(stats.values()) > 1e-7  # every statistic is non-trivial
        assert np.abs(row[1:] - [stats[c] for c in FILE_COLUMNS[1:]]).max() <= 1e-10, step
        assert np.abs(thermo[step] - [stats[c] for c in PVECTOR]).max() <= 1e-10, step
        if per_atom:
            assert np.abs(frame["f_atomdevi[1]"] - sigma_f).max() <= 1e-10
            assert np.abs(frame["f_atomdevi[2]"] - sigma_e).max() <= 1e-10
        # the dynamics: the first file's forces, or the members' mean
        drive_forces = forces.mean(axis=0) if drive == "mean" else forces[0]
        assert np.abs(np.stack([frame["fx"], frame["fy"], frame["fz"]], axis=1) - drive_forces).max() <= 1e-10
        # the ASE calculator on the same files gives the same quantities
        atoms.calc = committee_calc
        assert np.abs(atoms.get_forces() - drive_forces).max() <= 1e-10
        assert np.abs(committee_calc.results["force_deviation"] - sigma_f).max() <= 1e-10
        assert np.abs(committee_calc.results["energy_deviation"] - sigma_e).max() <= 1e-10
        assert max(abs(committee_calc.results[CALCULATOR_NAMES[c]] - v) for c, v in zip(PVECTOR, thermo[step])) <= 1e-10


@pytest.mark.parametrize("committee, mode, nprocs, drive", RUNS)
def test_deviation_equals_numpy_statistics_of_each_files_forces(committees, box, tmp_path, committee, mode, nprocs,
                                                                drive):
    files = committees[committee]
    result = run_lmp(committee_script(files, style=f"mode {mode} drive {drive}"), tmp_path, nprocs=nprocs)
    assert_deviation_equals_numpy(result, files, box, tmp_path, drive)
    assert f"mode {mode}" in result.stdout


def test_fix_halt_stops_at_the_first_step_past_the_threshold(committees, box, tmp_path):
    """Run 1 dumps every step of a perfect lattice heating up (max sigma_F grows); numpy's max
    sigma_F of the frames picks a threshold first passed at step s; run 2, with `fix halt` on
    c_dev[1], must stop at step s."""
    files = committees["lj"]
    lattice = fcc_binary((4, 4, 4), triclinic=True, jitter=0.0)
    md = ["velocity all create 600.0 5151 loop geom", *MD[1:]]
    free = tmp_path / "free"
    free.mkdir()
    result = run_lmp(committee_script(files, runs=[20], every=1, system=lattice, md=md), free)
    assert result.returncode == 0, result.stdout[-3000:]
    sigma = np.array([reference_deviation(files, frame_atoms(read_dump(free / f"frame.{s}.dump"), box))[0]["max_devi_f"]
                      for s in range(21)])
    record = [s for s in range(8, 21) if sigma[s] > sigma[:s].max()]
    assert record, f"max sigma_F never sets a new record after step 8: {sigma}"
    stop = record[0]
    threshold = float(0.5 * (sigma[:stop].max() + sigma[stop]))
    halted = tmp_path / "halted"
    halted.mkdir()
    result = run_lmp(committee_script(files, runs=[20], every=1, system=lattice, md=md, extra=[
        "variable max_sigma_f equal c_dev[1]",
        f"fix stop all halt 1 v_max_sigma_f > {threshold!r} error continue"]), halted)
    assert result.returncode == 0, result.stdout[-3000:]
    assert int(re.search(r"condition.* met on step (\d+)", result.stdout).group(1)) == stop
    assert int(re.search(r"Loop time of \S+ on \d+ procs for (\d+) steps", result.stdout).group(1)) == stop


@pytest.fixture(scope="module")
def other_elements(model_dir):
    return write_model(model_dir, "lj_ar_ne.pt", lennard_jones, ["Ar", "Ne"], **ARGON_KRYPTON)


BAD_INPUTS = [
    ("committee {other} out_file {kept}", "'{other}' is for the elements 'Ar Ne', but the pair_coeff model '{m0}' is "
                                          "for 'Ar Kr'; every committee member must have the same type_names"),
    ("committee {m1} {tmp}/missing.pt out_file {kept}", "cannot open model file '{tmp}/missing.pt'"),
    ("committee {m1} every 0 out_file {kept}", "every must be a whole number of steps >= 1, got '0'"),
    ("committee {m1} drive median out_file {kept}", "unknown drive 'median'; use first"),
    ("committee {m1} out_file {tmp}/no/dir/devi.out", "cannot write the model-deviation file '{tmp}/no/dir/devi.out': "
                                                      "its directory '{tmp}/no/dir' does not exist"),
    ("committee {m1} out_file {tmp}", "cannot write the model-deviation file '{tmp}': it is a directory"),
    ("committee", "'committee' needs at least one model file after it"),
    ("committee out_file {kept}", "'committee' needs at least one model file after it"),
    ("every 5 out_file {kept}", "keyword 'every' is for a committee of models; add 'committee m1.pt ...'"),
    ("committee {m1} {m0} out_file {kept}", "'{m0}' is given twice"),
    ("mode ghost committee {mp} out_file {kept}", "mode ghost is exact only for strictly local models, and '{mp}' "
                                                  "has num_layers = 2"),
]


@pytest.mark.parametrize("style, message", BAD_INPUTS)
def test_bad_committee_input_is_one_clear_error_and_loses_nothing(committees, other_elements, tmp_path, style,
                                                                  message):
    kept = tmp_path / "devi.out"
    kept.write_text("an earlier run's deviations\n")
    names = dict(m0=committees["lj"][0], m1=committees["lj"][1], mp=committees["mp2"][1], other=other_elements,
                 tmp=tmp_path, kept=kept)
    error = lammps_error(SYSTEM + [f"pair_style egraff {style.format(**names)}", f"pair_coeff * * {names['m0']} Ar Kr",
                                   "run 0"])
    assert message.format(**names) in error
    assert kept.read_text() == "an earlier run's deviations\n"


def test_fix_pair_on_steps_without_a_deviation_is_refused(committees, tmp_path):
    files = committees["lj"]
    result = run_lmp("\n".join(SYSTEM + [
        f"pair_style egraff committee {files[1]} every 4", f"pair_coeff * * {files[0]} Ar Kr",
        "fix atomdevi all pair 2 egraff devi_f 0", *MD, "run 4"]) + "\n", tmp_path)
    assert_lammps_error(result, "the per-atom model deviation 'devi_f' is read at step 2, but the committee "
                                "deviation is taken every 4 steps; give fix pair an N that is a multiple of 4")
