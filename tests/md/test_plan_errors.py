"""Bad plans are refused before anything runs, with one sentence saying what to fix."""

from __future__ import annotations

import os
import subprocess

import pytest

from egraff.md import Plan, PlanError, SystemSource

from .conftest import INPUTS, REPO, egraff_command

WATER = SystemSource("water", str(INPUTS / "data" / "water_64.data"), type_names=("O", "H"))
ETHANOL = SystemSource("ethanol", str(INPUTS / "data" / "ethanol.xyz"))


def plan(model, **changes) -> Plan:
    settings = dict(models=[str(model)], systems=[WATER], temperatures=[300.0], overrides={"steps": 10})
    settings.update(changes)
    return Plan(**settings)


@pytest.mark.parametrize("changes, phrases", [
    ({"temperatures": [300.0, 0.0]}, ["temperature 0.0 K is not > 0"]),
    ({"temperatures": [-10]}, ["temperature -10 K is not > 0"]),
    ({"protocol": "langevin-nvt"}, ["unknown protocol 'langevin-nvt'", "egraffbench", "fu-water"]),
    ({"overrides": {"stpes": 10}}, ["has no setting(s) stpes"]),
    ({"overrides": {"steps": 0}}, ["steps must be > 0"]),
    ({"engine": "gromacs"}, ["unknown engine 'gromacs'"]),
    ({"engine": "ase", "ranks": 2}, ["ranks apply to the LAMMPS engine only"]),
    ({"engine": "ase", "protocol": "npt"}, ["runs in LAMMPS only"]),
    ({"protocol": "npt", "systems": [ETHANOL]}, ["not periodic; NPT needs a periodic cell"]),
    ({"frames": [3]}, ["has 1 frame(s); frame 3 does not exist"]),
    ({"models": ["/nonexistent/model.pt"]}, ["model file /nonexistent/model.pt does not exist"]),
    ({"systems": [SystemSource("gone", "/nonexistent/box.extxyz")]},
     ["structure file /nonexistent/box.extxyz does not exist"]),
    ({"watchdog": {"max_temp": 3}}, ["watchdog:", "max_temp"]),
])
def test_bad_plan_is_refused_with_a_clear_sentence(changes, phrases, water_toy_file):
    with pytest.raises(PlanError) as error:
        plan(water_toy_file, **changes).specs()
    message = str(error.value)
    assert "\n" not in message
    for phrase in phrases:
        assert phrase in message


def test_model_elements_must_cover_the_system(lj_file):
    with pytest.raises(PlanError, match=r"knows elements Ar Kr but system 'water' contains H O; use a model trained"):
        plan(lj_file).specs()


def test_lammps_data_file_needs_its_type_names():
    with pytest.raises(PlanError, match=r"LAMMPS data file; give `type_names`"):
        Plan.from_dict({"models": ["m.pt"], "systems": [{"name": "w", "path": str(WATER.path)}], "temperatures": [300]})


def test_unknown_plan_key_is_named(tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text('models = ["m.pt"]\nsystems = []\ntemperatures = [300]\ntemperature = 300\n')
    with pytest.raises(PlanError, match=r"unknown plan key\(s\) temperature"):
        Plan.from_file(path)


def test_cli_refuses_a_bad_plan_before_running_anything(lj_file, tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text(f'models = ["{lj_file}"]\ntemperatures = [300]\n\n[[systems]]\nname = "water"\n'
                    f'path = "{WATER.path}"\ntype_names = ["O", "H"]\n')
    root = tmp_path / "runs"
    result = subprocess.run(egraff_command("md", "run", str(path), "--root", str(root), "--no-progress"),
                            env=dict(os.environ, PYTHONPATH=str(REPO / "python")), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: model") and "contains H O" in result.stderr
    assert "Traceback" not in result.stderr
    assert not root.exists()
