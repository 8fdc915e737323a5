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
from symbolic_ai.metre import grid
from symbolic_ai.piece import Piece, Tempo, TimeSignature, Track, notes_from_columns
from symbolic_ai.registry import run
from symbolic_ai.tasks import harmonize as H
from symbolic_ai.tasks.harmonize_style import hold_viterbi
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


def test_hold_viterbi_matches_brute_force():
    rng = np.random.default_rng(2)
    S, K, hold = 7, 3, 1.5
    emit, trans = rng.normal(size=(S, K)), rng.normal(size=(K, K))
    np.fill_diagonal(trans, H.NEG)
    stay, change = rng.normal(size=S), rng.normal(size=S)
    barline = np.array([True, False, True, True, False, True, True])

    def score(p):
        total, held = H.path_score(np.array(p), emit, trans, stay, change), 0
        for s in range(1, S):
            held = 0 if p[s] != p[s - 1] else held + barline[s]
            total -= hold * (p[s] == p[s - 1] and barline[s] and held >= 3)
        return total

    best = max(itertools.product(range(K), repeat=S), key=score)
    path, sc = hold_viterbi(emit, trans, stay, change, barline, hold)
    assert tuple(path) == best and sc == pytest.approx(score(best))
    plain, plain_score = H.hmm_decode(emit, trans, stay, change)
    free, free_score = hold_viterbi(emit, trans, stay, change, barline, 0.0)
    assert tuple(free) == tuple(plain) and free_score == pytest.approx(plain_score)


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


def tune(num: int, den: int, pickup: float, change: bool = False, pitches=None) -> Piece:
    """I–IV–V–I arpeggios, one chord a bar, after a pickup (optionally 3/4 from the fifth bar)."""
    bar = num * 4.0 / den
    step = 1.5 if den == 8 else 4.0 / den
    on, pitch, dur = ([0.0], [67], [pickup]) if pickup else ([], [], [])
    t, sigs = pickup, [TimeSignature(0.0, num, den)]
    for k, tones in enumerate([(60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67)] * 2):
        if change and k == 4:
            sigs.append(TimeSignature(t, 3, 4))
            bar, step = 3.0, 1.0
        for j in range(int(round(bar / step))):
            on.append(t + j * step), pitch.append(tones[j % 3]), dur.append(step)
        t += bar
    if pitches is not None:
        pitch = [pitches] * len(on)
    notes = notes_from_columns(onset_beat=on, duration_beat=dur, pitch=pitch, velocity=[80] * len(on))
    return Piece(notes=notes, tempos=(Tempo(0.0, 100.0),), time_signatures=tuple(sigs), pickup_beats=pickup)


@pytest.mark.parametrize(("num", "den", "pickup"), [(2, 4, 0.5), (3, 4, 1.0), (4, 4, 1.5), (6, 8, 0.5), (6, 8, 1.5),
                                                    (4, 4, 1.0)])
def test_chords_and_accompaniment_stay_on_the_metrical_grid(num, den, pickup):
    piece = tune(num, den, pickup)
    g = grid(piece)
    res = run("harmonize", piece)
    rows = res.data["chords"]
    assert all(g.on(r["start_beat"], "half")[0] for r in rows), [r["start_beat"] for r in rows]
    acc = res.piece.notes[res.piece.notes["track"] == 1]
    assert len(acc) and all(g.on(acc["onset_beat"], "beat"))
    for o, d in zip(acc["onset_beat"], acc["duration_beat"]):  # nothing tied over a barline
        assert not ((g.bars > o + 1e-6) & (g.bars < o + d - 1e-6)).any()
    # the harmony follows the arpeggios: the bar of the IV chord is an F chord
    first_full = pickup + num * 4.0 / den
    f_bar = next(r for r in rows if r["start_beat"] <= first_full + 0.01 < r["end_beat"])
    assert parse_symbol(f_bar["symbol"]).root == 5, rows


def test_a_time_signature_change_keeps_the_grid():
    piece = tune(4, 4, 1.0, change=True)
    g = grid(piece)
    res = run("harmonize", piece, accompaniment="comping")
    assert all(g.on(r["start_beat"], "half")[0] for r in res.data["chords"])
    assert all(g.on(r["start_beat"], "bar")[0] for r in res.data["chords"] if r["start_beat"] > 17)  # 3/4 has no half bar


