"""`symbolic-ai serve` as a real process, talked to by real clients: liblo's oscsend/oscdump, a Pure
Data patch, curl. Also SIGTERM (drains running jobs) and SIGKILL (no partial output file).
Tests whose client is not installed skip with the reason (.ci/run installs them from Debian)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import EXAMPLES, TESTS
from daemon_support import Served, reference_for_rows
from symbolic_ai import io, registry
from symbolic_ai.bridges.client import OscClient

PD_NOTES = [(57, 90, 0.0, 1.0, 1), (59, 90, 1.0, 1.0, 1), (60, 90, 2.0, 1.0, 1), (62, 90, 3.0, 1.0, 1),
            (64, 90, 4.0, 1.0, 1), (65, 90, 5.0, 1.0, 1), (68, 90, 6.0, 1.0, 1), (69, 90, 7.0, 2.0, 1)]  # as in the patch
RAG = EXAMPLES / "maple_leaf_rag.mid"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install liblo-tools puredata-core curl; see .ci/run)")
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = Served(tmp_path_factory.mktemp("served"))
    yield d
    assert d.stop() == 0


def test_start_up_line_says_what_listens_where(served):
    assert served.banner.startswith("symbolic-ai serve ")
    assert "listening on OSC udp://127.0.0.1:" in served.banner and "HTTP http://127.0.0.1:" in served.banner
    assert "tasks: key" in served.banner and "files under" in served.banner


def test_oscsend_and_oscdump(served):
    import queue
    import threading

    oscsend, oscdump = need("oscsend"), need("oscdump")
    port = free_udp_port()
    dump = subprocess.Popen([oscdump, "-L", str(port)], stdout=subprocess.PIPE, text=True)
    got: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [got.put(ln) for ln in dump.stdout], daemon=True).start()

    def next_line(timeout_s: float) -> str:
        try:
            return got.get(timeout=timeout_s)
        except queue.Empty:
            return ""

    try:
        lines: list[str] = []
        deadline = time.monotonic() + 10
        while not any("/sai/pong" in ln for ln in lines):  # oscdump needs a moment to listen: resend
            assert time.monotonic() < deadline, lines
            subprocess.run([oscsend, "localhost", str(served.osc[1]), "/sai/ping", "si", "reply_port", str(port)],
                           check=True, timeout=10)
            line = next_line(0.5)
            if line:
                lines.append(line)
        lines = [ln for ln in lines if "/sai/pong" in ln][:1]
        out = served.workdir / "folk.json"
        subprocess.run([oscsend, "localhost", str(served.osc[1]), "/sai/key/file", "isssi", "1",
                        str(EXAMPLES / "folk_melody.mid"), str(out), "reply_port", str(port)], check=True, timeout=10)
        deadline = time.monotonic() + 30
        while "/sai/key/done" not in lines[-1] and "/sai/error" not in lines[-1]:
            assert time.monotonic() < deadline, lines
            line = next_line(1.0)
            if line:
                lines.append(line)
    finally:
        dump.kill()
        dump.wait()
    done = lines[-1]
    assert '/sai/pong s "' in lines[0] and "/sai/key/progress if 1 0.0" in "".join(lines)
    assert re.search(r'/sai/key/done is\S* 1 "key" "[A-G][#b]? (major|minor)"', done), done
    assert json.loads(out.read_text())["task"] == "key"


def test_pure_data_patch_asks_for_key_and_prints_the_reply(served):
    pd = need("pd")
    reply_port = free_udp_port()
    run = subprocess.run([pd, "-nogui", "-noaudio", "-nomidi", "-stderr", "-send",
                          f"saiport {served.osc[1]} {reply_port}", str(TESTS / "pd" / "key_client.pd")],
                         capture_output=True, text=True, timeout=60)
    expected = reference_for_rows("key", PD_NOTES)[1]["key"]
    assert "SAI-WELCOME: 0.1.0 pd-test" in run.stderr, run.stderr
    assert f"SAI-DONE: 7 key {expected.replace(' ', chr(92) + ' ')} " in run.stderr, run.stderr
    assert "SAI-TIMEOUT" not in run.stderr and "SAI-ERROR" not in run.stderr


def test_curl_submit_wait_events_and_openapi(served, tmp_path):
    curl = need("curl")
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"notes": [list(n) for n in PD_NOTES], "params": {"profile": "temperley"}}))

    def call(*args: str) -> str:
        return subprocess.run([curl, "-sS", "--max-time", "30", *args], capture_output=True, text=True,
                              check=True).stdout

    job = json.loads(call("-X", "POST", "-H", "Content-Type: application/json", "--data-binary", f"@{body}",
                          f"{served.url}/sai/key?wait=1"))
    assert job["state"] == "done" and job["params"]["profile"] == "temperley" and job["result"]["key"]
    queued = json.loads(call("-X", "POST", "-H", "Content-Type: application/json", "--data-binary", f"@{body}",
                             f"{served.url}/sai/key"))
    events = call("-N", f"{served.url}/sai/jobs/{queued['id']}/events")
    assert "event: done\ndata: {" in events
    spec = json.loads(call(f"{served.url}/openapi.json"))
    assert "/sai/key" in spec["paths"]
    error = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                            "-H", "Content-Type: application/json", "-d", "{", f"{served.url}/sai/key"],
                           capture_output=True, text=True).stdout
    assert error == "400"


def test_sigterm_drains_running_jobs(tmp_path):
    # `perform` jobs (~0.2 s each here) keep the queue busy long enough for the late request
    # to arrive while the daemon drains; `key` finishes in milliseconds and would race it.
    if "perform" not in registry.TASKS:
        pytest.skip("needs the perform task (slow enough jobs to drain)")
    d = Served(tmp_path, "--workers", "1")
    n = 8
    outs = [tmp_path / f"rag{i}.json" for i in range(n)]
    with OscClient(d.osc, timeout_s=60) as c:
        for i, out in enumerate(outs):
            c.send("/sai/perform/file", i, str(RAG), str(out), "steps", 40)
        c.send("/sai/ping")
        c.expect("/sai/pong")  # datagrams are handled in order: all n jobs are queued now
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        c.send("/sai/perform/file", 99, str(RAG), str(tmp_path / "late.json"))
        replies = {i: c.collect("perform", i) for i in range(n)}
        late = c.collect("perform", 99)
    assert d.proc.wait(60) == 0
    assert all(r.done is not None for r in replies.values()), {i: r.error for i, r in replies.items() if r.done is None}
    assert late.error[0] == "busy" and "shutting down" in late.error[1]
    assert all(json.loads(out.read_text())["task"] == "perform" for out in outs)
    assert f"stopped ({n} jobs done)" in d.proc.stdout.read()


def test_sigkill_never_leaves_a_partial_output_file(tmp_path):
    written = 0
    for delay_s in (0.0, 0.03, 0.1, 0.6, 1.5):  # the last one late enough for a write on a loaded machine
        work = tmp_path / f"kill{delay_s}"
        work.mkdir()
        d = Served(work, "--workers", "2")
        out = work / "out.mid"
        with OscClient(d.osc, timeout_s=30) as c:
            for i in range(6):
                c.send("/sai/key/file", i, str(RAG), str(out))
            time.sleep(delay_s)
            os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait(30)
        leftovers = sorted(p.name for p in work.iterdir() if p.name not in ("daemon.log", "out.mid"))
        assert leftovers == [], leftovers
        if out.exists():
            assert len(io.load(out).notes) == len(io.load(RAG).notes)
            written += 1
    assert written, "no output was ever written, so the kill was never tested against a write"


def test_serve_refuses_an_open_address_without_token_and_a_taken_port(served):
    base = [sys.executable, "-m", "symbolic_ai.cli", "serve"]
    run = subprocess.run(base + ["--host", "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "give --token" in run.stderr and run.stderr.count("\n") == 1
    run = subprocess.run(base + ["--osc-port", str(served.osc[1]), "--http-port", "0"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "Address already in use" in run.stderr and "--osc-port" in run.stderr


def test_the_core_package_never_imports_the_bridges():
    code = ("import sys, symbolic_ai, symbolic_ai.cli as cli; cli.build_parser(); "
            "sys.exit(any(m.startswith('symbolic_ai.bridges') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
