"""EGraFFCalculator on a committee of files: energy, forces and stress of the first file or of the
members' mean, and the model deviation equal to numpy's statistics of each file's own results —
for members of different architectures and cutoffs, each on its own graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.stress import voigt_6_to_full_3x3_stress

from egraff.deploy import DeployedModelError, EGraFFCalculator, save_deployed
from egraff.deploy.export import deploy
from egraff.models import build
from egraff.models.reference import lennard_jones

from .conftest import rattled_fcc


@pytest.fixture(scope="module")
def committee(tmp_path_factory):
    """BOTNet (r_max 4 Å) and two Lennard-Jones files (r_c 5 and 4.5 Å) for Cu and Au."""
    tmp = tmp_path_factory.mktemp("committee")
    torch.manual_seed(5)
    model = build("botnet", ["Cu", "Au"], 4.0)
    model.set_energy_scale_shift(scale=20.0, shifts={"Cu": -3.0, "Au": -4.0})
    files = [deploy(model, tmp / "botnet.pt")]
    for k, (epsilon, sigma, cutoff) in enumerate([(0.4, 2.3, 5.0), (0.35, 2.35, 4.5)]):
        lj, meta = lennard_jones(["Cu", "Au"], epsilon=epsilon, sigma=sigma, cutoff=cutoff)
        files.append(save_deployed(lj, tmp / f"lj{k}.pt", meta))
    return files


def single_results(calculators, atoms):
    energies, forces, virials = [], [], []
    for calc in calculators:
        atoms.calc = calc
        energies.append(atoms.get_potential_energies())
        forces.append(atoms.get_forces())
        virials.append(-voigt_6_to_full_3x3_stress(atoms.get_stress()) * atoms.get_volume())
    return np.array(energies), np.array(forces), np.array(virials)


def test_committee_equals_numpy_statistics_of_its_members(committee):
    singles = [EGraFFCalculator(path) for path in committee]
    drives = {drive: EGraFFCalculator(committee, drive=drive) for drive in ("first", "mean")}
    for seed, drive in ((1, "first"), (2, "mean"), (3, "first")):  # three structures in a row
        atoms = rattled_fcc(seed=seed)
        energies, forces, virials = single_results(singles, atoms)
        atoms.calc = calc = drives[drive]
        pick = energies.mean(axis=0) if drive == "mean" else energies[0]
        assert atoms.get_potential_energy() == pytest.approx(pick.sum(), abs=1e-10)
        assert np.abs(atoms.get_potential_energies() - pick).max() <= 1e-10
        assert np.abs(atoms.get_forces() - (forces.mean(axis=0) if drive == "mean" else forces[0])).max() <= 1e-10
        virial = virials.mean(axis=0) if drive == "mean" else virials[0]
        assert np.abs(-voigt_6_to_full_3x3_stress(atoms.get_stress()) * atoms.get_volume() - virial).max() <= 1e-10

        n = len(atoms)
        sigma_f = np.sqrt(np.mean(np.sum((forces - forces.mean(axis=0)) ** 2, axis=-1), axis=0))
        sigma_e = np.std(energies, axis=0)
        sigma_v = np.std(virials.reshape(3, 9) / n, axis=0)
        r = calc.results
        assert sigma_f.min() > 1e-4 and sigma_v.min() > 1e-6
        assert np.abs(r["force_deviation"] - sigma_f).max() <= 1e-10
        assert np.abs(r["energy_deviation"] - sigma_e).max() <= 1e-10
        expected = dict(max_force_deviation=sigma_f.max(), min_force_deviation=sigma_f.min(),
                        avg_force_deviation=sigma_f.mean(), max_energy_deviation=sigma_e.max(),
                        min_energy_deviation=sigma_e.min(), avg_energy_deviation=sigma_e.mean(),
                        max_virial_deviation=sigma_v.max(), min_virial_deviation=sigma_v.min(),
                        avg_virial_deviation=np.sqrt(np.mean(sigma_v ** 2)),
                        total_energy_deviation=np.std(energies.sum(axis=1) / n))
        for name, value in expected.items():
            assert r[name] == pytest.approx(value, abs=1e-10), name


def test_a_single_file_has_no_deviation(committee):
    atoms = rattled_fcc()
    atoms.calc = EGraFFCalculator(committee[0])
    atoms.get_forces()
    assert "force_deviation" not in atoms.calc.results


def test_bad_committees_are_explained(committee, tmp_path):
    lj, meta = lennard_jones(["Cu", "Ag"], epsilon=0.4, sigma=2.3, cutoff=5.0)
    other = save_deployed(lj, tmp_path / "cu_ag.pt", meta)
    with pytest.raises(DeployedModelError, match=f"{other} is for the elements Cu Ag but {committee[0]} is for Cu Au"):
        EGraFFCalculator([committee[0], other])
    with pytest.raises(DeployedModelError, match="a committee needs at least two model files"):
        EGraFFCalculator([committee[0]])
    with pytest.raises(ValueError, match="unknown drive 'median'"):
        EGraFFCalculator(committee, drive="median")
