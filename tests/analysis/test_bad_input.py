"""Bad input to the readers and to ``egraff analyze`` is one sentence that names the file, frame or line, or the
option; nothing is written. Boundary flags are read per axis."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from egraff.analysis import read_trajectory
from egraff.analysis.cli import analysis_app

from analysis_helpers import dump_text, fluid_dumps  # noqa: F401 (fixture)

BOUNDS = [(0.0, 10.0), (0.0, 12.0), (0.0, 8.0)]
ROWS = [(1, "Ar", 1.0, 1.0, 1.0), (2, "Ar", 2.0, 2.0, 2.0), (3, "Kr", 5.0, 5.0, 5.0)]


def dump(tmp_path, text: str, name: str = "bad.dump"):
    path = tmp_path / name
    path.write_text(text)
    return path


def two_frames() -> str:
    return dump_text([{"step": k, "bounds": BOUNDS, "columns": "id element x y z", "rows": ROWS} for k in (0, 10)])


@pytest.mark.parametrize("flags, pbc", [("pp pp pp", [True] * 3), ("ss ss ss", [False] * 3), ("pp ss fm", [True, False, False]),
                                        ("xy xz yz pp pp ff", [True, True, False]), ("fs pp mm", [False, True, False])])
def test_boundary_flags_decide_periodicity_per_axis(tmp_path, flags, pbc):
    text = two_frames().replace("ITEM: BOX BOUNDS pp pp pp", f"ITEM: BOX BOUNDS {flags}")
    if flags.startswith("xy"):
        text = text.replace("0.0 10.0\n", "0.0 10.0 0.0\n").replace("0.0 12.0\n", "0.0 12.0 0.0\n").replace(
            "0.0 8.0\n", "0.0 8.0 0.0\n")
    assert read_trajectory(dump(tmp_path, text)).pbc.tolist() == pbc


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("2 Ar 2.0 2.0 2.0", "2 Ar 2.0 2.0", 1),
     r"bad.dump line 11: 4 values but ITEM: ATOMS names 5 columns \(id element x y z\); the line is cut short"),
    (lambda t: t.replace("3 Kr 5.0 5.0 5.0\nITEM: TIMESTEP\n10", "3 Kr 5.0 abc 5.0\nITEM: TIMESTEP\n10", 1),
     r"bad.dump line 12: column y holds 'abc', which is not a number"),
    (lambda t: t.replace("ITEM: BOX BOUNDS pp pp pp\n0.0 10.0", "ITEM: BOX BOUNDS pp pp pp\n0.0 ten", 1),
     r"bad.dump lines 2-8: the header of frame 0 cannot be read"),
    (lambda t: t.replace("ITEM: BOX BOUNDS pp pp pp", "ITEM: BOX BOUNDS pp pp", 1),
     r"does not give three boundary flags"),
    (lambda t: t.replace("ITEM: BOX BOUNDS pp pp ss", "x").replace("ITEM: BOX BOUNDS pp pp pp", "ITEM: BOX BOUNDS pp pp ss", 1),
     r"frame 1 of .*bad.dump has boundary flags \[True, True, True\] but frame 0 has \[True, True, False\]"),
    (lambda t: t[:t.rindex("2 Ar")], r"bad.dump: frame 1 \(line 13\) promises 3 atoms but the file ends after 1"),
])
def test_bad_dumps_name_the_file_and_line(tmp_path, change, message):
    text = change(two_frames())
    assert text != two_frames()
    with pytest.raises(ValueError, match=message):
        read_trajectory(dump(tmp_path, text))


def xyz_frames(counts=(3, 3, 3)) -> str:
    """Extended XYZ text of three frames of three atoms, with ``counts`` written on the count lines."""
    lines = []
    for k, count in enumerate(counts):
        lines += [str(count), 'Lattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 pbc="T T T"']
        lines += [f"{s} {k + i}.0 1.0 2.0" for i, s in enumerate(("Ar", "Ar", "Kr"))]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, message", [
    (xyz_frames()[:xyz_frames().rindex("Ar 3.0")], r"frames.xyz frame 2 \(line 11\) promises 3 atoms but the file ends after 1"),
    (xyz_frames((3, 2, 3)), r"frames.xyz frame 2: line 10 should hold the frame's atom count but reads 'Kr 3.0 1.0 2.0'; "
                             r"frame 1 may have more atom lines"),
    (xyz_frames((3, 4, 3)), r"frames.xyz frame 1, line 11: 1 values where each atom line needs 4; the frame's atom count 4 "
                             r"\(line 6\) may be wrong"),
    (xyz_frames().replace("Kr 3.0 1.0 2.0", "Kr 3.0 1.0"), r"frames.xyz frame 1, line 10: 3 values where each atom line needs 4"),
])
def test_bad_extxyz_names_the_file_frame_and_line(tmp_path, text, message):
    from egraff.data.formats import DataFormatError, read_extxyz

    path = tmp_path / "frames.xyz"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        read_extxyz(path)
    with pytest.raises(ValueError, match=message):
        read_trajectory(path)


def analyze(tmp_path, *args: str):
    result = CliRunner().invoke(analysis_app, [*args, "-o", str(tmp_path / "out.csv"), "--quiet"])
    return result


@pytest.mark.parametrize("args, sentence", [
    (["rdf", "--bin-width", "0"], "error: bin_width must be a positive number (Å), got 0.0"),
    (["rdf", "--bin-width", "-0.1"], "error: bin_width must be a positive number (Å), got -0.1"),
    (["rdf", "--r-max", "-2"], "error: r_max must be a positive number (Å), got -2.0"),
    (["rdf", "--r-max", "nan"], "error: r_max must be a positive number (Å), got nan"),
    (["rdf", "--step", "0"], "error: step must be a positive whole number of frames, got 0"),
    (["rdf", "--start", "99"], "error: no frames selected (start=99, stop=None, step=None, frames=None) from a "
                               "trajectory of 13 frames"),
    (["rdf", "--timestep", "-1"], "error: timestep must be a positive number (ps per step), got -1.0"),
    (["rdf", "--volume", "1000"], "is periodic: its density comes from its cell; give volume only for a molecule or a slab"),
    (["adf", "--triplets", "Ar-Ar-Ar", "--bins", "0"], "error: n_bins must be a positive whole number, got 0"),
    (["adf", "--triplets", "Ar-Ar-Ar", "--cutoff", "Ar-Ar=x"], "cannot read cutoff 'Ar-Ar=x'"),
    (["adf", "--triplets", "Ar-Ar-Ar", "--cutoff", "-1"], "error: cutoff must be a positive number (Å), got -1.0"),
    (["adf", "--triplets", "Ar-Ar-Ar", "--cutoff", "Ar-Ar=0"], "error: cutoff Ar-Ar must be a positive number (Å), got 0.0"),
    (["rdf", "--ideal-pairs", "some"], "error: ideal_pairs must be one of distinct, all, not 'some'"),
    (["hr", "--bins", "-5"], "error: n_bins must be a positive whole number, got -5"),
    (["hr", "--r-max", "0"], "error: r_max must be a positive number (Å), got 0.0"),
    (["msd", "--timestep", "0"], "error: timestep must be a positive number (ps per step), got 0.0"),
    (["stability", "--ref", "TRAJ", "--criterion", "bond", "--threshold", "-0.5", "--timestep", "0.002"],
     "error: threshold must be a positive number (Å), got -0.5"),
    (["stability", "--ref", "TRAJ", "--criterion", "rdf", "--threshold", "1", "--window", "0", "--timestep", "0.002"],
     "error: window_ps must be a positive number (ps), got 0.0"),
])
def test_analyze_refuses_bad_numbers_in_one_sentence(fluid_dumps, tmp_path, args, sentence):
    path = str(fluid_dumps["orthogonal"])
    result = analyze(tmp_path, args[0], path, *[path if a == "TRAJ" else a for a in args[1:]])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and sentence in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir()), "nothing is written for a refused command"


def test_analyze_rejects_a_truncated_extxyz_naming_the_frame(tmp_path):
    path = tmp_path / "frames.xyz"
    path.write_text(xyz_frames()[:xyz_frames().rindex("Ar 3.0")])
    result = CliRunner().invoke(analysis_app, ["rdf", str(path), "--quiet"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {path} frame 2 (line 11) promises 3 atoms but the file ends after 1; "
                                     "the file is truncated or the count is wrong")


def test_rdf_of_a_molecule_dump_by_command(tmp_path):
    """``egraff analyze rdf`` on a non-periodic dump: g(r) with --volume, as the study's molecules."""
    rows = [(1, "C", 1.0, 1.0, 1.0), (2, "O", 2.2, 1.0, 1.0), (3, "H", 1.0, 2.1, 1.0)]
    path = dump(tmp_path, dump_text([{"step": 0, "bounds": [(1.0, 2.2), (1.0, 2.1), (1.0, 1.0)],
                                      "columns": "id element x y z", "rows": rows}]).replace("pp pp pp", "ss ss ss"),
                "m.dump")
    result = CliRunner().invoke(analysis_app, ["rdf", str(path), "--volume", "1000", "--r-max", "3", "--quiet",
                                               "-o", str(tmp_path / "m.csv")])
    assert result.exit_code == 0, result.output
    table = np.genfromtxt(tmp_path / "m.csv", delimiter=",", names=True)
    assert table["g_total"].sum() > 0
