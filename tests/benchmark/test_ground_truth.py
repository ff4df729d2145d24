"""EV/FV against a ground-truth trajectory, through the benchmark's own jobs, on a trajectory made by a classical
potential: an argon cluster run in NVE (velocity Verlet) by a Lennard-Jones model plays the ab initio
reference. The reference job measures its frame interval from the frames alone and starts the model's NVE run
with central-difference velocities; the analyze job's EV/FV are recomputed here by hand from the files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from egraff.benchmark.steps import analyze_run, prepare_reference, run_model_md, run_model_nve_from_reference
from egraff.jobs import Job, job_step, run_jobs, summary_of

TIMESTEP_FS = 4.0
FRAMES = 60


@job_step("given_model")
def given_model(spec: dict, inputs: dict, directory):
    """A deployed file as the benchmark's export job leaves it (``model.pt``)."""
    shutil.copy(spec["file"], directory / "model.pt")
    return {}, ["model.pt"]


def lj_model(directory, epsilon_factor: float):
    from egraff.deploy import save_deployed
    from egraff.models.reference import ARGON_KRYPTON, lennard_jones

    epsilon = (np.array(ARGON_KRYPTON["epsilon"]) * epsilon_factor).tolist()
    model, meta = lennard_jones(["Ar", "Kr"], epsilon, ARGON_KRYPTON["sigma"], ARGON_KRYPTON["cutoff"])
    return save_deployed(model, directory / f"lj-{epsilon_factor}.pt", meta)


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    """A 13-atom argon icosahedron at about 40 K: every velocity-Verlet step of the LJ model a frame, with its
    energy and forces; the true velocities kept aside."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.cluster import Icosahedron
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
    from ase.md.verlet import VelocityVerlet
    from ase.units import fs

    from egraff.data import write_extxyz
    from egraff.deploy import EGraFFCalculator

    directory = tmp_path_factory.mktemp("ground-truth")
    exact = lj_model(directory, 1.0)
    atoms = Icosahedron("Ar", noshells=2)
    atoms.set_cell([20.0] * 3)
    atoms.center()
    atoms.pbc = False
    MaxwellBoltzmannDistribution(atoms, temperature_K=80.0, rng=np.random.default_rng(7))
    Stationary(atoms)
    ZeroRotation(atoms)
    atoms.calc = EGraFFCalculator(exact)
    dynamics = VelocityVerlet(atoms, timestep=TIMESTEP_FS * fs)
    frames, velocities = [], []
    for _ in range(FRAMES):
        frame = atoms.copy()
        frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        frames.append(frame)
        velocities.append(atoms.get_velocities())
        dynamics.run(1)
    for frame in frames:
        del frame.arrays["momenta"]  # a dataset stores positions, energies and forces only
    write_extxyz(directory / "truth.extxyz", frames)
    shuffled = [frames[k] for k in np.random.default_rng(1).permutation(FRAMES)]
    write_extxyz(directory / "shuffled.extxyz", shuffled)
    return directory, exact, np.array(velocities)


def comparison(directory, truth_file, model_file, start_every: int = 20):
    source = {"file": str(truth_file)}
    reference = Job(prepare_reference, {"frames": [source], "starts": 2, "start_every": start_every})
    model = Job(given_model, {"file": str(model_file)})
    where = {"model": model, "reference": reference}
    md = Job(run_model_md, {"start": 1, "system": "argon", "temperature": 40.0, "protocol": "nve",
                            "overrides": {"steps": 20, "dump_every": 5, "check_every": 5, "timestep_fs": TIMESTEP_FS,
                                          "initial_frames": 2}, "seed": 0}, where)
    nve = Job(run_model_nve_from_reference, {"start": 1, "system": "argon", "temperature": 40.0, "length_ps": 0.1},
              where)
    analyzed = Job(analyze_run, {"reference": [source], "bond_criterion": False, "rdf_criterion": False},
                   {"md": md, "nve": nve, **where})
    run_jobs([analyzed], directory / "jobs", workers=0, progress=False)
    return (summary_of(reference.directory(directory / "jobs")), nve.directory(directory / "jobs"),
            summary_of(analyzed.directory(directory / "jobs")))


def by_hand(nve_directory, truth_file):
    """EV, FV per frame, from the files with ASE's reader: ‖Ê − E‖ / (‖Ê‖ + ‖E‖) frame by frame, geometric means."""
    import ase.io

    run = summary_of(nve_directory)
    first, stop = run["reference_frames"]
    model = ase.io.read(nve_directory / run["trajectory"], index=":")
    reference = ase.io.read(truth_file, index=f"{first}:{stop}")
    assert len(model) == len(reference) == stop - first
    ev, fv = [], []
    for ours, theirs in zip(model, reference):
        e, e_ref = ours.get_potential_energy(), theirs.get_potential_energy()
        f, f_ref = ours.get_forces(), theirs.get_forces()
        ev.append(abs(e - e_ref) / (abs(e) + abs(e_ref)))
        fv.append(np.linalg.norm(f - f_ref) / (np.linalg.norm(f) + np.linalg.norm(f_ref)))
    return np.array(ev), np.array(fv), first


