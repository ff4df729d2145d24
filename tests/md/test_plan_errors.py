"""Bad plans are refused before anything runs, with one sentence saying what to fix."""

from __future__ import annotations

import os
import subprocess

import pytest

from egraff.config import ConfigError, validate
from egraff.md import SimulationPlan, SystemSource

from .conftest import INPUTS, REPO, egraff_command

WATER = SystemSource(name="water", file=str(INPUTS / "data" / "water_64.data"), type_names=["O", "H"])
ETHANOL = SystemSource(name="ethanol", file=str(INPUTS / "data" / "ethanol.xyz"))


def plan(model, **changes) -> SimulationPlan:
    settings = dict(models=[str(model)], systems=[WATER], temperatures=[300.0], overrides={"steps": 10})
    settings.update(changes)
    return validate(SimulationPlan, settings)


@pytest.mark.parametrize("changes, phrases", [
    ({"temperatures": [300.0, 0.0]}, ["temperatures[1] = 0.0: expected a number > 0"]),
    ({"temperatures": [-10]}, ["temperatures[0] = -10: expected a number > 0"]),
    ({"temperatures": "300"}, ["temperatures = '300': expected a list"]),
    ({"models": "x.pt"}, ["models = 'x.pt': expected a list"]),
    ({"seeds": 1}, ["seeds = 1: expected a list"]),
    ({"protocol": "langevin-nvt"}, ["unknown protocol 'langevin-nvt'", "egraffbench", "fu-water"]),
    ({"overrides": {"stpes": 10}}, ["has no setting 'stpes' (did you mean 'steps'?)"]),
    ({"overrides": {"steps": 0}}, ["overrides.steps = 0: expected a number > 0"]),
    ({"overrides": {"steps": 40.5}}, ["overrides.steps = 40.5: expected an integer"]),
    ({"engine": "gromacs"}, ["engine = 'gromacs': choose one of lammps, ase"]),
    ({"engine": "ase", "ranks": 2}, ["ranks apply to the LAMMPS engine only"]),
    ({"engine": "ase", "protocol": "npt"}, ["runs in LAMMPS only"]),
    ({"protocol": "npt", "systems": [ETHANOL]}, ["not periodic; NPT needs a periodic cell"]),
    ({"frames": [3]}, ["has 1 frame(s); frame 3 does not exist"]),
    ({"models": ["/nonexistent/model.pt"]}, ["model file /nonexistent/model.pt does not exist"]),
    ({"systems": [SystemSource(name="gone", file="/nonexistent/box.extxyz")]},
     ["frame file /nonexistent/box.extxyz does not exist"]),
    ({"watchdog": {"max_temp": 3}}, ["unknown key watchdog.max_temp", "max_temperature_factor"]),
    ({"engine": "ase", "committee": {"members": ["m.pt"]}}, ["a committee watches LAMMPS runs only", "engine lammps"]),
    ({"committee": {"members": []}}, ["committee.members = []: expected at least 1 item(s)"]),
])
def test_bad_plan_is_refused_with_a_clear_sentence(changes, phrases, water_toy_file):
    with pytest.raises(ConfigError) as error:
        plan(water_toy_file, **changes).specs()
    message = str(error.value)
    assert "\n" not in message
    for phrase in phrases:
        assert phrase in message


def test_model_elements_must_cover_the_system(lj_file):
    with pytest.raises(ConfigError, match=r"knows elements Ar Kr but system 'water' contains H O; use a model trained"):
        plan(lj_file).specs()


def test_committee_members_need_the_models_elements(water_toy_file, lj_file):
    with pytest.raises(ConfigError, match=rf"committee member {lj_file} is for the elements Ar Kr but model "
                                          rf"{water_toy_file} is for O H; every member must have the model's type_names"):
        plan(water_toy_file, committee={"members": [str(lj_file)]}).specs()


def test_lammps_data_file_needs_its_type_names():
    with pytest.raises(ConfigError, match=r"systems\[0\]: .*LAMMPS data file; give `type_names`"):
        validate(SimulationPlan, {"models": ["m.pt"], "systems": [{"name": "w", "file": WATER.file}], "temperatures": [300]})


def test_unknown_plan_key_is_named(tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text('models = ["m.pt"]\nsystems = []\ntemperatures = [300]\ntemperature = 300\n')
    with pytest.raises(ConfigError, match=r"plan.toml: unknown key temperature \(did you mean 'temperatures'\?\)"):
        SimulationPlan.from_file(path)


def test_cli_refuses_a_bad_plan_before_running_anything(lj_file, tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text(f'models = ["{lj_file}"]\ntemperatures = [300]\n\n[[systems]]\nname = "water"\n'
                    f'file = "{WATER.file}"\ntype_names = ["O", "H"]\n')
    root = tmp_path / "runs"
    result = subprocess.run(egraff_command("md", "run", str(path), "--root", str(root), "--no-progress"),
                            env=dict(os.environ, PYTHONPATH=str(REPO / "python")), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: model") and "contains H O" in result.stderr
    assert "Traceback" not in result.stderr
    assert not root.exists()
