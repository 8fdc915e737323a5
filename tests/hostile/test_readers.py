"""Hostile inputs to the readers: each is generated here (never committed), read by the CLI in a
subprocess under a 2 GB address-space limit, and must end with one clear `bad_input` line and exit 2
within its time bound, so a regression fails instead of swapping or hanging."""
from __future__ import annotations

import json
import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

MEMORY_LIMIT = 2 * 1024 ** 3
TIME_LIMIT_S = 60  # generous for a loaded CI machine; each case ends in a few seconds


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def read_hostile(path: Path) -> str:
    """Run `symbolic-ai run key PATH` under the limits; the one-line error it printed."""
    proc = subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "run", "key", str(path)],
                          capture_output=True, text=True, timeout=TIME_LIMIT_S, check=False, preexec_fn=_limit_memory)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("symbolic-ai: error: ") and str(path) in lines[0], proc.stderr
    assert "MemoryError" not in lines[0] and "internal" not in lines[0]
    return lines[0]


def midi(tpb: int, events: bytes) -> bytes:
    track = events + b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpb) + b"MTrk" + struct.pack(">I", len(track)) + track


NOTE = b"\x00\x90\x3c\x40\x60\x80\x3c\x40"  # note on, 96 ticks, note off


def test_midi_ticks_per_beat_zero(tmp_path):
    p = tmp_path / "tpb0.mid"
    p.write_bytes(midi(0, NOTE))
    msg = read_hostile(p)
    assert "0 ticks per beat" in msg and "SMPTE" not in msg


def test_midi_set_tempo_zero(tmp_path):
    p = tmp_path / "tempo0.mid"
    p.write_bytes(midi(480, b"\x00\xff\x51\x03\x00\x00\x00" + NOTE))
    assert "tempo of 0" in read_hostile(p)


def test_midi_huge_delta_is_over_the_span(tmp_path):
    p = tmp_path / "delta.mid"
    p.write_bytes(midi(1, b"\xff\xff\xff\x7f\x90\x3c\x40\x01\x80\x3c\x40"))  # delta 0x0FFFFFFF
    assert "over the limit of 100000 beats" in read_hostile(p)


def test_abc_long_note_is_over_the_span(tmp_path):
    p = tmp_path / "long.abc"
    p.write_text("X:1\nT:t\nM:4/4\nL:1/8\nK:C\nC99999999|\n")
    assert "over the limit of 100000 beats" in read_hostile(p)


def test_romantext_huge_measure_number(tmp_path):
    p = tmp_path / "bar.rntxt"
    p.write_text("Time Signature: 4/4\n\nm999999999 C: I\n")
    assert "m999999999" in read_hostile(p)


def test_romantext_too_many_bars(tmp_path):
    p = tmp_path / "bars.rntxt"
    p.write_text("Time Signature: 4/4\n\n" + "".join(f"m{i} C: I b2 IV b3 V7 b4 I\n" for i in range(1, 2001)))
    assert "2000 measure lines, over the limit" in read_hostile(p)


def test_json_onset_1e300(tmp_path):
    p = tmp_path / "far.json"
    p.write_text(json.dumps({"notes": [{"pitch": 60, "onset_beat": 1e300, "duration_beat": 1}]}))
    assert "notes[0]" in (msg := read_hostile(p)) and "over the limit" in msg


def test_json_onset_sec_1e300(tmp_path):
    p = tmp_path / "far_sec.json"
    p.write_text(json.dumps({"notes": [{"pitch": 60, "onset_sec": 1e300, "duration_sec": 1}], "tempos": []}))
    assert "over the limit" in read_hostile(p)


def test_json_nested_deeply(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text('{"notes": ' + "[" * 200_000 + "]" * 200_000 + "}")
    assert "nested too deeply" in read_hostile(p)


def test_json_too_many_notes_is_refused_before_each_note(tmp_path):
    p = tmp_path / "many.json"
    p.write_text('{"notes": [' + ",".join(['{"pitch":60,"onset_beat":0,"duration_beat":1}'] * 1_000_001) + "]}")
    assert "1000001 notes, over the limit" in read_hostile(p)


def test_mxl_zip_bomb(tmp_path):
    p = tmp_path / "bomb.mxl"  # ~1 MB that inflates to 1 GiB
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z, \
            z.open("score.musicxml", "w", force_zip64=True) as fh:
        chunk = b" " * (1 << 24)
        for _ in range(64):
            fh.write(chunk)
    assert p.stat().st_size < 2 * 1024 ** 2
    assert "inflates to more than 64 MiB" in read_hostile(p)


def test_mxl_too_many_entries(tmp_path):
    p = tmp_path / "entries.mxl"
    with zipfile.ZipFile(p, "w") as z:
        for i in range(300):
            z.writestr(f"e{i}.xml", "<a/>")
    assert "300 entries" in read_hostile(p)


def test_musicxml_too_many_notes(tmp_path):
    p = tmp_path / "notes.musicxml"
    note = "<note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration></note>"
    p.write_text('<?xml version="1.0"?><score-partwise><part-list><score-part id="P1"><part-name/></score-part>'
                 '</part-list><part id="P1"><measure number="1">' + note * 60_000 + "</measure></part></score-partwise>")
    assert "60000 notes, over the limit" in read_hostile(p)


def test_abc_too_many_notes(tmp_path):
    p = tmp_path / "notes.abc"
    p.write_text("X:1\nT:t\nM:4/4\nL:1/8\nK:C\n" + "CDEF GABc|\n" * 8000)
    assert "64000 notes, over the limit" in read_hostile(p)


def test_kern_too_many_tokens(tmp_path):
    p = tmp_path / "tokens.krn"
    p.write_text("**kern\n*M4/4\n" + "=1\n" + "4c\n" * 60_000 + "*-\n")
    assert "60000 data tokens, over the limit" in read_hostile(p)
