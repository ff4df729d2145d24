"""Readers and the writer for labelled frames; everything becomes ``ase.Atoms``.

The one convention (used by the registry, the teacher generators and the training engine):

* a frame is an ``ase.Atoms`` with positions and cell in Å and ``pbc`` as stored upstream;
* its labels live in a ``SinglePointCalculator``: ``energy`` (total energy, eV), ``forces``
  (eV/Å, [N, 3]) and, for periodic frames that have it, ``stress`` (eV/Å³, ASE's 6-component Voigt
  order xx yy zz yz xz xy and ASE's sign: ``stress = -virial / volume``, so a compressed crystal
  has negative stress and positive pressure ``-trace(stress)/3``). Users read them with
  ``atoms.get_potential_energy()``, ``atoms.get_forces()``, ``atoms.get_stress()``;
* provenance (dataset, split, source file, frame index, temperature, phase, ...) is in ``atoms.info``.

Formats: nequip-style ``.npz`` (:func:`read_nequip_npz`), extended XYZ (:func:`read_extxyz`,
:func:`write_extxyz`) and DeePMD raw/npy systems with virials (:func:`read_deepmd`); LAMMPS data
files are read and written by :mod:`egraff.lammps_adaptor`. Bad input raises :class:`DataFormatError`
with one sentence that names the file (and the frame and line where there are any) and says what to fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from egraff.files import DataFormatError, atomic_write_text

NEQUIP_NPZ_KEYS = ("pos", "energy", "forces", "atomic_numbers", "cell", "pbc")


def stress_from_virial(virial, volume: float) -> np.ndarray:
    """ASE Voigt stress (eV/Å³) from a virial ``W = Σ r ⊗ f`` (eV, 3×3 or 9 values): ``-W/V``.

    This is the DeePMD-kit virial and LAMMPS's ``pressure × volume`` (virial part); positive virial
    (atoms pushing outwards) is compressive, i.e. negative ASE stress.
    """
    w = np.asarray(virial, dtype=np.float64).reshape(3, 3)
    w = 0.5 * (w + w.T)
    s = -w / volume
    return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def check_cell(source: str, cell: np.ndarray, pbc: np.ndarray) -> None:
    """A periodic frame needs a cell of non-zero volume."""
    if np.any(pbc) and abs(np.linalg.det(np.asarray(cell, dtype=np.float64).reshape(3, 3))) < 1e-9:
        raise DataFormatError(
            f"{source}: the frame is periodic (pbc={np.asarray(pbc).tolist()}) but its cell is all zeros "
            "or has zero volume; give the lattice vectors or set pbc to False"
        )


def labelled_atoms(numbers, positions, cell, pbc, *, energy=None, forces=None, stress=None, info=None):
    """An ``ase.Atoms`` with its labels in a ``SinglePointCalculator`` (the one place frames are built)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    results = {}
    if energy is not None:
        results["energy"] = float(energy)
    if forces is not None:
        results["forces"] = np.array(forces, dtype=np.float64)
    if stress is not None:
        results["stress"] = np.array(stress, dtype=np.float64)
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    if info:
        atoms.info.update(info)
    return atoms


