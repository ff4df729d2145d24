"""`egraff data list/fetch/info/generate` as a user runs them."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from egraff.cli import app

runner = CliRunner()


def test_list_shows_documented_splits():
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0
    assert "train 500, val 1669, test 2138" in result.output
    assert "not pinned: train, test" in result.output  # lips


def test_info_prints_statistics_from_the_mirror(mirror, monkeypatch):
    monkeypatch.setenv("EGRAFF_DATA_MIRROR", str(mirror))
    result = runner.invoke(app, ["data", "info", "md17_ethanol"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "composition (train, val, test): C2H6O" in result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.startswith("│")}
    assert rows["train"].split("│")[2].strip() == "950" and rows["test"].split("│")[2].strip() == "1000"


def test_fetch_unknown_name_suggests_and_fails():
    result = runner.invoke(app, ["data", "fetch", "md17-asprin"])
    assert result.exit_code == 2  # bad input (egraff.exits)
    assert "did you mean 'md17_aspirin'" in result.output


def test_fetch_from_mirror_verifies_every_file(mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("EGRAFF_DATA_MIRROR", str(mirror))
    result = runner.invoke(app, ["data", "fetch", "water"])
    assert result.exit_code == 0, result.output
    assert "29 files verified" in result.output  # 4 systems × (type, type_map) + 5 sets × 4 arrays + water.lmp
    cached = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(cached) == 29 and all(p.stat().st_size for p in cached)


def test_generate_writes_a_selected_phase_and_temperature(tmp_path):
    result = runner.invoke(app, ["data", "generate", "copper", "--phase", "fcc", "-T", "450", "--frames", "3",
                                 "--sample-every", "5", "--trajectory-steps", "20", "--min-atoms", "32",
                                 "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "copper" / "fcc-450K" / "metadata.json").read_text())
    assert (meta["phase"], meta["temperature_K"], meta["n_frames"], meta["n_atoms"]) == ("fcc", 450.0, 3, 32)
    again = runner.invoke(app, ["data", "generate", "copper", "--phase", "fcc", "-T", "450", "-o", str(tmp_path)])
    assert again.exit_code == 2 and "exists; remove it or pass overwrite" in again.output
    bad = runner.invoke(app, ["data", "generate", "copper", "--phase", "diamond", "-o", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown phase(s) diamond" in bad.output


def test_fetch_reports_files_it_could_not_get(mirror, monkeypatch, tmp_path):
    partial = tmp_path / "partial-mirror"
    source = "davkovacs/BOTNet-datasets/dataset_acac/isolated_atoms.xyz"
    (partial / source).parent.mkdir(parents=True)
    (partial / source).write_bytes((mirror / source).read_bytes())
    monkeypatch.setenv("EGRAFF_DATA_MIRROR", str(partial))
    result = runner.invoke(app, ["data", "fetch", "acac"])
    assert result.exit_code == 1
    assert "1 files verified" in result.output
    assert "not fetched" in result.output and "test_MD_600K.xyz is not in the mirror" in result.output
