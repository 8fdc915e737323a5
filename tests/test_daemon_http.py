"""The HTTP/JSON twin, in process: every task, polling, server-sent events, cancel, OpenAPI, refusals."""
from __future__ import annotations

import http.client
import json
import re
import socket

import pytest

from daemon_support import TASK_NAMES, daemon_fixture, input_file, input_rows, reference, reference_for_rows
from symbolic_ai import __version__, io, registry
from symbolic_ai.bridges.config import Config
from symbolic_ai.bridges.client import OscClient
from symbolic_ai.errors import ParameterError
from symbolic_ai.io.wire import piece_to_dict

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    with daemon_fixture(tmp_path_factory) as d:
        yield d


def request(daemon, method, path, body=None, headers=None, raw=None):
    host, port = daemon.daemon.http_address
    conn = http.client.HTTPConnection(host, port, timeout=60)
    data = raw if raw is not None else None if body is None else json.dumps(body)
    conn.request(method, path, body=data, headers={**(JSON if data is not None else {}), **(headers or {})})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    ctype = resp.getheader("Content-Type", "")
    return resp.status, json.loads(text) if ctype.startswith("application/json") else text


def test_ping_caps_status_and_help(daemon):
    assert request(daemon, "GET", "/sai/ping") == (200, {"version": __version__})
    status, caps = request(daemon, "GET", "/sai/caps")
    assert status == 200 and [t["name"] for t in caps["tasks"]] == [s.name for s in registry.all_tasks()]
    for t in caps["tasks"]:
        assert t["params"] == {p.name: p.schema() for p in registry.get(t["name"]).params}
        assert t["recording"] == registry.get(t["name"]).takes_recording
    assert request(daemon, "GET", "/sai/status")[1]["workers"] >= 1
    status, text = request(daemon, "GET", "/")
    assert status == 200 and "POST /sai/{task}" in text and "GET /sai/jobs/{id}/events" in text


