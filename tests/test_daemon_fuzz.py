"""Property-based fuzzing: OSC packets (random bytes, valid messages with wrong types) and the HTTP
API (schemathesis against the generated OpenAPI description). After every example the daemon
must still answer, and it must never report an internal error or an HTTP 5xx."""
from __future__ import annotations

import re
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_message_builder import OscMessageBuilder

from daemon_support import daemon_fixture
from symbolic_ai import __version__, registry
from symbolic_ai.bridges.client import OscClient
from symbolic_ai.bridges.openapi import openapi

# derandomize: CI runs the same examples every time (a fuzz failure is then reproducible, never flaky)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
ADDRESSES = ["/sai/ping", "/sai/hello", "/sai/caps", "/sai/status", "/sai/cancel", "/sai/notes/open",
             "/sai/note", "/sai/notes/close"] + [f"/sai/{t}/{k}" for t in registry.TASKS for k in ("notes", "file")]
# python-osc cannot build NULs or lone surrogates (invalid UTF-8 reaches the daemon through the raw-bytes fuzz)
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20)
SCALARS = st.one_of(st.integers(-2 ** 31, 2 ** 31 - 1), st.floats(width=32), TEXT,
                    st.sampled_from(["reply_port", "token", "progress", "window_beats", "qpm", "", "/etc/passwd",
                                     "x.mid"]),
                    st.binary(min_size=1, max_size=8), st.booleans(), st.none())


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    with daemon_fixture(tmp_path_factory, max_notes=2000, job_timeout_s=5) as d:
        yield d


@pytest.fixture(scope="module")
def client(daemon):
    with OscClient(daemon.osc_address, timeout_s=10) as c:
        yield c


def still_serving(client: OscClient) -> list:
    """Ping and wait for the pong; return what came before it (no internal errors allowed)."""
    client.pending.clear()
    client.send("/sai/hello", 0, "python")  # a fuzzed /sai/hello may have sent the replies to another port
    client.send("/sai/ping")
    before = []
    while True:
        address, args = client.recv()
        if address == "/sai/pong":
            assert args == [__version__]
            break
        if address != "/sai/welcome":
            before.append((address, args))
    internal = [m for m in before if m[0] == "/sai/error" and len(m[1]) > 1 and m[1][1] == "internal"]
    assert not internal, internal
    return before


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_datagrams(client, data):
    client.send_raw(data)
    still_serving(client)


@FUZZ
@given(prefix=st.sampled_from([b"/sai/ping\x00\x00\x00", b"/sai/key/notes\x00\x00", b"#bundle\x00", b"/sai/note\x00\x00\x00"]),
       tail=st.binary(max_size=120))
def test_truncated_and_corrupted_messages(client, prefix, tail):
    client.send_raw(prefix + tail)
    still_serving(client)


@FUZZ
@given(address=st.sampled_from(ADDRESSES), args=st.lists(SCALARS, max_size=10))
def test_valid_messages_with_wrong_arguments(client, address, args):
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    client.send_raw(b.build().dgram)
    still_serving(client)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(n=st.integers(0, 40), notes=st.lists(st.tuples(st.integers(-5, 140), st.integers(-5, 140),
                                                        st.floats(-2, 1e7, width=32), st.floats(-2, 64, width=32),
                                                        st.integers(-1, 18)), max_size=40))
def test_random_note_lists(client, n, notes):
    client.send("/sai/notes/open", 77, n)
    for i, note in enumerate(notes):
        client.send("/sai/note", 77, i, *note)
    client.send("/sai/notes/close", 77)
    client.send("/sai/key/notes", 77)
    client.send("/sai/cancel", 77)
    before = still_serving(client)
    assert all(m[0] in ("/sai/error", "/sai/key/progress", "/sai/key/done", "/sai/key/local",
                        "/sai/key/annotation") for m in before), before


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(head=st.sampled_from([b"", b"GET / HTTP/1.1\r\n", b"POST /sai/key HTTP/1.1\r\nContent-Length: 9\r\n"]),
       junk=st.binary(max_size=300))
def test_raw_http_bytes(daemon, head, junk):
    import socket
    host, port = daemon.daemon.http_address
    with socket.create_connection((host, port), timeout=15) as s:
        s.sendall(head + junk)
        s.shutdown(socket.SHUT_WR)
        answer = s.recv(65536)
    assert answer == b"" or re.match(rb"HTTP/1\.1 [2-4]\d\d ", answer), answer[:100]
    with urllib.request.urlopen(f"{daemon.http_url}/sai/ping", timeout=15) as r:
        assert r.status == 200


# -- HTTP: schemathesis against the OpenAPI description ---------------------------------------
try:
    import schemathesis
except ImportError:  # the `test` extra installs it
    @pytest.mark.skip(reason="schemathesis is not installed: pip install -e '.[test]'")
    def test_http_api_conforms_to_its_openapi_description():
        pass
else:
    schema = schemathesis.openapi.from_dict(openapi())

    @schema.parametrize()
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def test_http_api_conforms_to_its_openapi_description(daemon, case):
        case.call_and_validate(base_url=daemon.http_url, timeout=30)
