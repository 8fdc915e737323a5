"""Chord vocabulary (torch-free): symbols like "G7/B", Harte labels, templates, Roman numerals.

A `Chord` is a root pitch class, one of the `QUALITIES`, and a bass pitch class. The model
vocabulary is `12 roots × 11 qualities` plus "no chord" (`N_CLASS`), class `root * 11 + quality`.
Decoding note blocks (`from_pitches`) also knows common extensions (6, 9, add9, …) and reduces
them to the vocabulary (`maj6 → maj`, `9 → 7`, …). Everything here is numpy or plain Python.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError

QUALITIES = ("maj", "min", "dim", "aug", "7", "maj7", "min7", "hdim7", "dim7", "sus2", "sus4")
INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10), "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9), "sus2": (0, 2, 7), "sus4": (0, 5, 7),
}
# Extensions met in data, with the vocabulary quality each reduces to.
EXTENDED: dict[str, tuple[tuple[int, ...], str]] = {
    "maj6": ((0, 4, 7, 9), "maj"), "min6": ((0, 3, 7, 9), "min"), "9": ((0, 4, 7, 10, 2), "7"),
    "maj9": ((0, 4, 7, 11, 2), "maj7"), "min9": ((0, 3, 7, 10, 2), "min7"), "maj(9)": ((0, 4, 7, 2), "maj"),
    "min(9)": ((0, 3, 7, 2), "min"), "minmaj7": ((0, 3, 7, 11), "min"), "sus4(b7)": ((0, 5, 7, 10), "7"),
    "aug(b7)": ((0, 4, 8, 10), "7"), "7(b9)": ((0, 4, 7, 10, 1), "7"), "11": ((0, 4, 7, 10, 2, 5), "7"),
    "13": ((0, 4, 7, 10, 2, 9), "7"), "5": ((0, 7), "maj"), "1": ((0,), "maj"),
}
N_QUALITIES = len(QUALITIES)
N_CLASS = 12 * N_QUALITIES  # index of "no chord"
N_CLASSES = N_CLASS + 1
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
DEFAULT_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "aug": "+", "7": "7", "maj7": "maj7", "min7": "m7",
           "hdim7": "m7b5", "dim7": "dim7", "sus2": "sus2", "sus4": "sus4"}
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_HARTE_DEGREE = {"1": 0, "b2": 1, "2": 2, "#2": 3, "b3": 3, "3": 4, "4": 5, "#4": 6, "b5": 6, "5": 7,
                 "#5": 8, "b6": 8, "6": 9, "bb7": 9, "b7": 10, "7": 11, "b9": 1, "9": 2, "#9": 3,
                 "11": 5, "#11": 6, "b13": 8, "13": 9}
# Symbol suffixes (after the root) → quality, longest first when matching.
_SYMBOL_QUALITY = {
    "": "maj", "M": "maj", "maj": "maj", "major": "maj", "m": "min", "min": "min", "-": "min", "minor": "min",
    "dim": "dim", "o": "dim", "°": "dim", "d": "dim", "aug": "aug", "+": "aug", "a": "aug", "+5": "aug",
    "7": "7", "dom7": "7", "maj7": "maj7", "M7": "maj7", "Δ": "maj7", "Δ7": "maj7", "ma7": "maj7",
    "m7": "min7", "min7": "min7", "-7": "min7", "m7b5": "hdim7", "m7-5": "hdim7", "ø": "hdim7", "ø7": "hdim7",
    "hdim7": "hdim7", "dim7": "dim7", "o7": "dim7", "°7": "dim7", "d7": "dim7", "sus2": "sus2",
    "sus4": "sus4", "sus": "sus4", "6": "maj", "m6": "min", "min6": "min", "9": "7", "7b9": "7", "7#9": "7",
    "11": "7", "13": "7", "maj9": "maj7", "M9": "maj7", "m9": "min7", "min9": "min7", "add9": "maj",
    "madd9": "min", "2": "sus2", "7sus4": "7", "7sus": "7", "9sus4": "7", "aug7": "7", "+7": "7",
    "mmaj7": "min", "mM7": "min", "5": "maj", "69": "maj", "m11": "min7", "7#5": "7", "7b5": "7",
    "maj13": "maj7", "m13": "min7", "mmaj9": "min", "9#11": "7", "7#11": "7", "dim9": "dim7",
}
_SUFFIXES = sorted(_SYMBOL_QUALITY, key=len, reverse=True)
NUMERALS = ("I", "II", "III", "IV", "V", "VI", "VII")
MAJOR_SCALE = {0: "1", 2: "2", 4: "3", 5: "4", 7: "5", 9: "6", 11: "7",
               1: "-2", 3: "-3", 6: "+4", 8: "-6", 10: "-7"}
MINOR_SCALE = {0: "1", 2: "2", 3: "3", 5: "4", 7: "5", 8: "6", 11: "7",
               1: "-2", 4: "+3", 6: "+4", 9: "+6", 10: "-7"}
# Diatonic (degree → qualities) for deciding whether a major/dominant chord is an applied chord.
# A major tonic triad in minor is modal mixture (a Picardy third: "I"), not V/iv; its seventh
# chord (C7 in C minor) still reads V7/iv.
_DIATONIC = {False: {"1": {"maj", "maj7", "sus2", "sus4"}, "2": {"min", "min7", "sus2", "sus4"},
                     "3": {"min", "min7"}, "4": {"maj", "maj7", "sus2", "sus4"},
                     "5": {"maj", "7", "sus2", "sus4"}, "6": {"min", "min7", "sus2", "sus4"},
                     "7": {"dim", "hdim7"}, "-7": {"maj"}, "-6": {"maj"}, "-3": {"maj"}, "-2": {"maj"}},
             True: {"1": {"min", "min7", "maj", "sus2", "sus4"}, "2": {"dim", "hdim7"}, "3": {"maj", "aug", "maj7"},
                    "4": {"min", "min7", "maj", "sus2", "sus4"}, "5": {"maj", "7", "min", "sus2", "sus4"},
                    "6": {"maj", "maj7"}, "7": {"dim", "dim7", "hdim7"}, "-7": {"maj", "7"}, "-2": {"maj"}}}


def pitch_class(name: str) -> int:
    """'C#', 'Bb', 'B-', 'e' (any case), 'Fb' → 0..11; InputError quotes a bad name."""
    s = name.strip()
    if not s or s[0].upper() not in _LETTER:
        raise InputError(f"not a pitch name: {name!r}")
    pc = _LETTER[s[0].upper()]
    for ch in s[1:]:
        if ch in "#♯+":
            pc += 1
        elif ch in "b♭-":
            pc -= 1
        else:
            raise InputError(f"not a pitch name: {name!r}")
    return pc % 12


def pc_names(key_tonic: int | None = None, minor: bool = False) -> tuple[str, ...]:
    """Names for pitch classes that suit a key: flats in flat keys, sharps in sharp keys."""
    if key_tonic is None:
        return DEFAULT_NAMES
    fifths = ((key_tonic + (3 if minor else 0)) * 7) % 12  # major-key fifths of the relative major
    fifths = fifths - 12 if fifths > 6 else fifths
    return FLAT_NAMES if fifths < 0 else SHARP_NAMES if fifths > 0 else DEFAULT_NAMES


@dataclass(frozen=True)
class Chord:
    """A chord: `root` pitch class, a quality from `QUALITIES`, `bass` pitch class (= root if root position)."""

    root: int
    quality: str
    bass: int = -1

    def __post_init__(self) -> None:
        if self.quality not in INTERVALS:
            raise InputError(f"unknown chord quality {self.quality!r}; qualities are {', '.join(QUALITIES)}")
        object.__setattr__(self, "root", int(self.root) % 12)
        object.__setattr__(self, "bass", self.root if self.bass < 0 else int(self.bass) % 12)

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in INTERVALS[self.quality])

    @property
    def index(self) -> int:
        """Class index in the model vocabulary (root * 11 + quality)."""
        return self.root * N_QUALITIES + QUALITIES.index(self.quality)

    @property
    def inversion(self) -> int:
        """0 root position, 1 third, 2 fifth, 3 seventh in the bass; 0 for a bass outside the chord."""
        pcs = self.pitch_classes
        return pcs.index(self.bass) if self.bass in pcs else 0

    def symbol(self, names: tuple[str, ...] = DEFAULT_NAMES) -> str:
        """Lead-sheet symbol, e.g. 'G7/B', 'Bbm7b5', 'F#dim'."""
        s = names[self.root] + _SUFFIX[self.quality]
        return s if self.bass == self.root else f"{s}/{self._bass_name(names)}"

    def _bass_name(self, names: tuple[str, ...]) -> str:
        """A chord-tone bass spelled from the root's letter (C#/E#, not C#/F); else `names`."""
        pcs = self.pitch_classes
        if self.bass not in pcs:
            return names[self.bass]
        interval = INTERVALS[self.quality][pcs.index(self.bass)]
        letters = {2: 1, 3: 2, 4: 2, 5: 3, 6: 4, 7: 4, 8: 4, 9: 6 if self.quality == "dim7" else 5,
                   10: 6, 11: 6}[interval]
        order = "CDEFGAB"
        letter = order[(order.index(names[self.root][0]) + letters) % 7]
        acc = (self.bass - _LETTER[letter] + 6) % 12 - 6
        return letter + {0: "", 1: "#", -1: "b"}[acc] if -1 <= acc <= 1 else names[self.bass]

    def harte(self) -> str:
        """Harte label, e.g. 'G:7/3'."""
        s = f"{SHARP_NAMES[self.root]}:{self.quality}"
        if self.bass != self.root:
            interval = (self.bass - self.root) % 12
            deg = {0: "1", 1: "b2", 2: "2", 3: "b3", 4: "3", 5: "4", 6: "b5", 7: "5", 8: "b6", 9: "6",
                   10: "b7", 11: "7"}[interval]
            if self.quality == "dim7" and interval == 9:
                deg = "bb7"
            s += f"/{deg}"
        return s

    def __str__(self) -> str:
        return self.symbol()


