"""File IO: MIDI (type 0/1), MusicXML, ABC, kern, RomanText and the JSON wire format, with round trips."""
from __future__ import annotations

import json

import mido
import numpy as np
import pytest

import symbolic_ai as sai
from conftest import DATA, EXAMPLES
from symbolic_ai.errors import InputError
from symbolic_ai.io import write_atomic
from symbolic_ai.io.midi import read_midi, write_midi
from symbolic_ai.io.wire import FORMAT, VERSION, piece_from_dict, piece_to_dict
from symbolic_ai.piece import (Annotation, KeySignature, Piece, Tempo, TimeSignature, Track,
                               notes_from_columns)

FIELDS = ["onset_beat", "duration_beat", "pitch", "velocity", "track", "bar", "beat_in_bar"]


def rows(p: Piece, fields=FIELDS) -> list[tuple]:
    """Notes as sorted tuples (rounded floats), independent of order and ids."""
    return sorted(tuple(round(float(x), 6) if isinstance(x, float) else int(x) for x in r)
                  for r in p.notes[fields].tolist())


def rich_piece() -> Piece:
    """Tempo, time and key signature changes, a pickup, drums, a same-pitch overlap, odd annotations.

    The two overlapping C4s end in the order they start: MIDI cannot tell which note_off belongs to
    which note_on, and the reader pairs them first in, first out.
    """
    n = notes_from_columns(
        onset_beat=[0.0, 1.0, 1.5, 3.0, 5.0, 9.5, 10.0, 1.0, 3.0],
        duration_beat=[1.0, 2.0, 2.0, 2.5, 4.0, 0.5, 3.0, 0.25, 0.25],
        pitch=[67, 60, 60, 64, 62, 71, 67, 36, 42],
        velocity=[80, 70, 90, 64, 100, 50, 1, 110, 90],
        track=[0, 0, 0, 0, 1, 1, 0, 2, 2],
    )
    return Piece(
        notes=n,
        tracks=(Track(0, "Piano"), Track(33, "Bass"), Track(0, "Kit", is_drum=True)),
        tempos=(Tempo(0.0, 100.0), Tempo(5.0, 75.0), Tempo(9.0, 150.0)),
        time_signatures=(TimeSignature(0.0, 4, 4), TimeSignature(5.0, 3, 4), TimeSignature(8.0, 6, 8)),
        key_signatures=(KeySignature(0.0, -3, "minor"), KeySignature(5.0, 2, "major")),
        annotations=(Annotation("chord", 1.0, 3.0, "Cm"), Annotation("chord", 3.0, 5.0, "Bb7"),
                     Annotation("chord", 6.0, 8.0, "D"),  # a gap before it: markers alone would lose that
                     Annotation("emotion", 0.0, 13.0, {"quadrant": "Q3", "valence": -0.25}),
                     Annotation("lyric", 1.0, 2.0, "ünïcödé ♪")),
        metadata={"title": "rich"},
        pickup_beats=1.0,
    )


# -- MIDI ------------------------------------------------------------------------------------------
def test_type0_is_split_into_tracks_by_channel():
    p = sai.load(DATA / "type0_channels.mid")
    assert p.metadata["midi_type"] == 0 and p.metadata["title"] == "type0 song"
    assert [(t.program, t.is_drum) for t in p.tracks] == [(0, False), (48, False), (0, True)]
    assert rows(p, ["onset_beat", "duration_beat", "pitch", "track"]) == [
        (0.0, 0.25, 36, 2), (0.0, 4.0, 55, 1), (1.0, 1.0, 60, 0), (2.0, 1.0, 64, 0)]
    assert p.pitched()["pitch"].tolist() == [55, 60, 64]


