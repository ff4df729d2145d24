"""Deployed-file variants give the physics of the plain float64 TorchScript file, in LAMMPS and in the
ASE calculator: an AOTInductor package (`egraff export --compile aotinductor`, #15.3) and a float32
model (`egraff export --dtype float32`, #15.4)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.io import write
from typer.testing import CliRunner

from egraff.cli import app
from egraff.contract import DeployedModelError, load_deployed
from egraff.deploy import EGraFFCalculator
from egraff.deploy.export import deploy, export_model, save_checkpoint

from conftest import read_dump, run_lmp, thermo_rows
from .conftest import crystal, lammps_data, lammps_script, molecule

SYSTEMS = {"crystal": (crystal, True), "molecule": (molecule, False)}
#: float32 forces vs float64, relative to the largest float64 force (float32 round-off is ~1e-6 of it)
FLOAT32_FORCE_TOLERANCE = 1e-4


def lammps_results(model_file, tmp_path, nprocs=1):
    """Per system: (forces, per-atom energies) from `run 0` in LAMMPS, and the plugin's log."""
    tmp_path.mkdir(exist_ok=True)
    systems = {name: (lammps_data(make(), tmp_path / f"{name}.data").name, periodic)
               for name, (make, periodic) in SYSTEMS.items()}
    result = run_lmp(lammps_script(model_file, systems), tmp_path, nprocs=nprocs)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert len(thermo_rows(result.stdout)) == len(SYSTEMS)
    dumps = {name: read_dump(tmp_path / f"{name}.dump") for name in SYSTEMS}
    return {name: (np.stack([d["fx"], d["fy"], d["fz"]], axis=1), d["c_pe"]) for name, d in dumps.items()}, result.stdout


def calculator_results(model_file):
    """Per system: (forces, per-atom energies) from the ASE calculator, the same on three calls in a row."""
    results = {}
    calc = EGraFFCalculator(model_file)
    for name, (make, _) in SYSTEMS.items():
        calls = []
        for _ in range(3):
            atoms = make()
            atoms.calc = calc
            calls.append((atoms.get_forces(), atoms.get_potential_energies()))
        assert all(np.array_equal(calls[0][0], c[0]) for c in calls[1:])
        results[name] = calls[0]
    return results


def max_difference(a, b):
    return max(max(np.abs(a[n][0] - b[n][0]).max(), np.abs(a[n][1] - b[n][1]).max()) for n in SYSTEMS)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["nequip", "mace", "torchmd-et"])
def test_compiled_file_gives_the_torchscript_files_physics(tiny, architecture, tmp_path):
    """A model compiled with AOTInductor (about a minute each on 2 cores; MACE's, like BOTNet's, once refused:
    a node count traced as a constant; TorchMD-Net's: its attention and gated blocks sized outputs from the
    data): LAMMPS on 1 and 2 ranks (ghostmp: graphs of other sizes than at export) and the ASE calculator,
    against the TorchScript file of the same model."""
    model = tiny.model(architecture)
    compiled = deploy(model, tmp_path / f"{architecture}.pt2", compile="aotinductor")
    _, metadata = load_deployed(compiled)
    assert metadata.architecture == architecture and metadata.model_dtype == "float64"

    reference, _ = lammps_results(tiny.file(architecture), tmp_path / "torchscript")
    one_rank, log = lammps_results(compiled, tmp_path / "compiled")
    assert "float64, aotinductor" in log
    assert max(np.abs(f).max() for f, _ in reference.values()) > 0.1
    assert max_difference(one_rank, reference) <= 1e-10
    two_ranks, log = lammps_results(compiled, tmp_path / "compiled-2", nprocs=2)
    assert "mode ghostmp" in log
    assert max_difference(two_ranks, reference) <= 1e-8

    assert max_difference(calculator_results(compiled), calculator_results(tiny.file(architecture))) <= 1e-10
    assert max_difference(calculator_results(compiled), one_rank) <= 1e-8


def test_model_that_does_not_compile_is_refused_with_a_sentence(tmp_path):
    """TorchMD-Net on the study's graph checks its neighbour cap on the data (a branch on a data-dependent
    value); nothing is written."""
    import torch

    from egraff.models import build

    torch.manual_seed(0)
    model = build("torchmd-et", ["Ar", "Kr"], 4.0, preset="tiny", study_graph=True).eval()
    with pytest.raises(DeployedModelError, match=r"the torchmd-et model cannot be compiled with AOTInductor: its code "
                                                 r"is not traceable with dynamic node and edge counts \(.+\), so .* was "
                                                 r"not written; export it with --compile torchscript"):
        deploy(model, tmp_path / "et.pt2", compile="aotinductor")
    assert not (tmp_path / "et.pt2").exists()


@pytest.mark.parametrize("architecture", ["nequip", "mace"])
def test_float32_file_is_checked_at_export_and_runs_alike_in_lammps_and_ase(tiny, architecture, tmp_path):
    model = tiny.model(architecture)
    held_out = [crystal(), molecule()]
    path = export_model(model, tmp_path / "f32.pt", dtype="float32", frames=(held_out, "test frames"))
    _, metadata = load_deployed(path)
    check = json.loads(metadata.float32_check)
    assert metadata.model_dtype == "float32" and check["source"] == "test frames"
    assert model.model_dtype == "float64"  # the model itself is left as it was

    float64 = calculator_results(tiny.file(architecture))
    float32 = calculator_results(path)
    largest = max(np.abs(f).max() for f, _ in float64.values())
    measured = max(np.linalg.norm(float32[n][0] - float64[n][0], axis=1).max() for n in SYSTEMS)
    assert check["frames"] == 2 and abs(check["max_force_difference"] - measured) <= 1e-3 * measured
    assert 0 < measured <= FLOAT32_FORCE_TOLERANCE * largest  # float32 round-off, not float64 in disguise

    in_lammps, log = lammps_results(path, tmp_path / "lammps")
    assert "dtype float32" in log
    assert max_difference(in_lammps, float32) <= 1e-5 * largest


def test_float32_export_from_the_command_line(tiny, tmp_path):
    checkpoint = save_checkpoint(tiny.model("mace"), tmp_path / "model.ckpt")
    args = ["export", str(checkpoint), "--dtype", "float32", "-o", str(tmp_path / "f32.pt")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "its validation frames are unknown; pass held-out frames with --frames FILE" \
        in " ".join(result.output.split()), result.output
    assert not (tmp_path / "f32.pt").exists()

    write(tmp_path / "held_out.extxyz", [crystal(), molecule()])
    result = CliRunner().invoke(app, args + ["--frames", str(tmp_path / "held_out.extxyz")])
    assert result.exit_code == 0, result.output
    assert f"float32 vs float64 on 2 frames ({tmp_path / 'held_out.extxyz'}): max |dF|" in result.output
    assert load_deployed(tmp_path / "f32.pt")[1].model_dtype == "float32"
