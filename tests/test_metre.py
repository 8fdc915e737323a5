"""`metre.grid`: bars and beats counted from the barlines, after pickups and through signature changes."""
from __future__ import annotations

import numpy as np
import pytest

from symbolic_ai.errors import InputError
from symbolic_ai.metre import bar_lengths, beat_length, grid, shifted
from symbolic_ai.piece import Piece, Tempo, TimeSignature, notes_from_columns


def piece(num: int, den: int, pickup: float, bars: int = 4, sigs: tuple[TimeSignature, ...] | None = None) -> Piece:
    bar = num * 4.0 / den
    end = pickup + bars * bar
    on = np.arange(0.0, end, 0.5)
    notes = notes_from_columns(onset_beat=on, duration_beat=[0.5] * len(on), pitch=[60 + int(k) % 5 for k in range(len(on))])
    return Piece(notes=notes, tempos=(Tempo(0.0, 120.0),), time_signatures=sigs or (TimeSignature(0.0, num, den),),
                 pickup_beats=pickup)


@pytest.mark.parametrize(("num", "den"), [(2, 4), (3, 4), (4, 4), (6, 8)])
@pytest.mark.parametrize("pickup", [0.0, 0.5, 1.0, 1.5])
def test_bars_and_beats_count_from_the_barlines(num, den, pickup):
    bar = num * 4.0 / den
    if pickup >= bar:
        pytest.skip("a pickup as long as the bar is a whole bar")
    g = grid(piece(num, den, pickup))
    expected = ([0.0] if pickup else []) + [pickup + k * bar for k in range(4)] + [pickup + 4 * bar]
    assert list(g.bars) == pytest.approx(expected)
    beat = 1.5 if den == 8 else 1.0
    assert set(g.beat) == {beat}
    beats = g.beats()
    assert all(g.on(beats, "beat")) and pickup + bar in beats
    # the beat after a barline is one beat later, whatever the pickup
    assert g.on(pickup + beat, "beat")[0] and not g.on(pickup + beat / 3, "beat")[0]
    halves = g.points("half")
    if round(bar / beat) % 2 == 0:
        assert pickup + bar / 2 in halves
    else:
        assert list(halves) == list(g.points("bar"))
    # frames shifted by the lead meet the first full bar's barline
    lead = g.lead(1.0)
    assert (pickup + lead) % 1.0 == pytest.approx(0.0) and 0 <= lead < 1
    bar_index, pos = g.position(np.array([pickup + bar + 0.25]))
    assert bar_index[0] == (2 if pickup else 1) and pos[0] == pytest.approx(0.25)


def test_a_time_signature_change_mid_piece():
    sigs = (TimeSignature(0.0, 4, 4), TimeSignature(8.5, 6, 8))
    p = piece(4, 4, 0.5, bars=5, sigs=sigs)
    g = grid(p)
    assert list(g.bars[:5]) == [0.0, 0.5, 4.5, 8.5, 11.5]
    assert list(g.bar_beats[:4]) == [4.0, 4.0, 4.0, 3.0] and list(g.beat[:4]) == [1.0, 1.0, 1.0, 1.5]
    assert list(bar_lengths(p, np.array([1.0, 9.0]))) == [4.0, 3.0]
    assert 10.0 in g.points("half") and 10.0 in g.beats()


def test_a_signature_change_every_bar():
    sigs = tuple(TimeSignature(float(k * 5), 3, 4) for k in range(0, 4)) + \
        tuple(TimeSignature(float(k * 5 + 3), 2, 4) for k in range(0, 4))
    p = piece(3, 4, 0.0, bars=6, sigs=sigs)
    g = grid(p)
    assert list(g.bars[:5]) == [0.0, 3.0, 5.0, 8.0, 10.0]
    assert all(g.on(g.bars[:-1], "beat"))


def test_beat_lengths():
    assert beat_length(6, 8) == beat_length(9, 8) == beat_length(12, 8) == 1.5
    assert beat_length(3, 4) == 1.0 and beat_length(2, 2) == 2.0 and beat_length(5, 8) == 0.5


def test_bad_grids_are_refused_clearly():
    with pytest.raises(InputError, match="pickup of 5 quarter notes is longer than the first bar"):
        grid(piece(4, 4, 0.0).replace(pickup_beats=5.0))
    perf = Piece(notes=notes_from_columns(onset_sec=[0.0], duration_sec=[1.0], pitch=[60]), tempos=(),
                 time_signatures=())
    with pytest.raises(InputError, match="no beat grid"):
        grid(perf)
    with pytest.raises(InputError, match="harmonic rhythm"):
        grid(piece(4, 4, 0.0)).points("fortnight")


def test_shifted_keeps_the_barlines_on_whole_beats():
    p = piece(6, 8, 0.5)
    s = shifted(p, 0.5)
    assert s.pickup_beats == 1.0 and list(grid(s).bars[:3]) == [0.0, 1.0, 4.0]
    assert s.notes["onset_beat"][0] == 0.5 and shifted(p, 0.0) is p
