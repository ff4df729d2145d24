"""Loading registry datasets as recorded splits of ``ase.Atoms``, and their statistics.

``load(name, split)`` fetches (cache → mirror → web, sha256 verified), reads, checks the frame
counts against the registry, and returns a :class:`DatasetSplit`: a sequence of labelled
``ase.Atoms`` plus a record (files with sha256, the frame indices taken from each file, and a
content fingerprint) that a training run stores to say exactly what it trained on. The record is
also written to ``<cache>/splits/``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from egraff.data.download import DownloadError, cache_dir, fetch_file, repository_info
from egraff.data.formats import DataFormatError, read_deepmd, read_extxyz, read_nequip_npz
from egraff.files import atomic_write_text
from egraff.data.registry import Dataset, Source, UnknownDatasetError, get_dataset


class SplitUnavailableError(LookupError):
    """A split that belongs to a dataset but cannot be loaded; the message says why."""


def frames_fingerprint(frames: Iterable) -> str:
    """sha256 of what a model sees: numbers, positions, cell, pbc, energy, forces, stress (in order)."""
    digest = hashlib.sha256()
    for atoms in frames:
        digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(atoms.positions, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(atoms.cell.array, dtype=np.float64).tobytes())
        digest.update(np.asarray(atoms.pbc, dtype=np.uint8).tobytes())
        results = atoms.calc.results if atoms.calc is not None else {}
        for key in ("energy", "forces", "stress"):
            if key in results:
                digest.update(key.encode())
                digest.update(np.ascontiguousarray(results[key], dtype=np.float64).tobytes())
    return digest.hexdigest()


@dataclass
class DatasetSplit(Sequence):
    """Labelled frames of one split and the record of where they came from."""

    frames: list
    record: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index):
        return self.frames[index]

    @property
    def fingerprint(self) -> str:
        return self.record["fingerprint"]

    def save_record(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, json.dumps(self.record, indent=1) + "\n")
        return path


def _read_source(source: Source, **fetch_options) -> list:
    paths = [fetch_file(f, **fetch_options) for f in source.files]
    if source.fmt == "npz":
        frames = read_nequip_npz(paths[0])
    elif source.fmt == "extxyz":
        frames = read_extxyz(paths[0])
    else:
        frames = read_deepmd(paths[0].parent)  # type.raw is the first file of a DeePMD system
    if len(frames) != source.frames:
        raise DataFormatError(f"{paths[0]}: has {len(frames)} frames, the registry documents {source.frames}")
    return frames


def _suggest(word: str, options: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(options), n=3, cutoff=0.4)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def _selected_subsets(dataset: Dataset, subset) -> list[str]:
    if subset is None:
        return list(dataset.subsets)
    names = [subset] if isinstance(subset, str) else list(subset)
    for name in names:
        if name in dataset.unavailable:
            raise SplitUnavailableError(f"{dataset.name}: {dataset.unavailable[name]}")
        if name not in dataset.subsets:
            raise UnknownDatasetError(f"{dataset.name} has no subset {name!r}; {_suggest(name, dataset.subsets)}"
                                      f"subsets: {', '.join(dataset.subsets)}")
    return names


def split_indices(n_frames: int, sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Consecutive blocks of a seeded permutation, each sorted (so frames keep their stored order)."""
    if sum(sizes.values()) > n_frames:
        raise ValueError(f"split sizes {sizes} need {sum(sizes.values())} frames, only {n_frames} exist")
    order = np.random.default_rng(seed).permutation(n_frames)
    blocks, start = {}, 0
    for name, size in sizes.items():
        blocks[name] = np.sort(order[start:start + size])
        start += size
    return blocks


def _file_entry(f) -> dict:
    return {"path": f"{f.repo}/{f.path}", "url": f.url("https://github.com"), "sha256": f.sha256}