def from_index(index: int, bass: int = -1) -> Chord | None:
    """Vocabulary class → Chord (None for the no-chord class)."""
    if not 0 <= index <= N_CLASS:
        raise InputError(f"chord class must be in 0..{N_CLASS}, got {index!r}")
    if index == N_CLASS:
        return None
    return Chord(index // N_QUALITIES, QUALITIES[index % N_QUALITIES], bass)


def parse_symbol(text: str) -> Chord | None:
    """Lead-sheet symbol → Chord: 'G7/B', 'Bbm7b5', 'F#o7', 'Cd' (dim), 'Ca' (aug), 'C/e'. 'N' → None."""
    s = text.strip().strip('"')
    if s.upper() in ("N", "NC", "N.C.", "X", ""):
        return None
    m = re.match(r"^([A-Ga-g])([#b♯♭]?)(.*)$", s)
    if not m:
        raise InputError(f"not a chord symbol: {text!r}")
    root = pitch_class(m.group(1).upper() + m.group(2))
    rest, bass = m.group(3), -1
    if "/" in rest:
        rest, bass_text = rest.rsplit("/", 1)
        try:
            bass = pitch_class(bass_text)
        except InputError:
            raise InputError(f"not a chord symbol: {text!r} (bass {bass_text!r})") from None
    rest = rest.strip("()").replace(" ", "")
    for suf in _SUFFIXES:
        if rest == suf:
            return Chord(root, _SYMBOL_QUALITY[suf], bass)
    for suf in _SUFFIXES:  # a known prefix plus extensions we drop, e.g. 'm7add11'
        if suf and rest.startswith(suf):
            return Chord(root, _SYMBOL_QUALITY[suf], bass)
    raise InputError(f"not a chord symbol: {text!r} (unknown quality {rest!r})")


def parse_harte(label: str) -> Chord | None:
    """Harte label → Chord ('G:7/3', 'A:min', 'C:maj6', 'D:sus4(b7)'); 'N'/'X' → None."""
    s = label.strip()
    if s in ("N", "X", ""):
        return None
    root_text, _, rest = s.partition(":")
    root = pitch_class(root_text)
    rest = rest or "maj"
    quality_text, _, bass_text = rest.partition("/")
    if quality_text.startswith("("):
        quality_text = "maj" + quality_text
    if quality_text in INTERVALS:
        quality = quality_text
    elif quality_text in EXTENDED:
        quality = EXTENDED[quality_text][1]
    else:
        base = quality_text.split("(")[0]
        if base not in INTERVALS and base not in EXTENDED:
            raise InputError(f"not a Harte chord label: {label!r}")
        quality = base if base in INTERVALS else EXTENDED[base][1]
    bass = -1
    if bass_text:
        if bass_text not in _HARTE_DEGREE:
            raise InputError(f"not a Harte chord label: {label!r} (bass degree {bass_text!r})")
        bass = (root + _HARTE_DEGREE[bass_text]) % 12
    return Chord(root, quality, bass)


def templates(extended: bool = False) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    """Binary (n, 12) pitch-class templates and their (root, label, vocabulary quality) rows."""
    rows, meta = [], []
    table = [(q, INTERVALS[q], q) for q in QUALITIES]
    if extended:
        table += [(k, v[0], v[1]) for k, v in EXTENDED.items()]
    for root in range(12):
        for label, ivs, quality in table:
            t = np.zeros(12)
            t[[(root + i) % 12 for i in ivs]] = 1.0
            rows.append(t)
            meta.append((root, label, quality))
    return np.asarray(rows), meta


_EXT_T, _EXT_META = templates(extended=True)


def from_pitches(pitches: Iterable[int]) -> Chord | None:
    """Name a block of simultaneous MIDI pitches (root, quality, bass = lowest note); None if empty.

    Exact pitch-class-set matches win (vocabulary before extensions, root = lowest note on ties,
    so C-E-G-A is C6 → C maj, A-C-E-G is Am7); otherwise the template with the best
    matches-minus-misses score.
    """
    ps = sorted(int(p) for p in pitches)
    if not ps:
        return None
    bass = ps[0] % 12
    v = np.zeros(12)
    v[[p % 12 for p in ps]] = 1.0
    hits = _EXT_T @ v
    score = hits - 0.6 * (_EXT_T.sum(axis=1) - hits) - 0.6 * (v.sum() - hits)
    exact = (v == _EXT_T).all(axis=1)
    if exact.any():
        score = np.where(exact, 100.0, score)
    # tie-breaks: vocabulary qualities, then root in the bass
    rank = np.array([0.01 * (m[1] in INTERVALS) + 0.02 * (m[0] == bass) for m in _EXT_META])
    root, _, quality = _EXT_META[int(np.argmax(score + rank))]
    return Chord(root, quality, bass)


def roman(chord: Chord, key_tonic: int, minor: bool) -> dict[str, Any]:
    """Roman-numeral analysis of `chord` in a key: figure ('V65/V'), degree ('5/5'), inversion.

    Degrees follow BPS-FH: major scale / harmonic minor, '-'/'+' for lowered/raised roots,
    'x/y' for an applied chord (secondary dominant or leading-tone chord of degree y).
    """
    rel = (chord.root - key_tonic) % 12
    scale = MINOR_SCALE if minor else MAJOR_SCALE
    degree, secondary = scale[rel], ""
    diatonic = _DIATONIC[minor].get(degree, set())
    targets = {rel_ for rel_, d in scale.items() if d in (("1", "3", "4", "5", "6", "-7") if minor
                                                          else ("1", "2", "3", "4", "5", "6"))}
    if chord.quality not in diatonic:
        if chord.quality in ("maj", "7"):
            target = (rel + 5) % 12  # resolves a fifth down
            if target in targets and (target != 0 or chord.quality == "7"):
                secondary, degree = scale[target], "5"
        elif chord.quality in ("dim", "dim7", "hdim7"):
            target = (rel + 1) % 12  # leading tone of the next degree
            if target in targets and target != 0:
                secondary, degree = scale[target], "7"
    figure = _figure(degree, chord, secondary, minor)
    return {"figure": figure, "degree": degree + (f"/{secondary}" if secondary else ""),
            "inversion": chord.inversion}


def spelled_root(root: int, key: Key, degree: str) -> str | None:
    """The name of a chord root spelled from its Roman degree in `key` ('5/5' in C → 'D', '7/5' in
    C → 'F#', '-6' in C → 'Ab'): the letter counts scale steps from the tonic's letter; None when
    that would need a double sharp or flat (then the key's pitch-class names apply)."""
    steps = 0
    for part in degree.split("/"):
        digits = part.lstrip("+-")
        if not digits.isdigit() or not 1 <= int(digits) <= 7:
            return None
        steps += int(digits) - 1
    order = "CDEFGAB"
    letter = order[(order.index(key.tonic_name[0]) + steps) % 7]
    acc = (root - _LETTER[letter] + 6) % 12 - 6
    return letter + {0: "", 1: "#", -1: "b"}[acc] if -1 <= acc <= 1 else None


def _numeral(degree: str, upper: bool) -> str:
    acc = {"-": "b", "+": "#"}.get(degree[0], "")
    n = NUMERALS[int(degree.lstrip("+-")) - 1]
    return acc + (n if upper else n.lower())


def _figure(degree: str, chord: Chord, secondary: str, minor: bool) -> str:
    q = chord.quality
    upper = q in ("maj", "aug", "7", "maj7", "sus2", "sus4")
    s = _numeral(degree, upper)
    s += {"dim": "o", "dim7": "o", "hdim7": "ø", "aug": "+"}.get(q, "")
    seventh = q in ("7", "maj7", "min7", "hdim7", "dim7")
    inv = chord.inversion
    if seventh:
        s += ("7", "65", "43", "42")[inv]
    elif q.startswith("sus"):
        s += q
    else:
        s += ("", "6", "64")[min(inv, 2)]
    if secondary:
        major_degrees = ("3", "5", "6", "-7", "-2") if minor else ("1", "4", "5", "-7", "-6", "-3", "-2")
        s += "/" + _numeral(secondary, secondary in major_degrees)
    return s


MAJOR_KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")  # tonic spellings in key names
MINOR_KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")


@dataclass(frozen=True)
class Key:
    """A key: `tonic` pitch class 0..11 and `minor`. `name` spells it ('F# minor', 'Eb major');
    `index` numbers the 24 keys (0–11 major on C..B, 12–23 minor)."""

    tonic: int
    minor: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.tonic, bool) or not isinstance(self.tonic, (int, np.integer)) or not 0 <= self.tonic < 12:
            raise InputError(f"key tonic must be a pitch class 0..11, got {self.tonic!r}")
        object.__setattr__(self, "tonic", int(self.tonic))
        object.__setattr__(self, "minor", bool(self.minor))

    @classmethod
    def from_index(cls, index: int) -> Key:
        """Key index 0..23 → Key."""
        if not 0 <= index < 24:
            raise InputError(f"key index must be in 0..23, got {index!r}")
        return cls(int(index) % 12, index >= 12)

    @classmethod
    def parse(cls, name: str) -> Key:
        """'F# minor', 'Eb major', 'Gb:maj', 'g' / 'A-' (BPS: lower case = minor, '-' = flat) → Key.
        A mode word other than minor (maj, major, or a church mode's name) reads as major."""
        s = name.strip()
        parts = s.replace(":", " ").split()
        if not parts:
            raise InputError(f"not a key name: {name!r}")
        if len(parts) >= 2:
            return cls(pitch_class(parts[0]), parts[1].lower().startswith("min"))
        return cls(pitch_class(s), s[:1].islower())

    @property
    def index(self) -> int:
        return self.tonic + 12 * self.minor

    @property
    def mode(self) -> str:
        return "minor" if self.minor else "major"

    @property
    def tonic_name(self) -> str:
        return (MINOR_KEY_NAMES if self.minor else MAJOR_KEY_NAMES)[self.tonic]

    @property
    def name(self) -> str:
        return f"{self.tonic_name} {self.mode}"

    def __str__(self) -> str:
        return self.name


def key_tonic_mode(name: str) -> tuple[int, bool]:
    """'F# minor' / 'Eb major' / 'g' / 'A-' (BPS) → (tonic pitch class, is_minor); see `Key.parse`."""
    k = Key.parse(name)
    return k.tonic, k.minor
