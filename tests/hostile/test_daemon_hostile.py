"""Issue-22 cases against a real `symbolic-ai serve` with a token, under a memory limit (RLIMIT_AS)
and a small file-descriptor limit, so a regression fails here instead of swapping the machine.
Everything talks to 127.0.0.1 only; every loop is bounded."""
from __future__ import annotations

import http.client
import json
import os
import resource
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest, daemon_support

from conftest import EXAMPLES  # noqa: E402
from daemon_support import Served  # noqa: E402
from symbolic_ai.bridges import http as sai_http  # noqa: E402
from symbolic_ai.bridges.client import OscClient  # noqa: E402
from symbolic_ai.bridges.config import TOKEN_ENV, resolve_token  # noqa: E402
from symbolic_ai.bridges.osc import build, parse_packet  # noqa: E402

from symbolic_ai.errors import ParameterError  # noqa: E402

TOKEN = "hostile-test-secret-7f3a"
MEMORY_LIMIT = 6 << 30   # address space of the daemon process
FD_LIMIT = 256           # so the HTTP connection cap is 64 (a quarter)
RAG = EXAMPLES / "maple_leaf_rag.mid"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    env = {**os.environ, TOKEN_ENV: TOKEN}
    d = Served(tmp_path_factory.mktemp("hostile"), "--workers", "1", env=env,
               limits={resource.RLIMIT_AS: MEMORY_LIMIT, resource.RLIMIT_NOFILE: FD_LIMIT})
    yield d
    assert d.stop() == 0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def http_request(served, method, path, headers=None, body=None):
    conn = http.client.HTTPConnection(*served.http, timeout=15)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    doc = json.loads(resp.read() or b"null")
    conn.close()
    return resp.status, doc


def bundle(messages: list[bytes], limit: int = 65000) -> bytes:
    """A bundle of as many of `messages` as fit in `limit` bytes (one UDP datagram)."""
    out, size = [], 16
    for m in messages:
        if size + 4 + len(m) > limit:
            break
        out.append(struct.pack(">i", len(m)) + m)
        size += 4 + len(m)
    return b"#bundle\x00" + b"\x00" * 7 + b"\x01" + b"".join(out)


def drain(sock: socket.socket, quiet_s: float = 1.0, cap: int = 100_000) -> list[bytes]:
    """Every datagram that arrives until none has come for quiet_s (at most cap)."""
    got: list[bytes] = []
    sock.settimeout(quiet_s)
    while len(got) < cap:
        try:
            got.append(sock.recv(65536))
        except socket.timeout:
            break
    return got


def test_the_token_comes_from_a_file_or_the_environment_and_not_the_command_line(served, tmp_path):
    assert TOKEN not in Path(f"/proc/{served.proc.pid}/cmdline").read_bytes().decode()
    f = tmp_path / "token"
    f.write_text("from-the-file-1234\n")
    assert resolve_token("from-the-option", f, {TOKEN_ENV: "x" * 9}) == "from-the-file-1234"
    assert resolve_token(None, None, {TOKEN_ENV: "from-the-env-1234"}) == "from-the-env-1234"
    assert resolve_token(None, None, {}) is None
    with pytest.raises(ParameterError, match="--token-file .*missing"):
        resolve_token(None, tmp_path / "missing", {})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ParameterError, match="empty"):
        resolve_token(None, tmp_path / "empty", {})


def test_web_pages_cannot_change_state(served):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, doc = http_request(served, "GET", "/sai/status", {**auth, "Origin": "null"})
    assert (status, doc["error"]["code"]) == (403, "forbidden")
    for headers in ({}, {"Content-Type": "text/plain"}):  # what a page may send without a preflight
        status, doc = http_request(served, "POST", "/sai/jobs/1/cancel", {**auth, **headers})
        assert (status, doc["error"]["code"]) == (403, "forbidden"), doc
    status, doc = http_request(served, "POST", "/sai/jobs/999999/cancel", {**auth, "Content-Type": "application/json"})
    assert (status, doc["error"]["code"]) == (404, "not_found")


def test_unauthenticated_bodies_are_refused_before_they_are_read(served):
    before = rss_mb(served.proc.pid)
    size = 30_000_000
    for _ in range(20):
        with socket.create_connection(served.http, timeout=10) as s:
            s.sendall(f"POST /sai/key HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {size}\r\n\r\n".encode())
            s.sendall(b"[" * 65536)  # a little of the body: the answer must not wait for the rest
            answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert rss_mb(served.proc.pid) - before < 50
    assert http_request(served, "GET", "/sai/ping")[0] == 200