def load(name: str, split: str = "train", *, subset: str | Sequence[str] | None = None,
         cache: str | Path | None = None, mirror: str | Path | None = None, base_url: str | None = None,
         progress: bool = True) -> DatasetSplit:
    """Frames of ``split`` of dataset ``name``, fetched and verified; see :mod:`egraff.data`.

    ``subset`` picks compositions (LiPS20) for datasets split at random per subset; the split is
    then taken within each chosen subset.
    """
    import egraff

    dataset = get_dataset(name)
    fetch_options = dict(cache=cache, mirror=mirror, base_url=base_url, progress=progress)
    if split in dataset.unavailable:
        raise SplitUnavailableError(f"{dataset.name}: {dataset.unavailable[split]}")
    if split not in dataset.split_names:
        raise UnknownDatasetError(f"{dataset.name} has no split {split!r}; {_suggest(split, dataset.split_names)}"
                                  f"splits: {', '.join(dataset.split_names)}")
    frames, sources = [], []
    if split in dataset.file_splits:
        if subset is not None:
            raise ValueError(f"{dataset.name} has no subsets; call load without subset=")
        for source in dataset.file_splits[split]:
            taken = _read_source(source, **fetch_options)
            for k, atoms in enumerate(taken):
                atoms.info.update(dataset=dataset.name, split=split, source=source.key, index=k)
            frames += taken
            sources.append({"key": source.key, "files": [_file_entry(f) for f in source.files],
                            "indices": list(range(len(taken)))})
    else:
        rule = dataset.random_split
        for subset_name in _selected_subsets(dataset, subset):
            pool = [(source, k, atoms) for source in dataset.subsets[subset_name]
                    for k, atoms in enumerate(_read_source(source, **fetch_options))]
            chosen = split_indices(len(pool), rule.sizes, rule.seed)[split]
            for i in chosen:
                source, k, atoms = pool[i]
                atoms.info.update(dataset=dataset.name, split=split, subset=subset_name, source=source.key, index=k)
                frames.append(atoms)
            for source in dataset.subsets[subset_name]:
                sources.append({"key": source.key, "subset": subset_name,
                                "files": [_file_entry(f) for f in source.files],
                                "indices": [int(pool[i][1]) for i in chosen if pool[i][0] is source]})
    record = {
        "dataset": dataset.name, "split": split, "subset": subset,
        "split_rule": "as released" if split in dataset.file_splits else
        f"numpy default_rng({dataset.random_split.seed}).permutation, blocks {dataset.random_split.sizes}",
        "n_frames": len(frames), "fingerprint": frames_fingerprint(frames), "sources": sources,
        "egraff_version": egraff.__version__,
    }
    result = DatasetSplit(frames, record)
    tag = "" if subset is None else "+" + "+".join([subset] if isinstance(subset, str) else subset)
    root = Path(cache) if cache is not None else cache_dir()
    result.save_record(root / "splits" / f"{dataset.name}{tag}-{split}.json")
    return result


def statistics(frames: Sequence) -> dict:
    """Composition, sizes, cells and energy/force statistics (eV, Å) of labelled frames."""
    formulas = Counter(atoms.get_chemical_formula() for atoms in frames)
    n_atoms = np.array([len(atoms) for atoms in frames])
    stats = {"frames": len(frames), "composition": dict(formulas),
             "atoms_per_frame": [int(n_atoms.min()), int(n_atoms.max())] if len(frames) else [0, 0]}
    cells = np.array([atoms.cell.array for atoms in frames])
    if len(frames):
        stats["pbc"] = frames[0].pbc.tolist()
        stats["cell"] = cells[0].tolist()
        stats["distinct_cells"] = len(np.unique(cells.round(8).reshape(len(frames), 9), axis=0))
    labelled = [a for a in frames if a.calc is not None and "energy" in a.calc.results]
    if labelled:
        energy = np.array([a.calc.results["energy"] for a in labelled])
        per_atom = energy / np.array([len(a) for a in labelled])
        stats["energy"] = {"mean": float(energy.mean()), "std": float(energy.std()),
                           "min": float(energy.min()), "max": float(energy.max())}
        stats["energy_per_atom"] = {"mean": float(per_atom.mean()), "std": float(per_atom.std())}
    with_forces = [a.calc.results["forces"] for a in labelled if "forces" in a.calc.results]
    if with_forces:
        forces = np.concatenate(with_forces)
        stats["forces"] = {"rms": float(np.sqrt(np.mean(forces ** 2))),
                           "max_norm": float(np.linalg.norm(forces, axis=1).max())}
    stats["with_stress"] = sum("stress" in a.calc.results for a in labelled)
    return stats


def info(name: str, **load_options) -> dict:
    """Registry facts and :func:`statistics` of every available split of ``name``."""
    dataset = get_dataset(name)
    licences = sorted({f.repo for f in dataset.all_files()} | {dataset.origin_repo})
    return {
        "name": dataset.name, "title": dataset.title, "system": dataset.system, "reference": dataset.reference,
        "licence": {repo: repository_info(repo)["licence"] for repo in licences},
        "notes": dataset.notes, "documented_sizes": dataset.split_sizes(), "unavailable": dataset.unavailable,
        "subsets": list(dataset.subsets) if dataset.random_split and len(dataset.subsets) > 1 else [],
        "splits": {split: _split_statistics(dataset.name, split, load_options) for split in dataset.split_names},
    }


def _split_statistics(name: str, split: str, load_options: dict) -> dict:
    try:
        return statistics(load(name, split, **load_options))
    except DownloadError as err:  # e.g. a pinned file that is neither cached nor mirrored, offline
        return {"error": str(err)}