def test_type1_tempo_time_and_key_changes_markers_and_overlaps():
    p = sai.load(DATA / "type1_changes.mid")
    assert [t.name for t in p.tracks] == ["Piano", "Bass"] and p.tracks[1].program == 33
    assert [(t.start_beat, t.qpm) for t in p.tempos] == [(0.0, 120.0), (4.0, 60.0), (7.0, 240.0)]
    assert [(s.start_beat, s.numerator, s.denominator) for s in p.time_signatures] == \
        [(0.0, 4, 4), (4.0, 3, 4), (7.0, 6, 8)]
    assert [(k.start_beat, k.fifths, k.mode) for k in p.key_signatures] == [(0.0, 2, "major"), (4.0, 2, "minor")]
    got = rows(p, ["onset_beat", "duration_beat", "pitch", "velocity", "track", "onset_sec", "bar"])
    assert got == [
        (0.0, 2.0, 62, 90, 0, 0.0, 0),      # overlapping D4s paired first in, first out;
        (0.0, 4.0, 38, 100, 1, 0.0, 0),
        (1.0, 2.0, 62, 60, 0, 0.5, 0),      # the second one ends at the velocity-0 note_on's partner
        (4.0, 3.0, 35, 100, 1, 2.0, 1),     # 60 qpm from beat 4, 3/4 from beat 4 (bar 1)
        (4.0, 3.0, 71, 80, 0, 2.0, 1),
        (7.0, 1.0, 74, 80, 0, 5.0, 2),      # never released: ends with its track
    ]
    assert [(a.kind, a.start_beat, a.end_beat, a.value) for a in p.annotations] == [
        ("chord", 0.0, 4.0, "D"), ("chord", 4.0, 8.0, "Bm"), ("marker", 7.0, 8.0, "Coda")]


def _midi(events_by_track: list[list[tuple[int, mido.Message]]], tpq: int = 96) -> bytes:
    mf = mido.MidiFile(type=1, ticks_per_beat=tpq)
    for events in events_by_track:
        tr, now = mido.MidiTrack(), 0
        for t, m in events:
            tr.append(m.copy(time=t - now))
            now = t
        mf.tracks.append(tr)
    buf = __import__("io").BytesIO()
    mf.save(file=buf)
    return buf.getvalue()


def test_midi_defaults_before_the_first_tempo_and_time_signature():
    data = _midi([[(384, mido.MetaMessage("set_tempo", tempo=1000000)),
                   (768, mido.MetaMessage("time_signature", numerator=3, denominator=4))],
                  [(384, mido.Message("note_on", note=60, velocity=1)), (480, mido.Message("note_off", note=60)),
                   (960, mido.Message("note_on", note=62, velocity=127)), (1056, mido.Message("note_off", note=62))]])
    p = read_midi(data)
    assert p.tempos == (Tempo(0.0, 120.0), Tempo(4.0, 60.0))      # 120 qpm until the first set_tempo
    assert p.notes["onset_sec"].tolist() == [2.0, 8.0]
    assert p.notes["bar"].tolist() == [1, 2] and p.notes["beat_in_bar"].tolist() == [0.0, 2.0]  # 4/4 first


def test_midi_setup_program_changes_make_no_empty_tracks():
    setup = [(0, mido.Message("program_change", channel=c, program=c)) for c in range(16)]
    notes = [(0, mido.Message("note_on", channel=2, note=60, velocity=90)),
             (96, mido.Message("note_off", channel=2, note=60))]
    p = read_midi(_midi([setup, notes]))
    assert len(p.tracks) == 1 and p.tracks[0].program == 0  # channel 2's program came from another track
    empty_track = Piece(tracks=(Track(5, "silent"), Track(40, "violin")),
                        notes=notes_from_columns(pitch=[70], onset_beat=[0.0], duration_beat=[1.0], track=[1]))
    assert read_midi(write_midi(empty_track)).tracks == empty_track.tracks


def test_impossible_key_signature_is_skipped_not_fatal():
    good = _midi([[(0, mido.MetaMessage("key_signature", key="A")),
                   (0, mido.Message("note_on", note=60, velocity=90)), (96, mido.Message("note_off", note=60))]])
    bad = good.replace(bytes([0xFF, 0x59, 0x02, 0x03, 0x00]), bytes([0xFF, 0x59, 0x02, 0x09, 0x00]))  # 9 sharps
    assert bad != good
    p = read_midi(bad, "odd.mid")
    assert p.key_signatures == () and p.notes["pitch"].tolist() == [60]
    assert read_midi(good).key_signatures == (KeySignature(0.0, 3, "major"),)   # the table is restored


def test_smpte_division_is_refused():
    data = bytearray(_midi([[(0, mido.Message("note_on", note=60, velocity=90))]]))
    data[12:14] = bytes([0xE7, 0x28])   # -25 fps, 40 ticks per frame
    with pytest.raises(InputError, match="SMPTE"):
        read_midi(bytes(data), "smpte.mid")


def test_running_status_and_velocity_zero_note_off():
    p = sai.load(DATA / "running_status.mid")
    assert rows(p, ["onset_beat", "duration_beat", "pitch", "velocity"]) == [(0.0, 1.0, 60, 100), (0.0, 1.0, 64, 100)]


