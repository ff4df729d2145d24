"""Import of upstream-trained nequip files: a checkpoint and a `.nequip.zip` package from a real
(one-epoch) `nequip-train` run, exported with `egraff export --from nequip` and compared with nequip's
calculator on the same weights. (MACE `.model` import: tests/models/test_upstream_reference.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from egraff.cli import app
from egraff.deploy import EGraFFCalculator, load_deployed

from .conftest import rattled_fcc

BIN = Path(sys.executable).parent
CONFIG = Path(__file__).parent / "nequip_config"


@pytest.fixture(scope="module")
def nequip_files(tmp_path_factory):
    """last.ckpt of a 1-epoch NequIP run on nequip's own EMT test data (Cu), and its package."""
    out = tmp_path_factory.mktemp("nequip_run")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    train = subprocess.run([str(BIN / "nequip-train"), "-cp", str(CONFIG), "-cn", "tiny.yaml", f"hydra.run.dir={out}"],
                           capture_output=True, text=True, timeout=300, env=env, cwd=out)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    package = subprocess.run([str(BIN / "nequip-package"), "build", str(out / "last.ckpt"), str(out / "tiny.nequip.zip")],
                             capture_output=True, text=True, timeout=300, env=env, cwd=out)
    assert package.returncode == 0, package.stdout[-2000:] + package.stderr[-2000:]
    return {"checkpoint": out / "last.ckpt", "package": out / "tiny.nequip.zip"}


@pytest.fixture
def nequip_default_dtype():
    """nequip's data code builds positions in torch's default dtype, which its global state sets to
    float64 only once per process (egraff restores the caller's default); set it for the reference,
    and undo what nequip's loader leaves behind (e3nn's jit_mode switched to "script")."""
    from egraff.models.nequip_model import nequip_global_state

    with nequip_global_state():
        torch.set_default_dtype(torch.float64)
        yield


@pytest.mark.parametrize("kind", ["checkpoint", "package"])
def test_nequip_file_import_matches_nequip_calculator(nequip_files, kind, tmp_path, nequip_default_dtype):
    from nequip.integrations.ase import NequIPCalculator

    source = nequip_files[kind]
    result = CliRunner().invoke(app, ["export", "--from", "nequip", str(source), "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 0, result.output
    _, metadata = load_deployed(tmp_path / "m.pt")
    assert (metadata.architecture, metadata.type_names, metadata.r_max, metadata.num_layers) == ("nequip", ("Cu",), 3.5, 2)

    atoms = rattled_fcc(("Cu",), rattle=0.3)
    atoms.calc = EGraFFCalculator(tmp_path / "m.pt")
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    atoms.calc = NequIPCalculator._from_saved_model(str(source), device="cpu", chemical_species_to_atom_type_map=True)
    assert np.abs(forces).max() > 0.01  # one epoch of training: a nearly flat but non-trivial model
    assert abs(atoms.get_potential_energy() - energy) <= 1e-8
    assert np.abs(atoms.get_forces() - forces).max() <= 1e-8
    assert np.abs(atoms.get_stress() - stress).max() <= 1e-8
