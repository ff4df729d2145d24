"""LAMMPS leaves pairs out of a pair style's neighbour list for special bonds and `neigh_modify
exclude/include`; the model would then see an incomplete graph and give a wrong energy. The plugin
refuses these settings, and with `special_bonds lj/coul 1 1 1` a bonded system equals the ASE
calculator on the same file (bonded pairs are ordinary edges)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import fcc_binary, lammps_error, new_lammps, per_atom

# two bent Ar-Kr-Ar molecules 4 Å apart: every bonded and 1-3 pair is inside the 8.5 Å cutoff
POSITIONS = np.array([[10.0, 10.0, 10.0], [13.7, 10.4, 10.1], [15.1, 13.9, 10.3],
                      [10.2, 14.1, 12.9], [13.9, 14.3, 13.4], [15.3, 17.9, 13.2]])
TYPES = [1, 2, 1, 1, 2, 1]
BOX = 30.0


def write_molecules(path) -> None:
    atoms = "\n".join(f"{k + 1} {k // 3 + 1} {t} 0.0 {x:.6f} {y:.6f} {z:.6f}"
                      for k, (t, (x, y, z)) in enumerate(zip(TYPES, POSITIONS)))
    bonds = "\n".join(f"{n + 1} 1 {i} {j}" for n, (i, j) in enumerate([(1, 2), (2, 3), (4, 5), (5, 6)]))
    path.write_text(f"two molecules\n\n6 atoms\n4 bonds\n2 atom types\n1 bond types\n\n"
                    f"0 {BOX} xlo xhi\n0 {BOX} ylo yhi\n0 {BOX} zlo zhi\n\n"
                    f"Masses\n\n1 39.95\n2 83.80\n\nAtoms # full\n\n{atoms}\n\nBonds\n\n{bonds}\n")


def molecular_commands(data_file, model, *settings) -> list[str]:
    return ["units metal", "atom_style full", "atom_modify map yes", *settings, f"read_data {data_file}",
            "bond_style zero", "bond_coeff *", "pair_style egraff", f"pair_coeff * * {model} Ar Kr", "run 0"]


@pytest.mark.parametrize("settings, weights", [
    ((), "lj 0 0 0 coul 0 0 0"),  # LAMMPS's default: bonded pairs are missing from the list
    (("special_bonds lj 0.0 1.0 1.0 coul 1.0 1.0 1.0",), "lj 0 1 1 coul 1 1 1"),
    (("special_bonds lj/coul 0.5 0.5 0.5",), "lj 0.5 0.5 0.5 coul 0.5 0.5 0.5"),  # listed, but to be scaled
])
def test_special_bonds_that_filter_bonded_pairs_are_refused(lj_file, tmp_path, settings, weights):
    write_molecules(tmp_path / "molecules.data")
    error = lammps_error(molecular_commands(tmp_path / "molecules.data", lj_file, *settings))
    assert f"special_bonds {weights} removes or scales bonded pairs; add 'special_bonds lj/coul 1.0 1.0 1.0'" in error


@pytest.mark.parametrize("model", ["lj_file", "mp2_file"])
def test_bonded_molecules_with_full_special_weights_equal_the_ase_calculator(request, tmp_path, model):
    import ase

    from egraff.deploy import EGraFFCalculator

    path = request.getfixturevalue(model)
    write_molecules(tmp_path / "molecules.data")
    lmp = new_lammps()
    try:
        lmp.commands_list(molecular_commands(tmp_path / "molecules.data", path, "special_bonds lj/coul 1.0 1.0 1.0"))
        energy, forces = lmp.get_thermo("pe"), per_atom(lmp, "f")
    finally:
        lmp.close()
    atoms = ase.Atoms(["Ar" if t == 1 else "Kr" for t in TYPES], positions=POSITIONS, cell=np.eye(3) * BOX, pbc=True)
    atoms.calc = EGraFFCalculator(path)
    assert np.abs(forces).max() > 1e-3
    assert abs(energy - atoms.get_potential_energy()) <= 1e-12
    assert np.abs(forces - atoms.get_forces()).max() <= 1e-12


@pytest.mark.parametrize("exclusion", ["neigh_modify exclude type 1 2", "neigh_modify exclude group all all"])
def test_neighbor_exclusions_are_refused(lj_file, exclusion):
    error = lammps_error(fcc_binary((2, 2, 2)) + [exclusion, "pair_style egraff", f"pair_coeff * * {lj_file} Ar Kr",
                                                  "run 0"])
    assert "'neigh_modify exclude' removes pairs from the neighbour list; remove it ('neigh_modify exclude none')" in error


def test_intramolecular_exclusion_is_refused(lj_file, tmp_path):
    write_molecules(tmp_path / "molecules.data")
    commands = molecular_commands(tmp_path / "molecules.data", lj_file, "special_bonds lj/coul 1.0 1.0 1.0")
    commands.insert(-1, "neigh_modify exclude molecule/intra all")
    assert "'neigh_modify exclude' removes pairs" in lammps_error(commands)


def test_neighbor_include_group_is_refused(lj_file):
    commands = fcc_binary((2, 2, 2)) + ["group heavy type 2", "atom_modify first heavy", "neigh_modify include heavy",
                                        "pair_style egraff", f"pair_coeff * * {lj_file} Ar Kr", "run 0"]
    assert "'neigh_modify include' limits the neighbour list to one group" in lammps_error(commands)


def test_exclusion_removed_again_is_accepted(lj_file):
    lmp = new_lammps()
    try:
        lmp.commands_list(fcc_binary((2, 2, 2)) + ["neigh_modify exclude type 1 2", "neigh_modify exclude none",
                                                   "pair_style egraff", f"pair_coeff * * {lj_file} Ar Kr", "run 0"])
        assert lmp.get_thermo("pe") < 0
    finally:
        lmp.close()
