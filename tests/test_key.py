"""The `key` task on pieces built here: scales and cadences, a modulation, a chorale, a
performance without a tempo map, and the inputs it must refuse."""
from __future__ import annotations

import math

import numpy as np
import pytest

from symbolic_ai.errors import InputError, ParameterError
from symbolic_ai.harmony import Key
from symbolic_ai.piece import Piece, Track, empty_notes, notes_from_columns
from symbolic_ai.registry import run
from symbolic_ai.tasks.key import (DEFAULTS, PROFILES, KeyAnalysis, KeySegment, analyze, cumulative_histograms,
                                   key_name, parse_key, window_histograms)

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]
A_HARMONIC_MINOR = [57, 59, 60, 62, 64, 65, 68, 69]


def _piece(events: list[tuple[float, float, list[int]]], tempos: bool = True) -> Piece:
    """Notes from (onset_beat, duration_beat, pitches); without tempos, beats become seconds / 2."""
    on, du, pi = [], [], []
    for t, d, ps in events:
        for p in ps:
            on.append(t)
            du.append(d)
            pi.append(p)
    if tempos:
        return Piece(notes=notes_from_columns(onset_beat=on, duration_beat=du, pitch=pi))
    return Piece(notes=notes_from_columns(onset_sec=np.array(on) / 2, duration_sec=np.array(du) / 2, pitch=pi),
                 tempos=())


def _scale_and_cadence(scale: list[int], chords: list[list[int]], start: float = 0.0) -> list:
    ev = [(start + i, 1.0, [p]) for i, p in enumerate(scale)]
    ev += [(start + len(scale) + 2 * i, 2.0, c) for i, c in enumerate(chords)]
    return ev


TUNE = {0: (4, 2, 0, 2), 5: (5, 4, 2, 0), 7: (2, -1, 2, 7), 12: (4, 7, 12, 7)}  # scale steps per bar


def _phrase(tonic: int, start: float) -> list:
    """16 beats of I–IV–V–I (block chords under a stepwise tune) in the major key on `tonic`."""
    ev = []
    for bar, root in enumerate((0, 5, 7, 12)):
        r = root % 12
        chord = [tonic - 12 + r, tonic + (r + 4) % 12, tonic + (r + 7) % 12]
        ev.append((start + 4 * bar, 4.0, chord))
        ev += [(start + 4 * bar + i, 1.0, [tonic + 12 + step]) for i, step in enumerate(TUNE[root])]
    return ev


def test_c_major_scale_and_cadence() -> None:
    p = _piece(_scale_and_cadence(C_MAJOR, [[48, 64, 67], [53, 65, 69], [55, 62, 71], [48, 64, 72]]))
    out = analyze(p)
    assert isinstance(out, KeyAnalysis) and (out.tonic, out.minor) == (0, False) and out.key.name == "C major"
    assert 0 < out.confidence <= 1 and out.runner_up != Key(0, False)
    data = out.to_json(p)
    assert data["key"] == "C major" and data["tonic"] == "C" and data["mode"] == "major"
    assert data["runner_up"] == out.runner_up.name and data["confidence"] == out.confidence


def test_a_harmonic_minor() -> None:
    p = _piece(_scale_and_cadence(A_HARMONIC_MINOR, [[45, 60, 64], [50, 62, 65], [52, 59, 68], [45, 60, 69]]))
    assert analyze(p).key == Key(9, minor=True)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_finds_c_major(profile: str) -> None:
    p = _piece(_scale_and_cadence(C_MAJOR, [[48, 64, 67], [53, 65, 69], [55, 62, 71], [48, 64, 72]]))
    assert analyze(p, profile=profile).key.name == "C major"


def test_modulation_c_to_g_gives_two_segments() -> None:
    ev = _phrase(60, 0.0) + _phrase(60, 16.0) + _phrase(67, 32.0) + _phrase(67, 48.0)
    piece = _piece(ev)
    out = analyze(piece)
    keys = [s.key.name for s in out.local]
    assert keys == ["C major", "G major"], out.local
    assert all(isinstance(s, KeySegment) and 0.5 < s.confidence <= 1 for s in out.local)
    boundary = out.local[1].start_beat
    assert 24.0 <= boundary <= 40.0
    assert out.local[0].start_beat == 0.0 and out.local[-1].end_beat == piece.duration_beat
    assert out.key_at(boundary - 0.5) == Key(0) and out.key_at(boundary) == Key(7) and out.key_at(1e9) == Key(7)
    result = run("key", piece)  # through the registry: local keys become annotations
    assert [a.value for a in result.piece.annotations_of("key")] == keys
    assert [s["key"] for s in result.data["local"]] == keys and result.data["local"][1]["start_beat"] == boundary


