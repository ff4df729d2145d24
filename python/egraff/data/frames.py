"""Frame sources: the one way egraff names a set of frames (training data, test frames, MD starts).

A :class:`FrameSource` takes frames from exactly one origin, then cuts them:

- ``dataset`` + ``split`` (+ ``subset``): a registry split (egraff.data.load); ``dataset: "3bpa:test"``
  is short for ``dataset: 3bpa, split: test``;
- ``file``: extxyz/xyz/traj (anything ASE reads), a nequip ``.npz``, or a LAMMPS data file (with
  ``type_names``, the element of LAMMPS type 1, 2, ...);
- ``teacher``: a directory written by ``egraff data generate`` (egraff.data.load_generated), chosen by
  ``phases`` and ``temperatures``; ``trajectory: true`` takes its NVE reference trajectories instead of
  its sampled frames. Inside a job graph it names the role of the job that generated the data.

then, in this order: ``take: [start, stop]`` (a slice), ``fold: train | val`` (disjoint training and
validation parts of one source: every ``round(1 / val_fraction)``-th frame validates, or, with a
``fold_seed``, a seeded random ``val_fraction`` of the frames; a validation fold that would hold out
nothing is refused), and ``n`` (at most ``n`` frames: a seeded random choice, order kept, ``seed``; all
of them when no more are left — a benchmark plan's sizes are caps over cases of different sizes, and
the record lists the frames taken). A list of sources is their concatenation.

Sources are JSON-able, so they enter the content keys of the jobs that read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Literal, Mapping

import numpy as np
from pydantic import Field, model_validator

from egraff.config import ConfigError, ConfigModel

LAMMPS_DATA_SUFFIXES = (".data", ".lmp", ".lammps")


class FrameSource(ConfigModel):
    dataset: str | None = None  # registry name (egraff data list); "name:split" sets the split too
    split: str | None = None
    subset: list[str] | None = None  # registry subsets (LiPS20 compositions)
    file: str | None = None  # extxyz, xyz, traj, npz, or a LAMMPS data file
    type_names: list[str] | None = None  # LAMMPS data files: the element of type 1, 2, ...
    teacher: str | None = None  # egraff data generate output directory (in a job graph: a dependency role)
    phases: list[str] | None = None  # teacher: which phases (default all)
    temperatures: list[float] | None = None  # teacher: which temperatures in K (default all)
    trajectory: bool = False  # teacher: its NVE reference trajectories instead of its sampled frames
    take: list[int] | None = Field(None, min_length=2, max_length=2)  # [start, stop) after loading
    fold: Literal["train", "val"] | None = None
    val_fraction: float = Field(0.2, gt=0, lt=1)  # the fold's validation share
    fold_seed: int | None = None  # None: every round(1/val_fraction)-th frame validates; else a random hold-out
    n: int | None = Field(None, ge=0)  # at most this many frames, a seeded random choice (order kept); None: all
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _dataset_and_split(cls, data):
        if isinstance(data, Mapping) and isinstance(data.get("dataset"), str) and ":" in data["dataset"] \
                and data.get("split") is None:
            name, _, split = data["dataset"].partition(":")
            data = {**data, "dataset": name, "split": split}
        return data

    @model_validator(mode="after")
    def _one_origin(self):
        origins = [key for key in ("dataset", "file", "teacher") if getattr(self, key) is not None]
        if len(origins) != 1:
            raise ConfigError("a frame source takes exactly one of `dataset` (a registry name), `file` or `teacher` "
                              f"(egraff data generate output), not {' and '.join(origins) or 'none'}")
        if self.dataset is not None and not self.split:
            raise ConfigError(f"dataset {self.dataset!r} needs a split, e.g. dataset: \"{self.dataset}:test\"")
        applies = {"split": "dataset", "subset": "dataset", "type_names": "file", "phases": "teacher",
                   "temperatures": "teacher"}
        wrong = [key for key, origin in applies.items()
                 if getattr(self, key) is not None and getattr(self, origin) is None]
        wrong += ["trajectory"] if self.trajectory and self.teacher is None else []
        if wrong:
            raise ConfigError(f"`{wrong[0]}` applies to {applies.get(wrong[0], 'teacher')} sources only, and this one "
                              f"reads {origins[0]} {getattr(self, origins[0])!r}")
        if self.file is not None and Path(self.file).suffix in LAMMPS_DATA_SUFFIXES and not self.type_names:
            raise ConfigError(f"{self.file} is a LAMMPS data file; give `type_names` (the element of each atom type, "
                              "in type order, e.g. [\"O\", \"H\"])")
        return self

    def describe(self) -> str:
        if self.dataset is not None:
            return f"dataset {self.dataset}:{self.split}" + (f" ({'+'.join(self.subset)})" if self.subset else "")
        return f"file {self.file}" if self.file is not None else f"teacher data {self.teacher}"

    def load(self, directories: Mapping[str, Path] | None = None) -> tuple[list, dict]:
        """The frames (``ase.Atoms`` with labels, where the origin has them) and a record of exactly which."""
        frames, record = self._read(directories or {})
        if not frames:
            raise ConfigError(f"{self.describe()} holds no frames")
        indices = np.arange(len(frames))
        if self.take is not None:
            start, stop = self.take
            if not 0 <= start < stop <= len(frames):
                raise ConfigError(f"{self.describe()}: take {self.take} cuts frames {start}-{stop - 1}, but it holds "
                                  f"{len(frames)} frames (0-{len(frames) - 1}); cut inside them")
            indices = indices[start:stop]
        if self.fold is not None:
            held = len(indices)
            indices = self._fold(indices)
            if self.fold == "val" and held and not indices.size:
                raise ConfigError(f"{self.describe()} has {held} frame(s): {{key}} = {self.val_fraction} holds out none "
                                  "for validation; raise it, or name the validation frames in a source of their own",
                                  ("val_fraction",))
        if self.n is not None and self.n < len(indices):
            indices = indices[np.sort(np.random.default_rng(self.seed).choice(len(indices), self.n, replace=False))]
        record = {"source": self.model_dump(exclude_defaults=True), **record, "indices": indices.tolist()}
        return [frames[i] for i in indices], record

    def origin(self, index: int, atoms=None) -> str:
        """Where a user finds frame ``index`` of this source (its index before the cuts), for error messages:
        ``train.extxyz frame 17``, ``md17_ethanol test frame 3 (test.npz frame 3)``."""
        if self.file is not None:
            return f"{self.file} frame {index}"
        where = (f"{self.dataset} {self.split} frame {index}" if self.dataset is not None
                 else f"teacher data {self.teacher} frame {index}")
        info = atoms.info if atoms is not None else {}
        return where + (f" ({info['source']} frame {info['index']})" if "source" in info and "index" in info else "")

    def _fold(self, indices: np.ndarray) -> np.ndarray:
        if self.fold_seed is None:
            held_out = np.arange(len(indices)) % round(1 / self.val_fraction) == 0
            return indices[held_out if self.fold == "val" else ~held_out]
        order = np.random.default_rng(self.fold_seed).permutation(len(indices))
        n_val = int(round(self.val_fraction * len(indices)))
        return indices[order[:n_val]] if self.fold == "val" else indices[np.sort(order[n_val:])]

    def _read(self, directories: Mapping[str, Path]) -> tuple[list, dict]:
        from egraff import data

        if self.dataset is not None:
            loaded = data.load(self.dataset, self.split, subset=self.subset, progress=False)
            return list(loaded), {"dataset": loaded.record}
        if self.teacher is not None:
            root = self.teacher_directory(directories)
            return list(data.load_generated(root, phases=self.phases, temperatures=self.temperatures,
                                            trajectory=self.trajectory)), {"teacher": str(root)}
        return self.read_file(Path(self.file)), {"file": str(self.file)}

    def read_file(self, path: Path) -> list:
        """Every frame of ``path`` (a file source)."""
        from egraff.data.formats import DataFormatError, read_extxyz, read_nequip_npz
        from egraff.lammps_adaptor import read_lammps_data

        if not path.is_file():
            raise ConfigError(f"frame file {path} does not exist" if not path.exists() else
                              f"frame file {path} is a directory; give a structure file")
        if path.suffix == ".npz":
            return read_nequip_npz(path)
        if path.suffix in (".xyz", ".extxyz"):
            return read_extxyz(path)  # names the frame and line of a broken file
        if path.suffix in LAMMPS_DATA_SUFFIXES:
            return [read_lammps_data(path, self.type_names)]
        import ase.io

        try:
            return list(ase.io.read(path, index=":"))
        except ase.io.formats.UnknownFileTypeError as err:  # ASE's word for an empty or unknown file
            raise DataFormatError(f"{path} holds no readable frames ({err})") from None
        except Exception as err:
            raise DataFormatError(f"{path} is not a structure file ASE can read ({str(err).splitlines()[0]})") from None

    def teacher_directory(self, directories: Mapping[str, Path]) -> Path:
        """Where the teacher data lies: a job graph's dependency role, else a directory."""
        return Path(directories[self.teacher]) / "data" if self.teacher in directories else Path(self.teacher)

    def teacher_potential(self, directories: Mapping[str, Path] | None = None):
        """The classical teacher that labelled this source's frames (None unless it is a teacher source)."""
        import json

        from egraff.data import teacher_from_provenance

        if self.teacher is None:
            return None
        metadata = next(self.teacher_directory(directories or {}).glob("*/*/metadata.json"))
        return teacher_from_provenance(json.loads(metadata.read_text())["teacher"])


def as_sources(sources: FrameSource | Mapping | Iterable) -> list[FrameSource]:
    """One source or several, as validated :class:`FrameSource` objects."""
    if isinstance(sources, (FrameSource, Mapping)):
        sources = [sources]
    return [s if isinstance(s, FrameSource) else FrameSource.model_validate(s) for s in sources]


def collect(sources, directories: Mapping[str, Path] | None = None) -> tuple[list, list[dict]]:
    """The frames of one source or the concatenation of several, and one record per source."""
    frames, records = [], []
    for source in as_sources(sources):
        taken, record = source.load(directories)
        frames += taken
        records.append(record)
    return frames, records


def gather(sources, directories: Mapping[str, Path] | None = None) -> list:
    """The frames of one source or the concatenation of several."""
    return collect(sources, directories)[0]
