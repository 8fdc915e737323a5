"""The OSC interface, in process: every registered task over note lists and files, and bad input.

Bad packets, unknown addresses, wrong types, huge or incomplete note lists, cancel, vanished
clients and many clients at once must each get an error (or a logged drop) and leave the daemon
serving. Property-based fuzzing of packets is in test_daemon_fuzz.py.
"""
from __future__ import annotations

import json
import socket
import struct
import threading

import pytest

from daemon_support import (TASK_NAMES, daemon_fixture, input_file, input_rows, reference,
                            reference_for_rows, same_scalars)
from symbolic_ai import __version__, io, registry
from symbolic_ai.bridges.client import OscClient
from symbolic_ai.bridges.osc import build, parse_packet

MELODY = [(57 + (0, 2, 3, 5, 7, 8, 11, 12)[i % 8], 90, float(i), 1.0, 1) for i in range(64)]  # 16 bars


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    with daemon_fixture(tmp_path_factory) as d:
        yield d


@pytest.fixture
def client(daemon):
    with OscClient(daemon.osc_address, timeout_s=20) as c:
        yield c


def test_ping_hello_and_status(daemon, client):
    client.send("/sai/ping")
    assert client.expect("/sai/pong") == [__version__]
    client.send("/sai/status")
    status = client.expect("/sai/status")
    assert dict(zip(status[::2], status[1::2]))["workers"] >= 1


def test_caps_lists_every_task_and_parameter(client):
    client.send("/sai/caps")
    msgs = []
    while True:
        a, args = client.recv()
        if a == "/sai/caps/end":
            break
        msgs.append((a, args))
    tasks = {args[0]: args for a, args in msgs if a == "/sai/caps/task"}
    params = {(args[0], args[1]): args for a, args in msgs if a == "/sai/caps/param"}
    assert sorted(tasks) == sorted(s.name for s in registry.all_tasks())
    for spec in registry.all_tasks():
        assert tasks[spec.name][4] == spec.summary
        for p in spec.params:
            row = params[(spec.name, p.name)]
            assert row[2] == p.type.__name__
            assert row[6] == ("|".join(map(str, p.choices)) if p.choices else "")
    assert args == [len(tasks), len(params)]


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_task_on_a_note_list_matches_the_library(client, task):
    rows = input_rows(task)
    reply = client.run_notes(task, rows, rid=11, timeout_s=60)
    kind, expected = reference_for_rows(task, rows)
    if kind == "error":
        assert reply.error[0] == expected
        return
    assert reply.error is None, reply.error
    assert reply.progress == [0.0, 0.5]
    same_scalars(reply.done, expected)
    assert reply.messages[-1][0] == f"/sai/{task}/done"


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_task_on_a_file_writes_the_result_atomically(daemon, client, task):
    out = daemon.work / f"{task}.json"
    reply = client.run_file(task, str(input_file(task)), str(out), rid=12, timeout_s=60)
    kind, expected = reference(task, io.load(input_file(task)))
    if kind == "error":
        assert reply.error[0] == expected and not out.exists()
        return
    assert reply.error is None, reply.error
    same_scalars(reply.done, expected)
    doc = json.loads(out.read_text())
    assert doc["task"] == task and doc["piece"]["notes"]
    assert sorted(p.name for p in daemon.work.iterdir() if p.name.startswith(".")) == []


def test_key_on_a_16_bar_phrase_with_options_and_local_keys(client):
    reply = client.run_notes("key", MELODY, rid=5, profile="temperley", window_beats=8)
    expected = reference_for_rows("key", MELODY)  # default profile
    assert reply.done["profile"] == "temperley" and reply.done["key"].endswith(("major", "minor"))
    assert client.run_notes("key", MELODY, rid=6).done["key"] == expected[1]["key"]
    local = reply.items("/sai/key/local")
    assert local and local[0][0] == 0 and "key" in local[0]
    assert reply.items("/sai/key/annotation")[0][1] == "key"


