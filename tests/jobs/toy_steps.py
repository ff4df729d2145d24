"""Toy job steps (no models): each appends its name to a log file, so tests count how often it ran."""

from __future__ import annotations

import json
import time
from pathlib import Path

from egraff.jobs import Job, job_step


@job_step("toy")
def add(spec, inputs, directory):
    with open(spec["log"], "a") as log:
        log.write(spec["name"] + "\n")
    if spec.get("fail"):
        raise RuntimeError(f"{spec['name']} cannot run")
    (directory / "started").write_text("")
    time.sleep(spec.get("sleep", 0))
    end = time.perf_counter() + spec.get("busy", 0)
    while time.perf_counter() < end:  # Python work that holds the GIL, as training does
        pass
    total = spec["value"] + sum(json.loads((d / "out.json").read_text()) for d in inputs.values())
    (directory / "out.json").write_text(json.dumps(total))
    return {"total": total}, ["out.json", *spec.get("claims", [])]


@job_step("toy", version=2)
def add_v2(spec, inputs, directory):
    return add(spec, inputs, directory)


def toy(name: str, log: Path, value: int = 1, deps: dict | None = None, **options) -> Job:
    return Job(add, {"name": name, "log": str(log), "value": value, **options}, deps or {})


def runs(log: Path) -> list[str]:
    return Path(log).read_text().split() if Path(log).exists() else []


@job_step("toy_memory")
def allocate(spec, inputs, directory):
    """Allocates, touches and frees a 4 MiB buffer ``spec["times"]`` times; returns the page faults that took."""
    import resource

    import numpy as np

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(spec["times"]):
        np.ones(1 << 19)  # 4 MiB of float64, freed at once
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    (directory / "out.json").write_text(json.dumps(faults))
    return {"faults": faults}, ["out.json"]