def test_midi_round_trip_keeps_everything():
    src = rich_piece()
    back = read_midi(write_midi(src))
    assert rows(back) == rows(src)
    np.testing.assert_allclose(sorted(back.notes["onset_sec"]), sorted(src.notes["onset_sec"]), atol=1e-6)
    assert back.tracks == src.tracks
    assert back.tempos == src.tempos and back.time_signatures == src.time_signatures
    assert back.key_signatures == src.key_signatures
    assert back.annotations == src.annotations and back.pickup_beats == 1.0
    assert back.metadata["title"] == "rich"


def test_midi_markers_are_readable_in_a_daw():
    mf = mido.MidiFile(file=__import__("io").BytesIO(write_midi(rich_piece())))
    markers = [m.text for m in mf.tracks[0] if m.type == "marker"]
    assert "chord: Cm" in markers and 'emotion: {"quadrant":"Q3","valence":-0.25}' in markers
    assert "lyric: ?n?c?d? ?" not in markers and any(m.startswith("lyric: ") for m in markers)


def test_markers_without_sidecar_become_annotations():
    mf = mido.MidiFile(file=__import__("io").BytesIO(write_midi(rich_piece())))
    mf.tracks[0] = mido.MidiTrack(m for m in mf.tracks[0] if not (m.type == "text"))
    buf = __import__("io").BytesIO()
    mf.save(file=buf)
    p = read_midi(buf.getvalue())
    chords = [(a.start_beat, a.end_beat, a.value) for a in p.annotations_of("chord")]
    assert chords == [(1.0, 3.0, "Cm"), (3.0, 6.0, "Bb7"), (6.0, p.duration_beat, "D")]
    assert p.annotations_of("emotion")[0].value == {"quadrant": "Q3", "valence": -0.25}


def test_performance_in_seconds_round_trips_through_every_format(tmp_path):
    n = notes_from_columns(pitch=[60, 64, 67], onset_sec=[0.0, 0.333, 1.25], duration_sec=[0.5, 0.25, 2.0],
                           velocity=[30, 60, 90])
    perf = Piece(notes=n, tempos=(), time_signatures=(), metadata={"title": "perf"})
    back = sai.load(sai.save(perf, tmp_path / "perf.mid"))
    assert not back.has_beats and np.isnan(back.notes["onset_beat"]).all()
    np.testing.assert_allclose(back.notes["onset_sec"], n["onset_sec"], atol=1 / 960)
    np.testing.assert_allclose(back.notes["duration_sec"], n["duration_sec"], atol=1 / 960)
    j = sai.load(sai.save(perf, tmp_path / "perf.json"))
    assert not j.has_beats and rows(j, ["onset_sec", "duration_sec", "pitch", "velocity"]) == \
        rows(perf, ["onset_sec", "duration_sec", "pitch", "velocity"])
    x = sai.load(sai.save(perf, tmp_path / "perf.musicxml"))  # notated on the nominal 120 qpm grid
    assert x.notes["pitch"].tolist() == [60, 64, 67]
    np.testing.assert_allclose(x.notes["onset_sec"], n["onset_sec"], atol=1 / 96)


def _cc64(data: bytes) -> list[tuple[int, int, int]]:
    """(absolute tick, channel, value) of every sustain-pedal event in a MIDI file."""
    out = []
    for tr in mido.MidiFile(file=__import__("io").BytesIO(data)).tracks:
        tick = 0
        for m in tr:
            tick += m.time
            if m.type == "control_change" and m.control == 64:
                out.append((tick, m.channel, m.value))
    return sorted(out)


def test_pedal_annotations_are_written_as_cc64_and_read_back():
    n = notes_from_columns(onset_beat=[0.0, 1.0, 2.0], duration_beat=[1.0, 1.0, 2.0], pitch=[60, 64, 67],
                           track=[0, 0, 1])
    presses = (Annotation("pedal", 0.5, 2.0), Annotation("pedal", 2.0, 3.75))  # lift and press on one tick
    src = Piece(notes=n, tracks=(Track(0, "RH"), Track(0, "LH"), Track(0, "Kit", is_drum=True)),
                annotations=presses + (Annotation("chord", 0.0, 4.0, "C"),))
    data = write_midi(src)
    cc = _cc64(data)
    assert {c[1] for c in cc} == {0, 1}  # every pitched track's channel, not the drums'
    assert [(t, v) for t, ch, v in cc if ch == 0] == [(240, 127), (960, 0), (960, 127), (1800, 0)]
    markers = [m.text for m in mido.MidiFile(file=__import__("io").BytesIO(data)).tracks[0] if m.type == "marker"]
    assert markers == ["chord: C"]  # the pedal is CC64, not a marker per press
    assert read_midi(data).annotations == src.annotations  # the sidecar
    # without the sidecar (a file from elsewhere) the pedal comes from CC64: channels merged
    mf = mido.MidiFile(file=__import__("io").BytesIO(data))
    mf.tracks[0] = mido.MidiTrack(m for m in mf.tracks[0] if m.type != "text")
    buf = __import__("io").BytesIO()
    mf.save(file=buf)
    back = read_midi(buf.getvalue())
    assert back.annotations_of("pedal") == list(presses)


