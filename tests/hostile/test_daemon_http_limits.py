"""The HTTP server's own limits, in process: the token and the origin are checked from the head
alone (no body byte is awaited), connections are capped in all and per address, a head that never
ends and a body that never comes are cut off, and web pages (`Origin: null` included) are refused."""
from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest, daemon_support

from daemon_support import daemon_fixture  # noqa: E402
from symbolic_ai.bridges import http as sai_http  # noqa: E402

TOKEN = "limits-test-secret-42"


def get(d, path, headers=None):
    host, port = d.daemon.http_address
    conn = http.client.HTTPConnection(host, port, timeout=15)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    doc = json.loads(resp.read() or b"null")
    conn.close()
    return resp.status, doc


def closed_at_once(s: socket.socket, within_s: float = 3.0) -> bool:
    """Whether the daemon closed `s` (end of file or reset) within the time given, having sent nothing."""
    s.settimeout(within_s)
    try:
        return s.recv(4096) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def slow_head(address) -> socket.socket:
    s = socket.create_connection(address, timeout=10)
    s.sendall(b"GET /sai/ping HTTP/1.1\r\nX-Slow: ")
    return s


def test_the_token_is_checked_before_any_body_byte_is_awaited(tmp_path_factory):
    with daemon_fixture(tmp_path_factory, token=TOKEN) as d:
        with socket.create_connection(d.daemon.http_address, timeout=10) as s:
            s.sendall(b"POST /sai/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 30000000\r\n\r\n")  # a body that never comes
            t0 = time.monotonic()
            answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 401 ") and b'"unauthorized"' in answer, answer[:200]
        assert time.monotonic() - t0 < 2
        with socket.create_connection(d.daemon.http_address, timeout=10) as s:  # with the token: 413 from the head
            s.sendall(f"POST /sai/key HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {d.daemon.config.max_body_bytes + 1}\r\n\r\n".encode())
            assert s.recv(4096).startswith(b"HTTP/1.1 413 ")
        assert get(d, "/sai/status", {"Authorization": f"Bearer {TOKEN}"})[0] == 200


@pytest.mark.parametrize("origin", ["null", "http://evil.example", "https://127.0.0.1.evil.example"])
def test_web_pages_are_refused_origin_null_included(tmp_path_factory, origin):
    with daemon_fixture(tmp_path_factory) as d:
        status, doc = get(d, "/sai/status", {"Origin": origin})
        assert (status, doc["error"]["code"]) == (403, "forbidden")
        host, port = d.daemon.http_address
        conn = http.client.HTTPConnection(host, port, timeout=15)
        conn.request("POST", "/sai/jobs/1/cancel", body="{}", headers={"Origin": origin, "Content-Type": "application/json"})
        assert conn.getresponse().status == 403
        conn.close()
        assert get(d, "/sai/status", {"Origin": f"http://127.0.0.1:{port}"})[0] == 200


def test_connections_are_capped_per_address_and_in_all(tmp_path_factory, monkeypatch):
    monkeypatch.setattr(sai_http, "MAX_PER_PEER", 4)
    with daemon_fixture(tmp_path_factory, osc_port=None) as d:
        address = d.daemon.http_address
        held = [slow_head(address) for _ in range(4)]
        try:
            time.sleep(0.2)
            extra = socket.create_connection(address, timeout=10)
            assert closed_at_once(extra)  # past the per-address cap: closed at once
            extra.close()
            assert d.daemon.http.refused_connections == 1
        finally:
            for s in held:
                s.close()
        time.sleep(0.2)
        assert get(d, "/sai/ping")[0] == 200  # the slots are free again
        d.daemon.http.max_connections = 2
        held = [slow_head(address) for _ in range(2)]
        try:
            time.sleep(0.2)
            extra = socket.create_connection(address, timeout=10)
            assert closed_at_once(extra)
            extra.close()
        finally:
            for s in held:
                s.close()
        time.sleep(0.2)
        assert get(d, "/sai/ping")[0] == 200


def test_slow_heads_and_slow_bodies_are_cut_off(tmp_path_factory, monkeypatch):
    monkeypatch.setattr(sai_http, "HEADER_TIMEOUT_S", 0.5)
    monkeypatch.setattr(sai_http, "BODY_TIMEOUT_S", 0.5)
    with daemon_fixture(tmp_path_factory, osc_port=None) as d:
        t0 = time.monotonic()
        s = slow_head(d.daemon.http_address)
        for _ in range(3):  # trickling keeps the connection busy, not alive
            time.sleep(0.2)
            s.sendall(b"x")
        assert closed_at_once(s, 3.0) and time.monotonic() - t0 < 3.0
        s.close()
        with socket.create_connection(d.daemon.http_address, timeout=10) as s:
            s.sendall(b"POST /sai/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"notes\"")
            answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400 ") and b"did not arrive" in answer, answer[:300]
        assert get(d, "/sai/ping")[0] == 200
        host, port = d.daemon.http_address  # a request whose answer takes longer than a head may is not cut
        conn = http.client.HTTPConnection(host, port, timeout=120)
        t0 = time.monotonic()
        conn.request("POST", "/sai/perform?wait=1", headers={"Content-Type": "application/json"},
                     body=json.dumps({"notes": [[60 + i % 12, 80, i * 0.5, 0.5, 1] for i in range(64)],
                                      "params": {"steps": 100, "samples": 4}}))
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["state"] == "done"
        assert time.monotonic() - t0 > sai_http.HEADER_TIMEOUT_S
        conn.close()