@pytest.mark.parametrize(("numerator", "pickup"), [(4, 1.0), (3, 0.0), (6, 0.0)])
def test_key_changes_fall_on_barlines(numerator: int, pickup: float) -> None:
    """The local windows hop by 4 quarter notes from 0; after a pickup or in 3/4 and 6/4 a change
    still lands on a barline, as a musician writes it."""
    from dataclasses import replace

    from symbolic_ai.metre import grid
    from symbolic_ai.piece import TimeSignature

    ev = _phrase(60, 0.0) + _phrase(60, 16.0) + _phrase(67, 32.0) + _phrase(67, 48.0)
    piece = replace(_piece(ev), time_signatures=(TimeSignature(0.0, numerator, 4),), pickup_beats=pickup)
    out = analyze(piece)
    assert [s.key.name for s in out.local] == ["C major", "G major"], out.local
    bars = grid(piece).bars
    change = out.local[1].start_beat
    assert np.min(np.abs(bars - change)) < 1e-9 and 24.0 <= change <= 40.0, (change, bars)
    assert out.local[0].start_beat == 0.0 and out.local[0].end_beat == change
    assert out.local[-1].end_beat == piece.duration_beat


def test_performance_without_tempo_map() -> None:
    p = _piece(_scale_and_cadence(C_MAJOR, [[48, 64, 67], [53, 65, 69], [55, 62, 71], [48, 64, 72]]),
               tempos=False)
    assert not p.has_beats
    out = analyze(p)
    assert out.key.name == "C major"
    assert out.local[0].start_beat == 0.0 and out.local[-1].end_beat > 0  # nominal beats (2 per second)
    seg = out.to_json(p)["local"][0]
    assert math.isnan(seg["start_beat"]) and seg["start_sec"] == 0.0 and seg["end_sec"] == out.local[-1].end_beat / 2
    assert run("key", p).piece.annotations_of("key") == []  # no beat axis to annotate


def test_empty_and_drum_only_pieces_are_refused() -> None:
    with pytest.raises(InputError, match="no pitched notes"):
        analyze(Piece(notes=empty_notes(0)))
    drums = Piece(notes=notes_from_columns(onset_beat=[0, 1, 2], duration_beat=[0.5] * 3, pitch=[36, 38, 42]),
                  tracks=(Track(is_drum=True),))
    with pytest.raises(InputError, match="no pitched notes"):
        run("key", drums)


def test_bad_parameters_are_refused() -> None:
    p = _piece(_scale_and_cadence(C_MAJOR, [[48, 64, 67]]))
    with pytest.raises(ParameterError):
        run("key", p, profile="nope")
    with pytest.raises(ParameterError):
        run("key", p, window_beats=0)


@pytest.mark.parametrize("name, expected", [("bach/bwv66.6", "F# minor"), ("bach/bwv269", "G major"),
                                            ("bach/bwv57.8", "Bb major")])
def test_bach_chorales_from_music21_corpus(name: str, expected: str) -> None:
    music21 = pytest.importorskip("music21")
    from symbolic_ai.io.score import from_music21

    piece = from_music21(music21.corpus.parse(name), source=name)
    assert analyze(piece.replace(key_signatures=())).key.name == expected


def test_cumulative_histograms_match_direct_overlap() -> None:
    rng = np.random.default_rng(7)
    on = rng.uniform(0, 50, 300)
    dur = rng.exponential(1.0, 300)
    dur[:10] = 0.0
    pitch = rng.integers(21, 108, 300)
    starts = np.arange(-2.0, 52.0, 1.5)
    end = on + np.maximum(dur, 1e-3)
    overlap = np.clip(np.minimum(end[None, :], starts[:, None] + 6.0) - np.maximum(on[None, :], starts[:, None]),
                      0.0, None)
    direct = overlap @ np.eye(12)[pitch % 12]
    assert np.allclose(window_histograms(on, dur, pitch, starts, 6.0), direct)
    w = rng.uniform(0.5, 2.0, 300)
    c = cumulative_histograms(on, end, pitch, np.array([-1.0, 100.0]), w, attack=0.5)
    assert np.allclose(c[1] - c[0], (w[:, None] * ((end - on)[:, None] + 0.5) * np.eye(12)[pitch % 12]).sum(0))


def test_key_names_round_trip() -> None:
    assert all(parse_key(key_name(i)) == i for i in range(24))
    assert parse_key("f#") == parse_key("F# minor") == 18 and parse_key("Gb:maj") == 6
    with pytest.raises(ValueError):
        parse_key("H major")
    assert Key.parse("Eb:min") == Key(3, True) and Key.parse("A-") == Key(8) and Key.from_index(18).name == "F# minor"
    with pytest.raises(InputError, match="pitch class 0..11, got 12"):
        Key(12)
    assert set(DEFAULTS) >= {"profile", "window_beats", "hop_beats", "switch_cost"}