def test_pd_style_floats_for_ints_are_accepted(client):
    client.send("/sai/notes/open", 3.0, 2.0)
    client.send("/sai/note", 3.0, 0.0, 60.0, 100.0, 0.0, 1.0, 1.0)
    client.send("/sai/note", 3.0, 1.0, 64.0, 100.0, 1.0, 1.0, 1.0)
    client.send("/sai/notes/close", 3.0)
    client.send("/sai/key/notes", 3.0, "progress", 0)
    reply = client.collect("key", 3)
    assert reply.done["key"] and reply.progress == []


@pytest.mark.parametrize("address,args,code,words", [
    ("/sai/nope", [1], "not_found", "unknown address"),
    ("/sai/key/notes", ["one"], "bad_request", "must be an integer"),
    ("/sai/key/notes", [1.5], "bad_request", "must be an integer"),
    ("/sai/key/notes", [7], "not_found", "no open note list"),
    ("/sai/key/file", [1, "/etc/passwd", ""], "forbidden", "reads only"),
    ("/sai/key/file", [1, "/etc/hosts.mid", ""], "forbidden", "outside the allowed"),
    ("/sai/key/file", [1, "nothing.mid"], "bad_request", "takes id in_path out_path"),
    ("/sai/notes/open", [1, 10 ** 9], "too_large", "over the daemon's limit"),
    ("/sai/notes/open", [1, -1], "bad_request", "n must be >= 0"),
    ("/sai/notes/open", [1, 4, "qpm", 0.0], "bad_request", "qpm must be in"),
    ("/sai/notes/open", [1, 4, "colour", 1], "bad_request", "unknown option"),
    ("/sai/cancel", [424242], "not_found", "no job or note list"),
    ("/sai/hello", [70000], "bad_request", "reply_port must be in"),
    ("/sai/ping", [1, 2], "bad_request", "takes no arguments"),
])
def test_bad_requests_get_an_error_naming_the_problem(client, address, args, code, words):
    client.send(address, *args)
    err = client.expect("/sai/error")
    assert err[1] == code and words in err[2], err


def test_bad_task_options_are_answered_before_any_work(client):
    client.send_notes(21, MELODY[:8])
    client.send("/sai/key/notes", 21, "window_beats", 1.0)
    err = client.expect("/sai/error")
    assert err[:2] == [21, "bad_parameter"] and "window_beats" in err[2]
    client.send("/sai/key/notes", 21, "window_beats")  # odd options
    assert "key/value pairs" in client.expect("/sai/error")[2]
    client.send("/sai/key/notes", 21, "colour", "red")
    assert "unknown parameter" in client.expect("/sai/error")[2]
    reply = client.run_notes("key", MELODY[:8], rid=21)  # the same id works afterwards
    assert reply.done


def test_wrong_note_fields_and_an_incomplete_list_can_be_repaired(client):
    client.send("/sai/notes/open", 30, 3)
    client.send("/sai/note", 30, 0, 60, 90, 0.0, 1.0, 1)
    client.send("/sai/note", 30, 5, 60, 90, 0.0, 1.0, 1)
    assert "outside note list 30" in client.expect("/sai/error")[2]
    client.send("/sai/note", 30, 1, 200, 90, 0.0, 1.0, 1)
    assert "pitch must be in 0..127" in client.expect("/sai/error")[2]
    client.send("/sai/note", 30, 1, 62, 90, -1.0, 1.0, 1)
    assert "start_beats" in client.expect("/sai/error")[2]
    client.send("/sai/note", 30, 1, 62, 90, 1.0, 1.0, 17)
    assert "channel must be in 1..16" in client.expect("/sai/error")[2]
    client.send("/sai/note", 30, 1, 62, "loud", 1.0, 1.0, 1)
    assert "velocity must be an integer" in client.expect("/sai/error")[2]
    client.send("/sai/notes/close", 30)
    assert "2 of 3 notes missing (indices 1, 2)" in client.expect("/sai/error")[2]
    client.send("/sai/key/notes", 30)
    assert "not closed" in client.expect("/sai/error")[2]
    client.send("/sai/note", 30, 1, 64, 90, 1.0, 1.0, 1)
    client.send("/sai/note", 30, 2, 67, 90, 2.0, 1.0, 1)
    client.send("/sai/notes/close", 30)
    client.send("/sai/key/notes", 30)
    rows = [(60, 90, 0.0, 1.0, 1), (64, 90, 1.0, 1.0, 1), (67, 90, 2.0, 1.0, 1)]
    assert client.collect("key", 30).done["key"] == reference_for_rows("key", rows)[1]["key"]


