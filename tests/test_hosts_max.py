"""The Max/MSP and Max for Live files, installed by `symbolic-ai hosts install max`. Max cannot run here, so:
the patches' structure is checked (every patch cord joins existing inlets and outlets, every object is
known, the [js] boxes match their files), and the patches' own messages (the help patch's message boxes,
the device's buttons) are replayed through their [js] logic under node (tests/max/harness.js stubs Max's
js API and Live's clip API) against a real `symbolic-ai serve` over OSC. The replay skips without node."""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from conftest import TESTS
from daemon_support import Served, reference_for_rows

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs)")
KNOWN = {"udpsend": (1, 0), "udpreceive": (1, 1), "print": (1, 0), "midiin": (1, 1), "midiout": (1, 0),
         "dict.view": (1, 1)}  # Max objects used, with their inlet and outlet counts
HELP_NOTES = [(57, 90, 0.0, 1.0, 1), (59, 90, 1.0, 1.0, 1), (60, 90, 2.0, 1.0, 1), (62, 90, 3.0, 1.0, 1),
              (64, 90, 4.0, 1.0, 1), (65, 90, 5.0, 1.0, 1), (68, 90, 6.0, 1.0, 1), (69, 90, 7.0, 2.0, 1)]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("max") / "Packages" / "symbolic-ai"
    run = subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "hosts", "install", "max", "--dest", str(dest)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return dest


def boxes(patch: dict) -> dict[str, dict]:
    return {b["box"]["id"]: b["box"] for b in patch["patcher"]["boxes"]}


def lines(patch: dict) -> list[tuple[str, int, str, int]]:
    return [(*ln["patchline"]["source"], *ln["patchline"]["destination"]) for ln in patch["patcher"]["lines"]]


def js_ports(path: Path) -> tuple[int, int]:
    text = path.read_text()
    return (int(re.search(r"^inlets = (\d+);", text, re.M).group(1)),
            int(re.search(r"^outlets = (\d+);", text, re.M).group(1)))


def expected_ports(box: dict, folder: Path) -> tuple[int, int]:
    cls = box["maxclass"]
    if cls == "newobj":
        name, *args = box["text"].split()
        if name == "js":
            return js_ports(folder / args[0])
        if name == "sai.client":
            inner = json.loads((folder / "sai.client.maxpat").read_text())
            kinds = [b["maxclass"] for b in boxes(inner).values()]
            return kinds.count("inlet"), kinds.count("outlet")
        return KNOWN[name]
    return {"inlet": (0, 1), "outlet": (1, 0), "message": (2, 1), "comment": (1, 0)}[cls]


@pytest.mark.parametrize("name", ["sai.client.maxpat", "sai.client.maxhelp", "symbolic-ai-clip.maxpat"])
def test_patch_structure(installed, name):
    patch = json.loads((installed / name).read_text())
    found = boxes(patch)
    assert len(found) == len(patch["patcher"]["boxes"])  # ids are unique
    for box in found.values():
        assert (box["numinlets"], box["numoutlets"]) == expected_ports(box, installed), box
        assert len(box.get("outlettype", [])) == box["numoutlets"]
    for src, out, dst, inl in lines(patch):
        assert src in found and dst in found
        assert out < found[src]["numoutlets"] and inl < found[dst]["numinlets"], (src, out, dst, inl)
    if name == "symbolic-ai-clip.maxpat":  # a MIDI effect passes the track's MIDI through
        by_text = {b.get("text"): i for i, b in found.items()}
        assert (by_text["midiin"], 0, by_text["midiout"], 0) in lines(patch)


def test_sai_client_wires_udp_both_ways(installed):
    patch = json.loads((installed / "sai.client.maxpat").read_text())
    found = boxes(patch)
    kind = {i: (b.get("text") or b["maxclass"]).split()[0] for i, b in found.items()}
    cords = {(kind[s], o, kind[d], i) for s, o, d, i in lines(patch)}
    assert {("inlet", 0, "js", 0), ("udpreceive", 0, "js", 1), ("js", 0, "udpsend", 0), ("js", 4, "udpreceive", 0),
            ("js", 1, "outlet", 0), ("js", 2, "outlet", 0), ("js", 3, "outlet", 0)} <= cords