def test_openapi_describes_every_task_and_route(daemon):
    status, doc = request(daemon, "GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    for spec in registry.all_tasks():
        body = doc["paths"][f"/sai/{spec.name}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert set(body["properties"]["params"]["properties"]) == {p.name for p in spec.params}
    assert {"/sai/jobs/{id}", "/sai/jobs/{id}/events", "/sai/jobs/{id}/cancel"} <= set(doc["paths"])


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_task_with_a_piece_and_with_notes(daemon, task):
    piece = io.load(input_file(task))
    status, job = request(daemon, "POST", f"/sai/{task}?wait=1", {"piece": piece_to_dict(piece)})
    kind, expected = reference(task, piece)
    if kind == "error":
        assert status == 200 and job["state"] == "error" and job["error"]["code"] == expected
        return
    assert status == 200 and job["state"] == "done", job
    assert job["result"] == json.loads(json.dumps(expected, default=float).replace("NaN", "null"))
    rows = input_rows(task)
    status, job = request(daemon, "POST", f"/sai/{task}", {"notes": [list(r) for r in rows], "wait": True})
    assert job["result"] == json.loads(json.dumps(reference_for_rows(task, rows)[1]).replace("NaN", "null"))
    assert ("piece" in job) == (registry.TASKS[task].output == "piece")


def test_submit_poll_events_and_file_output(daemon):
    out = daemon.work / "chorale.mid"
    status, job = request(daemon, "POST", "/sai/key", {"in_path": str(input_file("key")), "out_path": str(out),
                                                       "params": {"profile": "aarden"}, "request_id": 7})
    assert status == 202 and job["state"] in ("queued", "running", "done") and job["request_id"] == 7
    host, port = daemon.daemon.http_address
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", f"/sai/jobs/{job['id']}/events")
    resp = conn.getresponse()
    assert resp.getheader("Content-Type") == "text/event-stream"
    events = [block for block in resp.read().decode().split("\n\n") if block]
    conn.close()
    last = events[-1].split("\n")
    assert last[0] == "event: done"
    final = json.loads(last[1][len("data: "):])
    expected = reference("key", io.load(input_file("key")), profile="aarden")[1]["key"]
    assert final["result"]["key"] == expected and final["output"] == str(out.resolve())
    assert [a["kind"] for a in final["annotations"]] == ["key"] * len(final["result"]["local"])
    assert io.load(out).annotations_of("key")
    status, again = request(daemon, "GET", f"/sai/jobs/{job['id']}?piece=1")
    assert again["state"] == "done" and again["piece"]["format"] == "symbolic_ai.piece"
    assert any(j["id"] == job["id"] for j in request(daemon, "GET", "/sai/jobs")[1]["jobs"])


def test_cancel_a_running_job_and_osc_jobs_are_visible(daemon):
    notes = [[48 + i % 24, 80, i * 0.25, 0.5, 1] for i in range(4000)]
    status, job = request(daemon, "POST", "/sai/key", {"notes": notes, "params": {"hop_beats": 0.5}})
    status, cancelled = request(daemon, "POST", f"/sai/jobs/{job['id']}/cancel", headers=JSON)
    assert status == 200 and cancelled["state"] in ("cancelled", "done")
    with OscClient(daemon.osc_address) as c:
        c.run_notes("key", [(60, 90, 0.0, 1.0, 1)], rid=99)
    jobs = request(daemon, "GET", "/sai/jobs")[1]["jobs"]
    assert any(j["request_id"] == 99 and j["client"].startswith("osc:") for j in jobs)


@pytest.mark.parametrize("method,path,body,headers,status,code", [
    ("GET", "/nowhere", None, {}, 404, "not_found"),
    ("POST", "/sai/nope", {"notes": []}, {}, 404, "unknown_task"),
    ("GET", "/sai/key", None, {}, 405, "bad_request"),
    ("GET", "/sai/jobs/123456789", None, {}, 404, "not_found"),
    ("POST", "/sai/key", {"notes": [[60, 90, 0, 1, 1]], "params": {"window_beats": 0}}, {}, 422, "bad_parameter"),
    ("POST", "/sai/key", {"notes": [[60, 90, 0, 1, 1]], "params": {"x": 1}}, {}, 422, "bad_parameter"),
    ("POST", "/sai/key", {"notes": [[60, 90, 0, 1]]}, {}, 400, "bad_request"),
    ("POST", "/sai/key", {"notes": [[60, 90, 0, 1, 1]], "qpm": "fast"}, {}, 400, "bad_request"),
    ("POST", "/sai/key", {"notes": "C E G"}, {}, 400, "bad_request"),
    ("POST", "/sai/key", {"notes": [], "piece": {}}, {}, 400, "bad_request"),
    ("POST", "/sai/key", {"notes": [], "colour": 1}, {}, 400, "bad_request"),
    ("POST", "/sai/key", {"in_path": "/etc/passwd"}, {}, 403, "forbidden"),
    ("POST", "/sai/key", {"in_path": "/etc/x.mid"}, {}, 403, "forbidden"),
    ("POST", "/sai/key", {"notes": [[60, 90, 0, 1, 1]]}, {"Origin": "http://evil.example"}, 403, "forbidden"),
    ("POST", "/sai/key", {"notes": [[60, 90, 0, 1, 1]]}, {"Host": "evil.example"}, 403, "forbidden"),
    ("POST", "/sai/key", {"notes": [[60, 90, 0, 1, 1]]}, {"Content-Type": "text/plain"}, 403, "forbidden"),
])
def test_refusals_name_the_problem(daemon, method, path, body, headers, status, code):
    got_status, doc = request(daemon, method, path, body, headers)
    assert (got_status, doc["error"]["code"]) == (status, code), doc
    assert doc["error"]["message"]


def test_malformed_http_is_answered_and_the_server_keeps_serving(daemon):
    host, port = daemon.daemon.http_address
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                b"POST /sai/key HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                b"POST /sai/key HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
                b"POST /sai/key HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{bad}",
                b"POST /sai/key HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n[[[["):
        with socket.create_connection((host, port), timeout=15) as s:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            answer = s.recv(4096)
        assert answer == b"" or re.match(rb"HTTP/1\.[01] 4", answer), (raw[:40], answer[:80])  # 1.0: no version to echo
    status, doc = request(daemon, "POST", "/sai/key", raw="[" * 100000 + "]" * 100000)
    assert status == 400 and "not valid JSON" in doc["error"]["message"]
    assert request(daemon, "GET", "/sai/ping")[0] == 200


def test_body_size_limit(tmp_path_factory):
    with daemon_fixture(tmp_path_factory, max_body_bytes=1000, max_notes=10) as d:
        status, doc = request(d, "POST", "/sai/key", {"notes": [[60, 90, 0, 1, 1]] * 300})
        assert status == 413 and "1000-byte limit" in doc["error"]["message"]
        status, doc = request(d, "POST", "/sai/key", {"notes": [[60, 90, 0, 1, 1]] * 11})
        assert status == 413 and "limit of 10" in doc["error"]["message"]


def test_a_token_guards_every_route_but_ping(tmp_path_factory):
    with pytest.raises(ParameterError, match="needs --token|give --token"):
        Config(host="0.0.0.0", osc_port=0, http_port=0)
    with daemon_fixture(tmp_path_factory, token="s3cret-token") as d:
        assert request(d, "GET", "/sai/ping")[0] == 200
        status, doc = request(d, "GET", "/sai/caps")
        assert status == 401 and doc["error"]["code"] == "unauthorized"
        assert request(d, "GET", "/sai/caps", headers={"Authorization": "Bearer wrong-token"})[0] == 401
        assert request(d, "GET", "/sai/caps", headers={"Authorization": "Bearer s3cret-token"})[0] == 200
        with OscClient(d.osc_address, hello=False) as c:
            c.send("/sai/caps")
            assert c.expect("/sai/error")[1] == "unauthorized"
            c.send("/sai/hello", 0, "me", "token", "s3cret-token")
            assert c.expect("/sai/welcome")
            assert c.run_notes("key", [(60, 90, 0.0, 1.0, 1)]).done
