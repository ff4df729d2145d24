"""The three references label a selected frame exactly as a direct call does; a reference that fails or
returns NaN is refused with a sentence naming the frame, and nothing is written."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from egraff.learn.config import ReferenceSection
from egraff.learn.reference import ReferenceFailed, label
from .conftest import rattled_silicon

#: an external "DFT code": reads the frame, labels it with ASE's EMT, writes extxyz; NAN=1 breaks it
EMT_PROGRAM = textwrap.dedent("""\
    import os, sys
    import ase.io
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    atoms = ase.io.read(sys.argv[1])
    atoms.calc = EMT()
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    if os.environ.get("NAN"):
        forces[0, 0] = float("nan")
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    ase.io.write(sys.argv[2], atoms, format="extxyz")
""")


def copper(seed: int = 3):
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=seed)
    atoms.info.update(exploration="cu 300 K", step=40, iteration=0, selected=1)
    return atoms


def direct(atoms, calculator):
    frame = atoms.copy()
    frame.calc = calculator
    return frame.get_potential_energy(), frame.get_forces()


def assert_labels(labelled, atoms, energy, forces):
    assert np.array_equal(labelled.positions, atoms.positions) and labelled.info["step"] == atoms.info["step"]
    assert labelled.get_potential_energy() == pytest.approx(energy, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(labelled.get_forces(), forces, rtol=1e-12, atol=1e-12)


def test_teacher_labels_as_the_teacher_does(tmp_path):
    from egraff.data.teacher import TEACHERS

    atoms = rattled_silicon(1, seed=5)[0]
    atoms.info.update(exploration="si", step=10)
    (expected,) = TEACHERS["silicon-sw"]().label([atoms.copy()])
    labelled = label(ReferenceSection(teacher="silicon-sw"), atoms, tmp_path)
    assert_labels(labelled, atoms, expected.get_potential_energy(), expected.get_forces())
    assert np.abs(expected.get_forces()).max() > 0.1  # a rattled cell: real forces, not zeros


def test_calculator_labels_as_a_direct_call(tmp_path):
    from ase.calculators.emt import EMT

    atoms = copper()
    labelled = label(ReferenceSection(calculator="ase.calculators.emt:EMT"), atoms, tmp_path)
    assert_labels(labelled, atoms, *direct(atoms, EMT()))


def test_command_labels_as_a_direct_call(tmp_path):
    from ase.calculators.emt import EMT

    (tmp_path / "emt.py").write_text(EMT_PROGRAM)
    atoms = copper()
    reference = ReferenceSection(command=[sys.executable, str(tmp_path / "emt.py"), "{input}", "{output}"])
    labelled = label(reference, atoms, tmp_path)
    # extxyz keeps the program's numbers to ~1e-8 relative
    energy, forces = direct(atoms, EMT())
    assert labelled.get_potential_energy() == pytest.approx(energy, rel=1e-8)
    np.testing.assert_allclose(labelled.get_forces(), forces, rtol=1e-6, atol=1e-8)


def test_nan_and_failing_references_are_refused(tmp_path, monkeypatch):
    (tmp_path / "emt.py").write_text(EMT_PROGRAM)
    reference = ReferenceSection(command=[sys.executable, str(tmp_path / "emt.py"), "{input}", "{output}"])
    monkeypatch.setenv("NAN", "1")
    with pytest.raises(ReferenceFailed, match=r"exploration cu 300 K at step 40 .* forces that are not finite"):
        label(reference, copper(), tmp_path)
    broken = ReferenceSection(command=[sys.executable, "-c", "raise SystemExit('SCF not converged')", "{input}",
                                       "{output}"])
    with pytest.raises(ReferenceFailed, match=r"failed \(exit status 1\) on the frame of exploration cu 300 K .*SCF"):
        label(broken, copper(), tmp_path)
