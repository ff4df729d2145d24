"""The job engine: content keys, completion records, interrupted and failed jobs (toy steps, no models)."""

from __future__ import annotations

import json

import pytest

from egraff.bench import engine, steps
from egraff.bench.engine import Job, JobFailed, run_jobs


@pytest.fixture
def toy_steps(monkeypatch):
    calls = []

    def write(spec, dependencies, directory):
        calls.append(spec["name"])
        if spec.get("fail"):
            raise RuntimeError(f"{spec['name']} cannot run")
        total = spec["value"] + sum(json.loads((d / "out.json").read_text()) for d in dependencies.values())
        (directory / "out.json").write_text(json.dumps(total))
        return {"total": total}, ["out.json"]

    monkeypatch.setitem(steps.STEPS, "toy", write)
    return calls


def test_records_make_reruns_free_and_an_interrupted_job_runs_again(tmp_path, toy_steps):
    a = Job("toy", {"name": "a", "value": 1})
    b = Job("toy", {"name": "b", "value": 10}, {"x": a})
    records = run_jobs([b], tmp_path, progress=False)
    assert records[b.key]["summary"]["total"] == 11 and toy_steps == ["a", "b"]
    assert run_jobs([b], tmp_path, progress=False)[b.key]["ran"] is False and toy_steps == ["a", "b"]
    (b.directory(tmp_path) / engine.RECORD).unlink()  # as if killed before its record was written
    (b.directory(tmp_path) / "stale.partial").write_text("half")
    run_jobs([b], tmp_path, progress=False)
    assert toy_steps == ["a", "b", "b"]
    assert not (b.directory(tmp_path) / "stale.partial").exists()


def test_a_failed_job_stops_its_downstream_only_and_is_named(tmp_path, toy_steps):
    bad = Job("toy", {"name": "bad", "value": 1, "fail": True})
    after_bad = Job("toy", {"name": "after", "value": 1}, {"x": bad})
    fine = Job("toy", {"name": "fine", "value": 2})
    with pytest.raises(JobFailed, match="2 job\\(s\\) failed; first: toy .* RuntimeError: bad cannot run"):
        run_jobs([after_bad, fine], tmp_path, progress=False)
    assert "fine" in toy_steps and "after" not in toy_steps
    assert (fine.directory(tmp_path) / engine.RECORD).is_file()


def test_the_key_changes_with_the_spec_and_with_any_dependency():
    a, a2 = Job("toy", {"value": 1}), Job("toy", {"value": 2})
    assert Job("toy", {"value": 1}).key == a.key != a2.key
    assert Job("toy", {"v": 0}, {"x": a}).key != Job("toy", {"v": 0}, {"x": a2}).key