def test_cc64_from_a_foreign_file_half_pedal_and_unreleased():
    mf = mido.MidiFile(type=0, ticks_per_beat=100)
    mf.tracks.append(mido.MidiTrack([
        mido.Message("control_change", control=64, value=20, time=0),   # below 64: up
        mido.Message("note_on", note=60, velocity=80, time=0),
        mido.Message("control_change", control=64, value=100, time=50),  # down at 0.5
        mido.Message("control_change", control=64, value=70, time=10),   # still down
        mido.Message("note_off", note=60, velocity=0, time=40),
        mido.Message("control_change", control=64, value=63, time=50),   # up at 1.5
        mido.Message("control_change", control=67, value=127, time=0),   # soft pedal: ignored
        mido.Message("control_change", control=64, value=127, time=50),  # down at 2.0, never released
        mido.Message("note_on", note=62, velocity=80, time=0),
        mido.Message("note_off", note=62, velocity=0, time=100),
    ]))
    buf = __import__("io").BytesIO()
    mf.save(file=buf)
    p = read_midi(buf.getvalue())
    assert [(a.start_beat, a.end_beat) for a in p.annotations_of("pedal")] == [(0.5, 1.5), (2.0, 3.0)]
    again = read_midi(write_midi(p))
    assert again.annotations_of("pedal") == p.annotations_of("pedal")


def test_performance_pedal_round_trips_in_seconds(tmp_path):
    n = notes_from_columns(pitch=[60, 64], onset_sec=[0.0, 0.75], duration_sec=[0.5, 1.0], velocity=[50, 70])
    perf = Piece(notes=n, tempos=(), time_signatures=(), annotations=(Annotation("pedal", 0.5, 3.0),))
    back = sai.load(sai.save(perf, tmp_path / "perf.mid"))
    assert not back.has_beats and back.annotations_of("pedal") == [Annotation("pedal", 0.5, 3.0)]
    assert [(t, v) for t, _c, v in _cc64((tmp_path / "perf.mid").read_bytes())] == [(240, 127), (1440, 0)]


@pytest.mark.parametrize("name", ["maple_leaf_rag.mid", "folk_melody.mid"])
def test_example_midi_round_trip(name, tmp_path):
    p = sai.load(EXAMPLES / name)
    assert len(p) > 20
    back = sai.load(sai.save(p, tmp_path / "x.mid"))
    assert rows(back) == rows(p) and back.tempos == p.tempos


# -- MusicXML and music21 formats ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["harmony.musicxml", "harmony.mxl"])
def test_musicxml_harmony_pickup_key_and_tempo(name):
    p = sai.load(DATA / name)
    assert p.metadata["title"] == "Harmony test" and p.tracks[0].name == "Melody"
    assert p.pickup_beats == 0.5 and p.tempos == (Tempo(0.0, 90.0),)
    assert p.key_signatures == (KeySignature(0.0, -1, "minor"),)
    assert rows(p, ["onset_beat", "duration_beat", "pitch", "bar", "beat_in_bar"]) == [
        (0.0, 0.5, 69, 0, 0.0), (0.5, 2.0, 74, 1, 0.0), (2.5, 1.0, 73, 1, 2.0), (3.5, 2.5, 70, 2, 0.0)]
    assert [(a.start_beat, a.end_beat, a.value) for a in p.annotations_of("chord")] == \
        [(0.5, 2.5, "Dm"), (2.5, 3.5, "A7"), (3.5, 6.0, "Bb")]


@pytest.mark.parametrize("path", [DATA / "harmony.musicxml", DATA / "tune.abc",
                                  EXAMPLES / "chorale_bwv66_6.musicxml"])
