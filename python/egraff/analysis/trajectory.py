"""Trajectories for analysis: one reader for LAMMPS text dumps, extxyz and ASE ``.traj`` files, and
MDAnalysis universes taken as they are.

Cells are 3×3 arrays whose rows are the lattice vectors (ASE convention). Positions are Å, times ps,
energies eV, forces eV/Å. Atoms are ordered by LAMMPS atom id (dumps) or file order (ASE formats).
Periodicity is per axis: a dump's ``ITEM: BOX BOUNDS`` flags (periodic only for ``pp``; a molecule
run with ``boundary s s s`` is not periodic at all), an ASE frame's ``pbc``, an MDAnalysis frame's
``dimensions`` (None: not periodic). Every analysis honours it: no periodic images along an axis that
is not periodic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from egraff.analysis._base import positive

#: cells whose |det| is below this (Å³) have no volume
ZERO_VOLUME = 1e-9


@dataclass
class Trajectory:
    symbols: np.ndarray  # [N] str, element (or type) name of each atom
    positions: np.ndarray  # [F, N, 3] Å
    cells: np.ndarray  # [F, 3, 3] rows are lattice vectors
    pbc: np.ndarray  # [3] bool
    steps: np.ndarray  # [F] MD step of each frame (frame index where the file has none)
    timestep: float | None = None  # ps per step; None when unknown
    unwrapped: bool = False  # True when positions are known to be continuous across the boundaries
    energies: np.ndarray | None = None  # [F] eV, potential energy
    forces: np.ndarray | None = None  # [F, N, 3] eV/Å
    source: str = "trajectory"

    def __post_init__(self):
        self.symbols = np.asarray(self.symbols, dtype=str)
        self.positions = np.asarray(self.positions, dtype=np.float64)
        n_frames = self.positions.shape[0]
        self.cells = np.broadcast_to(np.asarray(self.cells, dtype=np.float64), (n_frames, 3, 3)).copy()
        self.pbc = np.broadcast_to(np.asarray(self.pbc, dtype=bool), (3,)).copy()
        self.steps = np.asarray(self.steps, dtype=np.int64)
        if self.timestep is not None:
            self.timestep = float(positive("timestep", self.timestep, unit="ps per step"))
        if self.positions.ndim != 3 or self.positions.shape[1:] != (len(self.symbols), 3):
            raise ValueError(f"{self.source}: positions have shape {self.positions.shape}, expected "
                             f"(frames, {len(self.symbols)}, 3)")
        if n_frames == 0:
            raise ValueError(f"{self.source} has no frames")
        if self.energies is not None:
            self.energies = np.asarray(self.energies, dtype=np.float64).reshape(n_frames)
        if self.forces is not None:
            self.forces = np.asarray(self.forces, dtype=np.float64).reshape(self.positions.shape)
        if not np.all(np.isfinite(self.positions)):
            frame = int(np.nonzero(~np.isfinite(self.positions).all(axis=(1, 2)))[0][0])
            raise ValueError(f"frame {frame} of {self.source} has NaN or infinite positions")
        if self.pbc.any():
            volumes = np.abs(np.linalg.det(self.cells))
            bad = np.nonzero(volumes < ZERO_VOLUME)[0]
            if bad.size:
                raise ValueError(f"frame {bad[0]} of {self.source} is periodic but its cell has zero volume "
                                 f"(cell {self.cells[bad[0]].tolist()}); give the file a real simulation cell")

    @property
    def n_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[1]

    @property
    def elements(self) -> list[str]:
        """Distinct names, sorted."""
        return [str(n) for n in np.unique(self.symbols)]

    @property
    def volumes(self) -> np.ndarray:
        return np.abs(np.linalg.det(self.cells))

    @property
    def times(self) -> np.ndarray:
        """Time of each frame since the first, in ps."""
        if self.timestep is None:
            raise ValueError(f"{self.source} carries no time information; give the MD timestep in ps "
                             "(timestep=..., or --timestep on the command line)")
        return (self.steps - self.steps[0]) * self.timestep

    def __getitem__(self, frames) -> "Trajectory":
        """The frames selected by a slice or index array, as a new trajectory."""
        if isinstance(frames, (int, np.integer)):
            frames = [frames]
        return replace(self, positions=self.positions[frames], cells=self.cells[frames], steps=self.steps[frames],
                       energies=None if self.energies is None else self.energies[frames],
                       forces=None if self.forces is None else self.forces[frames])

    def atoms(self, frame: int):
        """Frame ``frame`` as ``ase.Atoms`` (the names must be chemical symbols)."""
        from ase import Atoms

        return Atoms(symbols=list(self.symbols), positions=self.positions[frame], cell=self.cells[frame], pbc=self.pbc)

    @classmethod
    def from_mdanalysis(cls, group, timestep: float | None = None) -> "Trajectory":
        """Every frame of an MDAnalysis ``Universe`` or ``AtomGroup`` (its atoms only).

        Names are the topology's elements where it has them, else its atom types (map LAMMPS types
        with ``universe.add_TopologyAttr("elements", [...])``). A frame without ``dimensions`` is
        not periodic. ``timestep`` (ps per frame) defaults to the reader's ``dt``; forces come along
        when every frame has them. Positions are MDAnalysis's (float32 for most readers).
        """
        from MDAnalysis.lib.mdamath import triclinic_vectors

        atoms = group.atoms
        universe = atoms.universe
        try:
            names = atoms.elements
        except AttributeError:  # MDAnalysis's NoDataError: the topology has no elements
            names = None
        if names is None or not all(str(n).strip() for n in names):
            names = atoms.types
        positions, cells, periodic, forces = [], [], [], []
        for ts in universe.trajectory:
            positions.append(atoms.positions.astype(np.float64))
            periodic.append(ts.dimensions is not None)
            cells.append(triclinic_vectors(ts.dimensions).astype(np.float64) if ts.dimensions is not None
                         else np.zeros((3, 3)))
            if ts.has_forces:
                forces.append(atoms.forces.astype(np.float64))
        source = str(getattr(universe, "filename", None) or universe)
        if len(set(periodic)) > 1:
            raise ValueError(f"{source}: some frames have a box and some do not; these analyses need one periodicity")
        return cls(symbols=np.asarray(names, dtype=str), positions=np.array(positions), cells=np.array(cells),
                   pbc=periodic[0], steps=np.arange(len(positions)),
                   timestep=universe.trajectory.dt if timestep is None else timestep,
                   forces=np.array(forces) if len(forces) == len(positions) else None, source=source)


def as_trajectory(source, timestep: float | None = None) -> Trajectory:
    """``source`` as a :class:`Trajectory`: itself, or every frame of an MDAnalysis Universe/AtomGroup."""
    if isinstance(source, Trajectory):
        return source
    if hasattr(source, "atoms") and hasattr(getattr(source, "atoms"), "universe"):
        return Trajectory.from_mdanalysis(source, timestep)
    raise TypeError(f"cannot analyze a {type(source).__name__}; give an egraff Trajectory (read_trajectory) or an "
                    "MDAnalysis Universe or AtomGroup")


# ---------------------------------------------------------------------------------------- geometry

def cell_widths(cell: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of each cell ([..., 3]); half the smallest bounds minimum-image r."""
    cell = np.asarray(cell, dtype=np.float64)
    volume = np.abs(np.linalg.det(cell))
    faces = np.cross(cell[..., [1, 2, 0], :], cell[..., [2, 0, 1], :])
    return volume[..., None] / np.linalg.norm(faces, axis=-1)


