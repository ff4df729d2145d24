"""Data: the dataset registry, readers, recorded splits, teacher-generated data, neighbour graphs.

Frames are ``ase.Atoms`` with their labels in a ``SinglePointCalculator`` (energy eV, forces eV/Å,
stress eV/Å³ with ASE's sign, ``-virial/volume``) and provenance in ``atoms.info``; see
:mod:`egraff.data.formats`.

The API the training engine and the benchmark call::

    from egraff import data
    data.dataset_names()                                   # md17_aspirin, ..., 3bpa, acac, lips, lips20, gete, water
    split = data.load("3bpa", "test")                       # DatasetSplit: a sequence of Atoms + .record
    split = data.load("lips20", "train", subset=["Li2S", "P4S3"])
    split.fingerprint, split.record, split.save_record(path) # what exactly was trained on
    data.info("acac")                                       # registry facts + per-split statistics
    data.fetch("gete")                                      # verified local paths of every pinned file

    from egraff.data import generate
    generate.water(out_dir, temperatures=(300, 350), n_molecules=64)    # SPC/Fw, PPPM or DSF
    generate.silicon(out_dir, phases=("diamond", "liquid", "amorphous"), temperatures=(300, 900))
    generate.copper(out_dir, phases=("fcc", "hcp", "bcc", "liquid"))
    data.load_generated(out_dir, system="silicon", phases=["diamond"], temperatures=[300])
    data.teacher_from_provenance(meta["teacher"]).label(frames)         # exact teacher labels

Modules: ``registry`` (named datasets and splits), ``download`` (cache, mirror, resume, sha256),
``formats`` (npz, extxyz, DeePMD), ``datasets`` (load, statistics), ``teacher`` and
``generate`` (LAMMPS teachers), ``graph`` (neighbour lists), ``cli`` (``egraff data ...``).
Importing this package stays cheap: names are resolved on first use.
"""

from __future__ import annotations

_EXPORTS = {
    "load": "datasets", "info": "datasets", "statistics": "datasets", "frames_fingerprint": "datasets",
    "DatasetSplit": "datasets", "SplitUnavailableError": "datasets",
    "dataset_names": "registry", "get_dataset": "registry", "UnknownDatasetError": "registry",
    "fetch_file": "download", "cache_dir": "download", "ChecksumError": "download", "DownloadError": "download",
    "read_nequip_npz": "formats", "read_extxyz": "formats", "write_extxyz": "formats", "read_deepmd": "formats",
    "stress_from_virial": "formats", "DataFormatError": "formats",
    "load_generated": "generate", "teacher_from_provenance": "teacher",
}


def fetch(name: str, **options) -> list:
    """Verified local paths of every pinned file of dataset ``name`` (see :func:`egraff.data.download.fetch_file`)."""
    from egraff.data.download import fetch_file
    from egraff.data.registry import get_dataset

    return [fetch_file(f, **options) for f in get_dataset(name).all_files()]


def lammps_data_file(name: str, **options):
    """The dataset's example structure as a LAMMPS data file (e.g. ``water``: 192 atoms, types O H)."""
    from egraff.data.download import fetch_file
    from egraff.data.registry import get_dataset

    dataset = get_dataset(name)
    if dataset.lammps_data is None:
        raise LookupError(f"{dataset.name} has no LAMMPS data file; only {', '.join(_with_lammps_data())} have one")
    return fetch_file(dataset.lammps_data, **options)


def _with_lammps_data() -> list[str]:
    from egraff.data.registry import DATASETS

    return [name for name, d in DATASETS.items() if d.lammps_data is not None]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"egraff.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'egraff.data' has no attribute {name!r}")
