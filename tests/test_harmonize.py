"""The `harmonize` task: melody selection, HMM decoding, voicing, the shipped model, outputs, bad input."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import symbolic_ai as sai
from symbolic_ai import harmony
from symbolic_ai.errors import InputError
from symbolic_ai.harmony import parse_symbol
from symbolic_ai.piece import Piece, Track, notes_from_columns
from symbolic_ai.registry import run
from symbolic_ai.tasks import harmonize as H
from symbolic_ai.voicing import accompaniment_notes, voice_progression

from conftest import EXAMPLES

# "Twinkle twinkle" in C: C C G G A A G- F F E E D D C-
TWINKLE = [60, 60, 67, 67, 69, 69, 67, 67, 65, 65, 64, 64, 62, 62, 60, 60]


def melody(pitches=TWINKLE, tracks=1, chords=False) -> Piece:
    on = list(range(len(pitches)))
    dur = [1.0] * len(pitches)
    pitch, track = list(pitches), [0] * len(pitches)
    if tracks > 1:
        on, dur, pitch, track = on + on, dur + dur, pitch + [p - 12 for p in pitches], track + [1] * len(pitches)
    if chords:
        on, dur, pitch, track = on + on, dur + dur, pitch + [p - 5 for p in pitches], track + [0] * len(pitches)
    notes = notes_from_columns(onset_beat=on, duration_beat=dur, pitch=pitch, track=track, velocity=[80] * len(on))
    return Piece(notes=notes, tracks=tuple(Track(0, f"t{i}") for i in range(tracks)), metadata={"source": "tune"})


def test_bad_input_messages():
    with pytest.raises(InputError, match="no pitched notes"):
        run("harmonize", Piece())
    with pytest.raises(InputError, match="2 tracks have notes.*--track"):
        run("harmonize", melody(tracks=2))
    poly = run("harmonize", melody(chords=True), accompaniment="none")  # one part with a second voice
    assert "top line" in poly.data["warnings"][0] and len(poly.data["chords"]) >= 1
    drums = Piece(notes=notes_from_columns(onset_beat=[0, 1], duration_beat=[1, 1], pitch=[36, 38]),
                  tracks=(Track(0, "kit", is_drum=True),))
    with pytest.raises(InputError, match="no pitched notes"):
        run("harmonize", drums)
    with pytest.raises(InputError, match="track 5 has no pitched notes"):
        run("harmonize", melody(tracks=2), track=5)
    notes = melody().notes.copy()
    notes["onset_beat"] = notes["duration_beat"] = np.nan
    perf = Piece(notes=notes, tempos=(), time_signatures=())
    with pytest.raises(InputError, match="beat grid"):
        H.select_melody(perf)


def test_chosen_track_and_top_line():
    mel, t, _ = H.select_melody(melody(tracks=2), track=1)
    assert t == 1 and list(mel.notes["pitch"]) == [p - 12 for p in TWINKLE]
    mel, _, warned = H.select_melody(melody(chords=True), track=0)
    assert list(mel.notes["pitch"]) == TWINKLE and warned


def test_hmm_viterbi_matches_brute_force():
    rng = np.random.default_rng(1)
    S, K = 5, 4
    emit, trans = rng.normal(size=(S, K)), rng.normal(size=(K, K))
    np.fill_diagonal(trans, H.NEG)
    stay, change = rng.normal(size=S), rng.normal(size=S)
    best = max(itertools.product(range(K), repeat=S),
               key=lambda p: H.path_score(np.array(p), emit, trans, stay, change))
    path, score = H.hmm_decode(emit, trans, stay, change)
    assert tuple(path) == best and score == pytest.approx(H.path_score(path, emit, trans, stay, change))
    sampled, _ = H.hmm_decode(emit, trans, stay, change, temperature=0.01, rng=np.random.default_rng(0))
    assert tuple(sampled) == best  # a cold sampler finds the optimum


def test_rules_baseline_on_twinkle():
    res = run("harmonize", melody(), method="rules", rhythm="half")
    symbols = [r["symbol"] for r in res.data["chords"]]
    assert symbols[0] == "C" and symbols[-1] == "C"
    assert {"F", "G"} <= set(symbols) or {"F", "G7"} <= set(symbols)


def test_model_harmonizes_twinkle_with_accompaniment():
    res = run("harmonize", melody(), rhythm="half", accompaniment="block", register_pitch=55)
    rows = res.data["chords"]
    assert rows[0]["start_beat"] == 0 and rows[-1]["end_beat"] == 16
    assert all(r["start_beat"] % 2 == 0 for r in rows)  # half-bar rhythm in 4/4
    assert rows[0]["symbol"] == rows[-1]["symbol"] == "C" and rows[-1]["roman"] == "I"
    tones = [harmony.parse_symbol(r["symbol"]).pitch_classes for r in rows]
    # downbeat melody notes are chord tones of the chord under them, in most bars
    hits = sum(TWINKLE[int(b)] % 12 in next(t for r, t in zip(rows, tones) if r["start_beat"] <= b < r["end_beat"])
               for b in range(0, 16, 4))
    assert hits >= 3
    acc = res.piece.notes[res.piece.notes["track"] == 1]
    assert res.piece.tracks[-1].name == "accompaniment" and len(acc) >= 4 * len(rows)
    bar_res = run("harmonize", melody(), rhythm="bar", accompaniment="none")
    assert all(r["start_beat"] % 4 == 0 for r in bar_res.data["chords"])
    assert acc["pitch"].max() < 60 + 12 and acc["pitch"].min() >= 24
    json.dumps(res.to_dict())


def test_temperature_seed_and_n_best():
    a = run("harmonize", melody(), rhythm="beat", temperature=1.5, seed=3, n_best=3, accompaniment="none")
    b = run("harmonize", melody(), rhythm="beat", temperature=1.5, seed=3, n_best=3, accompaniment="none")
    assert a.data["alternatives"] == b.data["alternatives"]
    alts = [tuple(x["symbols"]) for x in a.data["alternatives"]]
    assert len(alts) == 3 and len(set(alts)) == 3
    assert a.piece.tracks == melody().tracks  # no accompaniment asked for


def test_learned_rhythm_changes_on_beats():
    res = run("harmonize", melody(), rhythm="learned", accompaniment="none")
    assert all(float(r["start_beat"]).is_integer() for r in res.data["chords"])


def test_voice_leading_is_smooth_and_in_register():
    chords = [parse_symbol(s) for s in ("C", "Am", "F", "G7", "C")]
    voiced = voice_progression(chords, register_pitch=60)
    for (bass, upper), chord in zip(voiced, chords):
        assert bass % 12 == chord.bass and bass < min(upper)
        assert {p % 12 for p in upper} <= set(chord.pitch_classes)
        assert 48 <= min(upper) and max(upper) <= 72
    moves = [sum(abs(a - b) for a, b in zip(u1, u2)) for (_, u1), (_, u2) in zip(voiced, voiced[1:])]
    assert max(moves) <= 5
    with pytest.raises(InputError, match="register"):
        voice_progression(chords, register_pitch=10)


@pytest.mark.parametrize("pattern", ["block", "arpeggio", "comping"])
def test_patterns_stay_inside_their_chords(pattern):
    segs = [(0.0, 4.0, parse_symbol("C")), (4.0, 8.0, parse_symbol("G7/B"))]
    n = accompaniment_notes(segs, pattern=pattern, register_pitch=60)
    for start, end, chord in segs:
        inside = n[(n["onset_beat"] >= start) & (n["onset_beat"] < end)]
        assert len(inside) >= 3
        assert {int(p) % 12 for p in inside["pitch"]} <= set(chord.pitch_classes)
        assert (inside["onset_beat"] + inside["duration_beat"] <= end + 1e-9).all()
    with pytest.raises(InputError, match="pattern"):
        accompaniment_notes(segs, pattern="stride")


def test_example_melody_outputs(tmp_path):
    piece = sai.load(EXAMPLES / "folk_melody.mid")
    res = run("harmonize", piece, style="folk", accompaniment="arpeggio")
    sai.save(res.piece, tmp_path / "h.mid")
    back = sai.load(tmp_path / "h.mid")
    assert len(back.tracks) == 2 and len(back.annotations_of("chord")) == len(res.data["chords"])
    sai.save(res.piece, tmp_path / "h.musicxml")
    assert (tmp_path / "h.musicxml").read_text().count("<harmony") == len(res.data["chords"])