def max_minimum_image_radius(trajectory: Trajectory) -> float:
    """The largest r at which every pair has a unique minimum image in every frame (periodic axes only)."""
    if not trajectory.pbc.any():
        return np.inf
    return float(0.5 * cell_widths(trajectory.cells)[:, trajectory.pbc].min())


def minimum_image(vectors: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Separation vectors [..., 3] folded to their nearest image along periodic axes.

    Rounding fractional coordinates is the exact minimum image in orthogonal cells and for vectors
    shorter than half the narrowest cell width in any cell, which covers bonds and per-frame moves.
    """
    if not np.any(pbc):
        return vectors
    fractional = vectors @ np.linalg.inv(cell)
    fractional -= np.where(pbc, np.round(fractional), 0.0)
    return fractional @ cell


def unwrapped_positions(trajectory: Trajectory) -> np.ndarray:
    """Continuous positions [F, N, 3]: as stored when known unwrapped, else rebuilt frame to frame by
    summing minimum-image displacements (valid when no atom moves half a cell width between frames)."""
    if trajectory.unwrapped or not trajectory.pbc.any():
        return trajectory.positions
    steps = np.diff(trajectory.positions, axis=0)
    for k in range(steps.shape[0]):
        steps[k] = minimum_image(steps[k], trajectory.cells[k + 1], trajectory.pbc)
    return np.concatenate([trajectory.positions[:1], trajectory.positions[:1] + np.cumsum(steps, axis=0)])


# ------------------------------------------------------------------------------------------ reading

def parse_type_map(text: str | Mapping[int, str] | None) -> dict[int, str]:
    """``"1=O,2=H"`` (or a dict) → {1: "O", 2: "H"}."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return {int(k): str(v) for k, v in text.items()}
    mapping = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, name = item.partition("=")
        if not sep or not key.strip().isdigit() or not name.strip():
            raise ValueError(f"cannot read type mapping {item!r}; write it as TYPE=ELEMENT, e.g. 1=O,2=H")
        mapping[int(key)] = name.strip()
    return mapping


def read_trajectory(path, types: str | Mapping[int, str] | None = None, timestep: float | None = None,
                    format: str | None = None) -> Trajectory:
    """Read a LAMMPS text dump, an extxyz file or an ASE ``.traj`` file.

    ``types`` maps LAMMPS type numbers to element names (``"1=O,2=H"``) for dumps without an element
    column; unmapped types keep their number as name. ``timestep`` is ps per MD step (dumps: steps are
    the TIMESTEP values; ASE files: a frame's ``info["step"]`` or its index). ``format`` is ``lammps-dump``,
    ``extxyz`` or ``traj``; by default it is guessed from the file name and first line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trajectory file {path} does not exist")
    format = format or _guess_format(path)
    if format == "lammps-dump":
        return _read_lammps_dump(path, parse_type_map(types), timestep)
    if format in ("extxyz", "traj"):
        return _read_ase(path, format, timestep)
    raise ValueError(f"unknown trajectory format {format!r}; use lammps-dump, extxyz or traj")


def _guess_format(path: Path) -> str:
    if path.suffix == ".traj":
        return "traj"
    if path.suffix in (".xyz", ".extxyz"):
        return "extxyz"
    with open(path, "rb") as handle:
        first = handle.readline()
    if not first:
        raise ValueError(f"{path} is empty: the run wrote no frame (see its log for why it stopped at the start)")
    if first.startswith(b"ITEM: TIMESTEP"):
        return "lammps-dump"
    raise ValueError(f"cannot tell the format of {path}: name it .dump (LAMMPS text dump starting with "
                     "'ITEM: TIMESTEP'), .xyz/.extxyz or .traj")


def _changed_atoms(path, frame: int, count: int, first: int) -> ValueError:
    return ValueError(f"frame {frame} of {path} has {count} atoms but frame 0 has {first}; "
                      "these analyses need the same atoms in every frame")


def _read_lammps_dump(path: Path, type_map: dict[int, str], timestep: float | None) -> Trajectory:
    """Frames of a LAMMPS text dump; the periodicity of each axis from the BOX BOUNDS flags (``pp`` only)."""
    from egraff.lammps_adaptor import LammpsBox

    lines = path.read_text().splitlines()
    steps, cells, positions, forces, names, pbc, unwrapped = [], [], [], [], None, None, True
    i = 0
    while i < len(lines):
        if not lines[i].startswith("ITEM: TIMESTEP"):
            if lines[i].strip():
                raise ValueError(f"{path} line {i + 1}: expected 'ITEM: TIMESTEP', found {lines[i][:60]!r}; "
                                 "is this a LAMMPS text dump (dump style atom or custom)?")
            i += 1
            continue
        frame = len(steps)
        for offset, item in ((2, "ITEM: NUMBER OF ATOMS"), (4, "ITEM: BOX BOUNDS"), (8, "ITEM: ATOMS")):
            if i + offset >= len(lines) or not lines[i + offset].startswith(item):
                raise ValueError(f"{path} line {i + offset + 1}: frame {frame} is truncated or malformed "
                                 f"(expected '{item}')")
        try:
            step, n = int(lines[i + 1]), int(lines[i + 3])
            box = LammpsBox.from_dump_header(lines[i + 4], lines[i + 5:i + 8])
        except ValueError as err:
            raise ValueError(f"{path} lines {i + 2}-{i + 8}: the header of frame {frame} cannot be read ({err})") from None
        columns = lines[i + 8].split()[2:]
        block = lines[i + 9:i + 9 + n]
        if len(block) != n:
            raise ValueError(f"{path}: frame {frame} (line {i + 1}) promises {n} atoms but the file ends after "
                             f"{len(block)}")
        if steps and n != positions[0].shape[0]:
            raise _changed_atoms(path, frame, n, positions[0].shape[0])
        if pbc is not None and not np.array_equal(box.pbc, pbc):
            raise ValueError(f"frame {frame} of {path} has boundary flags {box.pbc.tolist()} but frame 0 has "
                             f"{pbc.tolist()}; these analyses need one periodicity for the whole run")
        pbc = box.pbc
        table, line_of = _atom_table(path, block, columns, i + 10), i + 10 + np.arange(n)
        col = {name: k for k, name in enumerate(columns)}
        if "id" in col:  # atoms in id order
            order = np.argsort(_column(path, table, line_of, col, "id").astype(np.int64), kind="stable")
            table, line_of = table[order], line_of[order]

        def number(name, table=table, line_of=line_of):
            return _column(path, table, line_of, col, name)

        xyz, frame_unwrapped = _dump_positions(col, box, path, number)
        unwrapped = unwrapped and frame_unwrapped
        frame_names = _dump_names(table, col, type_map, path, number)
        if names is None:
            names = frame_names
        elif not np.array_equal(names, frame_names):
            raise ValueError(f"frame {frame} of {path} has different elements than frame 0; "
                             "these analyses need the same atoms in every frame")
        steps.append(step)
        cells.append(box.cell)
        positions.append(xyz)
        if all(c in col for c in ("fx", "fy", "fz")):
            forces.append(np.stack([number(c) for c in ("fx", "fy", "fz")], axis=1))
        i += 9 + n
    if not steps:
        raise ValueError(f"{path} holds no frame")
    return Trajectory(symbols=names, positions=np.array(positions), cells=np.array(cells), pbc=pbc,
                      steps=np.array(steps), timestep=timestep, unwrapped=bool(unwrapped) or not pbc.any(),
                      forces=np.array(forces) if len(forces) == len(steps) else None, source=str(path))


def _atom_table(path: Path, block: list[str], columns: list[str], first_line: int) -> np.ndarray:
    """The atom lines of a frame as a [N, columns] array of strings; a short or long line is an error naming it."""
    rows = [line.split() for line in block]
    for k, row in enumerate(rows):
        if len(row) != len(columns):
            raise ValueError(f"{path} line {first_line + k}: {len(row)} values but ITEM: ATOMS names {len(columns)} "
                             f"columns ({' '.join(columns)}); the line is cut short or the atom count is wrong")
    return np.array(rows, dtype=str).reshape(len(rows), len(columns))


def _column(path: Path, table: np.ndarray, line_of: np.ndarray, col: dict, name: str) -> np.ndarray:
    """Column ``name`` as floats; a value that is no number is an error naming its line (``line_of`` each row's)."""
    values = table[:, col[name]]
    try:
        return values.astype(np.float64)
    except ValueError:
        for line, value in zip(line_of, values):
            try:
                float(value)
            except ValueError:
                raise ValueError(f"{path} line {line}: column {name} holds {str(value)!r}, which is not a number") from None
        raise


def _dump_positions(col, box, path, number) -> tuple[np.ndarray, bool]:
    """Cartesian positions and whether they are unwrapped, from whichever coordinate columns exist."""
    for names, scaled, unwrapped in ((("xu", "yu", "zu"), False, True), (("xsu", "ysu", "zsu"), True, True),
                                     (("x", "y", "z"), False, False), (("xs", "ys", "zs"), True, False)):
        if all(n in col for n in names):
            xyz = np.stack([number(n) for n in names], axis=1)
            if scaled:
                xyz = box.origin + xyz @ box.cell
            if not unwrapped and all(n in col for n in ("ix", "iy", "iz")):
                xyz = xyz + np.stack([number(n) for n in ("ix", "iy", "iz")], axis=1) @ box.cell
                unwrapped = True
            return xyz, unwrapped
    raise ValueError(f"{path} has no coordinate columns (x y z, xu yu zu, xs ys zs or xsu ysu zsu)")


def _dump_names(table, col, type_map, path, number) -> np.ndarray:
    if "element" in col:
        return table[:, col["element"]].astype(str)
    if "type" not in col:
        raise ValueError(f"{path} has neither an element nor a type column; dump 'element' or 'type'")
    return np.array([type_map.get(int(t), str(int(t))) for t in number("type")], dtype=str)


def _read_ase(path: Path, format: str, timestep: float | None) -> Trajectory:
    """extxyz through :func:`egraff.data.formats.read_extxyz` (errors name the frame and line), .traj through ASE."""
    import ase.io

    from egraff.data.formats import read_extxyz

    if format == "extxyz":
        frames = read_extxyz(path)
    else:
        try:
            frames = ase.io.read(path, index=":", format=format)
        except Exception as err:
            raise ValueError(f"{path} is not a readable ASE trajectory file ({type(err).__name__}: {err})") from None
    if not frames:
        raise ValueError(f"{path} holds no frame")
    symbols = frames[0].get_chemical_symbols()
    for k, atoms in enumerate(frames):
        if len(atoms) != len(symbols):
            raise _changed_atoms(path, k, len(atoms), len(symbols))
        if atoms.get_chemical_symbols() != symbols:
            raise ValueError(f"frame {k} of {path} has different elements than frame 0; "
                             "these analyses need the same atoms in every frame")
    results = [a.calc.results if a.calc is not None else {} for a in frames]
    energies = [r.get("energy", r.get("free_energy")) for r in results]
    forces = [r.get("forces") for r in results]
    return Trajectory(
        symbols=symbols, positions=np.array([a.positions for a in frames]), cells=np.array([a.cell.array for a in frames]),
        pbc=frames[0].pbc, steps=np.array([a.info.get("step", k) for k, a in enumerate(frames)]), timestep=timestep,
        energies=None if any(e is None for e in energies) else np.array(energies, dtype=np.float64),
        forces=None if any(f is None for f in forces) else np.array(forces, dtype=np.float64), source=str(path))
