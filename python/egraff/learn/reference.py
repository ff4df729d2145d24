"""Labelling a selected frame with the reference (:class:`egraff.learn.config.ReferenceSection`): an egraff
teacher potential in LAMMPS, an ASE calculator, or an external command that reads and writes extxyz.

Whatever the reference, its labels are checked before they enter the training set: an energy and forces
for every atom, all finite, for the same atoms at the same positions. A reference that fails or returns
NaN raises :class:`ReferenceFailed` naming the frame (its exploration and step).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from egraff.config import ConfigError

INPUT, OUTPUT = "input.extxyz", "output.extxyz"
POSITION_TOLERANCE = 1e-4  # Å: what a program printing positions with 5 decimals keeps


class ReferenceFailed(ConfigError):
    """The reference could not label a frame (it failed, or returned labels that are not numbers)."""


def frame_name(atoms) -> str:
    """Where a selected frame comes from, for messages."""
    info = atoms.info
    return (f"the frame of exploration {info.get('exploration', '?')} at step {info.get('step', '?')} "
            f"(iteration {info.get('iteration', '?')}, selected frame {info.get('selected', '?')})")


def label(reference, atoms, directory: Path):
    """``atoms`` (unlabelled) with the reference's energy, forces and, where it gives one, stress."""
    if reference.teacher is not None:
        labelled = _teacher(reference, atoms)
    elif reference.calculator is not None:
        labelled = _calculator(reference, atoms)
    else:
        labelled = _command(reference, atoms, Path(directory))
    return checked(labelled, atoms, reference.describe())


def _teacher(reference, atoms):
    from egraff.data.teacher import TEACHERS

    try:
        (labelled,) = TEACHERS[reference.teacher](**reference.options).label([atoms])
    except Exception as err:  # LAMMPS raises plain Exceptions; DataFormatError for a frame it cannot take
        raise ReferenceFailed(f"the reference {reference.describe()} failed on {frame_name(atoms)}: "
                              f"{str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}") from None
    return labelled


def _calculator(reference, atoms):
    from egraff.data.formats import labelled_atoms

    frame = atoms.copy()
    try:
        frame.calc = reference.factory()(**reference.options)
        energy, forces = frame.get_potential_energy(), frame.get_forces()
        stress = frame.get_stress() if all(frame.pbc) and "stress" in frame.calc.implemented_properties else None
    except Exception as err:  # any calculator, any error: the user's code
        raise ReferenceFailed(f"the reference {reference.describe()} failed on {frame_name(atoms)}: "
                              f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}") \
            from None
    return labelled_atoms(atoms.numbers, atoms.positions, atoms.cell, atoms.pbc, energy=energy, forces=forces,
                          stress=stress, info=atoms.info)


def _command(reference, atoms, directory: Path):
    from egraff import processes
    from egraff.data import read_extxyz, write_extxyz
    from egraff.data.formats import DataFormatError

    write_extxyz(directory / INPUT, [atoms])
    argv = [word.replace("{input}", INPUT).replace("{output}", OUTPUT) for word in reference.argv()]
    try:
        result = processes.run(argv, cwd=directory, capture_output=True, text=True)
    except OSError as err:
        raise ReferenceFailed(f"the reference command `{shlex.join(argv)}` cannot start ({err.strerror or err}); "
                              "give a program on PATH or its full path") from None
    if result.returncode != 0:
        tail = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise ReferenceFailed(f"the reference command `{shlex.join(argv)}` failed (exit status {result.returncode}) on "
                              f"{frame_name(atoms)}: {tail}")
    if not (directory / OUTPUT).is_file():
        raise ReferenceFailed(f"the reference command `{shlex.join(argv)}` wrote no {OUTPUT} for {frame_name(atoms)}; "
                              "it must write the labelled frame to {output}")
    try:
        frames = read_extxyz(directory / OUTPUT)
    except DataFormatError as err:
        raise ReferenceFailed(f"the reference command's output for {frame_name(atoms)} is unreadable: {err}") from None
    if len(frames) != 1:
        raise ReferenceFailed(f"the reference command wrote {len(frames)} frames for {frame_name(atoms)}; write "
                              "exactly one, the labelled input frame")
    return frames[0]


def checked(labelled, atoms, what: str):
    """``labelled`` with ``atoms``'s provenance, if it labels the same atoms with finite numbers."""
    results = labelled.calc.results if labelled.calc is not None else {}
    where = f"the reference {what} on {frame_name(atoms)}"
    if len(labelled) != len(atoms) or np.any(labelled.numbers != atoms.numbers):
        raise ReferenceFailed(f"{where} returned a frame of other atoms ({labelled.get_chemical_formula()} for "
                              f"{atoms.get_chemical_formula()}); label the frame as given")
    shift = labelled.positions - atoms.positions
    if all(atoms.pbc):  # a periodic image is the same atom
        fractional = np.linalg.solve(atoms.cell.array.T, shift.T).T
        shift = (fractional - np.round(fractional)) @ atoms.cell.array
    if np.abs(shift).max() > POSITION_TOLERANCE:
        raise ReferenceFailed(f"{where} returned the atoms at other positions (up to {np.abs(shift).max():.3g} Å "
                              "away); label the frame as given, atoms in the same order")
    missing = [key for key in ("energy", "forces") if results.get(key) is None]
    if missing:
        raise ReferenceFailed(f"{where} gave no {' or '.join(missing)}")
    for key in ("energy", "forces", "stress"):
        value = results.get(key)
        if value is not None and not np.all(np.isfinite(value)):
            raise ReferenceFailed(f"{where} returned {key} that are not finite numbers (NaN or infinite); the frame "
                                  "is not added: fix the reference, or lower trust.hi if such frames are unphysical")
    forces = np.asarray(results["forces"])
    if forces.shape != (len(atoms), 3):
        raise ReferenceFailed(f"{where} returned forces of shape {forces.shape}, expected ({len(atoms)}, 3)")
    from egraff.data.formats import labelled_atoms

    return labelled_atoms(atoms.numbers, atoms.positions, atoms.cell, atoms.pbc, energy=results["energy"],
                          forces=forces, stress=results.get("stress"), info=atoms.info)
