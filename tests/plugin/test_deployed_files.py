"""A damaged or malformed deployed file is refused alike by the plugin and by `load_deployed`, with
one sentence naming the file and what is wrong; intact files (every record length) load in both."""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from conftest import fcc_binary, lammps_error, run_lmp
from egraff.deploy import DeployedModelError, load_deployed
from egraff.contract import DIGEST_KEY, weights_digest


def plugin_error(model, names="Ar Kr") -> str:
    """The LAMMPS error text of `pair_coeff * * model names`."""
    return lammps_error(fcc_binary((1, 1, 1)) + ["pair_style egraff", f"pair_coeff * * {model} {names}", "run 0"])


def record_span(path: Path, record: str) -> tuple[int, int]:
    """Byte offset and length of a stored (uncompressed) record inside the zip file."""
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.partition("/")[2] == record)
    assert info.compress_type == zipfile.ZIP_STORED
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", f.read(4))
    return info.header_offset + 30 + name_length + extra_length, info.file_size


def flip_one_bit(path: Path, record: str = "data/0") -> None:
    start, size = record_span(path, record)
    with open(path, "r+b") as f:
        f.seek(start + size // 2)
        byte = f.read(1)[0]
        f.seek(start + size // 2)
        f.write(bytes([byte ^ 0x08]))


def rezip(source: Path, target: Path, change: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """Copy a deployed file record by record (zip CRCs recomputed), replacing or dropping records."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            record = info.filename.partition("/")[2]
            if record in drop:
                continue
            dst.writestr(info, (change or {}).get(record, src.read(info)))
    return target


def test_a_flipped_bit_in_a_weight_is_refused_by_plugin_and_python(lj_file, tmp_path):
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(lj_file.read_bytes())
    flip_one_bit(damaged)
    # the bit matters: plain torch loads the file silently with a different epsilon table
    original, flipped = torch.jit.load(str(lj_file)), torch.jit.load(str(damaged))
    assert not torch.equal(original.energy_model.epsilon, flipped.energy_model.epsilon)

    error = plugin_error(damaged)
    assert "damaged.pt' is damaged: its weights differ from those written at export" in error
    with pytest.raises(DeployedModelError, match="damaged.pt is damaged: its weights differ"):
        load_deployed(damaged)


def test_changed_weights_with_a_valid_zip_are_refused_by_the_digest(lj_file, tmp_path):
    """Same change, but the zip is rewritten with correct CRCs: only the digest can see it."""
    with zipfile.ZipFile(lj_file) as z:
        name = next(n for n in z.namelist() if n.endswith("/data/0"))
        epsilon = bytearray(z.read(name))
    epsilon[3] ^= 0x01
    changed = rezip(lj_file, tmp_path / "changed.pt", change={"data/0": bytes(epsilon)})
    assert "(weights_sha256 mismatch)" in plugin_error(changed)
    with pytest.raises(DeployedModelError, match=r"changed.pt is damaged.*\(weights_sha256 mismatch\)"):
        load_deployed(changed)
    # the rewritten zip itself is fine: unchanged records give back a file that loads in both
    intact = rezip(lj_file, tmp_path / "intact.pt")
    load_deployed(intact)
    assert weights_digest(intact) == weights_digest(lj_file)


def test_file_without_digest_loads_with_a_warning(lj_file, tmp_path):
    legacy = rezip(lj_file, tmp_path / "legacy.pt", drop=(f"extra/{DIGEST_KEY}",))
    with pytest.warns(UserWarning, match="legacy.pt carries no weights digest"):
        load_deployed(legacy)
    script = "\n".join(fcc_binary((2, 2, 2)) + ["pair_style egraff", f"pair_coeff * * {legacy} Ar Kr", "run 0"]) + "\n"
    result = run_lmp(script, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert any(line.startswith("WARNING") and "carries no weights digest" in line for line in result.stdout.splitlines())


class PaddedCounter(torch.nn.Module):
    """E_i = sum_j 0.5 exp(-r_ij), with a byte buffer of a chosen length to vary the digested size."""

    def __init__(self, pad: int):
        super().__init__()
        self.register_buffer("pad", torch.arange(pad, dtype=torch.uint8))

    def forward(self, edge_vectors, edge_index, atom_types):
        r = torch.sqrt((edge_vectors * edge_vectors).sum(dim=1))
        energy = torch.zeros(atom_types.shape[0], dtype=edge_vectors.dtype)
        return energy.index_add(0, edge_index[0], 0.5 * torch.exp(-r))


def test_plugin_digest_equals_python_for_every_length_modulo_the_block(tmp_path):
    """64 files whose digested bytes differ in length by 0..63 (every SHA-256 padding case) all load
    in LAMMPS: the plugin's SHA-256 agrees with hashlib's on each."""
    from egraff.deploy import DeployedPotential, ModelMetadata, save_deployed

    meta = ModelMetadata(architecture="padded", type_names=("Ar", "Kr"), r_max=4.0, num_layers=1)
    paths = [save_deployed(DeployedPotential(PaddedCounter(k)), tmp_path / f"pad{k}.pt", meta) for k in range(64)]
    lengths = set()
    for path in paths:
        with zipfile.ZipFile(path) as z:
            lengths.add(sum(len(n.partition("/")[2]) + 9 + z.getinfo(n).file_size for n in z.namelist()
                            if n.partition("/")[2] in ("data.pkl", "constants.pkl")
                            or n.partition("/")[2].startswith(("data/", "constants/"))) % 64)
    assert lengths == set(range(64))
    script = "\n".join(fcc_binary((1, 1, 1)) + ["pair_style egraff"]
                       + [f"pair_coeff * * {p} Ar Kr" for p in paths] + ["run 0"]) + "\n"
    result = run_lmp(script, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]


# metadata edits: (key, value, phrase in the plugin's error, phrase in load_deployed's error)
BAD_METADATA = [
    ("r_max", "nan", "r_max = 'nan', which is not a finite number > 0", "r_max must be a finite number > 0, got nan"),
    ("r_max", "inf", "r_max = 'inf', which is not a finite number > 0", "r_max must be a finite number > 0, got inf"),
    ("r_max", "far", "r_max = 'far', which is not a finite number > 0", "metadata r_max = 'far', which is not a number"),
    ("r_max", "0", "r_max = '0', which is not a finite number > 0", "r_max must be a finite number > 0, got 0.0"),
    ("num_layers", "0", "num_layers = '0', which is not a whole number >= 1", "num_layers must be >= 1, got 0"),
    ("num_layers", "-1", "num_layers = '-1', which is not a whole number >= 1", "num_layers must be >= 1, got -1"),
    ("num_layers", "two", "num_layers = 'two', which is not a whole number", "num_layers = 'two', which is not a whole"),
    ("num_layers", "1.5", "num_layers = '1.5', which is not a whole number", "num_layers = '1.5', which is not a whole"),
    ("pair_cutoffs", "8 8 8", "has 3 pair_cutoffs, expected 2 x 2 = 4", "pair_cutoffs needs 2x2 = 4 values, got 3"),
    ("pair_cutoffs", "-1 8 8 8", "pair cutoff '-1' outside [0, r_max", "pair_cutoffs must lie in [0, r_max"),
    ("type_names", "Ar Ar", "names an element twice in its type_names 'Ar Ar'", "type names must be unique"),
    ("model_dtype", "float16", "model_dtype = 'float16'; it must be float32 or float64", "float32 or float64"),
    ("architecture", "", "lacks the metadata architecture", "lacks the metadata architecture"),
    ("egraff_contract", "2", "uses deployed-model contract version 2", "uses contract version 2"),
]


@pytest.mark.parametrize("key, value, plugin_phrase, python_phrase", BAD_METADATA,
                         ids=[f"{k}={v or 'empty'}" for k, v, *_ in BAD_METADATA])
def test_bad_metadata_is_refused_naming_file_and_key(lj_file, tmp_path, key, value, plugin_phrase, python_phrase):
    path = rezip(lj_file, tmp_path / "edited.pt", change={f"extra/{key}": value.encode()})
    error = plugin_error(path)
    assert "edited.pt" in error and plugin_phrase in error, error
    with pytest.raises(DeployedModelError) as info:
        load_deployed(path)
    assert "edited.pt" in str(info.value) and python_phrase in str(info.value), str(info.value)


def test_unusable_paths_are_named(lj_file, tmp_path):
    (tmp_path / "models").mkdir()
    assert "models' is a directory, not a model file" in plugin_error(tmp_path / "models")
    with pytest.raises(DeployedModelError, match="models is a directory, not a model file"):
        load_deployed(tmp_path / "models")
    (tmp_path / "empty.pt").touch()
    assert "empty.pt' is empty (0 bytes)" in plugin_error(tmp_path / "empty.pt")
    with pytest.raises(DeployedModelError, match="empty.pt is empty"):
        load_deployed(tmp_path / "empty.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(lj_file.read_bytes()[:3000])
    error = plugin_error(truncated)
    assert "truncated.pt' is not a loadable TorchScript model or AOTInductor package (PytorchStreamReader failed reading zip archive" in error
    assert "internal miniz error" not in error  # torch's advice to its own developers is cut
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}}, checkpoint)
    assert "checkpoint.pt' is a torch.save file (a checkpoint?), not a TorchScript model" in plugin_error(checkpoint)
    with pytest.raises(DeployedModelError, match=r"checkpoint.pt is a torch.save file \(a checkpoint\?\)"):
        load_deployed(checkpoint)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_named(lj_file, tmp_path):
    locked = tmp_path / "locked.pt"
    locked.write_bytes(lj_file.read_bytes())
    locked.chmod(0)
    assert "cannot open model file" in plugin_error(locked)
