"""Frame sources: one way to name frames (file, dataset, teacher), cut by take, fold and n, with one-sentence
errors."""

from __future__ import annotations

import pytest

from egraff.config import ConfigError, validate
from egraff.data.frames import FrameSource, collect, gather


@pytest.fixture
def numbered(tmp_path):
    """20 frames whose first x coordinate is their index in the file."""
    from ase import Atoms

    from egraff.data import write_extxyz

    frames = [Atoms("Ar", positions=[[float(k), 0.0, 0.0]], cell=[10, 10, 10], pbc=True) for k in range(20)]
    return write_extxyz(tmp_path / "numbered.extxyz", frames)


def indices(frames) -> list[int]:
    return [int(round(atoms.positions[0, 0])) for atoms in frames]


def test_take_fold_and_n_cut_in_that_order(numbered):
    source = {"file": str(numbered)}
    assert indices(gather({**source, "take": [5, 15]})) == list(range(5, 15))
    val = indices(gather({**source, "fold": "val"}))
    train = indices(gather({**source, "fold": "train"}))
    assert val == [0, 5, 10, 15] and sorted(val + train) == list(range(20))  # every fifth frame validates
    seeded_val = indices(gather({**source, "fold": "val", "fold_seed": 3, "val_fraction": 0.25}))
    seeded_train = indices(gather({**source, "fold": "train", "fold_seed": 3, "val_fraction": 0.25}))
    assert len(seeded_val) == 5 and not set(seeded_val) & set(seeded_train) and len(seeded_train) == 15
    chosen = indices(gather({**source, "take": [10, 20], "n": 4, "seed": 1}))
    assert len(chosen) == 4 and chosen == sorted(chosen) and set(chosen) <= set(range(10, 20))
    assert chosen == indices(gather({**source, "take": [10, 20], "n": 4, "seed": 1}))  # seeded: the same again
    frames, records = collect([{**source, "take": [0, 2]}, {**source, "take": [18, 20]}])
    assert indices(frames) == [0, 1, 18, 19] and [r["indices"] for r in records] == [[0, 1], [18, 19]]


@pytest.mark.parametrize("source, message", [
    ({"file": "a.xyz", "dataset": "3bpa:test"}, "exactly one of `dataset`"),
    ({}, "exactly one of `dataset` (a registry name), `file` or `teacher` (egraff data generate output), not none"),
    ({"dataset": "3bpa"}, "dataset '3bpa' needs a split, e.g. dataset: \"3bpa:test\""),
    ({"file": "a.xyz", "phases": ["liquid"]}, "`phases` applies to teacher sources only"),
    ({"file": "w.data"}, "w.data is a LAMMPS data file; give `type_names`"),
    ({"file": "a.xyz", "n": -1}, "n = -1: expected a number >= 0"),
    ({"file": "a.xyz", "take": [3]}, "take = [3]: expected at least 2 item(s)"),
    ({"file": "a.xyz", "fold": "test"}, "fold = 'test': choose one of train, val"),
])
def test_bad_sources_are_refused_in_one_sentence(source, message):
    with pytest.raises(ConfigError) as error:
        validate(FrameSource, source)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_dataset_and_split_in_one_word_and_missing_files_named(tmp_path):
    source = FrameSource(dataset="md17_ethanol:test")
    assert (source.dataset, source.split) == ("md17_ethanol", "test")
    with pytest.raises(ConfigError, match="frame file .*nowhere.xyz does not exist"):
        gather({"file": str(tmp_path / "nowhere.xyz")})
    (tmp_path / "empty.xyz").write_text("")
    from egraff.data.formats import DataFormatError

    with pytest.raises(DataFormatError, match="empty.xyz holds no frame"):  # egraff.data.read_extxyz's sentence
        gather({"file": str(tmp_path / "empty.xyz")})


def test_a_validation_fold_that_holds_out_nothing_is_refused(numbered):
    source = {"file": str(numbered), "take": [0, 10]}
    assert len(gather({**source, "fold": "val", "fold_seed": 0, "val_fraction": 0.1})) == 1
    with pytest.raises(ConfigError, match=r"file .*numbered.extxyz has 10 frame\(s\): val_fraction = 0.01 holds out "
                                          "none for validation"):
        gather({**source, "fold": "val", "fold_seed": 0, "val_fraction": 0.01})


def test_origin_names_a_frame_by_its_index_in_the_file(numbered):
    source = FrameSource(file=str(numbered), take=[5, 15], fold="train", fold_seed=2)
    frames, record = source.load()
    assert [source.origin(i, a) for i, a in zip(record["indices"], frames)] == \
        [f"{numbered} frame {k}" for k in indices(frames)]
