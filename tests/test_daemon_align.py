"""`align` and `locate` through `symbolic-ai serve` as a real process: HTTP (urllib) and liblo's
oscsend/oscdump. A recording path beside the score; results, the time-mapped MIDI written, and bad
recordings (missing, unreadable, silent, wrong suffix, outside the allowed directories) answered
with an error, never a hang. Audio is synthesized here (tests/test_align.py's piano-like tones)."""
from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("librosa")

from daemon_support import Served  # noqa: E402
from test_align import EVENTS, SR, performed_times, render, score_of  # noqa: E402
from test_daemon_clients import free_udp_port, need  # noqa: E402

from symbolic_ai import io, registry  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = Served(tmp_path_factory.mktemp("served-align"))
    work = d.workdir
    score = score_of(EVENTS)
    io.save(score, work / "score.mid")
    take = render(score)
    sf.write(str(work / "take.wav"), take, SR)
    sf.write(str(work / "clip.wav"), take[int(3.0 * SR):int(7.0 * SR)], SR)
    sf.write(str(work / "silent.wav"), np.zeros(SR, np.float32), SR)
    (work / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    (work / "take.txt").write_text("not audio")
    yield d
    assert d.stop() == 0


def post(served: Served, task: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(f"{served.url}/sai/{task}?wait=1", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_http_align_returns_the_time_map_and_writes_the_time_mapped_midi(served):
    w = served.workdir
    status, job = post(served, "align", {"recording_path": str(w / "take.wav"), "in_path": str(w / "score.mid"),
                                         "out_path": str(w / "aligned.mid")})
    assert status == 200 and job["state"] == "done", job
    res = job["result"]
    assert res["recording"] == str(w / "take.wav")  # named as the client named it, not the worker's private link
    assert len(res["time_map"]) == len({e[0] for e in EVENTS}) and res["confidence"] > 0.6
    onsets = np.array([n["onset_sec"] for n in res["notes"]])
    truth = performed_times(np.array([n["score_beat"] for n in res["notes"]]), 1.0)
    assert (np.abs(onsets - truth) <= 0.05).mean() >= 0.95
    assert job["output"] == str(w / "aligned.mid") and len(job["piece"]["notes"]) == len(res["notes"])
    back = io.load(w / "aligned.mid")  # the score on the recording's timeline: its notes sound where they are played
    assert np.abs(np.sort(back.notes["onset_sec"]) - np.sort(onsets)).max() < 0.01


def test_http_locate_finds_a_clip_and_caps_say_which_tasks_take_a_recording(served):
    w = served.workdir
    status, job = post(served, "locate", {"recording_path": str(w / "clip.wav"), "in_path": str(w / "score.mid"),
                                          "params": {"k": 2}})
    assert status == 200 and job["state"] == "done", job
    best = job["result"]["places"][0]
    # the clip is 3..7 s of the take, beats 3.1..8.3 (performed_times, lead 1 s); its first attack is beat 4's
    assert 3.0 <= best["start_beat"] <= 5.0 and 7.0 <= best["end_beat"] <= 9.5, best
    here = registry.run("locate", io.load(w / "score.mid"), recording=str(w / "clip.wav"), k=2).data
    assert [pytest.approx(p) for p in here["places"]] == job["result"]["places"]  # as in-process
    with urllib.request.urlopen(f"{served.url}/sai/caps", timeout=30) as resp:
        caps = {t["name"]: t for t in json.loads(resp.read())["tasks"]}
    assert caps["align"]["recording"] and caps["locate"]["recording"] and not caps["key"]["recording"]
    with urllib.request.urlopen(f"{served.url}/openapi.json", timeout=30) as resp:
        body = json.loads(resp.read())["paths"]["/sai/align"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["recording_path"]


@pytest.mark.parametrize("name, status, code, problem", [
    ("silent.wav", 200, "bad_input", "silent"),
    ("broken.wav", 200, "bad_input", "not a readable audio file"),
    ("missing.wav", 404, "not_found", "no such file"),
    ("take.txt", 403, "forbidden", "reads only"),
])
def test_http_bad_recordings_are_answered_with_an_error(served, name, status, code, problem):
    w = served.workdir
    got, doc = post(served, "align", {"recording_path": str(w / name), "in_path": str(w / "score.mid"),
                                      "out_path": str(w / f"never-{name}.mid")})
    err = doc["error"]
    assert got == status and err["code"] == code and problem in err["message"], doc
    assert str(w / name) in err["message"] and "sai-rec-" not in err["message"]
    assert not (w / f"never-{name}.mid").exists()


def test_http_recording_rules(served):
    w = served.workdir
    got, doc = post(served, "align", {"in_path": str(w / "score.mid")})
    assert got == 400 and "recording_path" in doc["error"]["message"]
    got, doc = post(served, "key", {"in_path": str(w / "score.mid"), "recording_path": str(w / "take.wav")})
    assert got == 400 and "recording_path" in doc["error"]["message"]  # key takes none: not in its schema
    got, doc = post(served, "align", {"in_path": str(w / "score.mid"), "recording_path": "/etc/hostname.wav"})
    assert got == 403 and "outside the allowed directories" in doc["error"]["message"]


def osc_exchange(served: Served, address: str, types: str, *args: str, until: str, timeout_s: float = 60) -> list[str]:
    """Send one message with oscsend (replies to an oscdump on a free port) and collect the lines
    up to one containing `until` or /sai/error."""
    oscsend, oscdump = need("oscsend"), need("oscdump")
    port = free_udp_port()
    dump = subprocess.Popen([oscdump, "-L", str(port)], stdout=subprocess.PIPE, text=True)
    got: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [got.put(ln) for ln in dump.stdout], daemon=True).start()
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 10
        while not any("/sai/pong" in ln for ln in lines):  # oscdump needs a moment to listen: resend
            assert time.monotonic() < deadline, lines
            subprocess.run([oscsend, "localhost", str(served.osc[1]), "/sai/ping", "si", "reply_port", str(port)],
                           check=True, timeout=10)
            try:
                lines.append(got.get(timeout=0.5))
            except queue.Empty:
                pass
        subprocess.run([oscsend, "localhost", str(served.osc[1]), address, types + "si", *args, "reply_port",
                        str(port)], check=True, timeout=10)
        deadline = time.monotonic() + timeout_s
        while not (until in lines[-1] or "/sai/error" in lines[-1]):
            assert time.monotonic() < deadline, lines[-5:]
            try:
                lines.append(got.get(timeout=1.0))
            except queue.Empty:
                pass
    finally:
        dump.kill()
        dump.wait()
    return lines


def test_oscsend_align_file(served):
    w = served.workdir
    out = w / "osc-aligned.mid"
    lines = osc_exchange(served, "/sai/align/file", "isss", "5", str(w / "take.wav"), str(w / "score.mid"), str(out),
                         until="/sai/align/done")
    assert "/sai/align/done" in lines[-1], lines[-3:]
    rows = [ln for ln in lines if "/sai/align/time_map" in ln]
    assert len(rows) == len({e[0] for e in EVENTS})
    assert any(ln.rstrip().endswith(" 9.000000") or " 9.0" in ln for ln in rows)  # [index, audio_sec, score_beat]
    assert "confidence" in lines[-1] and io.load(out).notes.size == len(score_of(EVENTS).notes)


@pytest.mark.parametrize("recording, problem", [("silent.wav", "silent"), ("missing.wav", "no such file"),
                                                ("take.txt", "reads only")])
def test_oscsend_bad_recording_gets_an_error_reply(served, recording, problem):
    w = served.workdir
    lines = osc_exchange(served, "/sai/align/file", "isss", "6", str(w / recording), str(w / "score.mid"), "",
                         until="/sai/align/done", timeout_s=30)
    assert "/sai/error" in lines[-1] and problem in lines[-1], lines[-1]


def test_oscsend_align_with_too_few_arguments_is_refused(served):
    w = served.workdir
    lines = osc_exchange(served, "/sai/align/file", "iss", "7", str(w / "score.mid"), "", until="/sai/align/done",
                         timeout_s=10)
    assert "/sai/error" in lines[-1] and "recording_path in_path out_path" in lines[-1]
