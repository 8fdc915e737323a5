"""Chord vocabulary: symbols, Harte labels, note blocks, Roman numerals."""
from __future__ import annotations

import numpy as np
import pytest

from symbolic_ai import harmony
from symbolic_ai.errors import InputError
from symbolic_ai.harmony import Chord, from_pitches, parse_harte, parse_symbol, roman


@pytest.mark.parametrize("text, root, quality, bass", [
    ("G7/B", 7, "7", 11), ("Bbm7b5", 10, "hdim7", 10), ("F#o7", 6, "dim7", 6), ("Cd", 0, "dim", 0),
    ("Ca", 0, "aug", 0), ("C/e", 0, "maj", 4), ("Am", 9, "min", 9), ("Ebmaj7", 3, "maj7", 3),
    ("Dsus4", 2, "sus4", 2), ("Gsus2", 7, "sus2", 7), ("C6", 0, "maj", 0), ("Eb9", 3, "7", 3),
    ("Bø7", 11, "hdim7", 11), ("Gm7/F", 7, "min7", 5), ("Abdim", 8, "dim", 8), ("C+", 0, "aug", 0),
])
def test_parse_symbol(text, root, quality, bass):
    c = parse_symbol(text)
    assert (c.root, c.quality, c.bass) == (root, quality, bass)


def test_symbol_round_trip_over_the_vocabulary():
    for i in range(harmony.N_CLASS):
        for bass_step in (0, 1):
            c = harmony.from_index(i)
            c = Chord(c.root, c.quality, c.pitch_classes[bass_step])
            for names in (harmony.DEFAULT_NAMES, harmony.FLAT_NAMES, harmony.SHARP_NAMES):
                assert parse_symbol(c.symbol(names)) == c
            assert parse_harte(c.harte()) == c
    assert harmony.from_index(harmony.N_CLASS) is None


@pytest.mark.parametrize("label, expected", [
    ("G:7/3", "G7/B"), ("C:maj6", "C"), ("D:sus4(b7)", "D7"), ("A:min/b3", "Am/C"), ("Eb:min7", "Ebm7"),
    ("B:hdim7", "Bm7b5"), ("F#:dim7/bb7", "F#dim7/Eb"),
])
def test_parse_harte(label, expected):
    assert parse_harte(label).symbol() == expected


@pytest.mark.parametrize("bad", ["H7", "C#xyz", "C/Q", "", "7"])
def test_bad_symbols_are_input_errors(bad):
    if bad == "":
        assert parse_symbol(bad) is None
        return
    with pytest.raises(InputError, match="chord symbol|pitch name"):
        parse_symbol(bad)


def test_bad_harte_and_quality():
    with pytest.raises(InputError, match="Harte"):
        parse_harte("C:weird")
    with pytest.raises(InputError, match="quality"):
        Chord(0, "power")
    assert parse_harte("N") is None


@pytest.mark.parametrize("pitches, symbol", [
    ([59, 63, 66], "B"), ([45, 48, 52, 55], "Am7"), ([48, 52, 55, 57], "C"), ([47, 53, 55, 62], "G7/B"),
    ([52, 60, 67], "C/E"), ([50, 53, 56, 59], "Ddim7"), ([62, 65, 69, 72], "Dm7"), ([60], "C"),
])
def test_from_pitches(pitches, symbol):
    assert from_pitches(pitches).symbol() == symbol
    assert from_pitches([]) is None


@pytest.mark.parametrize("symbol, key, minor, figure, degree", [
    ("G7/B", 0, False, "V65", "5"), ("D", 0, False, "V/V", "5/5"), ("C7", 0, False, "V7/IV", "5/4"),
    ("E7", 0, False, "V7/vi", "5/6"), ("F#o7", 0, False, "viio7/V", "7/5"), ("Db", 0, False, "bII", "-2"),
    ("E", 9, True, "V", "5"), ("G", 9, True, "bVII", "-7"), ("C", 9, True, "III", "3"),
    ("G#dim7", 9, True, "viio7", "7"), ("Bdim/D", 9, True, "iio6", "2"), ("Am/E", 9, True, "i64", "1"),
    ("Dm7/C", 0, False, "ii42", "2"), ("Bm7b5", 0, False, "viiø7", "7"),
    ("A", 9, True, "I", "1"), ("A7", 9, True, "V7/iv", "5/4"), ("Fm", 0, False, "iv", "4"),  # Picardy, mixture
])
def test_roman(symbol, key, minor, figure, degree):
    r = roman(parse_symbol(symbol), key, minor)
    assert (r["figure"], r["degree"]) == (figure, degree)


def test_spelling_follows_the_key():
    c = parse_symbol("A#")
    assert c.symbol(harmony.pc_names(5, False)) == "Bb"     # F major
    assert parse_symbol("F#").symbol(harmony.pc_names(7, False)) == "F#"  # G major
    assert Chord(1, "maj", 5).symbol(harmony.pc_names(6, True)) == "C#/E#"  # V6 in F# minor
    assert Chord(6, "dim7", 3).symbol() == "F#dim7/Eb" and parse_symbol("C#/E#") == Chord(1, "maj", 5)
    assert harmony.key_tonic_mode("F# minor") == (6, True)
    assert harmony.key_tonic_mode("A-") == (8, False)
    assert harmony.key_tonic_mode("c+") == (1, True)


def test_templates_shape():
    t, meta = harmony.templates()
    assert t.shape == (132, 12) and len(meta) == 132
    assert np.array_equal(t.sum(axis=1)[:11], [3, 3, 3, 3, 4, 4, 4, 4, 4, 3, 3])


@pytest.mark.parametrize("root, key, degree, name", [
    (2, "C major", "5/5", "D"), (6, "C major", "7/5", "F#"), (8, "C major", "-6", "Ab"), (6, "Bb major", "7/6", "F#"),
    (6, "G minor", "7", "F#"), (1, "F# minor", "5", "C#"), (10, "Eb major", "5", "Bb"), (3, "C major", "bad", None),
])
def test_roots_are_spelled_from_their_degree(root, key, degree, name):
    assert harmony.spelled_root(root, harmony.Key.parse(key), degree) == name
