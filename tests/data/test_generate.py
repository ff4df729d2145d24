"""Teacher data: labels equal LAMMPS recomputed independently, NVE conserves energy, water is fast."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from egraff import data
from egraff.data import generate
from egraff.data.generate import Protocol
from egraff.data.teacher import lammps_potential_file, stillinger_weber_silicon

SMALL = Protocol(melt_temperature=3500.0, melt_steps=300, quench_steps=300, equilibration_steps=200, n_frames=8,
                 sample_every=10, trajectory_steps=300, trajectory_every=10)


@pytest.fixture(scope="module")
def teacher_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher")
    generate.silicon(root, phases=["diamond", "amorphous"], temperatures=[900], min_atoms=64, protocol=SMALL,
                     progress=False)
    generate.copper(root, phases=["hcp"], temperatures=[600], min_atoms=48,
                    protocol=Protocol(**{**SMALL.__dict__, "timestep_fs": 2.0}), progress=False)
    return root


def _independent_lammps_forces(frame, pair_commands, mass):
    """Energy and forces of one frame from a LAMMPS built directly (create_atoms), not via the teacher."""
    from egraff.lammps_adaptor import start_lammps

    lmp = start_lammps()
    try:
        c = frame.cell.array
        for command in ["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
                        f"region box prism 0 {c[0, 0]} 0 {c[1, 1]} 0 {c[2, 2]} {c[1, 0]} {c[2, 0]} {c[2, 1]}",
                        "create_box 1 box", f"mass 1 {mass}"]:
            lmp.command(command)
        n = len(frame)
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, frame.get_positions(wrap=True).reshape(-1).tolist())
        for command in pair_commands + ["thermo_style custom pe", "run 0"]:
            lmp.command(command)
        ids = np.array(lmp.numpy.extract_atom("id"))[:n]
        forces = np.array(lmp.numpy.extract_atom("f"))[:n][np.argsort(ids)]
        return lmp.get_thermo("pe"), forces
    finally:
        lmp.close()


@pytest.mark.parametrize("system,phase,pair,mass", [
    ("silicon", "diamond", "sw", 28.0855), ("silicon", "amorphous", "sw", 28.0855), ("copper", "hcp", "eam", 63.546)])
def test_written_forces_equal_lammps_recomputed(teacher_root, system, phase, pair, mass):
    potential = {"sw": ["pair_style sw", f"pair_coeff * * {lammps_potential_file('Si.sw')} Si"],
                 "eam": ["pair_style eam", f"pair_coeff * * {lammps_potential_file('Cu_u3.eam')}"]}[pair]
    for trajectory in (False, True):
        frames = data.load_generated(teacher_root, system=system, phases=[phase], trajectory=trajectory)
        for frame in list(frames)[::3]:
            energy, forces = _independent_lammps_forces(frame, potential, mass)
            assert np.abs(frame.get_forces() - forces).max() <= 1e-10
            assert frame.get_potential_energy() == pytest.approx(energy, abs=1e-9)


def test_stress_is_the_strain_derivative_of_the_energy(teacher_root):
    """ASE stress = (1/V) ∂E/∂ε: checks sign and units of the LAMMPS virial conversion."""
    frame = data.load_generated(teacher_root, system="silicon", phases=["amorphous"])[3]
    teacher = stillinger_weber_silicon()
    eps, cell = 1e-6, frame.cell.array
    for a, b, voigt in [(0, 0, 0), (1, 2, 3)]:
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * eps / (2 if a != b else 1)
            strain[b, a] += sign * eps / 2 if a != b else 0
            strained = frame.copy()
            strained.set_cell(cell @ strain, scale_atoms=True)
            energies.append(teacher.label([strained])[0].get_potential_energy())
        derivative = (energies[0] - energies[1]) / (2 * eps) / frame.get_volume()
        assert frame.get_stress()[voigt] == pytest.approx(derivative, rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("system,phase", [("silicon", "diamond"), ("silicon", "amorphous"), ("copper", "hcp")])
def test_nve_reference_trajectory_conserves_energy(teacher_root, system, phase):
    trajectory = data.load_generated(teacher_root, system=system, phases=[phase], trajectory=True)
    total = np.array([a.info["total_energy"] for a in trajectory])
    potential = np.array([a.get_potential_energy() for a in trajectory])
    assert len(trajectory) == 31
    assert np.ptp(total) < 0.02 * np.ptp(potential), "total energy must be conserved far better than it moves"
    assert np.ptp(total) / len(trajectory[0]) < 2e-4  # eV/atom over 300 steps
    assert np.array_equal(total, np.array([a.get_potential_energy() + a.info["kinetic_energy"] for a in trajectory]))
    steps = np.diff([a.info["step"] for a in trajectory])
    assert set(steps) == {10}
    hops = np.abs(np.diff([a.positions for a in trajectory], axis=0)).max()
    assert hops < 1.0, "trajectory positions are unwrapped (no jumps across the box)"


def test_start_data_is_the_first_trajectory_state(teacher_root):
    run = teacher_root / "silicon" / "diamond-900K"
    from egraff.lammps_adaptor import read_lammps_data
    from egraff.units import velocities_to_ase

    start = read_lammps_data(run / "start.data", ["Si"])
    first = data.read_extxyz(run / "trajectory.extxyz")[0]
    np.testing.assert_allclose(start.positions, first.positions, atol=1e-12)  # unwrapped, via the image flags
    velocities = np.array([[float(v) for v in line.split()[1:]] for line in
                           (run / "start.data").read_text().split("Velocities\n\n")[1].strip().splitlines()])
    np.testing.assert_allclose(velocities_to_ase(velocities), first.get_velocities(), rtol=1e-14)


def test_metadata_records_provenance(teacher_root):
    meta = json.loads((teacher_root / "copper" / "hcp-600K" / "metadata.json").read_text())
    assert meta["teacher"]["potential_file"] == "Cu_u3.eam"
    assert len(meta["teacher"]["potential_sha256"]) == 64
    assert meta["protocol"]["timestep_fs"] == 2.0 and meta["protocol"]["seed"] == 1
    assert meta["temperature_K"] == 600.0 and meta["phase"] == "hcp"
    frames = data.load_generated(teacher_root, system="copper")
    assert meta["frames_fingerprint"] == frames.fingerprint
    assert {a.info["phase"] for a in frames} == {"hcp"}


def test_phase_and_temperature_selection_builds_ood_splits(teacher_root):
    train = data.load_generated(teacher_root, system="silicon", phases=["diamond"])
    test = data.load_generated(teacher_root, system="silicon", phases=["amorphous"])
    assert {a.info["phase"] for a in train} == {"diamond"} and {a.info["phase"] for a in test} == {"amorphous"}
    assert len(train) == len(test) == 8
    with pytest.raises(FileNotFoundError, match="no generated runs"):
        data.load_generated(teacher_root, system="silicon", temperatures=[300])
    with pytest.raises(ValueError, match="unknown phase.*choose from diamond, liquid, amorphous"):
        generate.silicon(teacher_root, phases=["wurtzite"], protocol=SMALL, progress=False)


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(generate, "write_extxyz", fail)
    with pytest.raises(OSError):
        generate.silicon(tmp_path, phases=["diamond"], temperatures=[300], min_atoms=8, protocol=SMALL, progress=False)
    assert list((tmp_path / "silicon").iterdir()) == []


def test_small_water_set_is_fast_and_physical(tmp_path):
    start = time.perf_counter()
    (run,) = generate.water(tmp_path, n_molecules=64, temperatures=[300], progress=False)
    elapsed = time.perf_counter() - start
    assert elapsed < 120, f"the small water set took {elapsed:.0f} s"
    frames = data.read_extxyz(run / "frames.extxyz")
    assert len(frames) == 200 and frames[0].get_chemical_formula() == "H128O64"
    temperatures = [a.info["instantaneous_temperature"] for a in frames]
    assert 270 < np.mean(temperatures) < 330
    last = frames[-1]
    bonds = np.concatenate([last.get_distances(o, [o + 1, o + 2], mic=True) for o in range(0, len(last), 3)])
    assert 0.9 < bonds.min() and bonds.max() < 1.15, "molecules stay intact"
    meta = json.loads((run / "metadata.json").read_text())
    labelled = data.teacher_from_provenance(meta["teacher"]).label(frames[::40])
    for ours, theirs in zip(frames[::40], labelled):
        assert np.abs(ours.get_forces() - theirs.get_forces()).max() <= 1e-10
        assert ours.get_potential_energy() == pytest.approx(theirs.get_potential_energy(), abs=1e-9)
    trajectory = data.read_extxyz(run / "trajectory.extxyz")
    total = np.array([a.info["total_energy"] for a in trajectory])
    potential = np.array([a.get_potential_energy() for a in trajectory])
    assert np.ptp(total) < 0.05 * np.ptp(potential)


@pytest.mark.parametrize("coulomb,local", [("dsf", True), ("pppm", False)])
def test_water_coulomb_choice_decides_locality(coulomb, local):
    """With DSF two molecules 11.5 Å apart do not interact at all; with PPPM they do (long range)."""
    from ase import Atoms

    from egraff.data.teacher import spcfw_water, water_molecule

    teacher = spcfw_water(coulomb=coulomb)
    a, b = water_molecule() + [5.0, 5.0, 5.0], water_molecule() + [16.5, 5.0, 5.0]
    box = {"cell": [30.0, 30.0, 30.0], "pbc": True}
    pair = teacher.label([Atoms("OHHOHH", positions=np.vstack([a, b]), **box)])[0].get_potential_energy()
    alone = sum(teacher.label([Atoms("OHH", positions=m, **box)])[0].get_potential_energy() for m in (a, b))
    if local:
        assert pair == pytest.approx(alone, abs=1e-10)
    else:
        assert abs(pair - alone) > 1e-4
    with pytest.raises(ValueError, match="coulomb='ewald' is not known; use 'pppm'"):
        spcfw_water(coulomb="ewald")


def test_teacher_refuses_a_non_periodic_frame():
    from ase import Atoms

    from egraff.data.formats import DataFormatError

    with pytest.raises(DataFormatError, match="needs a periodic structure"):
        stillinger_weber_silicon().label([Atoms("Si2", positions=[[0, 0, 0], [2.3, 0, 0]])])