def geometric_mean(values) -> float:
    return 0.0 if np.any(values == 0) else float(np.exp(np.mean(np.log(values))))


def test_the_frame_interval_and_velocities_come_from_the_frames(truth, tmp_path):
    directory, exact, velocities = truth
    from egraff.analysis.metrics import finite_difference_velocities, frame_interval
    from egraff.data.formats import read_extxyz
    from egraff.units import velocities_from_ase

    frames = read_extxyz(directory / "truth.extxyz")
    measured = frame_interval(frames)
    # velocity Verlet's positions obey x(t+τ) − 2x(t) + x(t−τ) = F(t)/m·τ² exactly (up to ASE's CODATA time unit
    # against LAMMPS's metal constants, 3e-8 apart)
    assert measured.resolved and measured.correlation == pytest.approx(1.0, abs=1e-9)
    assert measured.interval_ps * 1000 == pytest.approx(TIMESTEP_FS, rel=1e-7)
    # central differences of a velocity-Verlet trajectory are its velocities, exactly (ends: one-sided, 2nd order)
    estimated = finite_difference_velocities(frames, measured.interval_ps)
    true = velocities_from_ase(velocities)
    scale = np.abs(true).max()
    assert np.abs(estimated - true)[1:-1].max() < 1e-6 * scale
    assert np.abs(estimated - true)[[0, -1]].max() < 0.05 * scale
    samples = frame_interval(read_extxyz(directory / "shuffled.extxyz"))
    assert not samples.resolved and "do not follow their own forces" in samples.reason


def test_ev_fv_against_the_trajectory_recomputed_by_hand(truth, tmp_path):
    directory, exact, _ = truth
    reference, nve, metrics = comparison(tmp_path, directory / "truth.extxyz", lj_model(tmp_path, 1.25))
    assert reference["ground_truth"] and reference["starts"] == [0, 20]
    ev, fv, first = by_hand(nve, directory / "truth.extxyz")
    assert first == 20 and len(fv) == 26  # 0.1 ps of 4 fs frames
    assert metrics["energy_violation"] == pytest.approx(geometric_mean(ev), rel=1e-10)
    assert metrics["force_violation"] == pytest.approx(geometric_mean(fv), rel=1e-10)
    # at the shared first frame the model's forces are the reference's × 1.25: FV = 0.25 / 2.25; later the runs part
    assert fv[0] == pytest.approx(0.25 / 2.25, rel=1e-9)
    assert np.abs(fv - fv[0]).max() > 0.02


def test_the_same_potential_retraces_the_reference(truth, tmp_path):
    """From the reference's own state — its positions, its central-difference velocities (a velocity-Verlet step's
    exactly) and its measured frame interval as the timestep — the potential that made the trajectory retraces it
    to round-off: EV and FV are zero but for it."""
    directory, exact, _ = truth
    _, nve, metrics = comparison(tmp_path, directory / "truth.extxyz", exact)
    ev, fv, _ = by_hand(nve, directory / "truth.extxyz")
    assert metrics["force_violation"] == pytest.approx(geometric_mean(fv), rel=1e-10)
    assert fv.max() < 1e-9 and ev.max() < 1e-12


def test_samples_in_no_time_order_give_no_ev_fv_and_say_why(truth, tmp_path):
    directory, exact, _ = truth
    reference, nve, metrics = comparison(tmp_path, directory / "shuffled.extxyz", exact)
    assert not reference["ground_truth"] and not summary_of(nve)["applicable"]
    assert np.isnan(metrics["energy_violation"]) and np.isnan(metrics["force_violation"])
    assert metrics["violations"].startswith("the frames are not a trajectory")


def test_without_a_same_start_run_ev_fv_are_refused_even_where_both_carry_labels(truth):
    """Model frames with energies and forces (an ASE-engine run) against a reference that is no trajectory from
    the same state: EV/FV are NaN with the reason, not a frame-by-frame comparison of unrelated frames."""
    from egraff.analysis import read_trajectory
    from egraff.analysis.evaluate import evaluate

    directory, _, _ = truth
    model = read_trajectory(directory / "truth.extxyz", timestep=TIMESTEP_FS / 1000)
    reference = read_trajectory(directory / "shuffled.extxyz", timestep=TIMESTEP_FS / 1000)
    refused = evaluate(model, reference, pairs=None, triplets=None, violations_undefined="no same-start run").metrics
    assert np.isnan(refused["energy_violation"]) and np.isnan(refused["force_violation"])
    assert refused["violations"] == "no same-start run"
