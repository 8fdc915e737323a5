"""The job engine on its own: events, errors, limits, cancel, timeout, drain; and the file rules."""
from __future__ import annotations

import asyncio
import functools
import json
import os
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES
from symbolic_ai import io
from symbolic_ai.bridges import files
from symbolic_ai.bridges.config import Config
from symbolic_ai.bridges.engine import Engine
from symbolic_ai.bridges.errors import Busy, DuplicateId, Forbidden, NotFound, TooLarge
from symbolic_ai.errors import InputError, ParameterError, UnknownTaskError

CHORALE = EXAMPLES / "chorale_bwv66_6.musicxml"


# a job's loader runs in a worker process, so these are module-level (picklable)
def piece():
    return io.load(EXAMPLES / "folk_melody.mid")


def bad_input():
    raise InputError("in.mid: the file is empty")


def bug():
    raise ZeroDivisionError("oops")


def slow(seconds: float = 5.0):
    time.sleep(seconds)
    return piece()


def spin():
    """A runaway job: burns CPU and never returns."""
    while True:
        pass


def hog(limit_mb: int = 1024):
    """A job that wants ever more memory (stops at limit_mb, so a regression cannot eat the machine)."""
    held = [bytearray(16 << 20) for _ in range(limit_mb // 16)]
    return piece() if held else None


def gone(pid: int, within_s: float = 5.0) -> bool:
    """Whether process `pid` has ended (and been reaped) within the time given."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.02)
    return False


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def run(coro_fn, **cfg):
    """Run `coro_fn(engine)` on a fresh engine and loop."""
    async def main():
        engine = Engine(Config(osc_port=None, http_port=0, preload=False, device="cpu", **cfg))
        await engine.start()
        try:
            return await coro_fn(engine)
        finally:
            await engine.drain(1.0)
    return asyncio.run(main())


def test_a_job_reports_progress_then_done_with_the_task_result():
    events = []

    async def go(engine):
        job = engine.submit("key", {"window_beats": 8}, piece, listener=lambda j, e: events.append((e, j.progress)))
        await job.done_event.wait()
        return job

    job = run(go)
    assert events == [("progress", 0.0), ("progress", 0.5), ("done", 1.0)]
    assert job.state == "done" and job.data["key"] and job.params["window_beats"] == 8.0
    assert job.status()["timing_ms"]["run"] > 0


def test_bad_task_or_parameter_is_refused_before_queueing():
    async def go(engine):
        with pytest.raises(UnknownTaskError):
            engine.submit("nope", {}, piece)
        with pytest.raises(ParameterError, match="window_beats"):
            engine.submit("key", {"window_beats": "wide"}, piece)
        with pytest.raises(ParameterError, match="unknown parameter"):
            engine.submit("key", {"colour": 1}, piece)
        return engine.stats()

    assert run(go)["submitted"] == 0


def test_task_errors_carry_their_code_and_the_engine_keeps_working():
    async def go(engine):
        a = engine.submit("key", {}, bad_input)
        b = engine.submit("key", {}, bug)
        c = engine.submit("key", {}, piece)
        for j in (a, b, c):
            await j.done_event.wait()
        return a, b, c

    a, b, c = run(go)
    assert a.error == ("bad_input", "in.mid: the file is empty")
    assert b.error[0] == "internal" and "ZeroDivisionError" in b.error[1]
    assert c.state == "done"


def test_full_queue_duplicate_ids_cancel_and_timeout():
    async def go(engine):
        running = engine.submit("key", {}, slow, client="c", request_id=1)
        await asyncio.sleep(0.05)  # let the single worker take it
        queued = engine.submit("key", {}, slow, client="c", request_id=2)
        with pytest.raises(Busy, match="waiting"):
            engine.submit("key", {}, slow)
        with pytest.raises(DuplicateId, match="request id 1"):
            engine.submit("key", {}, piece, client="c", request_id=1)
        assert engine.cancel(queued) and queued.state == "cancelled"
        assert engine.find("c", 2) is None
        await running.done_event.wait()  # times out (0.5 s) while it sleeps
        return running, queued

    running, queued = run(go, workers=1, max_queue=1, job_timeout_s=0.5)
    assert running.error[0] == "timeout" and "0.5 s" in running.error[1]
    assert queued.error == ("cancelled", "cancelled by the client")
    assert gone(running.worker_pid)


def test_cancel_while_running_answers_at_once_kills_the_job_and_writes_no_output(tmp_path):
    out = tmp_path / "never.json"

    async def go(engine):
        job = engine.submit("key", {}, functools.partial(slow, 3.0), files.saver(out, engine.config))
        while job.progress < 0.0 or job.state != "running":
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        assert engine.cancel(job)
        assert job.done_event.is_set() and time.monotonic() - t0 < 0.05
        assert not engine.cancel(job)  # already finished
        after = engine.submit("key", {}, piece)  # on a fresh worker
        await after.done_event.wait()
        return job, after

    job, after = run(go, workers=1, allow_dirs=(tmp_path,))
    assert job.state == "cancelled" and after.state == "done"
    assert gone(job.worker_pid) and after.worker_pid != job.worker_pid
    time.sleep(3.2)  # past the time the cancelled job would have written its output
    assert not out.exists()


def test_a_runaway_job_is_killed_at_its_timeout_and_its_worker_replaced():
    async def go(engine):
        job = engine.submit("key", {}, spin)
        while job.worker_pid is None:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        burning = cpu_ticks(job.worker_pid)
        await job.done_event.wait()
        after = engine.submit("key", {}, piece)
        await after.done_event.wait()
        return job, burning, after, engine.counts["replaced"]

    job, burning, after, replaced = run(go, workers=1, job_timeout_s=3.0)
    assert burning > 0  # it was running ...
    assert job.error[0] == "timeout" and "was stopped" in job.error[1]
    assert gone(job.worker_pid)  # ... and burns no CPU after its timeout
    assert after.state == "done" and after.worker_pid != job.worker_pid and replaced == 1, after.error


def test_a_job_over_the_worker_memory_limit_is_too_large_and_the_engine_keeps_serving():
    async def go(engine):
        job = engine.submit("key", {}, hog)
        await job.done_event.wait()
        after = engine.submit("key", {}, piece)
        await after.done_event.wait()
        return job, after

    job, after = run(go, workers=1, worker_memory_mb=128)
    assert job.error[0] == "too_large" and "--worker-memory-mb" in job.error[1], job.error
    assert gone(job.worker_pid)  # a worker that ran out of memory is replaced
    assert after.state == "done" and after.worker_pid != job.worker_pid


def test_drain_kills_jobs_still_running_at_its_end_and_stops_every_worker():
    async def go(engine):
        job = engine.submit("key", {}, spin)
        while job.state != "running":
            await asyncio.sleep(0.01)
        pids = [w.pid for w in engine.live]
        t0 = time.monotonic()
        late = await engine.drain(0.5)
        return job, late, pids, time.monotonic() - t0

    job, late, pids, took = run(go, workers=2)
    assert late == 1 and job.error[0] == "cancelled" and took < 0.5 + 3
    assert all(gone(pid) for pid in pids)


def test_drain_finishes_running_jobs_and_refuses_new_ones():
    async def go(engine):
        jobs = [engine.submit("key", {}, piece) for _ in range(3)]
        late = await engine.drain(10)
        with pytest.raises(Busy, match="shutting down"):
            engine.submit("key", {}, piece)
        return jobs, late

    jobs, late = run(go)
    assert late == 0 and [j.state for j in jobs] == ["done"] * 3


def test_finished_jobs_are_kept_within_bounds():
    async def go(engine):
        for _ in range(12):
            job = engine.submit("key", {}, piece, keep_result=False)
            await job.done_event.wait()
        return engine

    engine = run(go, keep_finished=5)
    assert len(engine.finished) == 5 and engine.counts["done"] == 12
    assert all(j.result is None and j.load is None for j in engine.finished.values())


# -- files -----------------------------------------------------------------------------------
def test_paths_must_be_supported_music_files_inside_allowed_dirs(tmp_path):
    cfg = Config(osc_port=None, http_port=0, allow_dirs=(tmp_path,), max_file_bytes=100)
    (tmp_path / "ok.mid").write_bytes(b"MThd")
    (tmp_path / "big.mid").write_bytes(b"x" * 200)
    (tmp_path / "escape.mid").symlink_to(CHORALE.with_suffix(".musicxml"))
    assert files.input_path(str(tmp_path / "ok.mid"), cfg).path == (tmp_path / "ok.mid").resolve()
    with pytest.raises(Forbidden, match="outside the allowed"):
        files.input_path(str(CHORALE), cfg)
    with pytest.raises(Forbidden, match="outside the allowed"):
        files.input_path(str(tmp_path / "escape.mid"), cfg)
    with pytest.raises(Forbidden, match="outside the allowed"):
        files.input_path(str(tmp_path / ".." / tmp_path.name / ".." / "x.mid"), cfg)
    with pytest.raises(Forbidden, match="reads only"):
        files.input_path("/etc/passwd", cfg)
    with pytest.raises(TooLarge, match="200 bytes"):
        files.input_path(str(tmp_path / "big.mid"), cfg)
    with pytest.raises(NotFound, match="no such file"):
        files.input_path(str(tmp_path / "missing.mid"), cfg)
    assert files.output_path("", cfg) is None
    assert files.output_path(str(tmp_path / "out.json"), cfg) == tmp_path.resolve() / "out.json"
    with pytest.raises(Forbidden, match="writes only"):
        files.output_path(str(tmp_path / "out.py"), cfg)
    with pytest.raises(Forbidden, match="outside"):
        files.output_path("/etc/out.mid", cfg)
    with pytest.raises(NotFound, match="does not exist"):
        files.output_path(str(tmp_path / "no" / "out.mid"), cfg)


def test_atomic_write_replaces_whole_files_and_leaves_nothing_else(tmp_path):
    out = tmp_path / "r.json"
    files.atomic_write(out, b'{"a": 1}')
    files.atomic_write(out, json.dumps({"b": 2}).encode())
    assert json.loads(out.read_text()) == {"b": 2}
    assert os.listdir(tmp_path) == ["r.json"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)
