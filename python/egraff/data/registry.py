"""The named datasets: where each split comes from, how many frames it has, and its licence.

Two kinds of split:

* a **file split** is one upstream file (or DeePMD system) as released — EGraFFBench's
  ``train/val/test`` npz files, BOTNet's extxyz sets;
* a **random split** is a seeded permutation of all frames of the dataset's sources (per subset),
  cut into consecutive blocks of the given sizes (used where upstream gives no split: LiPS20,
  the DeePMD water example). The permutation is ``numpy.random.default_rng(seed).permutation``,
  so the indices are the same on every machine; they are recorded with every loaded split.

Splits that belong to a dataset but whose files are not pinned (no public sha256 is known to
egraff) are listed in ``unavailable`` with the reason, so asking for them says why instead of
"not found".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from egraff.data.download import RemoteFile, remote_file

MDBENCH = "M3RG-IITD/MDBENCHGNN"
BOTNET = "davkovacs/BOTNet-datasets"
DEEPMD = "deepmodeling/deepmd-kit"


@dataclass(frozen=True)
class Source:
    """One block of frames stored upstream: an npz or extxyz file, or a DeePMD system (several files)."""

    key: str  # short name used in split records
    fmt: str  # "npz" | "extxyz" | "deepmd"
    files: tuple[RemoteFile, ...]
    frames: int

    @property
    def repo_paths(self) -> list[str]:
        return [f"{f.repo}/{f.path}" for f in self.files]


@dataclass(frozen=True)
class RandomSplit:
    sizes: dict[str, int]  # split name -> frames, cut in this order from the permutation
    seed: int


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    system: str
    reference: str  # level of theory / origin
    origin_repo: str  # the repository whose licence covers the released splits
    file_splits: dict[str, tuple[Source, ...]] = field(default_factory=dict)
    subsets: dict[str, tuple[Source, ...]] = field(default_factory=dict)  # for random splits
    random_split: RandomSplit | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # split or subset -> reason
    notes: str = ""
    lammps_data: RemoteFile | None = None  # an example structure as a LAMMPS data file
    lammps_type_names: tuple[str, ...] = ()

    @property
    def split_names(self) -> list[str]:
        names = list(self.file_splits)
        if self.random_split:
            names += list(self.random_split.sizes)
        return names

    def split_sizes(self) -> dict[str, int]:
        """Documented frames per available split (over all subsets for random splits)."""
        sizes = {name: sum(s.frames for s in sources) for name, sources in self.file_splits.items()}
        if self.random_split:
            sizes.update({name: n * len(self.subsets) for name, n in self.random_split.sizes.items()})
        return sizes

    def all_files(self) -> list[RemoteFile]:
        seen, files = set(), []
        groups = list(self.file_splits.values()) + list(self.subsets.values())
        for sources in groups:
            for source in sources:
                for f in source.files:
                    if f.relative_path not in seen:
                        seen.add(f.relative_path)
                        files.append(f)
        if self.lammps_data is not None:
            files.append(self.lammps_data)
        return files


def _npz(key: str, directory: str, frames: int) -> Source:
    return Source(key, "npz", (remote_file(MDBENCH, f"Datasets/{directory}/nequip_npz.npz"),), frames)


def _xyz(key: str, path: str, frames: int) -> Source:
    return Source(key, "extxyz", (remote_file(BOTNET, path),), frames)


def _deepmd(key: str, repo: str, directory: str, sets: tuple[str, ...], arrays: tuple[str, ...],
            frames: int) -> Source:
    files = [remote_file(repo, f"{directory}/{name}") for name in ("type.raw", "type_map.raw")]
    files += [remote_file(repo, f"{directory}/{s}/{a}.npy") for s in sets for a in arrays]
    return Source(key, "deepmd", tuple(files), frames)


def _nequip_splits(directory: str, train: int, val: int, test: int) -> dict[str, tuple[Source, ...]]:
    counts = {"train": train, "val": val, "test": test}
    return {split: (_npz(split, f"{directory}/{split}", n),) for split, n in counts.items()}


_MD17_NOTE = ("Original MD17 (sgdml.org, PBE+vdW-TS, 500 K AIMD), not rMD17; energies already in eV. "
              "pbc is False; the stored cell is not physical and kept only as released.")


def _md17(molecule: str, formula: str) -> Dataset:
    return Dataset(
        name=f"md17_{molecule}", title=f"MD17 {molecule.replace('_', ' ')} (EGraFFBench split)", system=formula,
        reference="PBE+vdW-TS (MD17, Chmiela et al. 2017)", origin_repo=MDBENCH,
        file_splits=_nequip_splits(f"md17/{molecule}", 950, 50, 1000), notes=_MD17_NOTE,
    )


LIPS20_COMPOSITIONS = {  # directory -> DeePMD system (formula with zero counts, as upstream)
    "Li": "Li54P0S0", "Li2P2S6": "Li16P16S48", "Li2PS3-hex": "Li32P16S48", "Li2PS3-orth": "Li32P16S48",
    "Li2S": "Li64P0S32", "Li3P": "Li48P16S0", "Li48P16S61": "Li48P16S61", "Li4P2S6": "Li32P16S48",
    "Li7P3S11": "Li28P12S44", "Li7PS6": "Li28P4S24", "P": "Li0P48S0", "P2S5": "Li0P8S20",
    "P4S3": "Li0P32S24", "S": "Li0P0S32", "beta-Li3PS4": "Li24P8S32", "gamma-Li3PS4": "Li48P16S64",
}
_NOT_PINNED = "its upstream file is not pinned in egraff (no sha256 is known), so it cannot be fetched and verified"


def _build() -> dict[str, Dataset]:
    datasets = [
        _md17("aspirin", "C9H8O4"),
        _md17("ethanol", "C2H6O"),
        _md17("naphthalene", "C10H8"),
        _md17("salicylic_acid", "C7H6O3"),
        Dataset(
            name="3bpa", title="3BPA (EGraFFBench split; BOTNet-datasets)", system="C12H12N2O",
            reference="DFT from Kovács et al. 2021 (BOTNet-datasets)", origin_repo=MDBENCH,
            file_splits={
                **_nequip_splits("3bpa/data", 500, 1669, 2138),
                "train_mixedT": (_xyz("train_mixedT", "dataset_3BPA/train_mixedT.xyz", 500),),
                "isolated_atoms": (_xyz("isolated_atoms", "dataset_3BPA/iso_atoms.xyz", 4),),
            },
            unavailable={"test_1200K": f"the 3BPA 1200 K test set: {_NOT_PINNED}",
                         "test_dihedral": f"the 3BPA dihedral scan: {_NOT_PINNED}"},
            notes="train = 300 K; val (1669) = the original 300 K test set; test (2138) = the original 600 K "
                  "test set. Isolated molecule in a 50 Å box stored with pbc=True.",
        ),
        Dataset(
            name="acac", title="Acetylacetone (EGraFFBench split; BOTNet-datasets)", system="C5H8O2",
            reference="ORCA 5.0, UHF PBE+D3, def2-SVP", origin_repo=MDBENCH,
            file_splits={
                **_nequip_splits("acac/data", 500, 650, 650),
                "train_600K": (_xyz("train_600K", "dataset_acac/train_600K.xyz", 500),),
                "test_600K": (_xyz("test_600K", "dataset_acac/test_MD_600K.xyz", 650),),
                "h_transfer": (_xyz("h_transfer", "dataset_acac/test_H_transfer.xyz", 15),),
                "dihedral": (_xyz("dihedral", "dataset_acac/test_dihedral.xyz", 45),),
                "isolated_atoms": (_xyz("isolated_atoms", "dataset_acac/isolated_atoms.xyz", 3),),
            },
            notes="train = 300 K MD; val and test are the same file (test_MD_300K) as released by "
                  "EGraFFBench; train_600K and test_600K are BOTNet's 600 K sets. Isolated molecule in a 50 Å box.",
        ),
        Dataset(
            name="lips", title="LiPS (Li6.75P3S11; MDsim lips/20k split)", system="Li27P12S44",
            reference="AIMD from Batzner et al. 2022 (NequIP)", origin_repo=MDBENCH,
            file_splits={"val": (_npz("val", "Data_lips/data/val", 1000),)},
            unavailable={"train": f"the 19000-frame train split: {_NOT_PINNED}",
                         "test": f"the 5001-frame test split: {_NOT_PINNED}"},
            notes="Split sizes 19000/1000/5001 (MDsim, random_state 123); only val is pinned.",
        ),
        Dataset(
            name="lips20", title="LiPS20 (20 Li-P-S compositions, DeePMD format with virials)", system="Li-P-S",
            reference="AIMD, unknown functional (EGraFFBench)", origin_repo=MDBENCH,
            subsets={
                comp: (_deepmd(comp, MDBENCH, f"Datasets/LiPS20/{comp}/3000K/deepmd/{system}", ("set.000",),
                               ("box", "coord", "energy", "force", "virial"), 1000),)
                for comp, system in LIPS20_COMPOSITIONS.items()
            },
            random_split=RandomSplit({"train": 900, "val": 100}, seed=0),
            unavailable={g: f"the glass composition {g}: {_NOT_PINNED}" for g in ("g67", "g70", "g75", "g80")},
            notes="1000 frames per composition (fixed cell, '3000K'); egraff splits each composition 900/100 "
                  "with seed 0. Choose compositions with subset= to build unseen-composition tasks.",
        ),
        Dataset(
            name="gete", title="GeTe (Ge40Te160, EGraFFBench)", system="Ge40Te160",
            reference="AIMD, unknown functional (EGraFFBench)", origin_repo=MDBENCH,
            file_splits={"val": (_npz("val", "GeTe/data/val", 300),), "test": (_npz("test", "GeTe/data/test", 300),)},
            unavailable={"train": f"the 1500-frame train split: {_NOT_PINNED}"},
            notes="Split sizes 1500/300/300; val and test are amorphous trajectory segments.",
        ),
        Dataset(
            name="water", title="Liquid water, 64 H2O (DeePMD-kit example)", system="H128O64",
            reference="DFT, level not documented upstream (DeePMD-kit examples/water)", origin_repo=DEEPMD,
            subsets={"all": tuple(
                _deepmd(f"data_{k}", DEEPMD, f"examples/water/data/data_{k}", sets, ("box", "coord", "energy", "force"),
                        80 * len(sets))
                for k, sets in ((0, ("set.000",)), (1, ("set.000", "set.001")), (2, ("set.000",)), (3, ("set.000",))))},
            random_split=RandomSplit({"train": 320, "val": 40, "test": 40}, seed=0),
            lammps_data=remote_file(DEEPMD, "examples/water/lmp/water.lmp"), lammps_type_names=("O", "H"),
            notes="400 frames of 192 atoms, cubic 12.4447 Å, stored as float32. egraff splits 320/40/40 "
                  "with seed 0. The LAMMPS data file lmp/water.lmp (types 1 O, 2 H) starts MD.",
        ),
    ]
    return {d.name: d for d in datasets}


DATASETS: dict[str, Dataset] = _build()


class UnknownDatasetError(LookupError):
    """A dataset, split or subset name that the registry does not have."""


def dataset_names() -> list[str]:
    return list(DATASETS)


def get_dataset(name: str) -> Dataset:
    """The registry entry for ``name`` (case and ``-``/``_`` are ignored); unknown names suggest close ones."""
    key = name.strip().lower().replace("-", "_")
    if key in DATASETS:
        return DATASETS[key]
    close = difflib.get_close_matches(key, DATASETS, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise UnknownDatasetError(f"unknown dataset {name!r}; {hint}known datasets: {', '.join(DATASETS)}")
