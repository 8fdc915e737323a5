"""The one set of limits (symbolic_ai.limits): enforced by the Piece, and the daemon's OSC checks and
JSON schemas follow it."""
from __future__ import annotations

import pytest
from symbolic_ai.bridges import wire
from symbolic_ai.bridges.errors import BadRequest
from symbolic_ai.bridges.openapi import NOTE_ROW, task_body, validate

from symbolic_ai import limits as L
from symbolic_ai import registry
from symbolic_ai.errors import InputError
from symbolic_ai.piece import Piece, Tempo, TimeSignature, notes_from_columns


def one_note(**cols) -> Piece:
    return Piece(notes=notes_from_columns(pitch=[60], **{k: [v] for k, v in cols.items()}))


@pytest.mark.parametrize("cols, message", [
    ({"onset_beat": 1e300, "duration_beat": 1.0}, "over the limit of 100000 beats"),
    ({"onset_beat": L.MAX_BEATS, "duration_beat": 1.0}, "over the limit of 100000 beats"),
    ({"onset_sec": 1e300, "duration_sec": 1.0}, "over the limit of 100000 seconds"),
])
def test_piece_refuses_notes_past_the_span(cols, message):
    with pytest.raises(InputError, match=message):
        one_note(**cols)


def test_derived_beats_are_checked_too():
    # 90,000 s is under the seconds limit, but at 2000 qpm it is 3 million beats
    n = notes_from_columns(pitch=[60], onset_sec=[90_000.0], duration_sec=[1.0])
    with pytest.raises(InputError, match="over the limit of 100000 beats"):
        Piece(notes=n, tempos=(Tempo(0.0, L.MAX_QPM),))


def test_bar_count_is_checked_before_bars_are_built():
    n = notes_from_columns(pitch=[60], onset_beat=[L.MAX_BEATS - 1], duration_beat=[1.0])
    with pytest.raises(InputError, match="bars, over the limit of 200000"):
        Piece(notes=n, time_signatures=(TimeSignature(0.0, 1, 64),))  # 1/64: 16 bars a beat


def test_a_piece_at_the_limits_is_fine():
    p = one_note(onset_beat=L.MAX_BEATS - 1, duration_beat=1.0)
    assert p.notes["bar"][0] == (L.MAX_BEATS - 1) // 4


def test_control_objects_follow_the_limits():
    with pytest.raises(InputError, match="in 1..2000"):
        Tempo(0.0, L.MAX_QPM + 1)
    with pytest.raises(InputError, match="0..100000"):
        Tempo(L.MAX_BEATS + 1, 120.0)
    with pytest.raises(InputError, match="1..255"):
        TimeSignature(0.0, L.MAX_NUMERATOR + 1, 4)
    TimeSignature(0.0, L.MAX_NUMERATOR, 4)


def test_osc_checks_and_http_schema_agree_with_the_piece():
    # the numerator the Piece accepts (255) is accepted by the OSC note list and the HTTP schema
    piece = wire.piece_from_notes([(60, 90, 0.0, 1.0, 1)], numerator=L.MAX_NUMERATOR, denominator=64)
    assert piece.time_signatures[0].numerator == L.MAX_NUMERATOR
    body = task_body(registry.get("key"))
    validate(body, {"notes": [[60, 90, 0, 1, 1]], "numerator": L.MAX_NUMERATOR, "qpm": L.MAX_QPM})
    for bad in ({"numerator": L.MAX_NUMERATOR + 1}, {"qpm": L.MAX_QPM + 1}, {"denominator": 3}):
        with pytest.raises(BadRequest):
            validate(body, {"notes": [[60, 90, 0, 1, 1]], **bad})
        with pytest.raises(BadRequest):
            wire.piece_from_notes([(60, 90, 0.0, 1.0, 1)], **{"numerator": 4, "denominator": 4, "qpm": 120.0, **bad})
    with pytest.raises(BadRequest, match="end by beat 100000"):
        wire.check_note(0, (60, 90, L.MAX_BEATS, 1.0, 1))
    assert NOTE_ROW["prefixItems"][2]["maximum"] == L.MAX_BEATS


@pytest.mark.parametrize("doc, where", [
    ({"notes": [[60, 90, 0, 1, 1], [60, 128, 0, 1, 1]]}, "body.notes[1][1]"),
    ({"notes": [[60, 90, 0, 1, 1], [60, 90, 0, 1]]}, "body.notes[1]"),
    ({"notes": [[60, 90, 0, float("inf"), 1]]}, "body.notes[0][3]"),
    ({"notes": [[60, 90, 0, 1, True]]}, "body.notes[0][4]"),
    ({"piece": {"notes": [{"pitch": 60, "onset_beat": 1e300, "duration_beat": 1}]}}, "body.piece.notes[0].onset_beat"),
    ({"piece": {"notes": [{"pitch": 60, "onset_beat": 0, "duration_beat": 1}, {"pitch": True}]}},
     "body.piece.notes[1].pitch"),
    ({"piece": {"notes": [{"pitch": 60, "colour": 1}]}}, "body.piece.notes[0]: unknown field"),
    ({"piece": {"notes": [{"pitch": 60, "velocity": 0.5}]}}, "body.piece.notes[0].velocity"),
    ({"notes": [], "colour": 1}, "body: unknown field"),
    ({"notes": [], "params": {"window_beats": "x"}}, "body.params.window_beats"),
])
def test_schema_errors_name_the_entry(doc, where):
    with pytest.raises(BadRequest) as exc:
        validate(task_body(registry.get("key")), doc)
    assert str(exc.value).startswith(where) and "\n" not in str(exc.value)


def test_an_oversized_note_list_is_refused_by_its_size():
    rows = [[60, 90, 0, 1, 1]] * 11 + [["not", "a", "row"]]
    with pytest.raises(BadRequest, match="body.notes must have 0..10 items, got 12"):
        validate(task_body(registry.get("key"), max_notes=10), {"notes": rows})


def test_token_values_never_appear_in_option_errors():
    for args in (["token", "SECRET", "x"], ["key", 1, "TOKEN", "SECRET", "y"], [5, "SECRET"]):
        with pytest.raises(BadRequest) as exc:
            wire.options(args, "/sai/key/notes")
        assert "SECRET" not in str(exc.value)
    assert wire.redacted(["a", 1, "token", "s3"]) == ["a", 1, "token", "***"]
