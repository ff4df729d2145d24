"""The LAMMPS plugin and the ASE calculator agree on the same deployed file, for every architecture:
a periodic triclinic crystal (cell shorter than 2 r_max along c) and a molecule in a non-periodic
box, on 1 rank and on 2 ranks (ghostmp mode for message-passing models, ghost mode for Allegro)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from egraff.deploy import EGraFFCalculator
from egraff.models import ARCHITECTURES
from egraff.units import NKTV2P

from conftest import assert_lammps_error, read_dump, run_lmp, thermo_rows
from .conftest import crystal, lammps_data, lammps_script, molecule

SYSTEMS = {"crystal": (crystal, True), "molecule": (molecule, False)}
# the plugin on the CPU and, when torch sees a CUDA GPU, on the GPU
pytestmark = pytest.mark.usefixtures("plugin_device")


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi)])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_lammps_matches_ase_calculator(tiny, architecture, nprocs, tmp_path):
    model_file = tiny.file(architecture)
    systems = {name: (lammps_data(make(), tmp_path / f"{name}.data").name, periodic)
               for name, (make, periodic) in SYSTEMS.items()}
    result = run_lmp(lammps_script(model_file, systems), tmp_path, nprocs=nprocs)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    expected_mode = "ghost" if tiny.model(architecture).num_layers == 1 else "ghostmp"
    if nprocs > 1:
        assert re.search(rf"mode {expected_mode}\b", output), output[-3000:]
    rows = thermo_rows(result.stdout)
    assert len(rows) == len(SYSTEMS)

    for (name, (make, _)), row in zip(SYSTEMS.items(), rows):
        atoms = make()
        atoms.calc = EGraFFCalculator(model_file)
        dump = read_dump(tmp_path / f"{name}.dump")
        lammps_forces = np.stack([dump["fx"], dump["fy"], dump["fz"]], axis=1)
        forces = atoms.get_forces()
        assert np.abs(forces).max() > 0.05
        assert np.abs(lammps_forces - forces).max() <= 1e-8, name
        assert np.abs(dump["c_pe"] - atoms.get_potential_energies()).max() <= 1e-9, name
        assert abs(row[1] - atoms.get_potential_energy()) <= 1e-8 * len(atoms), name
        # LAMMPS virial pressure (bar; xx yy zz xy xz yz) = -stress (ASE voigt: xx yy zz yz xz xy)
        stress = atoms.get_stress()[[0, 1, 2, 5, 4, 3]]
        pressure = -stress * NKTV2P
        assert abs(row[-1] - atoms.get_volume()) <= 1e-9 * atoms.get_volume()
        assert np.abs(pressure).max() > 1.0
        assert np.allclose(row[2:8], pressure, rtol=0, atol=1e-8 * np.abs(pressure).max()), name


def test_lammps_refuses_an_element_the_model_does_not_know(tiny, tmp_path):
    data = lammps_data(crystal(), tmp_path / "crystal.data")
    script = lammps_script(tiny.file("mace"), {"crystal": (data.name, True)}).replace(
        f"pair_coeff * * {tiny.file('mace')} Cu Au", f"pair_coeff * * {tiny.file('mace')} Cu Ag")
    assert_lammps_error(run_lmp(script, tmp_path), "element 'Ag'", "is not in model", "knows: Cu Au")
