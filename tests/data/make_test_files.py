"""Write the tiny test files in this folder (run it again after changing it; commit both).

    .venv/bin/python tests/data/make_test_files.py

Every file is built from explicit events here (mido or literal text), not from symbolic_ai's own
writers, so reading tests check the readers against independent input. Expected values live in
the tests (tests/test_io.py, tests/test_bad_input.py).
"""
from __future__ import annotations

import random
from pathlib import Path

import mido

HERE = Path(__file__).parent
TPQ = 96


def _track(events: list[tuple[int, mido.Message | mido.MetaMessage]]) -> mido.MidiTrack:
    """Absolute-tick events → a track with delta times (stable order for equal ticks)."""
    tr = mido.MidiTrack()
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        tr.append(msg.copy(time=tick - now))
        now = tick
    return tr


def _save(mf: mido.MidiFile, name: str) -> bytes:
    mf.save(HERE / name)
    return (HERE / name).read_bytes()


def type0_channels() -> None:
    """Type 0: one track, three channels (piano ch 0, strings ch 1 program 48, drums ch 10)."""
    on = lambda t, ch, p, v=80: (t, mido.Message("note_on", channel=ch, note=p, velocity=v))  # noqa: E731
    off = lambda t, ch, p: (t, mido.Message("note_off", channel=ch, note=p, velocity=0))  # noqa: E731
    ev = [
        (0, mido.MetaMessage("track_name", name="type0 song")),
        (0, mido.MetaMessage("set_tempo", tempo=500000)),          # 120 qpm
        (0, mido.Message("program_change", channel=1, program=48)),
        on(0, 9, 36, 100), off(24, 9, 36),                           # kick on beat 0 (drums first in time)
        on(0, 1, 55, 70), off(4 * TPQ, 1, 55),                      # strings G3, one bar
        on(TPQ, 0, 60), off(2 * TPQ, 0, 60),                        # piano C4 on beat 1
        on(2 * TPQ, 0, 64), off(3 * TPQ, 0, 64),
    ]
    mf = mido.MidiFile(type=0, ticks_per_beat=TPQ)
    mf.tracks.append(_track(ev))
    _save(mf, "type0_channels.mid")


