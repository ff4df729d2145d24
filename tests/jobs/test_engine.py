"""The job engine: content keys, completion records, interrupted, failed and concurrent jobs, graphs that
grow (toy steps, no models)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import job_starts, kill_leader
from egraff.jobs import RECORD, Job, JobEngine, JobFailed, read_journal, run_jobs

from .toy_steps import add, add_v2, runs, toy

TESTS = Path(__file__).resolve().parents[1]


def test_records_make_reruns_free_and_an_interrupted_job_runs_again(tmp_path):
    log = tmp_path / "log"
    a = toy("a", log)
    b = toy("b", log, 10, {"x": a})
    records = run_jobs([b], tmp_path / "root", progress=False)
    assert records[b.key]["summary"]["total"] == 11 and runs(log) == ["a", "b"]
    assert run_jobs([b], tmp_path / "root", progress=False)[b.key]["ran"] is False and runs(log) == ["a", "b"]
    (b.directory(tmp_path / "root") / RECORD).unlink()  # as if killed before its record was written
    (b.directory(tmp_path / "root") / "stale.partial").write_text("half")
    run_jobs([b], tmp_path / "root", progress=False)
    assert runs(log) == ["a", "b", "b"]
    assert not (b.directory(tmp_path / "root") / "stale.partial").exists()
    assert [(e["event"], e["key"]) for e in read_journal(tmp_path / "root")] == \
        [("start", a.key), ("finish", a.key), ("start", b.key), ("finish", b.key), ("start", b.key), ("finish", b.key)]


def test_a_changed_output_reruns_exactly_the_jobs_downstream(tmp_path):
    log = tmp_path / "log"
    a, b = toy("a", log), toy("b", log)
    c = toy("c", log, deps={"x": a, "y": b})
    run_jobs([c], tmp_path, progress=False)
    (a.directory(tmp_path) / "out.json").unlink()
    records = run_jobs([c], tmp_path, progress=False)
    assert runs(log) == ["a", "b", "c", "a", "c"]
    assert [records[j.key]["ran"] for j in (a, b, c)] == [True, False, True]


def test_a_failed_job_stops_its_downstream_only_and_is_named(tmp_path):
    log = tmp_path / "log"
    bad = toy("bad", log, fail=True)
    after_bad = toy("after", log, deps={"x": bad})
    fine = toy("fine", log, 2)
    with pytest.raises(JobFailed, match="2 job\\(s\\) failed; first: toy .* RuntimeError: bad cannot run"):
        run_jobs([after_bad, fine], tmp_path, progress=False)
    assert "fine" in runs(log) and "after" not in runs(log)
    assert (fine.directory(tmp_path) / RECORD).is_file() and not (bad.directory(tmp_path) / RECORD).exists()
    assert [e["event"] for e in read_journal(tmp_path) if e["key"] == bad.key] == ["start", "fail"]


def test_a_step_that_does_not_write_its_outputs_fails(tmp_path):
    job = toy("liar", tmp_path / "log", claims=["never.txt"])
    with pytest.raises(JobFailed, match="did not write its output\\(s\\) never.txt"):
        run_jobs([job], tmp_path, progress=False)


def test_the_key_changes_with_the_spec_any_dependency_and_the_step_version(tmp_path):
    log = tmp_path / "log"
    a, a2 = toy("a", log, 1), toy("a", log, 2)
    assert toy("a", log, 1).key == a.key != a2.key
    assert toy("b", log, deps={"x": a}).key != toy("b", log, deps={"x": a2}).key
    assert Job(add_v2, a.spec).key != a.key
    assert Job(add, a.spec, identity={"what": "matters"}).key == Job(add, {**a.spec, "n": 3}, identity={"what": "matters"}).key
    with pytest.raises(TypeError, match="is not a job step; decorate it"):
        Job(print, {})


def test_a_graph_that_grows_between_rounds_reuses_what_ran(tmp_path):
    log = tmp_path / "log"
    with JobEngine(tmp_path, progress=False) as engine:
        first = toy("first", log, 3)
        total = engine.run([first])[first.key]["summary"]["total"]
        second = toy("second", log, total, {"x": first})  # made from the first round's result
        records = engine.run([second])
    assert records[second.key]["summary"]["total"] == 6 and runs(log) == ["first", "second"]


def _run_in_subprocess(job_code: str, root: Path) -> subprocess.Popen:
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); from jobs.toy_steps import toy; "
            f"from egraff.jobs import run_jobs; run_jobs([{job_code}], {str(root)!r}, progress=False)")
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stderr=subprocess.PIPE)


def test_a_rerun_never_races_a_live_writer_and_takes_over_from_a_dead_one(tmp_path):
    log, root = tmp_path / "log", tmp_path / "root"
    job = toy("slow", log, sleep=60)
    writer = _run_in_subprocess(f"toy('slow', {str(log)!r}, sleep=60)", root)
    deadline = time.monotonic() + 60
    while not (job.directory(root) / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.poll() is None, writer.stderr.read().decode()
    with pytest.raises(JobFailed, match=f"job toy {job.key} .* is being run by process {writer.pid} on .*; "
                                        "wait for it to finish or stop it, then run again"):
        run_jobs([job], root, progress=False)
    assert (job.directory(root) / "started").exists(), "the refused rerun touched the writer's directory"
    assert not kill_leader(writer)
    quick = toy("slow", log, sleep=60)
    quick.spec["sleep"] = 0  # same key (the key was computed from sleep=60): the rerun finishes at once
    run_jobs([quick], root, progress=False)
    assert runs(log) == ["slow", "slow"] and job_starts(root) == {job.key: 2}
    assert sorted(p.name for p in job.directory(root).parent.iterdir()) == [job.key]  # the lock file is gone


def test_a_dask_worker_keeps_freed_memory_in_the_process(tmp_path, monkeypatch):
    """Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which pins glibc's mmap threshold at 128 KiB: every
    large block freed goes back to the kernel and the next allocation faults it in page by page (a training epoch
    took 1.9x as long). A job run on a worker must not pay that: 200 allocations of 4 MiB, each touched, fault
    ~1000 pages each without egraff.processes.keep_freed_memory and almost none with it."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    from .toy_steps import allocate

    with JobEngine(tmp_path / "jobs", workers=1, progress=False) as engine:
        import dask

        assert dask.config.get("distributed.nanny.pre-spawn-environ")["MALLOC_TRIM_THRESHOLD_"] == 65536
        records = engine.run([Job(allocate, {"times": 200})])
    faults = next(iter(records.values()))["summary"]["faults"]
    assert faults < 200 * 1024 // 10, f"{faults} minor page faults for 200 allocations of 4 MiB (1024 pages each)"


def test_jobs_that_share_a_dependency_run_side_by_side_on_two_workers(tmp_path):
    """Two long jobs downstream of one short job must not queue on the worker that ran it while the other worker
    idles: the demo's committee members trained one after the other when the engine handed Dask futures of the
    dependencies (Dask placed both beside them, and a worker busy in Python answers a steal request late)."""
    log = tmp_path / "log"
    first = toy("first", log)
    pair = [toy(name, log, deps={"first": first}, busy=4) for name in ("left", "right")]
    with JobEngine(tmp_path / "jobs", workers=2, progress=False) as engine:
        engine.run(pair)
    starts = {e["key"]: e for e in read_journal(tmp_path / "jobs") if e["event"] == "start"}
    left, right = (starts[job.key] for job in pair)
    assert left["pid"] != right["pid"]
    assert abs(left["time"] - right["time"]) < 1.0, f"one started {abs(left['time'] - right['time']):.1f} s after the other"
