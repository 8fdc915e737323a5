"""The REAPER ReaScripts, installed by `symbolic-ai hosts install reaper`, run under plain Lua 5.4 with a stub
`reaper` table (tests/reaper/stub.lua) that records every call and really runs ExecProcess, so curl talks
to a real `symbolic-ai serve`. Skipped without lua5.4 or curl (Debian: lua5.4, curl)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TESTS
from daemon_support import Served, reference_for_rows

from symbolic_ai import io

LUA = shutil.which("lua5.4")
pytestmark = pytest.mark.skipif(LUA is None or shutil.which("curl") is None,
                                reason="lua5.4 or curl is not installed (apt-get install lua5.4 curl)")
# pitch, velocity, start, end (quarter notes), channel: the item's notes as the stub's MIDI_GetNote gives them
ITEM = [(57, 90, 0, 1, 1), (59, 90, 1, 2, 1), (60, 90, 2, 3, 1), (62, 90, 3, 4, 1), (64, 90, 4, 5, 1),
        (65, 90, 5, 6, 1), (68, 90, 6, 7, 1), (69, 90, 7, 9, 1)]
ROWS = [(p, v, float(s), float(e - s), c) for p, v, s, e, c in ITEM]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = Served(tmp_path_factory.mktemp("reaper"))
    yield d
    assert d.stop() == 0


def install(dest: Path, port: str) -> Path:
    run = subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "hosts", "install", "reaper", "--dest", str(dest),
                          "--http-port", port], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return dest


@pytest.fixture(scope="module")
def scripts(served, tmp_path_factory) -> Path:
    return install(tmp_path_factory.mktemp("reaper-user") / "Scripts" / "symbolic-ai", served.url.rsplit(":", 1)[1])


def run_script(scripts: Path, task: str, project: Path, notes: list | None = ITEM,
               recording: Path | None = None) -> list[list[str]]:
    fixture = project / f"fixture-{task}.lua"
    items = "nil" if notes is None else "{" + ", ".join("{{{}, {}, {}, {}, {}}}".format(*n) for n in notes) + "}"
    rec = "nil" if recording is None else repr(str(recording))
    fixture.write_text(f"return {{notes = {items}, project = {str(project)!r}, recording = {rec}}}\n")
    run = subprocess.run([LUA, str(TESTS / "reaper" / "stub.lua"), str(scripts / f"symbolic-ai-{task}.lua"), str(fixture)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return [ln.split("\t")[1:] for ln in run.stdout.splitlines() if ln.startswith("CALL\t")]


def calls(log: list[list[str]], name: str) -> list[list[str]]:
    return [c[1:] for c in log if c[0] == name]


def console(log: list[list[str]]) -> str:
    return "".join(c[0] for c in calls(log, "ShowConsoleMsg")).replace("\\n", "\n")


def test_every_request_goes_through_curl_with_a_timeout(served, scripts):
    log = run_script(scripts, "key", served.workdir)
    commands = [c[0] for c in calls(log, "ExecProcess")]
    assert len(commands) == 2 and all(c.startswith("curl -sS --max-time ") for c in commands)
    assert "/sai/ping" in commands[0] and f"{served.url}/sai/key?wait=1" in commands[1]
    assert all(int(c[1]) > 0 for c in calls(log, "ExecProcess"))  # REAPER waits at most that long


def test_key_and_emotion_are_shown_in_the_console(served, scripts):
    log = run_script(scripts, "key", served.workdir)
    expected = reference_for_rows("key", ROWS)[1]
    assert console(log).startswith(f"symbolic-ai: key: {expected['key']} (confidence {expected['confidence']:.2f})")
    assert calls(log, "Undo_EndBlock") == [["symbolic-ai key", "-1"]]
    log = run_script(scripts, "emotion", served.workdir)
    expected = reference_for_rows("emotion", ROWS)[1]
    assert console(log).startswith(f"symbolic-ai: emotion: {expected['quadrant']} {expected['label']} (valence ")
    assert not calls(log, "ShowMessageBox")


def test_harmonize_writes_chords_and_accompaniment_on_a_new_track(served, scripts):
    log = run_script(scripts, "harmonize", served.workdir)
    expected = reference_for_rows("harmonize", ROWS)[1]
    assert calls(log, "InsertTrackAtIndex") == [["1", "true"]]
    assert calls(log, "CreateNewMIDIItemInProj")[0][1:] == ["0.0", "8.0", "false"]
    texts = [(float(c[3]), c[5]) for c in calls(log, "MIDI_InsertTextSysexEvt")]
    assert texts == [(c["start_beat"] * 960, c["symbol"]) for c in expected["chords"] if c["symbol"] != "N"]
    notes = calls(log, "MIDI_InsertNote")
    assert len(notes) >= len(texts) * 3
    assert all(0 <= float(n[3]) < float(n[4]) <= 9 * 960 and 24 <= int(n[6]) <= 96 for n in notes)
    assert f"{len(texts)} chords, {len(notes)} accompaniment notes on a new track" in console(log)
    assert calls(log, "Undo_BeginBlock") and calls(log, "Undo_EndBlock") == [["symbolic-ai harmonize", "-1"]]


def test_perform_inserts_the_performance_as_a_new_take(served, scripts):
    log = run_script(scripts, "perform", served.workdir)
    (inserted,) = calls(log, "InsertMedia")
    path = Path(inserted[0])
    assert inserted[1] == "3" and path.parent == served.workdir and path.suffix == ".mid"
    assert sorted(io.load(path).notes["pitch"].tolist()) == sorted(p for p, *_ in ITEM)


def test_align_sets_tempo_markers_that_follow_the_recording_and_adds_the_score_track(served, scripts):
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("librosa")
    from test_align import SR, performed_times, render, score_of

    take = served.workdir / "take.wav"  # the item's melody played with rubato after 1 s of silence
    sf.write(str(take), render(score_of([(float(s), float(e - s), (p,)) for p, _, s, e, _ in ITEM])), SR)
    log = run_script(scripts, "align", served.workdir, recording=take)
    markers = calls(log, "SetTempoTimeSigMarker")
    assert len(markers) == len(ITEM) - 1, console(log)  # one per onset but the last, each to the next onset
    times = np.array([float(m[2]) for m in markers])
    beats = np.array([float(s) for _, _, s, *_ in ITEM[:-1]])
    assert np.abs(times - (2.0 + performed_times(beats, 1.0))).max() < 0.06  # the audio item starts at 2 s
    bpm = np.array([float(m[5]) for m in markers])
    want = 60 / np.diff(performed_times(np.array([float(s) for _, _, s, *_ in ITEM]), 1.0))
    assert np.abs(bpm / want - 1).max() < 0.15
    (inserted,) = calls(log, "InsertMedia")
    assert inserted[1] == "1" and Path(inserted[0]).parent == served.workdir
    assert sorted(io.load(inserted[0]).notes["pitch"].tolist()) == sorted(p for p, *_ in ITEM)
    assert calls(log, "SetEditCurPos")[0][0] == "2.0" and "align: 7 tempo markers" in console(log)
    log = run_script(scripts, "align", served.workdir)  # no audio item selected
    assert calls(log, "ShowMessageBox")[0][0].startswith("select the recording's audio item too")
    assert not calls(log, "SetTempoTimeSigMarker") and not calls(log, "ExecProcess")


def test_bad_input_says_so_in_one_line_and_changes_nothing(served, scripts, tmp_path):
    changes = ("InsertTrackAtIndex", "MIDI_InsertNote", "InsertMedia", "Undo_BeginBlock")
    cases = [(None, "no item is selected; select a MIDI item"), ([], "the selected item has no notes"),
             ([(36, 100, 0, 1, 10), (38, 100, 1, 2, 10)], "the selected item has only drum notes (channel 10)")]
    for notes, message in cases:
        log = run_script(scripts, "harmonize", served.workdir, notes)
        assert calls(log, "ShowMessageBox") == [[message, "symbolic-ai", "0"]]
        assert not any(calls(log, c) for c in changes) and not calls(log, "ExecProcess")
    # the daemon refuses: perform's MIDI would go outside its allowed folders
    log = run_script(scripts, "perform", tmp_path)
    (box,) = calls(log, "ShowMessageBox")
    assert box[0].startswith("perform failed: forbidden: ") and str(tmp_path) in box[0]
    assert not any(calls(log, c) for c in changes)


def test_no_daemon_and_none_can_start(tmp_path):
    dest = install(tmp_path / "scripts", "9")
    local = dest / "symbolic-ai-local.lua"
    local.write_text(local.read_text().replace(sys.executable, str(tmp_path / "no-python")).replace(
        "start_timeout_s = 60", "start_timeout_s = 2"))
    log = run_script(dest, "key", tmp_path)
    (box,) = calls(log, "ShowMessageBox")
    assert box[0].startswith("the symbolic-ai daemon is not running at http://127.0.0.1:9 (")
    assert box[0].endswith("); start it with `symbolic-ai serve`")
    started = [c for c in calls(log, "ExecProcess") if c[1] == "-1"]
    assert len(started) == 1 and " -m symbolic_ai.cli serve --http-port 9 " in started[0][0]
