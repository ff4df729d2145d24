"""Bad plans fail before any job starts, with one sentence naming the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from egraff.benchmark.graph import plan_jobs
from egraff.benchmark.plan import PRESETS, check_plan, load_plan
from egraff.config import ConfigError
from egraff.models import ARCHITECTURES

HERE = Path(__file__).parent
MICRO = yaml.safe_load((HERE / "micro.yaml").read_text())


def with_tasks(*tasks, **changes):
    return {**MICRO, "tasks": list(tasks), **changes}


@pytest.mark.parametrize("plan, reason", [
    ({**MICRO, "models": {"schnet": {}}}, "models: unknown model 'schnet'; choose from nequip"),
    (with_tasks({"task": "in_distribution", "dataset": "md18_ethanol"}), "tasks[0]: unknown dataset 'md18_ethanol'"),
    (with_tasks({"task": "transfer", "dataset": "3bpa"}), "tasks[0].task = 'transfer': choose one of in_distribution"),
    (with_tasks({"task": "unseen_molecules", "held_out": "lips"}),
     "unseen_molecules trains on three MD17 molecules and tests on the fourth: held_out must be one of"),
    (with_tasks({"task": "unseen_structures", "dataset": "lips", "held_out": ["Li2S"]}),
     "unseen_structures needs several structures or compositions: 'lips' has one"),
    (with_tasks({"task": "higher_temperature", "dataset": "md17_aspirin"}),
     "higher_temperature needs data at two temperatures: 'md17_aspirin' has none"),
    (with_tasks({"task": "unseen_structures", "dataset": "teacher:copper", "held_out": ["bcc"]}),
     "teacher:copper is used by a task but not generated: add `copper:` under `teachers`"),
    (with_tasks({"task": "unseen_structures", "dataset": "teacher:silicon", "held_out": ["amorphous"]}),
     "the silicon teacher generates no 'amorphous' phase"),
    (with_tasks({"task": "unseen_structures", "dataset": "lips20", "held_out": ["Li2S"],
                 "train_compositions": ["P", "S"]}), "the test frames contain Li, which no training frame has"),
    ({**MICRO, "md": {"protocol": "egraffbench", "overrides": {"stepz": 10}}},
     "protocol egraffbench has no setting 'stepz' (did you mean 'steps'?)"),
    ({**MICRO, "md": {"protocol": "egraffbench", "overrides": {"steps": 40.5}}},
     "md.overrides.steps = 40.5: expected an integer"),
    ({**MICRO, "models": {"mace": {"hyperparameters": {"layers": 3}}}},
     "models.mace.hyperparameters.layers: mace has no hyperparameter 'layers'"),
    ({**MICRO, "models": {"nequip": {"hyperparameters": {"num_layers": "two"}}}},
     "models.nequip.hyperparameters.num_layers = 'two': expected an integer, like the tiny preset's 2"),
    ({**MICRO, "training": {"optim": {"learning_rate": 1}}}, "unknown key training.optim.learning_rate; keys of training.optim: optimizer, lr,"),
    ({**MICRO, "training": {"train": {"max_epochs": 1.7}}}, "training.train.max_epochs = 1.7: expected an integer"),
    ({**MICRO, "models": {"nequip": {"config": {"optim": {"lr": "fast"}}}}},
     "models.nequip.config.optim.lr = 'fast': expected a number"),
    ({**MICRO, "seeds": 1}, "seeds = 1: expected a list"),
    ({**MICRO, "data": {"n_train": -3}}, "data.n_train = -3: expected a number >= 1"),
    ({**MICRO, "teachers": {"silicon": {"protocol": {"n_frame": 3}}}},
     "unknown key teachers.silicon.protocol.n_frame (did you mean 'n_frames'?)"),
    ({**MICRO, "teachers": {"silicon": {"options": {"min_atoms": "many"}}}},
     "teachers.silicon.options.min_atoms = 'many': expected an integer"),
    ({**MICRO, "tasks": [{"task": "in_distribution", "datset": "3bpa"}]},
     "unknown key tasks[0].datset (did you mean 'dataset'?)"),
])
def test_bad_plan_names_the_problem(plan, reason):
    with pytest.raises(ConfigError) as err:
        check_plan(plan)
    assert reason in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_plan_fails_on_the_command_line_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_tasks({"task": "unseen_molecules", "held_out": "lips"})))
    egraff = Path(sys.executable).parent / "egraff"
    result = subprocess.run([str(egraff), "benchmark", "--plan", str(bad), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "held_out must be one of md17_aspirin" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out" / "jobs").exists()


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_cover_every_model_and_task_type(preset):
    plan = load_plan(preset)
    assert sorted({e.architecture for e in plan.model_entries.values()}) == sorted(ARCHITECTURES)
    assert {case.task for case in plan.cases} == {"in_distribution", "higher_temperature", "unseen_molecules",
                                                   "unseen_structures"}
    datasets = {case.dataset for case in plan.cases}
    assert any(d.startswith("teacher:") for d in datasets) and any(not d.startswith("teacher:") for d in datasets)
    leaderboard = plan_jobs(plan)
    starts = plan.md_protocol().initial_frames
    per_row = {case.name: 2 + starts * len(case.references) * (2 if case.teacher else 3) for case in plan.cases}
    references = {f"{case.name}|{group}" for case in plan.cases for group in case.references}
    assert len(leaderboard.deps) == len(plan.model_entries) * len(plan.seeds) * sum(per_row.values()) + len(references)


def test_the_paper_preset_runs_the_studys_protocol():
    plan = load_plan("paper")
    assert plan.md_protocol().initial_frames == 10 and plan.md.start_every == 1  # --init_conf_N 10: frames 0-9
    assert plan.dataset_protocol == "study" and "torchmd-et-study" in plan.model_entries
    assert all(e.recipe == "study" and e.preset == "paper" for e in plan.models.values())


def test_unseen_molecules_trains_on_the_other_three():
    plan = check_plan(with_tasks({"task": "unseen_molecules", "held_out": "md17_naphthalene"}))
    (case,) = plan.cases
    assert {s["dataset"] for s in case.train} == {"md17_aspirin", "md17_ethanol", "md17_salicylic_acid"}
    assert {s["dataset"] for s in case.test} == {"md17_naphthalene"}


def test_job_keys_depend_on_content_only():
    first, second = plan_jobs(check_plan(MICRO)), plan_jobs(check_plan(MICRO))
    assert first.key == second.key
    changed = plan_jobs(load_plan(str(HERE / "micro.yaml"), ["training.train.max_epochs=2"]))
    assert changed.key != first.key
    teacher_keys = {job.deps["teacher"].key for role, job in first.deps.items() if role.endswith("|train")}
    changed_teacher_keys = {job.deps["teacher"].key for role, job in changed.deps.items() if role.endswith("|train")}
    assert teacher_keys == changed_teacher_keys  # more epochs do not regenerate the teacher data


def test_check_lists_the_jobs_of_the_smoke_preset_and_runs_nothing(tmp_path, mirror):
    egraff = Path(sys.executable).parent / "egraff"
    result = subprocess.run([str(egraff), "benchmark", "--preset", "smoke", "--check", "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "EGRAFF_DATA_MIRROR": str(mirror)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "plan smoke: 4 cases x 6 models x 1 seeds; 197 jobs (1 teacher, 24 train, 24 export" in result.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("preset", ["cpu", "paper"])
def test_check_reads_every_split_of_the_presets_from_the_mirror(preset, tmp_path, mirror):
    egraff = Path(sys.executable).parent / "egraff"
    result = subprocess.run([str(egraff), "benchmark", "--preset", preset, "--check", "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "EGRAFF_DATA_MIRROR": str(mirror)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"plan {preset}: ")
    assert not (tmp_path / "out").exists()


def test_a_split_too_short_for_its_cut_fails_the_check(tmp_path, mirror, monkeypatch):
    from egraff.benchmark import resolve_sources

    monkeypatch.setenv("EGRAFF_DATA_MIRROR", str(mirror))
    plan = check_plan(with_tasks({"task": "in_distribution", "dataset": "gete"}))
    plan.cases[0].test[0]["take"] = [50, 400]
    with pytest.raises(ConfigError, match=r"in_distribution/gete, test frames: dataset gete:test: take \[50, 400\] cuts frames 50-399, but it holds 300 frames"):
        resolve_sources(plan)

