"""A job: a step function, its spec, its dependencies; named by a hash of all three."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

RECORD = "record.json"  # written last, atomically: the job finished
ENGINE_VERSION = 2  # part of every key: a change of what a record means reruns everything


def job_step(kind: str, version: int = 1):
    """Mark ``function(spec, inputs, directory) -> (summary, outputs)`` as a step jobs can run.

    ``kind`` names the folder its jobs live in (``<root>/<kind>/<key>``); raise ``version`` when the
    function changes what it computes, so that finished jobs of the old version run again.
    ``inputs`` maps each dependency's role to that job's directory; the step writes only into
    ``directory`` and returns a JSON-able summary (kept in the record) and the output files (relative
    to ``directory``) whose disappearance makes the job run again."""

    def mark(function: Callable) -> Callable:
        function.job_kind, function.job_version = kind, version
        return function

    return mark


def step_identity(step: Callable) -> str:
    """What names a step in job keys: where it is defined, its name and its version."""
    if not hasattr(step, "job_kind"):
        raise TypeError(f"{step!r} is not a job step; decorate it with @egraff.jobs.job_step(kind)")
    return f"{step.__module__}.{step.__qualname__}:v{step.job_version}"


@dataclass(eq=False)
class Job:
    step: Callable  # marked with @job_step
    spec: dict  # everything the step computes from (JSON-able); paths inside are inputs, not outputs
    deps: dict = field(default_factory=dict)  # role -> Job
    label: str = ""  # what the progress display shows
    identity: dict | None = None  # what the key hashes instead of spec, when spec holds paths or resources
    #                              that do not change the result (a model file's location, MPI ranks)

    def __post_init__(self):
        payload = {"engine": ENGINE_VERSION, "step": step_identity(self.step),
                   "spec": self.spec if self.identity is None else self.identity,
                   "deps": {role: job.key for role, job in sorted(self.deps.items())}}
        self.key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def kind(self) -> str:
        return self.step.job_kind

    def directory(self, root: str | Path) -> Path:
        return Path(root) / self.kind / self.key

    def describe(self) -> str:
        return f"{self.kind} {self.label or self.key}"