def test_auto_style_cadence_and_distinct_timed_alternatives():
    res = run("harmonize", tune(4, 4, 1.0), n_best=4, accompaniment="none")
    assert res.data["style"] == "folk" and res.data["rhythm"] == "auto"
    rows = res.data["chords"]
    assert rows[-1]["roman"] == "I" and rows[-2]["roman"].startswith(("V", "IV"))
    alts = res.data["alternatives"]
    assert len({tuple(a["symbols"]) for a in alts}) == len(alts) == 4
    for a in alts:
        assert [c["symbol"] for c in a["chords"]] == a["symbols"] and a["chords"][0]["start_beat"] == 0
        assert all(x["end_beat"] == y["start_beat"] for x, y in zip(a["chords"], a["chords"][1:]))
    four = melody(tracks=1)
    parts = four.replace(notes=np.concatenate([four.notes] + [
        notes_from_columns(onset_beat=four.notes["onset_beat"], duration_beat=four.notes["duration_beat"],
                           pitch=four.notes["pitch"] - 5 * k, track=[k] * len(four.notes), id=np.arange(16) + 16 * k)
        for k in (1, 2, 3)]), tracks=tuple(Track(0, f"v{k}") for k in range(4)))
    chorale = run("harmonize", parts, track=0, accompaniment="none")
    assert chorale.data["style"] == "chorale"
    assert len(chorale.data["chords"]) >= 6  # chorales move by the beat


def test_awkward_melodies_get_an_answer_or_a_clear_error():
    no_sig = melody().replace(time_signatures=())
    res = run("harmonize", no_sig, accompaniment="none")
    assert "4/4 assumed" in res.data["warnings"][0]
    one_note = run("harmonize", tune(3, 4, 1.0, pitches=62), accompaniment="none")
    assert all(2 in parse_symbol(r["symbol"]).pitch_classes for r in one_note.data["chords"])
    with pytest.raises(InputError, match="longer than the first bar"):
        run("harmonize", melody().replace(pickup_beats=6.0))
    sigs = tuple(TimeSignature(float(b), 3 if k % 2 == 0 else 2, 4) for k, b in enumerate([0, 3, 5, 8, 10, 13, 15]))
    every_bar = run("harmonize", melody().replace(time_signatures=sigs))
    g = grid(melody().replace(time_signatures=sigs))
    assert all(g.on(r["start_beat"], "half")[0] for r in every_bar.data["chords"])
    with pytest.raises(InputError, match="no pitched notes"):
        run("harmonize", Piece(notes=notes_from_columns(onset_beat=[], duration_beat=[], pitch=[])))
    far = notes_from_columns(onset_beat=[0.0, 30000.0], duration_beat=[1.0, 1.0], pitch=[60, 62])
    with pytest.raises(InputError, match="more than 20000 beats; harmonize it in sections"):
        run("harmonize", Piece(notes=far))


def test_a_midi_file_without_a_time_signature_says_4_4_was_assumed(tmp_path):
    import mido

    mf = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mf.tracks.append(tr)
    for p in TWINKLE:
        tr += [mido.Message("note_on", note=p, velocity=80, time=0), mido.Message("note_off", note=p, time=480)]
    mf.save(tmp_path / "no_sig.mid")
    res = run("harmonize", sai.load(tmp_path / "no_sig.mid"), accompaniment="none")
    assert any("4/4 assumed" in w for w in res.data["warnings"])
    assert not run("harmonize", melody(), accompaniment="none").data["warnings"]


def test_cadence_off_leaves_an_unfinished_melody_on_its_dominant():
    """A melody that stops on the dominant (what the live MIDI bridge sends mid-tune): with the final
    cadence forced (the default) the last bar is bent to the tonic; `cadence=False` hears G-B as G."""
    mel = [60, 64, 67, 64, 65, 69, 72, 69, 67, 71]
    piece = Piece(notes=notes_from_columns(onset_beat=np.arange(len(mel), dtype=float), duration_beat=np.ones(len(mel)),
                                           pitch=mel, velocity=[80] * len(mel), id=np.arange(len(mel))),
                  tracks=(Track(0, "live"),), tempos=(Tempo(0.0, 120.0),), time_signatures=(TimeSignature(0.0, 4, 4),))
    symbols = {c: [x["symbol"] for x in sai.run("harmonize", piece, rhythm="bar", cadence=c,
                                                 accompaniment="none").data["chords"]] for c in (True, False)}
    assert symbols[False] == ["C", "F", "G"]
    assert symbols[True][-1] == "C"