def test_slow_connections_are_capped_and_timed_out(served):
    socks = []
    try:
        for _ in range(FD_LIMIT + 44):  # more than the daemon has descriptors: past its cap, closed at once
            s = socket.create_connection(served.http, timeout=10)
            s.sendall(b"GET /sai/ping HTTP/1.1\r\nX-Slow: ")
            socks.append(s)
        with OscClient(served.osc, timeout_s=30, hello=False) as c:  # the daemon keeps serving ...
            c.send("/sai/hello", 0, "hostile", "token", TOKEN)
            c.expect("/sai/welcome")
            out = served.workdir / "capped.json"
            reply = c.run_file("key", str(RAG), str(out), timeout_s=60)  # ... file jobs included
            assert reply.done is not None, reply.error
        started = time.monotonic()
        for s in socks:  # the daemon ends every slow head within its deadline
            s.settimeout(sai_http.HEADER_TIMEOUT_S + 10 - (time.monotonic() - started))
            try:
                while s.recv(4096):
                    pass
            except ConnectionError:
                pass
        assert time.monotonic() - started < sai_http.HEADER_TIMEOUT_S + 10
    finally:
        for s in socks:
            s.close()
    assert http_request(served, "GET", "/sai/ping")[0] == 200
    assert served.log.stat().st_size < 200_000  # refusals are counted, not logged one by one


def test_osc_replies_to_unauthenticated_sources_are_no_larger_than_the_request(served):
    unknown = bundle([build(f"/sai/nothing{i}", [i]) for i in range(3000)])
    caps = bundle([build("/sai/caps", []) for _ in range(3000)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        for request in (unknown, caps):
            s.sendto(request, served.osc)
            got = drain(s)
            assert sum(map(len, got)) <= len(request), (len(got), sum(map(len, got)), len(request))
        s.sendto(build("/sai/caps", []), served.osc)  # 12 bytes in: no reply of 100+ bytes out
        assert all(len(d) <= 64 for d in drain(s))


def test_osc_errors_are_rate_limited_for_unregistered_sources_and_caps_for_all(served):
    unknown = bundle([build(f"/sai/nothing{i}", [i, "token", TOKEN]) for i in range(2000)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # authenticated, not registered
        s.bind(("127.0.0.1", 0))
        s.sendto(unknown, served.osc)
        assert 1 <= len(drain(s)) <= 110
    with OscClient(served.osc, timeout_s=30, hello=False) as c:
        c.send("/sai/hello", 0, "hostile", "token", TOKEN)
        c.expect("/sai/welcome")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        n = len(unknown) // 40
        c.send_raw(bundle([build(f"/sai/nothing{i}", [i]) for i in range(n)]))
        assert len(drain(c.sock)) == n  # a registered client is told about each of its mistakes
        time.sleep(1.1)
        c.send_raw(bundle([build("/sai/caps", []) for _ in range(2000)]))
        got = drain(c.sock)
        assert sum(m.startswith(b"/sai/caps/end") for m in got) == 1
        rest = [m for m in got if not m.startswith(b"/sai/caps/")]
        assert len(rest) == 1999 and all(m.startswith(b"/sai/error") and b"busy" in m for m in rest)


def test_token_values_never_reach_the_log(served):
    wrong = "not-the-token-but-secret-too"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        for args in (["token", TOKEN, "extra"], ["token", wrong, "extra"], ["token", wrong]):
            s.sendto(build("/sai/key/notes", [1, *args]), served.osc)
            s.sendto(build("/sai/hello", [0, "x", *args]), served.osc)
        replies = drain(s)
    with OscClient(served.osc, timeout_s=30, hello=False) as c:
        c.send("/sai/hello", 0, "hostile", "token", TOKEN)
        c.expect("/sai/welcome")
        c.send("/sai/key/notes", 5, "mode", "x", "token", TOKEN, "odd")
        replies.append(build("/sai/error", c.expect("/sai/error")))
    time.sleep(0.3)
    log = served.log.read_text()
    assert "token" in log  # the requests were logged ...
    for secret in (TOKEN, wrong):  # ... without the values
        assert secret not in log
        assert not any(secret.encode() in r for r in replies)



def test_osc_bursts_are_answered_not_dropped(served):
    """8 clients x 1,250 requests sent at once: each gets an answer (here `not_found`, or `busy`)."""
    n, clients = 1250, []
    try:
        for k in range(8):
            c = OscClient(served.osc, timeout_s=30, hello=False)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            c.send("/sai/hello", 0, f"burst{k}", "token", TOKEN)
            c.expect("/sai/welcome")
            clients.append(c)
        msgs = [build("/sai/cancel", [i]) for i in range(1, n + 1)]
        threads = [threading.Thread(target=lambda c=c: [c.send_raw(m) for m in msgs]) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in clients:
            got = drain(c.sock, quiet_s=3.0, cap=2 * n)
            codes = [parse_packet(g)[0][1][1] for g in got]
            assert len(got) == n and set(codes) <= {"not_found", "busy"}, (len(got), set(codes))
    finally:
        for c in clients:
            c.close()
