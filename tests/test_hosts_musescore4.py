"""The MuseScore 4 plugins, installed by `symbolic-ai hosts install musescore4`. MuseScore 4 cannot run here,
so: every QML and JS file passes qmllint's syntax check (Qt 6; skipped without qmllint), and the plugins'
JavaScript runs under node (tests/musescore/ms4_harness.js) on a recorded cursor walk (a fake score that
replays chords and rests the way the plugin API's Cursor gives them), talking HTTP to a real daemon:
the JSON note list it builds, and the chord symbols and texts it writes back. Skipped without node."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import TESTS
from daemon_support import Served

NODE = shutil.which("node")
QMLLINT = shutil.which("qmllint") or next((p for p in ("/usr/lib/qt6/bin/qmllint",) if Path(p).is_file()), None)
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs)")
SYNTAX_ONLY = [a for w in ("import", "property", "type", "unqualified", "signal", "alias", "deprecated", "required",
                           "inheritance-cycle", "deferred-property-id", "plugin", "with") for a in (f"--{w}", "disable")]
BAR = 1920  # 4/4 at 480 ticks per quarter


def melody_spec(**over) -> dict:
    """Four bars of 4/4 on staff 0: quarters, a half, a quarter-note triplet (notated 480 ticks, 320 real), a
    rest; velocities set by the user on some notes. Staff 1 is a drum staff (skipped)."""
    t0 = [[0, "chord", 480, [[60, 1, 100]]], [480, "chord", 480, [[62, 0, 0]]], [960, "chord", 960, [[64, 0, 0]]],
          [1920, "chord", 960, [[65, 1, 70]]], [2880, "chord", 960, [[67, 0, 0]]],
          [3840, "chord", 480, [[69, 0, 0]]], [4160, "chord", 480, [[67, 0, 0]]], [4480, "chord", 480, [[65, 0, 0]]],
          [4800, "chord", 960, [[64, 0, 0]]], [5760, "chord", 960, [[62, 0, 0]]], [6720, "rest", 960, []]]
    spec = {"measures": [{"tick": b * BAR, "num": 4, "den": 4} for b in range(4)], "end": 4 * BAR, "tempo": 1.5,
            "nstaves": 2, "parts": [{"startTrack": 0, "endTrack": 4, "hasDrumStaff": False},
                                    {"startTrack": 4, "endTrack": 8, "hasDrumStaff": True}],
            "tracks": {"0": t0, "4": [[b * BAR, "chord", BAR, [[36, 0, 0]]] for b in range(4)]}, "selection": None}
    spec.update(over)
    return spec


# what the plugin must send for melody_spec(): beats from the start, triplets 2/3 long, 80 (mf) when not set
EXPECTED_NOTES = [[60, 100, 0, 1, 1], [62, 80, 1, 1, 1], [64, 80, 2, 2, 1], [65, 70, 4, 2, 1], [67, 80, 6, 2, 1],
                  [69, 80, 8, 0.666667, 1], [67, 80, 8.666667, 0.666667, 1], [65, 80, 9.333333, 0.666667, 1],
                  [64, 80, 10, 2, 1], [62, 80, 12, 2, 1]]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = Served(tmp_path_factory.mktemp("ms4"))
    yield d
    assert d.stop() == 0


def install(dest: Path, port: str) -> Path:
    run = subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "hosts", "install", "musescore4", "--dest", str(dest),
                          "--http-port", port], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return dest


@pytest.fixture(scope="module")
def plugins(served, tmp_path_factory) -> Path:
    return install(tmp_path_factory.mktemp("ms4-user") / "Plugins" / "symbolic-ai", served.url.rsplit(":", 1)[1])


def run(plugins: Path, tmp: Path, task: str, spec: dict, params: dict | None = None, *mode: str) -> dict:
    path = tmp / f"spec-{task}.json"
    path.write_text(json.dumps(spec))
    out = subprocess.run([NODE, str(TESTS / "musescore" / "ms4_harness.js"), str(plugins), str(path), task,
                          json.dumps(params or {}), *mode], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def last_job(served, task: str) -> dict:
    with urllib.request.urlopen(f"{served.url}/sai/jobs", timeout=10) as r:
        jobs = [j for j in json.load(r)["jobs"] if j["task"] == task]
    with urllib.request.urlopen(f"{served.url}/sai/jobs/{jobs[-1]['id']}", timeout=10) as r:
        return json.load(r)


@pytest.mark.skipif(QMLLINT is None, reason="qmllint is not installed (apt-get install qt6-declarative-dev-tools)")
def test_every_qml_and_js_file_parses(plugins, tmp_path):
    files = sorted(str(p) for p in plugins.iterdir() if p.suffix in (".qml", ".js"))
    assert len(files) == 9
    ok = subprocess.run([QMLLINT, *SYNTAX_ONLY, *files], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.qml"
    broken.write_text((plugins / "symbolic-ai-key.qml").read_text().replace("Timer {", "Timer {{"))
    assert subprocess.run([QMLLINT, *SYNTAX_ONLY, str(broken)], capture_output=True, timeout=60).returncode != 0


@needs_node
def test_harmonize_sends_the_note_list_and_writes_a_chord_in_every_bar(served, plugins, tmp_path):
    got = run(plugins, tmp_path, "harmonize", melody_spec(), {"accompaniment": "none"})
    (posted,) = got["posted"]
    assert posted["url"] == f"{served.url}/sai/harmonize?wait=1"
    assert posted["body"] == {"notes": EXPECTED_NOTES, "params": {"accompaniment": "none"}, "qpm": 90,
                              "numerator": 4, "denominator": 4}
    harmonies = [(a["tick"], a["text"]) for a in got["added"] if a["type"] == "harmony"]
    ticks = [t for t, _ in harmonies]  # a symbol on every barline (a held chord repeated), changes between them too
    assert {0, BAR, 2 * BAR, 3 * BAR} <= set(ticks) and ticks == sorted(ticks) and {a["staff"] for a in got["added"]} == {0}
    job = last_job(served, "harmonize")
    texts = [s for _, s in harmonies]
    assert [s for i, s in enumerate(texts) if i == 0 or s != texts[i - 1]] == [
        a["value"] for a in job["annotations"] if a["kind"] == "chord" and a["value"] != "N"]
    assert got["commands"] == ["startCmd", "endCmd"]
    assert got["shown"] == ["harmonize: asking the daemon about 10 notes...",
                            f"harmonize: {len(harmonies)} chord symbols written (key {job['result']['key']})"]


@needs_node
def test_key_on_a_selection_counts_beats_from_its_start(served, plugins, tmp_path):
    spec = melody_spec(selection={"startTick": BAR, "endTick": 3 * BAR, "startStaff": 0, "endStaff": 0})
    got = run(plugins, tmp_path, "key", spec)
    (posted,) = got["posted"]
    assert posted["body"]["notes"] == [[p, v, round(s - 4, 6), d, c] for p, v, s, d, c in EXPECTED_NOTES if 4 <= s < 12]
    job = last_job(served, "key")
    assert got["added"] == [{"type": "staff_text", "text": f"Key: {job['annotations'][0]['value']}", "placement": "above",
                             "staff": 0, "tick": BAR}]


@needs_node
def test_chords_put_romans_below_the_bass_staff_and_perform_sets_velocities(served, plugins, tmp_path):
    two = melody_spec(parts=[{"startTrack": 0, "endTrack": 4, "hasDrumStaff": False},
                             {"startTrack": 4, "endTrack": 8, "hasDrumStaff": False}])
    two["tracks"]["4"] = [[b * BAR, "chord", BAR, [[48, 0, 0], [55, 0, 0]]] for b in range(4)]
    got = run(plugins, tmp_path, "chords", two)
    assert {(a["type"], a["staff"], a["placement"]) for a in got["added"]} == {("harmony", 0, "above"),
                                                                                ("staff_text", 1, "below")}
    got = run(plugins, tmp_path, "perform", melody_spec())
    played = {n["score_id"]: n["velocity"] for n in last_job(served, "perform")["result"]["notes"]}
    staff0 = [v for k, v in got["velocities"].items() if k.startswith("0/")]
    assert sorted(v for _, v in staff0) == sorted(played.values()) and all(t == 1 for t, _ in staff0)
    assert all(v == [0, 0] for k, v in got["velocities"].items() if k.startswith("4/"))  # the drums stay as they were


@needs_node
def test_bad_input_and_daemon_trouble_in_one_line_and_nothing_written(served, plugins, tmp_path):
    two = melody_spec(parts=[{"startTrack": 0, "endTrack": 4, "hasDrumStaff": False},
                             {"startTrack": 4, "endTrack": 8, "hasDrumStaff": False}])
    drums = melody_spec(selection={"startTick": 0, "endTick": BAR, "startStaff": 1, "endStaff": 1})
    rests = melody_spec(tracks={"0": [[0, "rest", BAR, []]]}, parts=[{"startTrack": 0, "endTrack": 4, "hasDrumStaff": False}],
                        nstaves=1, measures=[{"tick": 0, "num": 4, "den": 4}], end=BAR)
    cases = [(two, "harmonize", "error: harmonize needs one melody, but the score has notes on 2 staves; "
                                "select the melody's staff only"),
             (drums, "key", "error: the selection has only drum staves; select a pitched staff"),
             (rests, "key", "error: the score has no notes; select some bars with notes (or nothing, for the whole score)")]
    for spec, task, line in cases:
        got = run(plugins, tmp_path, task, spec)
        assert got["shown"] == [line] and not got["posted"] and not got["added"] and not got["commands"]
    dead = install(tmp_path / "dead", "9")
    got = run(dead, tmp_path, "key", melody_spec())
    assert got["shown"][-1] == ("error: the symbolic-ai daemon is not running at http://127.0.0.1:9; "
                                "start it with `symbolic-ai serve`")
    got = run(plugins, tmp_path, "key", melody_spec(), {}, "fire-timeout")
    assert got["shown"][-1] == f"error: no answer from {served.url} within 2 s" and not got["posted"]
    got = run(plugins, tmp_path, "key", melody_spec(), {"profile": "nonsense"})
    assert got["shown"][-1].startswith("error: key failed: bad_parameter: ") and "nonsense" in got["shown"][-1]
    assert not got["added"] and not got["commands"]


@needs_node
def test_align_posts_the_recording_and_marks_each_bars_tempo_in_it(served, plugins, tmp_path):
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("librosa")
    from test_align import SR, performed_times, render

    from symbolic_ai.bridges.wire import piece_from_notes

    rec = served.workdir / "melody.wav"  # the melody played with rubato after 1 s of silence
    sf.write(str(rec), render(piece_from_notes([tuple(n) for n in EXPECTED_NOTES])), SR)
    got = run(plugins, tmp_path, "align", melody_spec(recording=str(rec)))
    (posted,) = got["posted"]
    assert posted["body"]["recording_path"] == str(rec)
    assert posted["body"]["out_path"] == str(served.workdir / "melody.aligned.mid")
    tempos = {a["tick"] // BAR: a["tempo"] * 60 for a in got["added"] if a["type"] == "tempo"}
    # the last onset is beat 12: bar 4 (a half note and a rest) is not timed by the recording
    expected = {b: 240 / (performed_times(4 * b + 4, 1.0) - performed_times(4 * b, 1.0)) for b in range(3)}
    assert set(tempos) == {0, 1, 2} and all(abs(tempos[b] / expected[b] - 1) < 0.03 for b in tempos), (tempos, expected)
    assert all(a["text"] == f"<sym>metNoteQuarterUp</sym> = {round(a['tempo'] * 60)}" for a in got["added"])
    job = last_job(served, "align")
    assert got["shown"][-1] == (f"align: 3 tempo marks follow {rec} (confidence {job['result']['confidence']:.2f}); "
                                f"the score on the recording's timeline: {served.workdir / 'melody.aligned.mid'}")
    assert got["commands"] == ["startCmd", "endCmd"]


@needs_node
def test_align_without_a_recording_or_with_a_missing_one_says_so(served, plugins, tmp_path):
    got = run(plugins, tmp_path, "align", melody_spec())
    assert got["shown"] == ["error: align needs the recording of this score: type its path (WAV, FLAC, OGG, MP3)"]
    assert not got["posted"] and not got["added"]
    got = run(plugins, tmp_path, "align", melody_spec(recording=str(served.workdir / "missing.wav")))
    assert got["shown"][-1].startswith("error: align failed: not_found: ") and "missing.wav" in got["shown"][-1]
    assert not got["added"] and not got["commands"]
