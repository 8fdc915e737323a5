"""Piece: validation that quotes the bad value, time maps, bars with pickups and signature changes."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from symbolic_ai.errors import InputError
from symbolic_ai.piece import (NOTE_DTYPE, Annotation, KeySignature, Piece, Tempo, TimeSignature, Track,
                               empty_notes, notes_from_columns)


def piece(**cols) -> Piece:
    cols.setdefault("duration_beat", [1.0] * len(cols["pitch"]))
    return Piece(notes=notes_from_columns(**cols))


def test_units_in_field_names():
    for f in ("onset_sec", "duration_sec", "onset_beat", "duration_beat", "pitch", "velocity", "track", "id",
              "bar", "beat_in_bar", "voice"):
        assert f in NOTE_DTYPE.names


def test_seconds_are_derived_from_beats_and_notes_are_read_only():
    p = piece(pitch=[60, 62], onset_beat=[0.0, 2.0])
    assert p.notes["onset_sec"].tolist() == [0.0, 1.0]       # 120 qpm default
    assert p.notes["duration_sec"].tolist() == [0.5, 0.5]
    with pytest.raises(ValueError):
        p.notes["pitch"][0] = 1
    assert p.duration_beat == 3.0 and p.duration_sec == 1.5


@pytest.mark.parametrize("cols, quoted", [
    (dict(pitch=[128], onset_beat=[0.0]), "pitch=128"),
    (dict(pitch=[60], onset_beat=[-1.0]), "onset_beat=-1.0"),
    (dict(pitch=[60], onset_beat=[math.inf]), "onset_beat=inf"),
    (dict(pitch=[60], onset_beat=[0.0], duration_beat=[-0.5]), "duration_beat=-0.5"),
    (dict(pitch=[60], onset_beat=[0.0], velocity=[300]), "velocity=300"),
    (dict(pitch=[60], onset_beat=[0.0], track=[3]), "track=3"),
    (dict(pitch=[60], onset_beat=[0.0], duration_beat=[math.nan]), "needs an onset and a duration"),
    (dict(pitch=[60], onset_beat=[math.nan]), "needs an onset and a duration"),
])
def test_bad_notes_are_refused_with_the_value(cols, quoted):
    with pytest.raises(InputError, match="note 0") as exc:
        piece(**cols)
    assert quoted in str(exc.value)


def test_duplicate_ids_and_wrong_array_type():
    n = notes_from_columns(pitch=[60, 61], onset_beat=[0, 1], duration_beat=[1, 1], id=[5, 5])
    with pytest.raises(InputError, match="unique"):
        Piece(notes=n)
    with pytest.raises(InputError, match="NOTE_DTYPE"):
        Piece(notes=np.zeros(3))
    with pytest.raises(InputError, match="unknown note field 'pich'"):
        notes_from_columns(pich=[60])


@pytest.mark.parametrize("make, quoted", [
    (lambda: Track(program=128), "128"),
    (lambda: Track(program=1.5), "1.5"),
    (lambda: Track(name=3), "3"),
    (lambda: Tempo(0.0, 0.0), "0.0"),
    (lambda: Tempo(-1.0, 120.0), "-1.0"),
    (lambda: Tempo(0.0, math.nan), "nan"),
    (lambda: TimeSignature(0.0, 3, 5), "3/5"),
    (lambda: TimeSignature(0.0, 3.5, 4), "3.5/4"),
    (lambda: TimeSignature(-2.0, 3, 4), "-2.0"),
    (lambda: KeySignature(0.0, 8), "8"),
    (lambda: KeySignature(0.0, 1, "dorian"), "dorian"),
    (lambda: Annotation("", 0, 1), "''"),
    (lambda: Annotation("chord", 2, 1, "C"), "2 > 1"),
    (lambda: Annotation("chord", math.nan, 1, "C"), "nan"),
    (lambda: Annotation("chord", -0.5, 1, "C"), "start_beat must be >= 0, got -0.5"),
    (lambda: Annotation("chord", 0, 1, object()), "object"),
    (lambda: Piece(pickup_beats=-1.0), "-1.0"),
    (lambda: Piece(tracks=()), "at least one Track"),
    (lambda: Piece(tempos=(120,)), "120"),
])
def test_constructor_validation_quotes_the_bad_value(make, quoted):
    with pytest.raises(InputError) as exc:
        make()
    assert quoted in str(exc.value)


def test_annotations_take_json_values_and_replace_kinds():
    p = piece(pitch=[60], onset_beat=[0.0])
    q = p.annotate([Annotation("chord", 0, 1, "C"), Annotation("emotion", 0, 1, {"valence": 0.5, "q": [1, 2]})])
    r = q.annotate([Annotation("chord", 0, 1, "Am")], replace_kinds=("chord",))
    assert [a.value for a in r.annotations_of("chord")] == ["Am"]
    assert len(r.annotations_of("emotion")) == 1 and len(p.annotations) == 0


TEMPOS = (Tempo(0.0, 120.0), Tempo(4.0, 60.0), Tempo(6.0, 240.0))


def test_beat_to_sec_under_tempo_changes():
    p = Piece(tempos=TEMPOS)
    assert p.beat_to_sec(np.array([0.0, 4.0, 5.0, 6.0, 10.0])).tolist() == [0.0, 2.0, 3.0, 4.0, 5.0]
    assert p.sec_to_beat(np.array([0.0, 2.0, 3.0, 4.0, 5.0])).tolist() == [0.0, 4.0, 5.0, 6.0, 10.0]
    # unsorted input is sorted; a note across a tempo change gets the right length in seconds
    q = Piece(notes=notes_from_columns(pitch=[60], onset_beat=[3.0], duration_beat=[2.0]),
              tempos=tuple(reversed(TEMPOS)))
    assert q.notes["onset_sec"][0] == 1.5 and q.notes["duration_sec"][0] == 1.5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 50.0), st.floats(20.0, 400.0)), min_size=1, max_size=6),
       st.lists(st.floats(0.0, 200.0), min_size=1, max_size=20))
def test_sec_beat_round_trip_under_any_tempo_map(steps, beats):
    starts = np.cumsum([0.0] + [s for s, _ in steps[:-1]])
    p = Piece(tempos=tuple(Tempo(float(b), q) for b, (_, q) in zip(starts, steps)))
    b = np.asarray(beats)
    secs = p.beat_to_sec(b)
    assert np.all(np.diff(secs[np.argsort(b)]) >= -1e-9)          # monotonic
    np.testing.assert_allclose(p.sec_to_beat(secs), b, atol=1e-7)


def test_performance_in_seconds_only():
    n = notes_from_columns(pitch=[60, 64], onset_sec=[0.25, 1.0], duration_sec=[0.5, 0.5])
    p = Piece(notes=n, tempos=(), time_signatures=())
    assert not p.has_beats
    assert np.isnan(p.notes["onset_beat"]).all() and (p.notes["bar"] == -1).all()
    assert p.duration_sec == 1.5 and p.duration_beat == 0.0
    assert all(math.isnan(x) for x in p.span_sec(0, 1))
    with pytest.raises(InputError, match="no tempo map"):
        p.beat_to_sec(1.0)
    with pytest.raises(InputError, match="no tempo map"):
        Piece(notes=notes_from_columns(pitch=[60], onset_beat=[0.0], duration_beat=[1.0]), tempos=())


def test_seconds_given_with_a_tempo_map_get_beats():
    n = notes_from_columns(pitch=[60], onset_sec=[3.0], duration_sec=[1.0])
    p = Piece(notes=n, tempos=TEMPOS)
    assert p.notes["onset_beat"][0] == 5.0 and p.notes["duration_beat"][0] == 1.0


def test_bars_with_a_pickup_and_time_signature_changes():
    sigs = (TimeSignature(0.0, 4, 4), TimeSignature(9.0, 3, 4), TimeSignature(15.0, 6, 8))
    onsets = [0.0, 1.0, 5.5, 9.0, 11.0, 12.0, 15.0, 17.5, 18.0]
    p = Piece(notes=notes_from_columns(pitch=[60] * len(onsets), onset_beat=onsets,
                                       duration_beat=[0.5] * len(onsets), id=range(len(onsets))),
              time_signatures=sigs, pickup_beats=1.0)
    assert p.notes["bar"].tolist() == [0, 1, 2, 3, 3, 4, 5, 5, 6]
    assert p.notes["beat_in_bar"].tolist() == [0.0, 0.0, 0.5, 0.0, 2.0, 0.0, 0.0, 2.5, 0.0]
    assert p.bar_starts(18.0).tolist() == [0.0, 1.0, 5.0, 9.0, 12.0, 15.0, 18.0]


def test_given_bars_are_kept():
    n = notes_from_columns(pitch=[60], onset_beat=[4.0], duration_beat=[1.0], bar=[7], beat_in_bar=[0.0])
    assert Piece(notes=n).notes["bar"][0] == 7


def test_pitched_leaves_out_drums_and_sorts():
    n = notes_from_columns(pitch=[64, 36, 60], onset_beat=[1.0, 0.0, 1.0], duration_beat=[1, 1, 1],
                           track=[0, 1, 0])
    p = Piece(notes=n, tracks=(Track(0, "piano"), Track(0, "kit", is_drum=True)))
    assert p.pitched()["pitch"].tolist() == [60, 64]


def test_empty_piece():
    p = Piece()
    assert len(p) == 0 and p.duration_sec == 0.0 and p.duration_beat == 0.0
    assert len(empty_notes(0)) == 0 and "0 notes" in repr(p)


def test_onset_a_rounding_residue_before_a_bar_line_is_in_that_bar():
    # 3/8 bars accumulate float error (POP909 043.mid hit this): the derived beat_in_bar must
    # never be a tiny negative number that fails validation when the Piece is rebuilt.
    from symbolic_ai.piece import Piece, TimeSignature, notes_from_columns

    onset = 1.5 * 7 - 1e-12
    piece = Piece(notes=notes_from_columns(onset_beat=[onset], duration_beat=[0.5], pitch=[60]),
                  time_signatures=(TimeSignature(0.0, 3, 8),))
    assert piece.notes["bar"][0] == 7 and piece.notes["beat_in_bar"][0] == 0.0
    assert piece.replace(metadata={"title": "again"}).notes["bar"][0] == 7
