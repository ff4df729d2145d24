"""The model runtime keeps freed memory in the LAMMPS process (lammps_plugins/egraff_runtime.cpp, keep_freed_memory).

A model call frees and reallocates the same tensors every step. An `lmp` started by a Dask worker inherits
MALLOC_TRIM_THRESHOLD_=65536, which pins glibc's mmap threshold at 128 KiB: without the runtime's own malloc
settings every step faulted its tensors back in page by page (4000-atom NequIP: 655 000 minor faults for 10
steps against 163 000 with glibc's defaults, 1.6x the time per step). With them both environments fault alike.
"""

from __future__ import annotations

import resource

import pytest

from conftest import fcc_binary, run_lmp


def minor_faults(script: str, tmp_path, env: dict) -> int:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    result = run_lmp(script, tmp_path, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - before


def test_an_inherited_malloc_trim_threshold_does_not_make_every_step_fault(plugin_device, model_dir, tmp_path,
                                                                         monkeypatch):
    if plugin_device == "cuda":
        pytest.skip("the tensors of a CUDA run live on the GPU; the host allocator is not on its path")
    import torch

    from egraff.deploy import deploy
    from egraff.models import build

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    torch.manual_seed(0)
    model = deploy(build("nequip", ["Ar", "Kr"], 4.0, preset="tiny").eval(), model_dir / "allocator_nequip.pt")
    script = "\n".join(fcc_binary((8, 8, 8), jitter=0.05)
                       + ["pair_style egraff", f"pair_coeff * * {model} Ar Kr", "fix 1 all nve", "run 20"])
    default = minor_faults(script, tmp_path, {})
    dask = minor_faults(script, tmp_path, {"MALLOC_TRIM_THRESHOLD_": "65536"})
    assert dask < 1.3 * default, f"{dask} minor page faults with Dask's malloc setting, {default} without"
