"""`train(config, frames={"train": [...], "val": [...]})`: frames in memory train exactly as the same
frames read from files, and a resume on other frames is refused."""

from __future__ import annotations

import json

import pytest
import torch

from egraff.train import ConfigError, load_config, train
from egraff.train.data import TrainingDataError
from train.conftest import emt_frames, metrics

OVERRIDES = ["model.r_max=4.0", "train.max_epochs=2", "train.progress=false", "train.batch_size=4"]


def test_frames_train_as_the_same_frames_in_files(tmp_path):
    import egraff.data

    frames = emt_frames(24)
    given = {"train": frames[:20], "val": frames[20:]}
    # data.train names no file: with frames given, the config's data sources are not read
    in_memory = train(load_config(None, OVERRIDES + [f"output.dir={tmp_path / 'memory'}", "data.train=nowhere.xyz"]),
                      frames=given)
    for role in given:
        egraff.data.write_extxyz(tmp_path / f"{role}.extxyz", given[role])
    from_files = train(load_config(None, OVERRIDES + [f"output.dir={tmp_path / 'files'}",
                                                      f"data.train={tmp_path / 'train.extxyz'}",
                                                      f"data.val={tmp_path / 'val.extxyz'}"]))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(metrics(in_memory.run_dir)) == strip(metrics(from_files.run_dir))
    ours = torch.load(in_memory.final_model, weights_only=True)
    theirs = torch.load(from_files.final_model, weights_only=True)
    assert all(torch.equal(ours["state_dict"][k], theirs["state_dict"][k]) for k in theirs["state_dict"])
    record = json.loads((in_memory.run_dir / "data.json").read_text())
    assert record["train_fingerprint"] == egraff.data.frames_fingerprint(given["train"]) == ours["data_fingerprint"]
    assert record["val_fingerprint"] == egraff.data.frames_fingerprint(given["val"])

    # a rerun in that directory on other frames is refused; on the same frames there is nothing left to do
    config = load_config(None, OVERRIDES + [f"output.dir={tmp_path / 'memory'}", "data.train=nowhere.xyz"])
    with pytest.raises(ConfigError, match="holds a run trained on other train frames"):
        train(config, frames={"train": frames[1:21], "val": frames[20:]})
    finished = in_memory.final_model.read_bytes()
    again = train(config, frames=given)
    assert (again.first_epoch, again.epochs) == (2, 2) and again.final_model.read_bytes() == finished


def test_frames_argument_is_checked(tmp_path):
    from egraff.train.config import validate

    frames = emt_frames(6)
    # a config without data sources, for frames given in memory (load_config refuses it: no training data)
    config = validate({"model": {"r_max": 4.0}, "train": {"max_epochs": 2, "progress": False, "batch_size": 4},
                       "output": {"dir": str(tmp_path / "r")}}, frames_given=True)
    with pytest.raises(ConfigError, match="frames must be a mapping with exactly the keys 'train' and 'val'"):
        train(config, frames={"train": frames})
    frames[3].calc.results["energy"] = float("nan")
    with pytest.raises(TrainingDataError, match=r"frames\['train'\]\[3\]: the energy label holds NaN"):
        train(config, frames={"train": frames[:5], "val": frames[5:]})
    with pytest.raises(ConfigError, match="data.train is not set, so there is no training data"):
        train(config)
