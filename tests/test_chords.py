"""The `chords` task: features, template baseline, the shipped model, outputs and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

import symbolic_ai as sai
from symbolic_ai import harmony
from symbolic_ai.errors import InputError
from symbolic_ai.harmony import Chord, Key
from symbolic_ai.piece import Piece, Track, notes_from_columns
from symbolic_ai.registry import run
from symbolic_ai.metre import grid
from symbolic_ai.piece import Tempo, TimeSignature
from symbolic_ai.tasks.chords import (
    ChordSegment,
    decode,
    dim7_root,
    frame_features,
    label,
    lowest_bass,
    recognize,
    template_scores,
    third_as_heard,
)

# C | F/A | G7 | C   (two bars of each, block chords re-struck every beat, with a bass)
PROGRESSION = [("C", [48, 60, 64, 67]), ("F/A", [45, 60, 65, 69]), ("G7", [43, 59, 62, 65, 67]),
               ("C", [48, 60, 64, 67])]


def progression_piece(beats_per_chord: int = 8) -> Piece:
    on, dur, pitch = [], [], []
    for i, (_, ps) in enumerate(PROGRESSION):
        for b in range(beats_per_chord):
            for p in ps:
                on.append(i * beats_per_chord + b)
                dur.append(1.0)
                pitch.append(p)
    notes = notes_from_columns(onset_beat=on, duration_beat=dur, pitch=pitch, velocity=[70] * len(on))
    return Piece(notes=notes, metadata={"source": "progression"})


def test_frame_features():
    f = frame_features(progression_piece())
    assert f.shape == (32, 37)
    assert np.allclose(f[0, :12][[0, 4, 7]], [1.0, 0.5, 0.5]) and f[0, :12].sum() == pytest.approx(2.0)  # C doubled
    assert f[8, 12 + 9] == 1.0            # A in the bass under F/A
    assert f[0, 24:36][[0, 4, 7]].min() > 0 and f[0, 36] == 1.0


def test_template_baseline_finds_the_progression():
    segs, keys = recognize(progression_piece(), method="template")
    assert [s.symbol for s in segs] == ["C", "F/A", "G7", "C"]
    assert [s.roman for s in segs] == ["I", "IV6", "V7", "I"]
    assert keys.key == Key(0) and all(s.key == Key(0) for s in segs)
    assert segs[1] == ChordSegment(8.0, 16.0, Chord(5, "maj", bass=9), Key(0), "IV6", "4")
    row = segs[1].to_json(progression_piece())
    assert 0 < row.pop("confidence") <= 1
    assert row == {"start_beat": 8.0, "end_beat": 16.0, "start_sec": 4.0, "end_sec": 8.0, "key": "C major",
                   "degree": "4", "symbol": "F/A", "root": "F", "quality": "maj", "bass": "A", "inversion": 1,
                   "roman": "IV6"}


def test_decode_switch_cost_merges_short_blips():
    scores = np.full((6, harmony.N_CLASSES), -5.0)
    scores[:, 0] = 0.0
    scores[3, 0], scores[3, 5] = -1.0, 0.0  # one frame slightly prefers another chord
    assert len(decode(scores, np.zeros((6, 12)), switch_cost=0.0)) == 3
    assert len(decode(scores, np.zeros((6, 12)), switch_cost=2.0)) == 1


def test_silence_is_no_chord():
    p = progression_piece()
    notes = p.notes.copy()
    notes["onset_beat"] = np.where(notes["onset_beat"] >= 16, notes["onset_beat"] + 4, notes["onset_beat"])
    feats = frame_features(p.replace(notes=notes))
    assert feats[17, 36] == 0 and np.argmax(template_scores(feats)[17]) == harmony.N_CLASS


def test_model_task_json_and_annotations():
    res = run("chords", progression_piece())
    rows = res.data["chords"]
    for r in rows:
        assert {"start_beat", "end_beat", "start_sec", "end_sec", "symbol", "root", "quality", "bass",
                "roman"} <= set(r)
    symbols = [r["symbol"] for r in rows]
    assert symbols[0] == "C" and symbols[-1] == "C" and "G7" in symbols
    assert [a.value for a in res.piece.annotations_of("chord")] == symbols
    assert rows[0]["start_sec"] == 0.0 and rows[-1]["end_sec"] == pytest.approx(16.0)
    json.dumps(res.to_dict())


def test_outputs_midi_markers_and_musicxml_harmony(tmp_path):
    res = run("chords", progression_piece(), method="template")
    sai.save(res.piece, tmp_path / "out.mid")
    back = sai.load(tmp_path / "out.mid")
    assert [a.value for a in back.annotations_of("chord")] == ["C", "F/A", "G7", "C"]
    sai.save(res.piece, tmp_path / "out.musicxml")
    xml = (tmp_path / "out.musicxml").read_text()
    assert xml.count("<harmony") == 4 and "<bass-step>A</bass-step>" in xml


def test_bad_input():
    with pytest.raises(InputError, match="no pitched notes"):
        run("chords", Piece())
    drums = Piece(notes=notes_from_columns(onset_beat=[0, 1], duration_beat=[1, 1], pitch=[36, 38]),
                  tracks=(Track(0, "kit", is_drum=True),))
    with pytest.raises(InputError, match="no pitched notes"):
        run("chords", drums, method="template")


def test_performance_without_beats():
    p = progression_piece()
    notes = p.notes.copy()
    notes["onset_beat"] = notes["duration_beat"] = np.nan
    perf = Piece(notes=notes, tempos=(), time_signatures=())
    segs, _ = recognize(perf, method="template")
    rows = run("chords", perf, method="template").data["chords"]
    assert segs[1].start_beat == 8.0  # nominal beats: 2 per second
    assert rows[0]["symbol"] == "C" and np.isnan(rows[0]["start_beat"]) and rows[1]["start_sec"] == 4.0


def test_performance_chords_read_their_local_key():
    """A performance without beats modulating C major → Eb major: each chord's Roman numeral is in
    the local key at its nominal beat (the key segments and chords share the beat axis)."""
    on, dur, pitch = [], [], []
    for i, (root, chord) in enumerate([(0, (0, 4, 7)), (5, (0, 4, 7)), (7, (0, 4, 7, 10)), (0, (0, 4, 7))] * 4):
        key = 0 if i < 8 else 3
        for b in range(4):
            on += [(i * 4 + b) / 2] * len(chord)
            dur += [0.5] * len(chord)
            pitch += [48 + key + root + c for c in chord]
    perf = Piece(notes=notes_from_columns(onset_sec=on, duration_sec=dur, pitch=pitch, onset_beat=[np.nan] * len(on),
                                          duration_beat=[np.nan] * len(on)), tempos=(), time_signatures=())
    segs, keys = recognize(perf, method="template")
    assert [s.key.name for s in keys.local] == ["C major", "Eb major"]
    assert {s.key for s in segs if s.end_beat <= keys.local[0].end_beat} == {Key(0)}
    assert {s.key for s in segs if s.start_beat >= keys.local[1].start_beat} == {Key(3)}
    assert [s.roman for s in segs[-4:]] == ["I", "IV", "V7", "I"]


def test_example_files_run():
    from conftest import EXAMPLES

    res = run("chords", sai.load(EXAMPLES / "chorale_bwv66_6.musicxml"))
    assert res.data["key"] in ("F# minor", "A major")
    assert len(res.data["chords"]) > 10


@pytest.mark.data
def test_bps_fh_template_is_sane(data_root):
    from symbolic_ai.data import iter_examples
    from training.common.chord_data import chord_spans, frame_targets

    ex = next(e for e in iter_examples("bps_fh", split="valid"))
    piece = ex.load()
    feats = frame_features(piece)
    ref, _ = frame_targets(chord_spans(piece, "bps_fh"), len(feats))
    path = np.empty(len(feats), dtype=int)
    for s, e, c, _ in decode(template_scores(feats), feats[:, 12:24].astype(float), 0.35):
        path[s:e] = c
    ok = ref != harmony.N_CLASS
    assert (path[ok] // 11 == ref[ok] // 11).mean() > 0.5


def test_alberti_bass_gives_the_inversion():
    # C: V43 as an Alberti figure D-G-F-G under a B melody, then IV64 as C-A-F-A
    on, dur, pitch = [], [], []
    for bar, (figure, top) in enumerate([((50, 55, 53, 55), 71), ((48, 57, 53, 57), 72)]):
        for k, p in enumerate(figure * 2):
            on.append(bar * 4 + 0.5 * k), dur.append(0.5), pitch.append(p)
        on.append(bar * 4), dur.append(4.0), pitch.append(top)
    piece = Piece(notes=notes_from_columns(onset_beat=on, duration_beat=dur, pitch=pitch))
    segs, _ = recognize(piece, method="template")
    v43, iv64 = segs[0], segs[-1]
    assert (v43.chord.root, v43.chord.bass) == (7, 2) and iv64.chord.bass == 0
    n = piece.pitched()
    off = n["onset_beat"] + n["duration_beat"]
    assert lowest_bass(n["onset_beat"], off, n["pitch"].astype(int), 0, 4, Chord(7, "7")) == 2
    assert lowest_bass(n["onset_beat"], off, n["pitch"].astype(int), 0, 4, Chord(1, "min")) is None


def test_heard_thirds_and_diminished_roots():
    chroma = np.zeros(12)
    chroma[[5, 8, 0]] = 1.0                       # F Ab C
    assert third_as_heard(Chord(5, "maj").index, chroma) == Chord(5, "min").index
    chroma[9] = 1.0                               # with A as well: keep what was read
    assert third_as_heard(Chord(5, "maj").index, chroma) == Chord(5, "maj").index
    assert third_as_heard(Chord(5, "7").index, chroma) == Chord(5, "7").index
    # F#-A-C-Eb over an F# bass in G minor is F#dim7 (vii°7), whatever root the decoder named
    assert dim7_root(Chord(3, "dim7", 6), Key(7, True)) == Chord(6, "dim7", 6)
    seg = label([(0, 1, Chord(0, "dim7", 6).index, 6)], None)[0]
    assert seg.chord is not None and seg.confidence is None


def test_chords_meet_the_barlines_after_a_pickup():
    on, dur, pitch = [0.0], [0.5], [55]           # an eighth-note pickup in 6/8, then C | G7 | C
    for bar, ps in enumerate([(48, 60, 64, 67), (43, 59, 62, 65), (48, 60, 64, 67)]):
        for p in ps:
            on.append(0.5 + 3 * bar), dur.append(3.0), pitch.append(p)
    piece = Piece(notes=notes_from_columns(onset_beat=on, duration_beat=dur, pitch=pitch), tempos=(Tempo(0, 90),),
                  time_signatures=(TimeSignature(0.0, 6, 8),), pickup_beats=0.5)
    rows = run("chords", piece, method="template").data["chords"]
    assert [r["start_beat"] for r in rows if r["symbol"] != "N"][-3:] == [0.0, 3.5, 6.5]  # the pickup joins the first C
    assert all(grid(piece).on(r["start_beat"], "bar")[0] for r in rows)
    assert [r["symbol"] for r in rows][-3:] == ["C", "G7", "C"] and all(0 < r["confidence"] <= 1 for r in rows)
