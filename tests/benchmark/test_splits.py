"""The study's splits as the study used them (dataset_protocol: study) and egraff's own, read from the dataset
mirror: 3BPA tested on its 600 K set, acac's identical val and test files, LiPS20's disjoint validation and
test halves; the per-dataset training settings of the study's recipes; TorchMD-Net's two graphs side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from egraff.benchmark.plan import check_plan, load_plan
from egraff.data import frames_fingerprint
from egraff.data.frames import gather

MICRO = yaml.safe_load((Path(__file__).parent / "micro.yaml").read_text())


@pytest.fixture(autouse=True)
def from_the_mirror(mirror, monkeypatch):
    monkeypatch.setenv("EGRAFF_DATA_MIRROR", str(mirror))


def case(task: dict, protocol: str = "egraff", **plan):
    return check_plan({**MICRO, "data": {}, "tasks": [task], "dataset_protocol": protocol, **plan}).cases[0]


def keys(frames) -> set:
    return {np.round(a.positions, 8).tobytes() for a in frames}


def test_3bpa_as_the_study_used_it_and_as_egraff_does():
    study = case({"task": "in_distribution", "dataset": "3bpa"}, "study")
    val, test = gather(study.val), gather(study.test)
    assert (len(val), len(test)) == (1669, 2138)  # the 300 K set validates, the 600 K set tests
    assert study.temperature == 600.0 and "the study's 3BPA numbers are at 600 K" in " ".join(study.notes)
    higher = case({"task": "higher_temperature", "dataset": "3bpa"}, "study")
    assert frames_fingerprint(gather(higher.test)) == frames_fingerprint(test)
    ours = case({"task": "in_distribution", "dataset": "3bpa"})
    val, test = gather(ours.val), gather(ours.test)
    assert (len(val), len(test)) == (169, 1500) and not keys(val) & keys(test)
    assert keys(val) | keys(test) == keys(gather([{"dataset": "3bpa", "split": "val"}]))  # all 300 K frames
    assert ours.temperature == 300.0


def test_acac_validates_on_its_test_file_in_the_study_and_on_training_frames_in_egraff():
    from egraff import data

    files = {split: data.load("acac", split, progress=False).record["sources"][0]["files"][0]["sha256"]
             for split in ("val", "test")}
    assert files["val"] == files["test"]  # the release's val and test files are byte-identical
    study = case({"task": "in_distribution", "dataset": "acac"}, "study")
    assert frames_fingerprint(gather(study.val)) == frames_fingerprint(gather(study.test))
    assert "a leak" in " ".join(study.notes)
    ours = case({"task": "in_distribution", "dataset": "acac"})
    train, val, test = gather(ours.train), gather(ours.val), gather(ours.test)
    assert (len(train), len(val), len(test)) == (450, 50, 650)
    assert not keys(val) & keys(test) and not keys(val) & keys(train)
    assert keys(train) | keys(val) == keys(gather([{"dataset": "acac", "split": "train"}]))
    assert "leak" not in " ".join(ours.notes)


def test_lips20_validation_and_test_are_disjoint_halves_of_each_composition():
    from egraff.data.registry import LIPS20_COMPOSITIONS

    ours = case({"task": "in_distribution", "dataset": "lips20"})
    val, test = gather(ours.val), gather(ours.test)
    assert not keys(val) & keys(test)
    for frames in (val, test):
        counts = {c: sum(a.info["subset"] == c for a in frames) for c in LIPS20_COMPOSITIONS}
        assert set(counts.values()) == {50}
    assert set(ours.references) == set(LIPS20_COMPOSITIONS)  # one reference group per composition
    assert ours.temperature == 3000.0
    assert case({"task": "in_distribution", "dataset": "lips20"}, "study").temperature == 520.0
    held = case({"task": "unseen_structures", "dataset": "lips20", "held_out": ["Li", "S"]}, "study")
    assert held.temperature == 520.0 and set(held.references) == {"Li", "S"}


@pytest.fixture(scope="module")
def paper():
    return load_plan("paper")


@pytest.mark.parametrize("model, dataset, expected", [
    ("botnet", "md17_naphthalene", {"train.batch_size": 2, "train.max_epochs": 1000,
                                    "model.hyperparameters": {"num_interactions": 4}, "stage_two.start": 0.75}),
    ("botnet", "md17_aspirin", {"train.batch_size": 20, "model.hyperparameters": {}}),
    ("mace", "gete", {"model.r_max": 8.0, "optim.amsgrad": True, "optim.ema_decay": 0.99}),
    ("nequip", "md17_aspirin", {"optim.plateau_patience": 5, "optim.plateau_factor": 0.8, "train.batch_size": 1,
                                "loss.force_weight": 1.0, "model.e0s": "per_atom_mean"}),
    ("equiformer", "gete", {"loss.force_weight": 1.0, "train.batch_size": 1, "loss.form": "l2mae",
                            "optim.warmup_epochs": 10.0}),
    ("torchmd-et-study", "lips20", {"model.hyperparameters": {"max_num_neighbors": 50, "study_graph": True},
                                    "loss.energy_weight": 0.5, "loss.energy_per_atom": False}),
    ("torchmd-et", "md17_aspirin", {"model.hyperparameters": {}, "loss.energy_weight": 0.2}),
])
def test_the_paper_preset_trains_each_model_with_the_studys_settings_for_each_dataset(model, dataset, expected, paper):
    plan = paper
    chosen = next(c for c in plan.cases if c.name == f"in_distribution/{dataset}")
    setup = plan.training_setup(model, chosen)
    for dotted, value in expected.items():
        section, key = dotted.split(".")
        assert setup.resolved[section][key] == value, dotted
    assert setup.origin.startswith("the study's recipe")


def test_torchmd_runs_with_both_graphs_side_by_side():
    from egraff.benchmark.graph import plan_jobs

    plan = check_plan({**MICRO, "models": {"torchmd-et": {}}, "torchmd_graph": "both"})
    entries = plan.model_entries
    assert set(entries) == {"torchmd-et", "torchmd-et-study"}
    assert entries["torchmd-et-study"].hyperparameters == {"study_graph": True}
    assert "study_graph" not in entries["torchmd-et"].hyperparameters
    trained = {role.split("|")[1]: job.spec["config"]["model"]["hyperparameters"]
               for role, job in plan_jobs(plan).deps.items() if role.endswith("|train")}
    assert trained == {"torchmd-et": {}, "torchmd-et-study": {"study_graph": True}}