def test_musicxml_round_trip(path, tmp_path):
    p = sai.load(path)
    out = sai.save(p, tmp_path / "x.musicxml")
    if p.annotations_of("chord"):
        assert b"<harmony" in out.read_bytes()
    back = sai.load(out)
    assert rows(back) == rows(p)
    assert back.pickup_beats == p.pickup_beats and back.time_signatures == p.time_signatures
    assert back.key_signatures == p.key_signatures and back.tempos == p.tempos
    assert [(a.start_beat, a.value) for a in back.annotations_of("chord")] == \
        [(a.start_beat, a.value) for a in p.annotations_of("chord")]


def test_constructed_piece_to_musicxml_and_back(tmp_path):
    src = rich_piece()
    back = sai.load(sai.save(src, tmp_path / "rich.musicxml"))
    keep = ["onset_beat", "duration_beat", "pitch", "velocity", "bar", "beat_in_bar"]
    assert rows(back, keep) == rows(src, keep)
    assert back.time_signatures == src.time_signatures and back.key_signatures == src.key_signatures
    assert [(a.start_beat, a.value) for a in back.annotations_of("chord")] == \
        [(1.0, "Cm"), (3.0, "Bb7"), (6.0, "D")]
    assert [t.program for t in back.tracks][:2] == [0, 33] and back.pickup_beats == 1.0


CHORD_LABELS = ["C", "G7/B", "Bb7", "F#m7", "Ebmaj7", "C#dim", "Asus4", "Dm7b5", "N", "Abm", "E7#9",
                "Cadd9", "Gb", "Bbm/Db"]


def test_chord_labels_survive_musicxml(tmp_path):
    n = notes_from_columns(pitch=[60] * len(CHORD_LABELS), onset_beat=[2.0 * i for i in range(len(CHORD_LABELS))],
                           duration_beat=[2.0] * len(CHORD_LABELS))
    p = Piece(notes=n, annotations=tuple(Annotation("chord", 2.0 * i, 2.0 * i + 2, c)
                                         for i, c in enumerate(CHORD_LABELS)))
    out = sai.save(p, tmp_path / "chords.musicxml")
    assert out.read_bytes().count(b"<harmony") == len(CHORD_LABELS)
    back = sai.load(out)
    assert [(a.start_beat, a.end_beat, a.value) for a in back.annotations_of("chord")] == \
        [(a.start_beat, a.end_beat, a.value) for a in p.annotations]


def test_abc():
    p = sai.load(DATA / "tune.abc")
    assert p.metadata["title"] == "Tiny tune" and p.pickup_beats == 0.5
    assert p.tempos == (Tempo(0.0, 100.0),) and p.time_signatures == (TimeSignature(0.0, 6, 8),)
    assert p.notes["pitch"].tolist() == [69, 74, 74, 73, 71, 69, 74]
    assert p.notes["duration_beat"][-1] == 2.5          # d3-d2: the tie is merged into one note
    assert [a.value for a in p.annotations_of("chord")] == ["D", "A7", "D"]


def test_kern():
    p = sai.load(DATA / "tune.krn")
    assert p.key_signatures == (KeySignature(0.0, 1, "major"),)
    assert rows(p, ["onset_beat", "duration_beat", "pitch", "bar"]) == [
        (0.0, 1.0, 67, 0), (1.0, 1.0, 69, 0), (2.0, 1.0, 71, 0), (3.0, 3.0, 74, 1)]


def test_romantext_gives_roman_and_key_annotations_and_chord_notes():
    p = sai.load(DATA / "analysis.rntxt")
    assert p.metadata["title"] == "Tiny analysis"
    assert [(a.start_beat, a.end_beat, a.value) for a in p.annotations_of("roman")][:4] == [
        (0.0, 1.0, "I"), (1.0, 2.0, "V6"), (2.0, 3.0, "vi"), (3.0, 6.0, "I")]
    assert [(a.start_beat, a.end_beat, a.value) for a in p.annotations_of("key")] == [
        (0.0, 6.0, "G major"), (6.0, 12.0, "E minor")]
    first = sorted(p.notes[p.notes["onset_beat"] == 0.0]["pitch"] % 12)
    assert first == [2, 7, 11]                          # G major triad


def test_score_without_notes_loads_as_an_empty_piece():
    p = sai.load(DATA / "no_notes.musicxml")
    assert len(p) == 0 and p.tracks[0].name == "Silence"


# -- JSON wire format ------------------------------------------------------------------------------
def test_wire_example_file():
    p = sai.load(DATA / "piece.json")
    assert p.metadata["title"] == "wire example" and len(p.tracks) == 2
    a, b = p.notes
    assert (a["onset_sec"], a["duration_sec"], a["velocity"]) == (0.0, 0.5, 90)
    assert (b["onset_beat"], b["duration_beat"], b["velocity"], b["track"]) == (1.5, 0.25, 64, 1)
    assert p.annotations[0].value == {"label": "C", "root": 0}


