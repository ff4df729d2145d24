"""Bad `egraff learn` configs: one sentence naming the key and the fix, exit status 2, nothing run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from egraff.config import ConfigError
from egraff.learn import load_learn_config


@pytest.mark.parametrize("overrides, message", [
    (["trust.lo=0.5", "trust.hi=0.4"], r"^trust\.lo = 0\.5 is not below trust\.hi = 0\.4: .* give lo < hi"),
    (["trust.lo=0.4"], r"^trust\.lo = 0\.4 is not below trust\.hi = 0\.4"),  # an empty window
    (["trust.halt=0.2"], r"^trust\.halt = 0\.2 is below trust\.hi = 0\.4: .* give halt >= hi"),
    (["trust.low=0.1"], r"^unknown key trust\.low \(did you mean 'lo'\?\)"),
    (["reference.calculator=ase.calculators.emt:EMT"], r"^reference takes exactly one of .* not teacher and calculator"),
    (["reference.teacher=silicon-se"], r"^reference\.teacher = 'silicon-se' \(did you mean 'silicon-sw'\?\)"),
    (["reference.teacher=null", "reference.calculator=ase.calculators.emt"], r"^reference\.calculator = .*module:callable"),
    (["reference.teacher=null", "reference.command=dft.x in.xyz"], r"^reference\.command = .* has no \{input\}"),
    (["committee.every=3"], r"^committee\.every = 3 does not divide .* dump_every = 10"),
    (["committee.size=1"], r"^committee\.size = 1: expected a number >= 2"),
    (["select.max_force=0"], r"^select\.max_force = 0: expected a number > 0"),
    (["retrain.model.r_max=5"], r"^retrain\.model cannot change between iterations"),
    (["retrain.train.max_epoch=5"], r"^unknown key retrain\.train\.max_epoch \(did you mean 'max_epochs'\?\)"),
    (["training.data.train=x"], r"^training\.data is not used: .* remove it"),
    (["explore.protocol=nvt"], r"unknown protocol 'nvt' \(did you mean 'nve'\?\)"),
])
def test_bad_values_name_the_key_and_the_fix(silicon_dir, overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_learn_config(silicon_dir / "learn.yaml", overrides)
    assert "\n" not in str(error.value)


def test_the_command_exits_2_with_one_line(silicon_dir, tmp_path):
    result = subprocess.run([sys.executable, "-c", "from egraff.cli import app; app()", "learn",
                             str(silicon_dir / "learn.yaml"), "-o", str(tmp_path / "out"), "trust.lo=0.5"],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: trust.lo = 0.5 is not below trust.hi = 0.4")
    assert not (tmp_path / "out").exists()  # nothing ran


def test_paths_are_relative_to_the_config_file(silicon_dir):
    config = load_learn_config(silicon_dir / "learn.yaml", ["trust.lo=0.05"])
    assert config.data.train[0].file == str(silicon_dir / "si.extxyz") and config.trust.lo == 0.05
    assert config.explore.systems[0].file == str(silicon_dir / "start.extxyz")
