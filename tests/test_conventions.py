"""The modules that own a convention each: the beat axis (metre), the numerics (numeric) and the MIDI
channels (channels), and the places that must follow them (MIDI files, OSC note records)."""
from __future__ import annotations

import io
import itertools
import math

import mido
import numpy as np
import pytest

from symbolic_ai.bridges.wire import note_rows
from symbolic_ai.channels import DRUM_CHANNEL, assign_channels
from symbolic_ai.io.midi import write_midi
from symbolic_ai.metre import NOMINAL_QPM, beat_axis, nominal_beats, nominal_sec, span
from symbolic_ai.numeric import (hmm_moves, log_softmax, logsumexp, runs, softmax, switch_moves,
                                 viterbi)
from symbolic_ai.piece import Piece, Tempo, Track, notes_from_columns

NAN = [math.nan] * 3


def _score() -> Piece:
    return Piece(notes=notes_from_columns(onset_beat=[0.0, 1.0, 2.0], duration_beat=[1.0, 1.0, 2.0],
                                          pitch=[60, 64, 67]), tempos=(Tempo(0.0, 90.0),))


def _performance(tracks: tuple[Track, ...] = (Track(0, "piano"),)) -> Piece:
    return Piece(notes=notes_from_columns(onset_sec=[0.0, 0.5, 1.25], duration_sec=[0.5, 0.75, 1.0], pitch=[60, 64, 67],
                                          onset_beat=NAN, duration_beat=NAN, track=[0, 0, len(tracks) - 1]),
                 tracks=tracks, tempos=(), time_signatures=())


# -- metre ------------------------------------------------------------------------------------------
def test_beat_axis_reads_beats_or_nominal_beats():
    on, dur, unit = beat_axis(_score())
    assert unit == "beat" and on.tolist() == [0.0, 1.0, 2.0] and dur.tolist() == [1.0, 1.0, 2.0]
    on, dur, unit = beat_axis(_performance())
    assert unit == "sec" and on.tolist() == [0.0, 1.0, 2.5] and dur.tolist() == [1.0, 1.5, 2.0]
    assert NOMINAL_QPM == 120.0 and nominal_beats(1.5) == 3.0 and nominal_sec(3.0) == 1.5


def test_span_gives_seconds_and_only_real_beats():
    assert span(_score(), 1.0, 3.0) == (1.0, 3.0, pytest.approx(2 / 3), pytest.approx(2.0))
    s_beat, e_beat, s_sec, e_sec = span(_performance(), 1.0, 5.0)
    assert math.isnan(s_beat) and math.isnan(e_beat) and (s_sec, e_sec) == (0.5, 2.5)


def test_midi_files_and_osc_records_use_the_nominal_grid():
    perf = _performance()
    on, dur, _ = beat_axis(perf)
    assert [(r[2], r[3]) for r in note_rows(perf)] == list(zip(on.tolist(), dur.tolist()))
    mid = mido.MidiFile(file=io.BytesIO(write_midi(perf)))
    tempo = next(m.tempo for m in mid.tracks[0] if m.type == "set_tempo")
    assert mido.tempo2bpm(tempo) == NOMINAL_QPM
    ticks = [t for t, m in _timed(mid) if m.type == "note_on" and m.velocity > 0]
    assert [t / mid.ticks_per_beat for t in ticks] == on.tolist()


def _timed(mid: mido.MidiFile) -> list[tuple[int, mido.Message]]:
    out = []
    for tr in mid.tracks:
        t = 0
        for m in tr:
            t += m.time
            out.append((t, m))
    return out


# -- channels ---------------------------------------------------------------------------------------
def test_channels_keep_drums_on_ten_and_cycle_the_rest():
    tracks = [Track(0, f"t{i}", is_drum=(i == 2)) for i in range(18)]
    ch = assign_channels(tracks)
    assert ch[2] == DRUM_CHANNEL == 9 and DRUM_CHANNEL not in ch[:2] + ch[3:]
    assert ch[:4] == [0, 1, 9, 3] and ch[15] == ch[0] and len(set(ch[:2] + ch[3:15])) == 14


def test_midi_files_and_osc_records_share_the_channels():
    tracks = (Track(0, "piano"), Track(0, "kit", is_drum=True))
    perf = _performance(tracks)
    want = assign_channels(tracks)
    assert sorted({r[4] for r in note_rows(perf)}) == sorted(c + 1 for c in want)  # 1-based in OSC records
    mid = mido.MidiFile(file=io.BytesIO(write_midi(perf)))
    assert sorted({m.channel for _, m in _timed(mid) if m.type == "note_on"}) == sorted(want)


# -- numeric ----------------------------------------------------------------------------------------
def test_softmax_family_agrees_and_does_not_overflow():
    x = np.array([[1000.0, 999.0, 990.0], [-3.0, 0.0, 2.0]])
    p = softmax(x)
    assert np.allclose(p.sum(axis=1), 1.0) and np.all(np.isfinite(p))
    assert np.allclose(np.exp(log_softmax(x)), p)
    assert logsumexp(x, axis=1)[1] == pytest.approx(np.log(np.exp(x[1]).sum()))
    assert logsumexp(x, axis=1)[0] == pytest.approx(1000.0 + np.log(1 + np.exp(-1) + np.exp(-10)))
    assert logsumexp(x, axis=0, keepdims=True).shape == (1, 3)
    assert np.allclose(log_softmax(x, axis=1), x - logsumexp(x, axis=1, keepdims=True))


def test_runs():
    assert runs(np.array([3, 3, 1, 1, 1, 3])) == [(0, 2, 3), (2, 5, 1), (5, 6, 3)]
    assert runs(np.array([], dtype=int)) == []


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_with_a_switch_cost_is_the_best_path(seed):
    rng = np.random.default_rng(seed)
    T, K, cost = 5, 3, 0.7
    emit = rng.normal(size=(T, K))

    def score(path):
        return emit[np.arange(T), path].sum() - cost * np.count_nonzero(np.diff(path))

    best = max(itertools.product(range(K), repeat=T), key=lambda p: score(np.array(p)))
    path, total = viterbi(emit, switch_moves(cost))
    assert tuple(path) == best and total == pytest.approx(score(np.array(best)))
    # the same cost written as an HMM (no self-transitions; changing costs `cost`) decodes the same
    trans = np.full((K, K), -cost)
    np.fill_diagonal(trans, -1e9)
    hmm_path, hmm_total = viterbi(emit, hmm_moves(trans, np.zeros(T), np.zeros(T)))
    assert tuple(hmm_path) == best and hmm_total == pytest.approx(total)


def test_viterbi_ties_keep_the_state_then_take_the_lowest():
    emit = np.array([[1.0, 1.0, 0.0], [0.0, 0.5, 0.0]])  # into state 1: keeping it ties with moving from 0
    assert viterbi(emit, switch_moves(0.0))[0].tolist() == [1, 1]
    assert viterbi(np.zeros((3, 3)), switch_moves(0.0))[0].tolist() == [0, 0, 0]