def test_json_round_trip_is_exact(tmp_path):
    src = rich_piece()
    d = piece_to_dict(src)
    assert d["format"] == FORMAT and d["version"] == VERSION
    text = json.dumps(d, allow_nan=False)                 # strict JSON: NaN is written as null
    back = piece_from_dict(json.loads(text))
    assert back.notes.tobytes() == src.notes.tobytes()
    for f in ("tracks", "tempos", "time_signatures", "key_signatures", "annotations", "pickup_beats"):
        assert getattr(back, f) == getattr(src, f), f
    again = sai.load(sai.save(src, tmp_path / "rich.json"))
    assert again.notes.tobytes() == src.notes.tobytes() and again.metadata["title"] == "rich"


def test_task_result_document_loads_as_its_piece(tmp_path):
    r = sai.run("key", sai.load(DATA / "harmony.musicxml"))
    path = tmp_path / "result.json"
    path.write_text(json.dumps(r.to_dict(include_piece=True)))
    assert len(sai.load(path).annotations_of("key")) >= 1


GOOD_NOTE = {"onset_beat": 0, "duration_beat": 1, "pitch": 60}


@pytest.mark.parametrize("doc, message", [
    ([], "expected a JSON object, got list"),
    ({"format": "midi"}, "format is 'midi'"),
    ({"version": 2}, "version 2 is not supported"),
    ({"notes": [], "colour": "red"}, "unknown key 'colour'"),
    ({"notes": {}}, "'notes' must be a list"),
    ({"notes": [GOOD_NOTE, {"onset_beat": 1}]}, "notes[1] must be an object with at least 'pitch'"),
    ({"notes": [{**GOOD_NOTE, "pitch": "C4"}]}, "notes[0].pitch must be a number, got 'C4'"),
    ({"notes": [{**GOOD_NOTE, "pitch": 60.5}]}, "notes[0].pitch must be a whole number"),
    ({"notes": [{**GOOD_NOTE, "pitch": 200}]}, "notes[0]: pitch must be in 0..127, got pitch=200"),
    ({"notes": [{**GOOD_NOTE, "velocity": True}]}, "notes[0].velocity must be a number, got True"),
    ({"notes": [{**GOOD_NOTE, "loudness": 3}]}, "notes[0] has unknown field 'loudness'"),
    ({"notes": [GOOD_NOTE, {"pitch": 60, "onset_beat": 2}]}, "notes[1]: a note needs an onset and a duration"),
    ({"notes": [{**GOOD_NOTE, "track": 1}]}, "notes[0]: track must index one of the 1 tracks"),
    ({"tempos": [{"start_beat": 0, "qpm": 0}]}, "tempos[0]: Tempo qpm must be in 1..2000, got 0"),
    ({"tempos": [{"start_beat": 0}]}, "tempos[0] lacks 'qpm'"),
    ({"tempos": [{"start_beat": 0, "qpm": 60, "bpm": 1}]}, "tempos[0] has unknown field 'bpm'"),
    ({"tracks": ["piano"]}, "tracks[0] must be an object"),
    ({"time_signatures": [{"start_beat": 0, "numerator": 4, "denominator": 3}]}, "time_signatures[0]: bad time"),
    ({"key_signatures": [{"start_beat": 0, "fifths": 9}]}, "key_signatures[0]: key signature fifths"),
    ({"annotations": [{"kind": "chord", "start_beat": 2, "end_beat": 1}]}, "annotations[0]: Annotation 'chord' ends"),
    ({"metadata": [1]}, "'metadata' must be an object"),
    ({"pickup_beats": "one"}, "pickup_beats must be a number"),
    ({"notes": [{"onset_beat": 0, "duration_beat": 1, "pitch": 60}], "tempos": []}, "no tempo map"),
])
def test_wire_validation_names_the_bad_entry(doc, message):
    with pytest.raises(InputError) as exc:
        piece_from_dict(doc, "doc.json")
    text = str(exc.value)
    assert text.startswith("doc.json: ") and message in text and "\n" not in text


