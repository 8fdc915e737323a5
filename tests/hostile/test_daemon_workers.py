"""Jobs in worker processes, against a real `symbolic-ai serve`: a runaway job is stopped at its
timeout (its worker is gone, so it burns no more CPU), the daemon keeps serving on a fresh
worker, and SIGTERM ends the daemon and every worker within the drain time even while a job runs.
(The memory limit of a worker is tested on the engine, in tests/test_daemon_engine.py.)"""
from __future__ import annotations

import resource
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest, daemon_support

from conftest import EXAMPLES  # noqa: E402
from daemon_support import Served  # noqa: E402
from symbolic_ai.bridges.client import OscClient  # noqa: E402

CHORALE = EXAMPLES / "chorale_bwv66_6.musicxml"
RUNAWAY = {"steps": 100, "samples": 16}  # perform at its most expensive: a minute or more on one core
DRAIN_S = 1.0  # shorter than the job timeout, so the shutdown stops the second runaway


def children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def workers(daemon_pid: int) -> set[int]:
    """The daemon's worker processes: the children of its fork server."""
    return {w for server in children(daemon_pid) for w in children(server)}


def wait_until(check, within_s: float) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_a_runaway_job_is_stopped_and_sigterm_exits_within_the_drain_time(tmp_path):
    d = Served(tmp_path, "--workers", "1", "--job-timeout", "3", "--drain-timeout", str(DRAIN_S),
               limits={resource.RLIMIT_AS: 6 << 30})
    try:
        assert wait_until(lambda: len(workers(d.proc.pid)) == 1, 30)
        (first,) = workers(d.proc.pid)
        with OscClient(d.osc, timeout_s=60) as c:
            t0 = time.monotonic()
            reply = c.run_file("perform", str(CHORALE), "", timeout_s=60, **RUNAWAY)
            assert reply.error is not None and reply.error[0] == "timeout", reply
            assert time.monotonic() - t0 < 3 + 5
            assert wait_until(lambda: not Path(f"/proc/{first}").exists(), 5)  # stopped: no more CPU burned
            assert wait_until(lambda: len(workers(d.proc.pid)) == 1, 30)  # replaced
            (second,) = workers(d.proc.pid)
            assert second != first
            c.send("/sai/ping")  # the daemon keeps serving, jobs included
            assert c.expect("/sai/pong")
            reply = c.run_file("key", str(CHORALE), "", timeout_s=60)
            assert reply.done is not None, reply.error
            c.send("/sai/perform/file", 99, str(CHORALE), "", *[x for kv in RUNAWAY.items() for x in kv])  # runs at SIGTERM
            c.expect("/sai/perform/progress")
        time.sleep(0.2)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(DRAIN_S + 10) == 0
        assert time.monotonic() - t0 < DRAIN_S + 5
        assert wait_until(lambda: not Path(f"/proc/{second}").exists(), 5)
        assert "1 cancelled by the shutdown" in d.proc.stdout.read()
    finally:
        d.stop()