class Harness:
    """node running the patches' [js] files; OSC to and from a real daemon from a UDP socket of ours."""

    def __init__(self, folder: Path, daemon: tuple[str, int], tmp: Path, clip: dict | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.daemon = daemon
        fixture = tmp / "fixture.json"
        fixture.write_text(json.dumps({"args": [daemon[1], self.sock.getsockname()[1]], "tempo": 90.0,
                                       **({"clip": clip} if clip is not None else {})}))
        self.proc = subprocess.Popen([NODE, str(TESTS / "max" / "harness.js"), str(folder), str(fixture)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.out: list[dict] = []
        self.read_until_idle()

    def read_until_idle(self) -> None:
        while True:
            line = self.proc.stdout.readline()
            assert line, "the harness stopped"
            item = json.loads(line)
            if item.get("idle"):
                return
            self.out.append(item)
            if "udp" in item and item["udp"][0].startswith("/"):
                b = OscMessageBuilder(item["udp"][0])
                for a in item["udp"][1:]:
                    b.add_arg(a)
                self.sock.sendto(b.build().dgram, self.daemon)

    def send(self, to: str, inlet: int, msg: list[Any]) -> None:
        self.proc.stdin.write(json.dumps({"to": to, "inlet": inlet, "msg": msg}) + "\n")
        self.proc.stdin.flush()
        self.read_until_idle()

    def pump(self, until: Any, timeout_s: float = 60) -> None:
        """Feed the daemon's replies to [udpreceive]'s inlet until until(self.out) holds."""
        import time

        deadline = time.monotonic() + timeout_s
        while not until(self.out):
            assert time.monotonic() < deadline, self.out[-5:]
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            m = OscMessage(data)
            self.send("client", 1, [m.address, *m.params])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)
        self.sock.close()


def message_boxes_into(patch: dict, target_text: str) -> dict[str, list[list[Any]]]:
    """The message boxes cabled into the box whose text starts with target_text, as Max would send them."""
    found = boxes(patch)
    (target,) = [i for i, b in found.items() if b.get("text", "").startswith(target_text) and b["maxclass"] == "newobj"]
    out = {}
    for src, _, dst, _ in lines(patch):
        if dst == target and found[src]["maxclass"] == "message":
            text = found[src]["text"]
            out[text] = [[int(a) if re.fullmatch(r"-?\d+", a) else float(a) if re.fullmatch(r"-?\d*\.\d+", a) else a
                          for a in part.split()] for part in text.split(", ")]
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = Served(tmp_path_factory.mktemp("max-daemon"))
    yield d
    assert d.stop() == 0


def done_dicts(out: list[dict]) -> list[dict]:
    return [o["data"] for o in out if "dict" in o]


@needs_node
def test_help_patch_messages_run_key_chords_and_harmonize(installed, served, tmp_path):
    msgs = message_boxes_into(json.loads((installed / "sai.client.maxhelp").read_text()), "sai.client")
    h = Harness(installed, served.osc, tmp_path)
    try:
        assert {"udp": ["/sai/hello", h.sock.getsockname()[1], "max"]} in h.out
        h.pump(lambda out: any(o.get("status", [None])[0] == "welcome" for o in out))
        for m in msgs["clear, note 57 90 0 1 1, note 59 90 1 1 1, note 60 90 2 1 1, note 62 90 3 1 1, note 64 90 4 1 1, "
                      "note 65 90 5 1 1, note 68 90 6 1 1, note 69 90 7 2 1"]:
            h.send("client", 0, m)
        for n, text in enumerate(["run key", "run chords", "run harmonize accompaniment block style folk"], start=1):
            (m,) = msgs[text]
            h.send("client", 0, m)
            h.pump(lambda out, n=n: len(done_dicts(out)) == n)
        sent = [o["udp"] for o in h.out if "udp" in o and o["udp"][0].startswith("/sai/")]
    finally:
        h.close()
    assert ["/sai/notes/open", 1, 8] in sent and ["/sai/notes/close", 1] in sent and ["/sai/key/notes", 1] in sent
    assert ["/sai/note", 1, 7, 69, 90, 7, 2, 1] in sent
    assert ["/sai/harmonize/notes", 3, "accompaniment", "block", "style", "folk"] in sent
    key, chords, harm = done_dicts(h.out)
    assert key["task"] == "key" and key["id"] == 1 and key["key"] == reference_for_rows("key", HELP_NOTES)[1]["key"]
    assert chords["task"] == "chords" and chords["key"] == reference_for_rows("chords", HELP_NOTES)[1]["key"]
    assert harm["task"] == "harmonize" and harm["style"] == "folk"
    notes = [o["results"] for o in h.out if o.get("results", [None])[0] == "note" and o["results"][1] == 3]
    assert len(notes) == harm["n_notes"] > len(HELP_NOTES)
    assert not [o for o in h.out if o.get("status", [None])[0] == "error"]


@needs_node
def test_a_silent_daemon_times_out_in_one_line(installed, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        h = Harness(installed, s.getsockname(), tmp_path)
        try:
            h.send("client", 0, ["note", 60, 90, 0, 1, 1])
            h.send("client", 0, ["run", "key"])
            assert {"schedule": "client", "ms": 125000} in h.out
            h.send("timer", 0, ["client"])
        finally:
            h.close()
    no_answer = "no answer from the symbolic-ai daemon (start it with: symbolic-ai serve)"
    assert {"schedule": "client", "ms": 3000} in h.out  # the hello at load is the first ping
    assert [o["status"] for o in h.out if "status" in o] == [["error", 0, "timeout", no_answer],
                                                             ["error", 1, "timeout", no_answer]]


def clip_notes() -> list[dict]:
    return [{"note_id": i, "pitch": p, "velocity": v, "start_time": s, "duration": d, "mute": 0}
            for i, (p, v, s, d, _) in enumerate(HELP_NOTES)]


@needs_node
@pytest.mark.parametrize("button", ["harmonize", "perform"])
def test_live_device_writes_back_into_the_clip(installed, served, tmp_path, button):
    msgs = message_boxes_into(json.loads((installed / "symbolic-ai-clip.maxpat").read_text()), "js sai.clip.js")
    h = Harness(installed, served.osc, tmp_path, clip={"notes": clip_notes(), "selected": [], "length": 9.0})
    try:
        h.pump(lambda out: any(o.get("status", [None])[0] == "welcome" for o in out))
        (m,) = msgs[button]
        h.send("clip", 0, m)
        h.pump(lambda out: any(o.get("live", [None])[0] == "add_new_notes" for o in out))
    finally:
        h.close()
    live = [o["live"] for o in h.out if "live" in o]
    (added,) = [c[1]["notes"] for c in live if c[0] == "add_new_notes"]
    (done,) = done_dicts(h.out)
    if button == "harmonize":
        assert [c[0] for c in live] == ["get_selected_notes_extended", "get_notes_extended", "add_new_notes"]
        assert len(added) == done["n_notes"] - len(HELP_NOTES) > 0  # the accompaniment only
        assert all(0 <= n["start_time"] < 9 and n["duration"] > 0 for n in added)
    else:
        assert [c[0] for c in live][-2:] == ["remove_notes_extended", "add_new_notes"]
        assert sorted(n["pitch"] for n in added) == sorted(p for p, *_ in HELP_NOTES)
        assert len({n["velocity"] for n in added}) > 1 and all(1 <= n["velocity"] <= 127 for n in added)
    assert any(o.get("text", "").startswith(f"symbolic-ai: {button}: {len(added)} notes written") for o in h.out)


@needs_node
def test_live_device_without_a_midi_clip_says_so(installed, served, tmp_path):
    h = Harness(installed, served.osc, tmp_path, clip={"notes": [], "selected": [], "length": 4.0, "is_midi": False})
    try:
        h.send("clip", 0, ["harmonize"])
    finally:
        h.close()
    assert [o["text"] for o in h.out if "post" in o] == ["symbolic-ai: error: select a MIDI clip (open it in the detail view)\n"]
    assert not [o for o in h.out if "udp" in o and o["udp"][0] != "/sai/hello" and o["udp"][0].startswith("/")]


@needs_node
def test_help_patch_file_align_times_a_recording(installed, served, tmp_path):
    import numpy as np
    from test_align import take_and_score

    from symbolic_ai import io

    rec, score, truth = take_and_score(served.workdir)
    out = served.workdir / "max-aligned.mid"
    msgs = message_boxes_into(json.loads((installed / "sai.client.maxhelp").read_text()), "sai.client")
    ((selector, task, *paths),) = next(m for t, m in msgs.items() if t.startswith("file align "))
    assert [Path(p).suffix for p in paths] == [".wav", ".mid", ".mid"]
    h = Harness(installed, served.osc, tmp_path)
    try:
        h.pump(lambda out: any(o.get("status", [None])[0] == "welcome" for o in out))
        h.send("client", 0, [selector, task, str(rec), str(score), str(out)])  # the help message, with real paths
        h.pump(lambda out: len(done_dicts(out)) == 1)
        h.send("client", 0, ["file", "align", str(served.workdir / "missing.wav"), str(score), "-"])
        h.pump(lambda out: any(o.get("status", [None])[0] == "error" for o in out))
        h.send("client", 0, ["file", "align", str(rec)])
    finally:
        h.close()
    sent = [o["udp"] for o in h.out if "udp" in o and o["udp"][0].startswith("/sai/")]
    assert ["/sai/align/file", 1, str(rec), str(score), str(out)] in sent
    assert ["/sai/align/file", 2, str(served.workdir / "missing.wav"), str(score), ""] in sent
    assert len([s for s in sent if s[0] == "/sai/align/file"]) == 2  # the short message never left the patch
    rows = [o["results"][3:] for o in h.out if o.get("results", [None])[:3] == ["align", "time_map", 1]]
    sec, beat = np.array([r[1:] for r in rows], dtype=float).T
    assert len(rows) == len(truth) and np.abs(sec - truth).max() < 0.05 and np.all(np.diff(beat) > 0)
    (done,) = done_dicts(h.out)
    assert done["task"] == "align" and done["confidence"] > 0.6 and done["recording"] == str(rec)
    assert len(io.load(out).notes) == len(io.load(score).notes)
    errors = [o["status"] for o in h.out if o.get("status", [None])[0] == "error"]
    assert [e[:3] for e in errors] == [["error", 2, "not_found"], ["error", 0, "bad_input"]], errors
    assert "file takes TASK RECORDING_PATH SCORE_PATH OUT_PATH" in errors[1][3]