# -- atomic writes ---------------------------------------------------------------------------------
def test_write_atomic_replaces_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a.json"
    write_atomic(target, "old")
    write_atomic(target, b"new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_write_atomic_cleans_up_after_a_failed_write(tmp_path, monkeypatch):
    import os

    target = tmp_path / "a.mid"
    write_atomic(target, b"old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(InputError, match="a.mid: cannot write .No space left"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.mid"]


def test_write_atomic_refuses_a_missing_directory_and_a_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "x.mid", b"")
    with pytest.raises(InputError, match="is a directory"):
        write_atomic(tmp_path, b"")


def test_write_atomic_keeps_the_target_mode_and_gives_new_files_0644(tmp_path):
    import os
    import stat

    secret = tmp_path / "secret.json"
    secret.write_text("old")
    os.chmod(secret, 0o600)
    write_atomic(secret, "new")
    fresh = write_atomic(tmp_path / "fresh.json", "x")
    assert secret.read_text() == "new" and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644


def test_write_atomic_refuses_a_fifo_and_leaves_it(tmp_path):
    import os
    import stat

    fifo = tmp_path / "out.mid"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="out.mid: not a regular file"):
        write_atomic(fifo, b"x")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["out.mid"]


def test_write_atomic_removes_its_temp_file_when_the_rename_fails(tmp_path, monkeypatch):
    import os

    def broken_replace(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(InputError, match="cannot write .Invalid cross-device"):
        write_atomic(tmp_path / "a.json", b"new")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".json", ".mid", ".musicxml"])
def test_one_result_encoder_for_the_cli_and_the_daemon(suffix, tmp_path):
    from symbolic_ai.bridges import files
    from symbolic_ai.io import encode_result, save_result
    from symbolic_ai.registry import run

    result = run("key", sai.load(DATA / "tune.abc"))
    out = save_result(result, tmp_path / f"r{suffix}")
    if suffix != ".musicxml":  # MusicXML carries an encoding date and generated ids
        assert out.read_bytes() == encode_result(result, out) == files.encode_result(result, out)
    if suffix == ".json":
        doc = json.loads(out.read_text())
        assert doc["result"]["key"] == result.data["key"] and doc["piece"]["notes"]
    else:
        assert len(sai.load(out).notes) == len(result.piece.notes)


def test_midi_rounds_to_ticks_and_keeps_zero_length_notes():
    p = Piece(notes=notes_from_columns(pitch=[60, 60, 62], onset_beat=[1 / 3, 1 / 3, 1.0],
                                       duration_beat=[0.0, 1.0, 0.0]))
    back = read_midi(write_midi(p))
    assert rows(back, ["onset_beat", "duration_beat", "pitch"]) == [
        (round(160 / 480, 6), 0.0, 60), (round(160 / 480, 6), 1.0, 60), (1.0, 0.0, 62)]


def test_midi_written_on_a_grid_that_holds_the_source_ticks():
    src = _midi([[(0, mido.Message("note_on", note=60, velocity=90)), (151, mido.Message("note_off", note=60))]],
                tpq=384)
    p = read_midi(src)
    assert mido.MidiFile(file=__import__("io").BytesIO(write_midi(p))).ticks_per_beat == 1920
    assert read_midi(write_midi(p)).notes["duration_beat"][0] == 151 / 384
    huge = p.replace(metadata={**p.metadata, "ticks_per_beat": 32749})  # lcm too large: 480
    assert mido.MidiFile(file=__import__("io").BytesIO(write_midi(huge))).ticks_per_beat == 480