def type1_changes() -> bytes:
    """Type 1: tempo, time and key signature changes, markers, overlapping same-pitch notes."""
    conductor = [
        (0, mido.MetaMessage("track_name", name="changes")),
        (0, mido.MetaMessage("set_tempo", tempo=500000)),            # 120 qpm from beat 0
        (4 * TPQ, mido.MetaMessage("set_tempo", tempo=1000000)),     # 60 qpm from beat 4
        (7 * TPQ, mido.MetaMessage("set_tempo", tempo=250000)),      # 240 qpm from beat 7
        (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
        (4 * TPQ, mido.MetaMessage("time_signature", numerator=3, denominator=4)),
        (7 * TPQ, mido.MetaMessage("time_signature", numerator=6, denominator=8)),
        (0, mido.MetaMessage("key_signature", key="D")),
        (4 * TPQ, mido.MetaMessage("key_signature", key="Bm")),
        (0, mido.MetaMessage("marker", text="chord: D")),
        (4 * TPQ, mido.MetaMessage("marker", text="chord: Bm")),
        (7 * TPQ, mido.MetaMessage("marker", text="Coda")),
    ]
    piano = [
        (0, mido.MetaMessage("track_name", name="Piano")),
        (0, mido.Message("program_change", channel=0, program=0)),
        # two overlapping D4s: on at 0 and 1, offs at 2 and 3 (paired first in, first out)
        (0, mido.Message("note_on", channel=0, note=62, velocity=90)),
        (TPQ, mido.Message("note_on", channel=0, note=62, velocity=60)),
        (2 * TPQ, mido.Message("note_on", channel=0, note=62, velocity=0)),   # velocity 0 = note off
        (3 * TPQ, mido.Message("note_off", channel=0, note=62, velocity=0)),
        (4 * TPQ, mido.Message("note_on", channel=0, note=71, velocity=80)),
        (7 * TPQ, mido.Message("note_on", channel=0, note=71, velocity=0)),
        (7 * TPQ, mido.Message("note_on", channel=0, note=74, velocity=80)),  # left open: ends at track end
        (8 * TPQ, mido.MetaMessage("end_of_track")),
    ]
    bass = [
        (0, mido.MetaMessage("track_name", name="Bass")),
        (0, mido.Message("program_change", channel=1, program=33)),
        (0, mido.Message("note_on", channel=1, note=38, velocity=100)),
        (4 * TPQ, mido.Message("note_off", channel=1, note=38, velocity=64)),
        (4 * TPQ, mido.Message("note_on", channel=1, note=35, velocity=100)),
        (7 * TPQ, mido.Message("note_off", channel=1, note=35, velocity=64)),
    ]
    mf = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    for ev in (conductor, piano, bass):
        tr = _track([e for e in ev if e[1].type != "end_of_track"])
        mf.tracks.append(tr)
    mf.tracks[1].append(mido.MetaMessage("end_of_track", time=8 * TPQ - 7 * TPQ))
    return _save(mf, "type1_changes.mid")


def running_status() -> None:
    """Hand-assembled bytes: one status byte 0x90 for four events; velocity 0 ends the notes."""
    events = bytes([
        0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20,   # tempo 500000 µs (120 qpm)
        0x00, 0x90, 60, 100,                         # note_on C4
        0x00, 64, 100,                               # (running status) note_on E4
        0x60, 60, 0,                                 # after 96 ticks: C4 velocity 0 (off)
        0x00, 64, 0,                                 # E4 off
        0x00, 0xFF, 0x2F, 0x00,                      # end of track
    ])
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") \
        + TPQ.to_bytes(2, "big")
    (HERE / "running_status.mid").write_bytes(header + b"MTrk" + len(events).to_bytes(4, "big") + events)


def drums_only() -> None:
    ev = [(0, mido.Message("note_on", channel=9, note=36, velocity=100)),
          (48, mido.Message("note_off", channel=9, note=36)),
          (96, mido.Message("note_on", channel=9, note=38, velocity=100)),
          (144, mido.Message("note_off", channel=9, note=38))]
    mf = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    mf.tracks.append(_track(ev))
    _save(mf, "drums_only.mid")


def broken(valid: bytes) -> None:
    (HERE / "empty.mid").write_bytes(b"")
    (HERE / "truncated.mid").write_bytes(valid[: len(valid) // 2])
    rng = random.Random(20260101)
    (HERE / "random_bytes.mid").write_bytes(bytes(rng.randrange(256) for _ in range(512)))
    (HERE / "not_json.json").write_text('{"format": "symbolic_ai.piece", "notes": [')


TEXT_FILES = {
    # A pickup (one eighth), two chord symbols, a key with its mode, a tempo mark.
    "harmony.musicxml": """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN"
  "http://www.musicxml.org/dtds/partwise.dtd">
<score-partwise version="4.0">
  <work><work-title>Harmony test</work-title></work>
  <part-list><score-part id="P1"><part-name>Melody</part-name></score-part></part-list>
  <part id="P1">
    <measure number="0" implicit="yes">
      <attributes>
        <divisions>2</divisions>
        <key><fifths>-1</fifths><mode>minor</mode></key>
        <time><beats>3</beats><beat-type>4</beat-type></time>
        <clef><sign>G</sign><line>2</line></clef>
      </attributes>
      <direction placement="above"><direction-type><metronome><beat-unit>quarter</beat-unit>
        <per-minute>90</per-minute></metronome></direction-type><sound tempo="90"/></direction>
      <note><pitch><step>A</step><octave>4</octave></pitch><duration>1</duration><type>eighth</type></note>
    </measure>
    <measure number="1">
      <harmony><root><root-step>D</root-step></root><kind>minor</kind></harmony>
      <note><pitch><step>D</step><octave>5</octave></pitch><duration>4</duration><type>half</type></note>
      <harmony><root><root-step>A</root-step></root><kind>dominant</kind></harmony>
      <note><pitch><step>C</step><alter>1</alter><octave>5</octave></pitch><duration>2</duration><type>quarter</type></note>
    </measure>
    <measure number="2">
      <harmony><root><root-step>B</root-step><root-alter>-1</root-alter></root><kind>major</kind></harmony>
      <note><pitch><step>B</step><alter>-1</alter><octave>4</octave></pitch><duration>5</duration><type>half</type><dot/></note>
    </measure>
  </part>
</score-partwise>
""",
    "no_notes.musicxml": """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="4.0">
  <part-list><score-part id="P1"><part-name>Silence</part-name></score-part></part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>
      <note><rest/><duration>4</duration><type>whole</type></note>
    </measure>
  </part>
</score-partwise>
""",
    "broken.musicxml": """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="4.0"><part-list><score-part id="P1">
""",
    "tune.abc": """X:1
T:Tiny tune
M:6/8
L:1/8
Q:1/4=100
K:D
A|"D"d2d "A7"cBA|"D"d3-d2|]
""",
    "tune.krn": """**kern
*M3/4
*k[f#]
*G:
=1
4g
4a
4b
=2
2.dd
*-
""",
    "analysis.rntxt": """Composer: Test
Title: Tiny analysis
Analyst: symbolic_ai tests
Time Signature: 3/4

m1 b1 G: I b2 V6 b3 vi
m2 I
m3 e: i
m4 V b3 i
""",
    # The wire format as a person would write it (see docs/wire-format.md): one note in beats,
    # one known only by its seconds, a chord annotation with a structured value.
    "piece.json": """{
  "format": "symbolic_ai.piece",
  "version": 1,
  "notes": [
    {"onset_beat": 0.0, "duration_beat": 1.0, "pitch": 60, "velocity": 90},
    {"onset_sec": 1.0, "duration_sec": 0.25, "pitch": 64, "track": 1}
  ],
  "tracks": [{"program": 0, "name": "Piano", "is_drum": false},
             {"program": 40, "name": "Violin", "is_drum": false}],
  "tempos": [{"start_beat": 0.0, "qpm": 120.0}, {"start_beat": 1.0, "qpm": 60.0}],
  "time_signatures": [{"start_beat": 0.0, "numerator": 3, "denominator": 4}],
  "key_signatures": [{"start_beat": 0.0, "fifths": 0, "mode": "major"}],
  "annotations": [{"kind": "chord", "start_beat": 0.0, "end_beat": 3.0, "value": {"label": "C", "root": 0}}],
  "metadata": {"title": "wire example"},
  "pickup_beats": 0.0
}
""",
}


def compressed(musicxml: str) -> None:
    """The same score as compressed MusicXML (.mxl: a zip with a container file)."""
    import zipfile

    container = ('<?xml version="1.0" encoding="UTF-8"?>\n<container><rootfiles>'
                 '<rootfile full-path="score.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>'
                 '</rootfiles></container>\n')
    with zipfile.ZipFile(HERE / "harmony.mxl", "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("mimetype", "application/vnd.recordare.musicxml"),
                           ("META-INF/container.xml", container), ("score.musicxml", musicxml)):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))  # fixed: the file is reproducible
            z.writestr(info, text, zipfile.ZIP_DEFLATED)


def main() -> None:
    type0_channels()
    valid = type1_changes()
    running_status()
    drums_only()
    broken(valid)
    for name, text in TEXT_FILES.items():
        (HERE / name).write_text(text)
    compressed(TEXT_FILES["harmony.musicxml"])
    print("\n".join(sorted(p.name for p in HERE.iterdir() if p.suffix != ".py")))


if __name__ == "__main__":
    main()