def test_unsupported_types_malformed_packets_and_bundles(client):
    client.send_raw(b"\x00\x01garbage")
    assert client.expect("/sai/error")[1] == "bad_request"
    blob = build("/sai/ping", [])[:-4] + b",b\x00\x00" + struct.pack(">i", 1) + b"x\x00\x00\x00"
    client.send_raw(b"/sai/ping\x00\x00\x00,b\x00\x00" + struct.pack(">i", 1) + b"x\x00\x00\x00")
    err = client.expect("/sai/error")
    assert "unsupported OSC type tag" in err[2] and "'b'" in err[2], blob
    client.send_raw(b"/sai/ping\x00\x00\x00,[i]\x00\x00\x00\x00\x00\x00\x00\x01")
    assert "unsupported OSC type tag" in client.expect("/sai/error")[2]
    ping = build("/sai/ping", [])
    bundle = b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", len(ping)) + ping
    client.send_raw(bundle)
    assert client.expect("/sai/pong") == [__version__]
    client.send_raw(b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 1000) + ping)
    assert "bundle element size" in client.expect("/sai/error")[2]


def test_cancel_during_a_job_and_of_a_note_list(daemon, client):
    big = [(48 + i % 24, 80, i * 0.25, 0.5, 1) for i in range(3000)]
    client.send_notes(40, big)
    client.send("/sai/key/notes", 40, "hop_beats", 0.5, "window_beats", 4.0)
    client.send("/sai/cancel", 40)
    reply = client.collect("key", 40, timeout_s=30)
    assert reply.error[0] == "cancelled" and reply.done is None
    client.send("/sai/notes/open", 41, 5)
    client.send("/sai/cancel", 41)
    assert client.expect("/sai/error")[:2] == [41, "cancelled"]
    client.send("/sai/note", 41, 0, 60, 90, 0.0, 1.0, 1)
    assert "no open note list" in client.expect("/sai/error")[2]


def test_replies_follow_hello_or_reply_port_and_one_shot_senders_work(daemon):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    with OscClient(daemon.osc_address, hello=False) as sender:
        sender.send("/sai/hello", port, "split")  # replies to another socket of this client
        assert parse_packet(listener.recv(65536))[0] == ("/sai/welcome", [__version__, "split"])
        sender.send("/sai/ping")
        assert parse_packet(listener.recv(65536))[0][0] == "/sai/pong"
    for msg in ([("/sai/notes/open", [50, 2])] + [("/sai/note", [50, i, 60 + 7 * i, 90, float(i), 1.0, 1])
                                                  for i in range(2)] + [("/sai/notes/close", [50]), ("/sai/key/notes", [50])]):
        with OscClient(daemon.osc_address, hello=False) as one_shot:  # a new socket per message, like oscsend
            one_shot.send(msg[0], *msg[1], "reply_port", port)
    got = []
    while not got or got[-1][0] != "/sai/key/done":
        got.append(parse_packet(listener.recv(65536))[0])
    rows = [(60 + 7 * i, 90, float(i), 1.0, 1) for i in range(2)]
    assert got[-1][1][:3] == [50, "key", reference_for_rows("key", rows)[1]["key"]]
    listener.close()


def test_a_vanished_client_and_many_clients_at_once(daemon):
    gone = OscClient(daemon.osc_address)
    gone.send_notes(60, MELODY)
    gone.send("/sai/key/notes", 60)
    gone.close()  # its replies now hit a closed port (ICMP unreachable)
    results, errors = {}, []

    def one(k: int) -> None:
        try:
            with OscClient(daemon.osc_address, timeout_s=30) as c:
                for r in range(10):
                    reply = c.run_notes("key", MELODY[k:k + 24], rid=r)
                    results[(k, r)] = reply.done["key"] if reply.done else reply.error
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 80
    assert all(isinstance(v, str) for v in results.values())
    with OscClient(daemon.osc_address) as c:
        c.send("/sai/ping")
        assert c.expect("/sai/pong")
