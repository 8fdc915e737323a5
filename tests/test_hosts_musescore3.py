"""The MuseScore 3 plugins, installed by `symbolic-ai hosts install musescore3 --dest DIR` and run headless
by real MuseScore 3 (`mscore3 -p DIR/symbolic-ai-TASK.qml score.mscx`, $SYMBOLIC_AI_MSCORE_OUT set) against
a real `symbolic-ai serve`. Skipped without mscore3 (Debian: musescore3)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import EXAMPLES
from daemon_support import Served
from symbolic_ai import io, registry

MSCORE = shutil.which("mscore3")
pytestmark = pytest.mark.skipif(MSCORE is None, reason="mscore3 is not installed (apt-get install musescore3)")
TPC_LETTERS = "FCGDAEB"


def tpc_name(tpc: str) -> str:
    """MuseScore's tonal pitch class (14 = C) as a note name."""
    t = int(tpc) + 1
    return TPC_LETTERS[t % 7] + {0: "bb", 1: "b", 2: "", 3: "#", 4: "##"}[t // 7]


def harmony_text(h: ET.Element) -> str:
    base = h.findtext("base")
    return tpc_name(h.findtext("root")) + (h.findtext("name") or "") + (f"/{tpc_name(base)}" if base else "")


def staves(path: Path) -> list[ET.Element]:
    """The score's staves with their measures (the <Staff> elements under <Score>, not the part definitions)."""
    return [s for s in ET.parse(path).getroot().find("Score").findall("Staff") if s.find("Measure") is not None]


def music(path: Path) -> list[bytes]:
    """The staves' contents: what a plugin may change (MuseScore rewrites some instrument details on save)."""
    return [ET.tostring(s) for s in staves(path)]


def mscore(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": tempfile.mkdtemp(), **(env or {})}
    return subprocess.run([MSCORE, *args], capture_output=True, text=True, timeout=180, env=full, cwd=cwd)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = Served(tmp_path_factory.mktemp("ms3"))
    yield d
    assert d.stop() == 0


@pytest.fixture(scope="module")
def plugins(served, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("plugins") / "MuseScore3" / "Plugins"
    port = served.url.rsplit(":", 1)[1]
    run = subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "hosts", "install", "musescore3", "--dest", str(dest),
                          "--http-port", port], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "next: In MuseScore 3: Plugins > Plugin Manager" in run.stdout
    return dest


@pytest.fixture(scope="module")
def scores(served) -> dict[str, Path]:
    """folk: a one-staff melody; chorale: four parts. Converted by MuseScore itself."""
    out = {}
    for name, src in (("folk", EXAMPLES / "folk_melody.mid"), ("chorale", EXAMPLES / "chorale_bwv66_6.musicxml")):
        out[name] = served.workdir / f"{name}.mscx"
        run = mscore("-o", str(out[name]), str(src))
        assert out[name].is_file(), run.stderr[-2000:]
    return out


def run_plugin(plugins: Path, task: str, score: Path, out: Path, **env: str) -> str:
    run = mscore("-p", str(plugins / f"symbolic-ai-{task}.qml"), str(score), env={"SYMBOLIC_AI_MSCORE_OUT": str(out), **env})
    lines = [ln.split("symbolic-ai: ", 1)[1] for ln in run.stderr.splitlines() if "qml: symbolic-ai: " in ln]
    assert run.returncode == 0 and out.is_file(), run.stderr[-3000:]
    assert len(lines) == 1 or lines[-1].startswith(("error", task)), lines  # one line for the user
    return lines[-1]


def last_job(served, task: str) -> dict:
    with urllib.request.urlopen(f"{served.url}/sai/jobs", timeout=10) as r:
        jobs = [j for j in json.load(r)["jobs"] if j["task"] == task]
    with urllib.request.urlopen(f"{served.url}/sai/jobs/{jobs[-1]['id']}", timeout=10) as r:
        return json.load(r)


def test_harmonize_writes_the_daemons_chord_symbols_in_at_least_every_other_bar(served, plugins, scores):
    out = served.workdir / "folk-harmonize.mscx"
    said = run_plugin(plugins, "harmonize", scores["folk"], out)
    (staff,) = staves(out)
    bars = [(m.find(".//Chord") is not None, [harmony_text(h) for h in m.iter("Harmony")]) for m in staff.findall("Measure")]
    with_notes = [chords for has_notes, chords in bars if has_notes]
    assert len(with_notes) >= 8
    assert all(a or b for a, b in zip(with_notes, with_notes[1:])), bars  # never two bars in a row without one
    assert all(with_notes), bars  # a chord holding over several bars is repeated in each
    written = [c for _, chords in bars for c in chords]
    job = last_job(served, "harmonize")
    expected = [a["value"] for a in job["annotations"] if a["kind"] == "chord" and a["value"] != "N"]
    assert [c for i, c in enumerate(written) if i == 0 or c != written[i - 1]] == expected
    assert said == f"harmonize: {len(written)} chord symbols written (key {job['result']['key']})"
    assert not list(staff.iter("StaffText"))


def test_chords_on_four_parts_symbols_above_romans_below_the_bass(served, plugins, scores):
    out = served.workdir / "chorale-chords.mscx"
    said = run_plugin(plugins, "chords", scores["chorale"], out)
    soprano, alto, tenor, bass = staves(out)
    symbols = [harmony_text(h) for h in soprano.iter("Harmony")]
    romans = [(t.findtext("text"), t.findtext("placement")) for t in bass.iter("StaffText")]
    assert len(symbols) >= 10 and said.startswith(f"chords: {len(symbols)} chord symbols written")
    assert romans and all(re.fullmatch(r"[#b]?(?:[iIvV]+|N|It|Ger|Fr)[^ ]*", r) and p == "below" for r, p in romans), romans
    assert not any(list(s.iter("Harmony")) + list(s.iter("StaffText")) for s in (alto, tenor))
    expected = [a["value"] for a in last_job(served, "chords")["annotations"] if a["kind"] == "chord" and a["value"] != "N"]
    assert set(symbols) <= set(expected)


def test_key_writes_staff_text_at_the_key(served, plugins, scores):
    out = served.workdir / "folk-key.mscx"
    said = run_plugin(plugins, "key", scores["folk"], out)
    texts = [t.findtext("text") for t in staves(out)[0].iter("StaffText")]
    expected = registry.run("key", io.load(EXAMPLES / "folk_melody.mid")).data["key"]
    assert texts and texts[0] == f"Key: {expected}", texts
    assert said == f"key: {expected} ({len(texts)} staff texts written)"


def test_emotion_writes_one_staff_text_per_window(served, plugins, scores):
    out = served.workdir / "chorale-emotion.mscx"
    run_plugin(plugins, "emotion", scores["chorale"], out)
    job = last_job(served, "emotion")
    texts = [t.findtext("text") for t in staves(out)[0].iter("StaffText")]
    assert texts == [f"Emotion: {a['value']}" for a in job["annotations"] if a["kind"] == "emotion"]
    assert all(re.fullmatch(r"Emotion: Q[1-4] (happy|tense|sad|calm)", t) for t in texts), texts


def test_perform_sets_velocities_and_writes_the_midi_beside_the_score(served, plugins, scores):
    out = served.workdir / "folk-perform.mscx"
    said = run_plugin(plugins, "perform", scores["folk"], out)
    before = [int(v.text) for v in staves(scores["folk"])[0].iter("velocity")]
    after = [int(v.text) for v in staves(out)[0].iter("velocity")]
    notes = [n for n in staves(out)[0].iter("Note")]
    assert len(after) == len(notes) == len(before) > 20 and all(1 <= v <= 127 for v in after)
    assert after != before and len(set(after)) > 5  # expressive: many different velocities
    midi = served.workdir / "folk.performance.mid"
    job = last_job(served, "perform")
    assert sorted(after) == sorted(n["velocity"] for n in job["result"]["notes"])
    assert len(io.load(midi).notes) == len(notes)
    assert said == f"perform: velocities of {len(notes)} notes set; performance MIDI in {midi}"


def _rests_and_drums(workdir: Path) -> dict[str, Path]:
    """A score of rests only and a drum-only score, made by MuseScore from tiny MIDI/MusicXML files."""
    import mido

    drums = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    for i in range(8):
        track += [mido.Message("note_on", channel=9, note=36 + (i % 3) * 2, velocity=90, time=0 if i == 0 else 240),
                  mido.Message("note_off", channel=9, note=36 + (i % 3) * 2, velocity=0, time=240)]
    drums.tracks.append(track)
    drums.save(workdir / "drums.mid")
    (workdir / "rests.musicxml").write_text(
        '<?xml version="1.0"?><score-partwise version="3.1"><part-list><score-part id="P1"><part-name>Flute</part-name>'
        '</score-part></part-list><part id="P1">' + "".join(
            f'<measure number="{i}"><attributes><divisions>1</divisions></attributes>'
            '<note><rest measure="yes"/><duration>4</duration></note></measure>' for i in (1, 2)) + "</part></score-partwise>")
    out = {}
    for name, src in (("drums", workdir / "drums.mid"), ("rests", workdir / "rests.musicxml")):
        out[name] = workdir / f"{name}.mscx"
        mscore("-o", str(out[name]), str(src))
        assert out[name].is_file()
    return out


def test_bad_input_one_line_and_the_score_unchanged(served, plugins, scores, tmp_path):
    made = _rests_and_drums(served.workdir)
    cases = [("harmonize", scores["chorale"], "harmonize needs one melody, but the score has notes on 4 staves; "
                                              "select the melody's staff only"),
             ("key", made["rests"], "the score has no notes; select some bars with notes (or nothing, for the whole score)"),
             ("chords", made["drums"], "the score has only drum staves; select a pitched staff")]
    for task, score, message in cases:
        out = served.workdir / f"bad-{task}.mscx"
        assert run_plugin(plugins, task, score, out) == f"error: {message}"
        assert music(out) == music(score)
    # a daemon error: the performance MIDI would go outside the daemon's allowed folders
    out = tmp_path / "outside.mscx"
    said = run_plugin(plugins, "perform", scores["folk"], out)
    assert said.startswith("error: perform failed: forbidden: ") and str(tmp_path) in said, said
    assert music(out) == music(scores["folk"])


def test_no_daemon_and_no_serve_script_says_how_to_start_it(plugins, scores, tmp_path):
    lone = tmp_path / "plugins"
    shutil.copytree(plugins, lone)
    (lone / "symbolic-ai-serve.sh").unlink()
    out = tmp_path / "out.mscx"
    said = run_plugin(lone, "key", scores["folk"], out, SYMBOLIC_AI_URL="http://127.0.0.1:9")
    assert said == "error: the symbolic-ai daemon is not running at http://127.0.0.1:9; start it with `symbolic-ai serve`"
    assert music(out) == music(scores["folk"])


def test_the_plugin_starts_the_daemon_when_none_answers(scores, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "plugins"
    subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "hosts", "install", "musescore3", "--dest", str(dest),
                    "--http-port", str(port)], check=True, capture_output=True, timeout=60)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    out = tmp_path / "key.mscx"
    try:
        said = run_plugin(dest, "key", scores["folk"], out, TMPDIR=str(run_dir))
    finally:
        pid_file = run_dir / "symbolic-ai-serve.pid"
        pid = int(pid_file.read_text()) if pid_file.is_file() else 0
        if pid:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
    assert pid, "the serve script wrote no pid file"
    assert said.startswith("key: ") and "Key: " in out.read_text(), said
    assert f"HTTP http://127.0.0.1:{port}" in (run_dir / "symbolic-ai-serve.log").read_text()


@pytest.fixture(scope="module")
def take(served) -> tuple[Path, Path]:
    """tests/test_align.py's rubato take (take.wav) and its score, converted by MuseScore (events.mscx)."""
    from test_align import take_and_score

    rec, mid, _ = take_and_score(served.workdir)
    mscx = served.workdir / "events.mscx"
    mscore("-o", str(mscx), str(mid))
    assert mscx.is_file()
    return rec, mscx


def test_align_marks_each_bars_tempo_in_the_recording_and_writes_the_midi_beside_the_score(served, plugins, take):
    from test_align import performed_times

    rec, mscx = take
    out = served.workdir / "events-align.mscx"
    said = run_plugin(plugins, "align", mscx, out, SYMBOLIC_AI_RECORDING=str(rec))
    every = staves(out)
    staff = every[0]
    marks = {i: float(t.findtext("tempo")) * 60 for i, m in enumerate(staff.findall("Measure")) for t in m.iter("Tempo")}
    # the take: beat b at 1 + 0.6 b + 0.012 b² s; its last onset is beat 14, so bar 4 is timed over beats 12..14
    spans = {0: (0, 4), 1: (4, 8), 2: (8, 12), 3: (12, 14)}
    expected = {i: (b1 - b0) * 60 / (performed_times(b1, 1.0) - performed_times(b0, 1.0)) for i, (b0, b1) in spans.items()}
    assert set(marks) == set(expected) and all(abs(marks[i] / expected[i] - 1) < 0.03 for i in marks), (marks, expected)
    job = last_job(served, "align")
    midi = served.workdir / "events.aligned.mid"
    assert said == (f"align: 4 tempo marks follow {rec} (confidence {job['result']['confidence']:.2f}); "
                    f"the score on the recording's timeline: {midi}")
    assert len(io.load(midi).notes) == sum(len(list(s.iter("Note"))) for s in every)


def test_align_without_a_readable_recording_says_so_in_one_line(served, plugins, take):
    rec, mscx = take
    out = served.workdir / "events-norec.mscx"
    assert run_plugin(plugins, "align", mscx, out) == ("error: align needs the recording of this score: choose an "
                                                       "audio file (WAV, FLAC, OGG, MP3)")
    assert music(out) == music(mscx)
    said = run_plugin(plugins, "align", mscx, out, SYMBOLIC_AI_RECORDING=str(served.workdir / "missing.wav"))
    assert said.startswith("error: align failed: not_found: ") and "missing.wav" in said, said
    assert music(out) == music(mscx)
