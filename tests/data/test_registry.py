"""Every registry dataset from the mirror: documented frame counts, splits, checksums, records."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from egraff import data
from egraff.data.datasets import SplitUnavailableError, frames_fingerprint
from egraff.data.download import ChecksumError, remote_file
from egraff.data.registry import UnknownDatasetError

# (dataset, split) -> (frames, formula, atoms per frame): the numbers of the issue and the mirror README
DOCUMENTED = {
    **{(f"md17_{m}", s): (n, f, a) for m, f, a in [("aspirin", "C9H8O4", 21), ("ethanol", "C2H6O", 9),
                                                   ("naphthalene", "C10H8", 18), ("salicylic_acid", "C7H6O3", 16)]
       for s, n in [("train", 950), ("val", 50), ("test", 1000)]},
    ("3bpa", "train"): (500, "C12H12N2O", 27), ("3bpa", "val"): (1669, "C12H12N2O", 27),
    ("3bpa", "test"): (2138, "C12H12N2O", 27), ("3bpa", "train_mixedT"): (500, "C12H12N2O", 27),
    ("acac", "train"): (500, "C5H8O2", 15), ("acac", "val"): (650, "C5H8O2", 15),
    ("acac", "test"): (650, "C5H8O2", 15), ("acac", "train_600K"): (500, "C5H8O2", 15),
    ("lips", "val"): (1000, "Li27P12S44", 83),
    ("gete", "val"): (300, "Ge40Te160", 200), ("gete", "test"): (300, "Ge40Te160", 200),
    ("water", "train"): (320, "H128O64", 192), ("water", "val"): (40, "H128O64", 192),
    ("water", "test"): (40, "H128O64", 192),
    ("lips20", "train"): (16 * 900, None, None), ("lips20", "val"): (16 * 100, None, None),
}


@pytest.mark.parametrize("name,split", sorted(DOCUMENTED))
def test_dataset_loads_with_documented_counts(name, split, mirror_cache):
    frames, formula, n_atoms = DOCUMENTED[(name, split)]
    loaded = data.load(name, split, **mirror_cache)
    assert len(loaded) == frames
    if formula:
        assert {a.get_chemical_formula() for a in loaded} == {formula}
        assert {len(a) for a in loaded} == {n_atoms}
    first = loaded[0]
    assert np.isfinite(first.get_potential_energy())
    assert first.get_forces().shape == (len(first), 3)
    assert first.info["dataset"] == name and first.info["split"] == split
    record = loaded.record
    assert record["n_frames"] == frames
    assert sum(len(s["indices"]) for s in record["sources"]) == frames
    assert record["fingerprint"] == frames_fingerprint(loaded)
    saved = json.loads((mirror_cache["cache"] / "splits" / f"{name}-{split}.json").read_text())
    assert saved == record


def test_3bpa_val_and_test_are_the_300K_and_600K_sets(mirror_cache):
    means = {s: np.mean([a.get_potential_energy() for a in data.load("3bpa", s, **mirror_cache)])
             for s in ("val", "test")}
    assert means["val"] == pytest.approx(-17660.42, abs=0.01)
    assert means["test"] == pytest.approx(-17659.45, abs=0.01)


def test_acac_val_and_test_are_the_same_released_file(mirror_cache):
    val, test = (data.load("acac", s, **mirror_cache) for s in ("val", "test"))
    assert val.fingerprint == test.fingerprint
    assert val.fingerprint != data.load("acac", "train", **mirror_cache).fingerprint


def test_listed_but_unmirrored_acac_600K_test_is_verified_when_present(mirror_cache):
    remote = remote_file("davkovacs/BOTNet-datasets", "dataset_acac/test_MD_600K.xyz")
    assert remote.sha256 == "d5a5bba154ec43f915eb7529f86ec3af60e6f911743859daba030181a0378ff7"
    if not (mirror_cache["mirror"] / remote.relative_path).is_file():
        pytest.skip("acac test_MD_600K.xyz is listed in the registry but not in this mirror")
    assert len(data.load("acac", "test_600K", **mirror_cache)) == 650


def test_lips20_split_is_deterministic_disjoint_and_has_stress(mirror_cache):
    train = data.load("lips20", "train", subset="Li2S", **mirror_cache)
    val = data.load("lips20", "val", subset="Li2S", **mirror_cache)
    assert (len(train), len(val)) == (900, 100)
    assert {a.get_chemical_formula() for a in train} == {"Li64S32"}
    train_idx, val_idx = train.record["sources"][0]["indices"], val.record["sources"][0]["indices"]
    assert not set(train_idx) & set(val_idx) and sorted(train_idx + val_idx) == list(range(1000))
    assert data.load("lips20", "train", subset="Li2S", **mirror_cache).fingerprint == train.fingerprint
    # stress is -virial/volume of the very frame in the file
    system = mirror_cache["cache"] / "M3RG-IITD/MDBENCHGNN/Datasets/LiPS20/Li2S/3000K/deepmd/Li64P0S32/set.000"
    k = train_idx[5]
    virial = np.load(system / "virial.npy")[k].reshape(3, 3)
    volume = abs(np.linalg.det(np.load(system / "box.npy")[k].reshape(3, 3)))
    np.testing.assert_allclose(train[5].get_stress(voigt=False), -virial / volume, rtol=1e-12, atol=1e-15)
    two = data.load("lips20", "val", subset=["S", "P"], **mirror_cache)
    assert [a.info["subset"] for a in two][::100] == ["S", "P"]


def test_water_split_covers_all_frames_once(mirror_cache):
    seen = []
    for split in ("train", "val", "test"):
        for source in data.load("water", split, **mirror_cache).record["sources"]:
            seen += [(source["key"], i) for i in source["indices"]]
    assert len(seen) == len(set(seen)) == 400
    from egraff.lammps_adaptor import read_lammps_data

    structure = read_lammps_data(data.lammps_data_file("water", **mirror_cache), ["O", "H"])
    assert structure.get_chemical_formula() == "H128O64"
    np.testing.assert_allclose(structure.cell.lengths(), [12.4447] * 3)


def test_unknown_names_suggest_close_ones(mirror_cache):
    with pytest.raises(UnknownDatasetError, match="did you mean 'md17_aspirin'"):
        data.load("aspirin", "train", **mirror_cache)
    with pytest.raises(UnknownDatasetError, match="did you mean '3bpa'"):
        data.load("3bap", "train", **mirror_cache)
    with pytest.raises(UnknownDatasetError, match="did you mean 'test'"):
        data.load("3bpa", "tset", **mirror_cache)
    with pytest.raises(UnknownDatasetError, match="did you mean 'Li2S'"):
        data.load("lips20", "train", subset="Li2s", **mirror_cache)
    assert not (mirror_cache["cache"] / "splits" / "3bpa-tset.json").exists()


def test_unpinned_splits_say_why(mirror_cache):
    with pytest.raises(SplitUnavailableError, match="19000-frame train split.*not pinned"):
        data.load("lips", "train", **mirror_cache)
    with pytest.raises(SplitUnavailableError, match="glass composition g67"):
        data.load("lips20", "train", subset="g67", **mirror_cache)


def test_tampered_mirror_file_is_refused_and_not_cached(mirror, tmp_path):
    remote = remote_file("M3RG-IITD/MDBENCHGNN", "Datasets/md17/ethanol/val/nequip_npz.npz")
    bad_mirror = tmp_path / "mirror"
    target = bad_mirror / remote.relative_path
    target.parent.mkdir(parents=True)
    shutil.copy(mirror / remote.relative_path, target)
    content = bytearray(target.read_bytes())
    content[-100] ^= 1
    target.write_bytes(bytes(content))
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError) as err:
        data.load("md17_ethanol", "val", cache=cache, mirror=bad_mirror, progress=False)
    assert str(remote.relative_path) in str(err.value) and remote.sha256 in str(err.value)
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_corrupted_cache_file_is_refused(mirror, tmp_path):
    options = {"cache": tmp_path / "cache", "mirror": mirror, "progress": False}
    data.load("md17_ethanol", "val", **options)
    cached = tmp_path / "cache/M3RG-IITD/MDBENCHGNN/Datasets/md17/ethanol/val/nequip_npz.npz"
    cached.write_bytes(cached.read_bytes()[:-1])
    with pytest.raises(ChecksumError, match="delete it and fetch again"):
        data.load("md17_ethanol", "val", **options)


def test_info_reports_statistics_per_split(mirror_cache):
    facts = data.info("gete", **mirror_cache)
    assert facts["documented_sizes"] == {"val": 300, "test": 300}
    assert "train" in facts["unavailable"]
    test = facts["splits"]["test"]
    assert test["composition"] == {"Ge40Te160": 300}
    assert test["energy"]["mean"] == pytest.approx(-39830.0589, abs=1e-3)
    assert test["energy"]["std"] == pytest.approx(0.7593, abs=1e-3)
    assert test["cell"][0][0] == pytest.approx(19.1, abs=0.1)