def test_test_files_match_their_generator(tmp_path, monkeypatch, capsys):
    """tests/data is what tests/data/make_test_files.py writes (rerun it after editing it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_test_files", DATA / "make_test_files.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "HERE", tmp_path)
    mod.main()
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in DATA.iterdir() if p.suffix != ".py" and p.name != "__pycache__")
    for name in made:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


# -- property: random pieces survive MIDI and JSON exactly, MusicXML on its grid ---------------------
from hypothesis import HealthCheck, Phase, given, settings, strategies as st  # noqa: E402

NICE_QPM = [60.0, 75.0, 80.0, 96.0, 100.0, 120.0, 125.0, 150.0, 160.0, 200.0, 240.0]  # whole µs per beat


@st.composite
def pieces(draw, grid: int = 480, max_beat: int = 24, max_notes: int = 40) -> Piece:
    n_tracks = draw(st.integers(1, 3))
    tracks = tuple(Track(draw(st.integers(0, 127)), f"t{i}", is_drum=(i == 2 and draw(st.booleans())))
                   for i in range(n_tracks))
    raw = draw(st.lists(st.tuples(st.integers(0, max_beat * grid), st.integers(1, 4 * grid), st.integers(21, 108),
                                  st.integers(1, 127), st.integers(0, n_tracks - 1)), max_size=max_notes))
    kept, busy = [], {}
    for on, dur, pitch, vel, tr in sorted(raw):
        if busy.get((tr, pitch), -1) > on:     # same pitch overlapping on one track: ambiguous in MIDI
            continue
        busy[(tr, pitch)] = on + dur
        kept.append((on / grid, dur / grid, pitch, vel, tr))
    cols = list(zip(*kept)) or [[], [], [], [], []]
    notes = notes_from_columns(onset_beat=cols[0], duration_beat=cols[1], pitch=cols[2], velocity=cols[3],
                               track=cols[4])
    tempo_starts = draw(st.lists(st.integers(1, max_beat), max_size=3, unique=True))
    tempos = (Tempo(0.0, draw(st.sampled_from(NICE_QPM))),) + tuple(
        Tempo(float(b), draw(st.sampled_from(NICE_QPM))) for b in sorted(tempo_starts))
    sig = st.tuples(st.integers(1, 7), st.sampled_from([2, 4, 8]))
    first = draw(sig)
    sigs = [TimeSignature(0.0, *first)]
    bar = TimeSignature(0.0, *first).bar_beats
    pickup = draw(st.sampled_from([0.0, 0.0, bar / 2, bar / 4])) if bar >= 1 else 0.0
    if draw(st.booleans()):  # a change of signature falls on a bar line
        second = draw(sig)
        sigs.append(TimeSignature(pickup + bar * draw(st.integers(1, 4)), *second))
    keys = (KeySignature(0.0, draw(st.integers(-7, 7)), draw(st.sampled_from(["major", "minor"]))),)
    labels = st.sampled_from(["C", "Am", "G7/B", "Bb", "F#m7b5", "N"])
    anns = tuple(Annotation("chord", float(s), float(s + d), draw(labels))
                 for s, d in draw(st.lists(st.tuples(st.integers(0, max_beat), st.integers(1, 4)), max_size=4)))
    return Piece(notes=notes, tracks=tracks, tempos=tempos, time_signatures=tuple(sigs), key_signatures=keys,
                 annotations=anns, pickup_beats=pickup, metadata={"title": "random"})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces())
def test_random_pieces_round_trip_through_midi_and_json(p):
    back = read_midi(write_midi(p))
    assert rows(back) == rows(p)
    np.testing.assert_allclose(np.sort(back.notes["onset_sec"]), np.sort(p.notes["onset_sec"]), atol=1e-9)
    assert back.tempos == p.tempos and back.time_signatures == p.time_signatures
    assert back.key_signatures == p.key_signatures and back.annotations == p.annotations
    assert back.pickup_beats == p.pickup_beats
    assert [t.program for t in back.tracks] == [t.program for t in p.tracks[:len(back.tracks)]]
    j = piece_from_dict(json.loads(json.dumps(piece_to_dict(p), allow_nan=False)))
    assert j.notes.tobytes() == p.notes.tobytes() and j.annotations == p.annotations and j.tracks == p.tracks


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # shrinking through music21 takes minutes
@given(pieces(grid=12, max_beat=16, max_notes=24))  # 16ths and triplets
def test_random_pieces_round_trip_through_musicxml(p):
    from symbolic_ai.io.score import from_music21, to_music21
    from music21 import converter
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    data = GeneralObjectExporter(to_music21(p)).parse()
    back = from_music21(converter.parse(data, format="musicxml", forceSource=True))
    keep = ["onset_beat", "duration_beat", "pitch", "velocity", "bar", "beat_in_bar"]
    assert rows(back, keep) == rows(p, keep)
    assert back.time_signatures == p.time_signatures and back.pickup_beats == p.pickup_beats
    assert sorted((a.start_beat, a.value) for a in back.annotations_of("chord")) == \
        sorted((a.start_beat, a.value) for a in p.annotations_of("chord"))


def test_musicxml_overlapping_same_pitch_notes_tied_across_a_bar_line(tmp_path):
    n = notes_from_columns(pitch=[60, 60, 64], onset_beat=[3.0, 3.5, 3.0], duration_beat=[2.0, 2.0, 0.5])
    p = Piece(notes=n)
    back = sai.load(sai.save(p, tmp_path / "ties.musicxml"))
    keep = ["onset_beat", "duration_beat", "pitch", "bar", "beat_in_bar"]
    assert rows(back, keep) == rows(p, keep)
