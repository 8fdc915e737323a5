"""The Pure Data abstraction `sai` and its help patch, installed by `symbolic-ai hosts install pd` and run by
real Pd (`pd -nogui`) against a real `symbolic-ai serve`. Skipped without pd (Debian: puredata-core)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TESTS
from daemon_support import Served, reference_for_rows
from symbolic_ai.bridges.wire import piece_from_notes

PD = shutil.which("pd")
pytestmark = pytest.mark.skipif(PD is None, reason="pd is not installed (apt-get install puredata-core)")
HELP_NOTES = [(57, 90, 0.0, 1.0, 1), (59, 90, 1.0, 1.0, 1), (60, 90, 2.0, 1.0, 1), (62, 90, 3.0, 1.0, 1),
              (64, 90, 4.0, 1.0, 1), (65, 90, 5.0, 1.0, 1), (68, 90, 6.0, 1.0, 1), (69, 90, 7.0, 2.0, 1)]  # sai-help.pd


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = Served(tmp_path_factory.mktemp("pd"))
    yield d
    assert d.stop() == 0


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("pd-user") / "externals" / "symbolic-ai"
    run = subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "hosts", "install", "pd", "--dest", str(dest)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == ["sai-help.pd", "sai.pd"]
    return dest


def pd(*args: str) -> str:
    run = subprocess.run([PD, "-nogui", "-noaudio", "-nomidi", "-stderr", *args], capture_output=True, text=True, timeout=90)
    return run.stderr


def replies(stderr: str, task: str) -> list[list[str]]:
    """The help patch's `sai:` lines for one task, split into atoms (Pd escapes spaces inside symbols)."""
    out = []
    for line in stderr.splitlines():
        if line.startswith(f"sai: {task} "):
            out.append([a.replace("\\ ", " ") for a in re.findall(r"(?:\\ |[^ ])+", line[len("sai: "):])])
    return out


def pairs(atoms: list[str]) -> dict[str, str]:
    return dict(zip(atoms[::2], atoms[1::2]))


def test_help_patch_runs_key_chords_and_harmonize(served, installed):
    err = pd("-open", str(installed / "sai-help.pd"), "-open", str(TESTS / "pd" / "help_driver.pd"),
             "-send", f"sai-help-demo {served.osc[1]} {free_udp_port()}")
    assert "sai-status: welcome 0.1.0 pd" in err and "SAI-TIMEOUT" not in err and "error" not in err, err[-3000:]
    assert "couldn't create" not in err and "bad arguments" not in err, err[-3000:]
    key = replies(err, "key")
    assert key[-1][:3] == ["key", "done", "1"]
    assert pairs(key[-1][3:])["key"] == reference_for_rows("key", HELP_NOTES)[1]["key"]
    chords = replies(err, "chords")
    expected = reference_for_rows("chords", HELP_NOTES)[1]
    assert chords[-1][:3] == ["chords", "done", "2"] and pairs(chords[-1][3:])["key"] == expected["key"]
    symbols = [pairs(r[4:])["symbol"] for r in chords if r[1] == "chords"]
    assert symbols == [c["symbol"] for c in expected["chords"]]
    harm = replies(err, "harmonize")
    done = pairs(harm[-1][3:])
    assert harm[-1][:3] == ["harmonize", "done", "3"] and done["style"] == "folk"
    notes = [ln.split()[4:] for ln in err.splitlines() if ln.startswith("sai: note 3 ")]
    assert len(notes) == int(done["n_notes"]) > len(HELP_NOTES)
    melody = sorted((int(p), float(s)) for p, v, s, d, c in notes if c == "1")
    assert melody == sorted((p, s) for p, _, s, _, _ in HELP_NOTES)
    assert f"sai: notes open 3 {done['n_notes']}" in err and "sai: notes close 3" in err
    piece = piece_from_notes([(int(p), int(v), float(s), float(d), int(c)) for p, v, s, d, c in notes])
    assert len(piece.notes) == len(notes)


def test_ping_answers_pong_and_a_missing_daemon_times_out_in_one_line(served, installed):
    driver = str(TESTS / "pd" / "ping_driver.pd")
    err = pd("-path", str(installed), "-open", driver, "-send", f"sai-ping-test {served.osc[1]} {free_udp_port()}")
    assert "SAI-STATUS: pong 0.1.0" in err, err
    err = pd("-path", str(installed), "-open", driver, "-send", f"sai-ping-test {free_udp_port()} {free_udp_port()}")
    assert [ln for ln in err.splitlines() if ln.startswith("SAI-STATUS")] == [
        "SAI-STATUS: error 0 timeout no answer from the symbolic-ai daemon (start it with: symbolic-ai serve)"], err


def test_file_align_times_a_recording_and_writes_the_tempo_map(served, installed):
    import numpy as np

    from symbolic_ai import io

    from test_align import take_and_score

    rec, score, truth = take_and_score(served.workdir)
    out = served.workdir / "pd-aligned.mid"
    driver = str(TESTS / "pd" / "align_driver.pd")
    err = pd("-path", str(installed), "-open", driver, "-send",
             f"sai-align-test {served.osc[1]} {free_udp_port()} {rec} {score} {out}")
    assert "SAI-TIMEOUT" not in err and "couldn't create" not in err, err[-3000:]
    rows = [ln.split()[5:] for ln in err.splitlines() if ln.startswith("SAI: align time_map 1 ")]
    assert len(rows) == len(truth), err[-3000:]
    sec, beat = np.array([[float(s), float(b)] for s, b in rows]).T
    assert np.abs(sec - truth).max() < 0.05 and beat[0] == 0 and np.all(np.diff(beat) > 0)
    done = pairs(next(ln for ln in err.splitlines() if ln.startswith("SAI: align done 1 ")).split()[4:])
    assert float(done["confidence"]) > 0.6
    assert len(io.load(out).notes) == len(io.load(score).notes)


def test_file_align_with_a_bad_recording_answers_one_error_line(served, installed):
    from test_align import take_and_score

    _, score, _ = take_and_score(served.workdir)
    driver = str(TESTS / "pd" / "align_driver.pd")
    for name, problem in (("missing.wav", "not_found"), ("score.mid", "the recording is MIDI, not audio")):
        err = pd("-path", str(installed), "-open", driver, "-send",
                 f"sai-align-test {served.osc[1]} {free_udp_port()} {served.workdir / name} {score} "
                 f"{served.workdir / 'never.mid'}")
        status = [ln for ln in err.splitlines() if ln.startswith("SAI-STATUS: error")]
        assert len(status) == 1 and problem in status[0].replace("\\", ""), err[-3000:]
        assert not (served.workdir / "never.mid").exists()