def read_nequip_npz(path: str | os.PathLike) -> list:
    """Frames of a nequip-style npz (keys ``pos, energy, forces, atomic_numbers, cell, pbc``).

    ``cell`` may be one [3,3] cell or one per frame [F,3,3]; ``atomic_numbers`` [N] or [F,N];
    ``energy`` [F] or [F,1].
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in NEQUIP_NPZ_KEYS if k not in npz.files]
        if missing:
            raise DataFormatError(
                f"{path}: missing key(s) {', '.join(missing)}; a nequip-style npz needs "
                f"{', '.join(NEQUIP_NPZ_KEYS)} (found {', '.join(npz.files) or 'none'})"
            )
        data = {k: np.asarray(npz[k]) for k in NEQUIP_NPZ_KEYS}
    pos = data["pos"].astype(np.float64)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise DataFormatError(f"{path}: 'pos' has shape {pos.shape}; it must be [frames, atoms, 3]")
    n_frames, n_atoms = pos.shape[:2]
    numbers = data["atomic_numbers"].astype(np.int64)
    numbers = np.broadcast_to(numbers, (n_frames, numbers.shape[-1])) if numbers.ndim in (1, 2) else numbers
    energy = data["energy"].astype(np.float64).reshape(-1)
    forces = data["forces"].astype(np.float64)
    cell = data["cell"].astype(np.float64)
    cells = np.broadcast_to(cell.reshape(-1, 3, 3), (n_frames, 3, 3)) if cell.size in (9, 9 * n_frames) else None
    pbc = np.broadcast_to(data["pbc"].astype(bool).reshape(-1, 3)[0], (3,)) if data["pbc"].size in (1, 3) else None
    problems = []
    if numbers.shape != (n_frames, n_atoms):
        problems.append(f"'atomic_numbers' has {numbers.shape[-1]} atoms but 'pos' has {n_atoms}")
    if forces.shape != (n_frames, n_atoms, 3):
        problems.append(f"'forces' has shape {forces.shape} but 'pos' has shape {pos.shape}")
    if energy.shape != (n_frames,):
        problems.append(f"'energy' has {energy.size} values for {n_frames} frames")
    if cells is None:
        problems.append(f"'cell' has shape {cell.shape}; it must be [3,3] or [{n_frames},3,3]")
    if pbc is None:
        problems.append(f"'pbc' has shape {data['pbc'].shape}; it must be 3 booleans")
    if problems:
        raise DataFormatError(f"{path}: inconsistent arrays: {'; '.join(problems)}")
    frames = []
    for k in range(n_frames):
        check_cell(f"{path} frame {k}", cells[k], pbc)
        frames.append(labelled_atoms(numbers[k], pos[k], cells[k], pbc, energy=energy[k], forces=forces[k]))
    return frames


def read_extxyz(path: str | os.PathLike) -> list:
    """Frames of an extended (or plain) XYZ file (ASE's reader; ``energy``/``forces``/``stress`` become labels).

    A file ASE cannot read is checked frame by frame so that the error names the frame and the line:
    a truncated last frame, an atom count that does not match the atom lines, a line with the wrong
    number of columns for its ``Properties``.
    """
    import ase.io

    path = Path(path)
    try:
        frames = ase.io.read(path, index=":", format="extxyz")
    except Exception as err:  # ASE raises a zoo of types for malformed files
        problem = xyz_layout_problem(path)
        raise DataFormatError(problem or f"{path}: not a readable extended XYZ file ({err}); "
                              "check the header lines") from None
    if not frames:
        raise DataFormatError(f"{path} holds no frame")
    for k, atoms in enumerate(frames):
        check_cell(f"{path} frame {k}", atoms.cell.array, atoms.pbc)
    return frames


def xyz_layout_problem(path: Path) -> str | None:
    """The first place where an (extended) XYZ file breaks its own layout, as a sentence, or None.

    Each frame is an atom-count line, a comment line (extxyz: ``Properties=name:type:columns:...``)
    and that many atom lines of the declared number of columns (plain XYZ: at least 4).
    """
    from ase.io.extxyz import key_val_str_to_dict

    lines = Path(path).read_text(errors="replace").splitlines()
    start, frame = 0, 0
    while start < len(lines):
        if not lines[start].strip():
            if not any(line.strip() for line in lines[start:]):
                return None  # trailing blank lines
            return f"{path} frame {frame}: line {start + 1} is blank where the frame's atom count should be"
        words = lines[start].split()
        if len(words) != 1 or not words[0].isdigit():
            hint = (f"; frame {frame - 1} may have more atom lines than its count says" if frame else "")
            return (f"{path} frame {frame}: line {start + 1} should hold the frame's atom count but reads "
                    f"{lines[start][:50]!r}{hint}")
        count = int(words[0])
        if start + 1 >= len(lines):
            return f"{path} frame {frame}: the file ends after the atom count on line {start + 1}"
        try:
            properties = str(key_val_str_to_dict(lines[start + 1]).get("Properties", ""))
        except Exception:
            properties = ""
        fields = properties.split(":")
        columns = sum(int(n) for n in fields[2::3]) if len(fields) >= 3 and all(n.isdigit() for n in fields[2::3]) else None
        for k in range(count):
            number = start + 2 + k
            if number >= len(lines):
                return (f"{path} frame {frame} (line {start + 1}) promises {count} atoms but the file ends after {k}; "
                        "the file is truncated or the count is wrong")
            width = len(lines[number].split())
            if (columns is not None and width != columns) or width < 4:
                expected = f"{columns}" if columns is not None else "at least 4"
                return (f"{path} frame {frame}, line {number + 1}: {width} values where each atom line needs "
                        f"{expected}; the frame's atom count {count} (line {start + 1}) may be wrong")
        start += 2 + count
        frame += 1
    return None


def _format_float(x: float) -> str:
    return repr(float(x))


def write_extxyz(path: str | os.PathLike, frames: Iterable) -> Path:
    """Write frames as extended XYZ with every float at full (round-trip) precision, atomically.

    ASE's own writer prints per-atom columns with 8 decimals; here positions, forces and any other
    per-atom array are written with ``repr`` so reading the file back gives the same bits.
    """
    from ase.io.extxyz import key_val_dict_to_str
    from ase.stress import voigt_6_to_full_3x3_stress

    path = Path(path)
    lines: list[str] = []
    for atoms in frames:
        info = {k: v for k, v in atoms.info.items()}
        results = dict(atoms.calc.results) if atoms.calc is not None else {}
        if "energy" in results:
            info["energy"] = results["energy"]
        if "stress" in results:  # the full 3×3 form, as ASE's own writer uses
            info["stress"] = voigt_6_to_full_3x3_stress(results["stress"])
        info["pbc"] = atoms.pbc.copy()
        if atoms.cell.rank:
            info["Lattice"] = atoms.cell.array.T.copy()  # key_val_dict_to_str writes 3×3 column-major
        columns = [("species", "S", 1, np.array(atoms.get_chemical_symbols())), ("pos", "R", 3, atoms.positions)]
        for name, values in atoms.arrays.items():
            if name not in ("numbers", "positions"):
                values = np.asarray(values)
                kind = "R" if values.dtype.kind == "f" else "I" if values.dtype.kind in "iu" else "S"
                columns.append((name, kind, 1 if values.ndim == 1 else values.shape[1], values))
        if "forces" in results:
            columns.append(("forces", "R", 3, results["forces"]))
        properties = ":".join(f"{name}:{kind}:{ncol}" for name, kind, ncol, _ in columns)
        lines.append(str(len(atoms)))
        lines.append(f"{key_val_dict_to_str(info)} Properties={properties}")
        cells = []
        for _, kind, ncol, values in columns:
            values = values.reshape(len(atoms), ncol)
            fmt = _format_float if kind == "R" else str
            cells.append([[fmt(v) for v in row] for row in values])
        for i in range(len(atoms)):
            lines.append(" ".join(" ".join(c[i]) for c in cells))
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _deepmd_array(system: Path, set_dir: Path | None, name: str, required: bool = True):
    """``set.xxx/name.npy`` when the system has sets, otherwise ``name.raw`` (one frame per line)."""
    path = set_dir / f"{name}.npy" if set_dir is not None else system / f"{name}.raw"
    if not path.is_file():
        if required:
            raise DataFormatError(f"{system}: missing {path.relative_to(system)}; a DeePMD system needs "
                                  "type.raw and coord, energy, force and box per set")
        return None
    values = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=2)
    return np.asarray(values, dtype=np.float64)


def read_deepmd(system: str | os.PathLike, type_map: Sequence[str] | None = None) -> list:
    """Frames of one DeePMD system directory (``type.raw`` + ``set.*/*.npy``, or ``*.raw`` files).

    Virials (``virial``, eV, W = Σ r ⊗ f) become ASE stress through :func:`stress_from_virial`.
    A ``nopbc`` file marks a non-periodic system. float32 files are widened to float64 (their
    precision stays float32's).
    """
    from ase.data import atomic_numbers

    system = Path(system)
    if not (system / "type.raw").is_file():
        raise DataFormatError(f"{system}: no type.raw; point to a DeePMD system directory")
    types = np.loadtxt(system / "type.raw", dtype=np.int64, ndmin=1)
    if type_map is None:
        if not (system / "type_map.raw").is_file():
            raise DataFormatError(f"{system}: no type_map.raw; pass type_map=[element names in type order]")
        type_map = (system / "type_map.raw").read_text().split()
    if types.max() >= len(type_map):
        raise DataFormatError(f"{system}: type.raw uses type {types.max()} but the type map has only "
                              f"{len(type_map)} names ({' '.join(type_map)})")
    numbers = np.array([atomic_numbers[type_map[t]] for t in types])
    n_atoms = len(types)
    periodic = not (system / "nopbc").exists()
    set_dirs = sorted(p for p in system.glob("set.*") if p.is_dir()) or [None]
    frames = []
    for set_dir in set_dirs:
        where = set_dir if set_dir is not None else system
        coord = _deepmd_array(system, set_dir, "coord")
        force = _deepmd_array(system, set_dir, "force")
        energy = _deepmd_array(system, set_dir, "energy").reshape(-1)
        box = _deepmd_array(system, set_dir, "box", required=periodic)
        virial = _deepmd_array(system, set_dir, "virial", required=False)
        n_frames = coord.shape[0]
        problems = []
        if coord.shape != (n_frames, 3 * n_atoms):
            problems.append(f"coord has {coord.shape[-1] // 3} atoms per frame but type.raw has {n_atoms}")
        if force.shape != coord.shape:
            problems.append(f"force has shape {force.shape} but coord has {coord.shape}")
        if energy.shape != (n_frames,):
            problems.append(f"energy has {energy.size} values for {n_frames} frames")
        if box is not None and box.shape != (n_frames, 9):
            problems.append(f"box has shape {box.shape}, expected ({n_frames}, 9)")
        if virial is not None and virial.shape != (n_frames, 9):
            problems.append(f"virial has shape {virial.shape}, expected ({n_frames}, 9)")
        if problems:
            raise DataFormatError(f"{where}: inconsistent arrays: {'; '.join(problems)}")
        for k in range(n_frames):
            cell = box[k].reshape(3, 3) if box is not None else np.zeros((3, 3))
            check_cell(f"{where} frame {k}", cell, np.array([periodic] * 3))
            has_virial = virial is not None and periodic
            stress = stress_from_virial(virial[k], abs(np.linalg.det(cell))) if has_virial else None
            frames.append(labelled_atoms(numbers, coord[k].reshape(n_atoms, 3), cell, periodic,
                                         energy=energy[k], forces=force[k].reshape(n_atoms, 3), stress=stress))
    return frames
