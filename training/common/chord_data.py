"""Per-frame chord targets for the chord datasets, through `symbolic_ai.data.iter_examples`.

Every dataset becomes the same thing: a Piece (the music to read) and a list of
(start_beat, end_beat, Chord | None, key) spans, from which `frame_targets` samples one chord
class and one bass pitch class per frame (at the frame's middle). Sources:
POP909-CL and Nottingham `chord` annotations (Harte labels), BPS-FH key/degree/quality/inversion,
When-in-Rome Roman numerals in their local keys (spelled by music21, cached per figure and key).
"""
from __future__ import annotations

import functools
from typing import Iterator

import numpy as np

from symbolic_ai import harmony
from symbolic_ai.harmony import Chord
from symbolic_ai.piece import Piece

Span = tuple[float, float, "Chord | None", str]
BPS_QUALITY = {"M": "maj", "m": "min", "d": "dim", "a": "aug", "M7": "maj7", "m7": "min7", "D7": "7",
               "d7": "dim7", "h7": "hdim7", "a6": "7"}
TO_BPS_QUALITY = {"maj": "M", "min": "m", "dim": "d", "aug": "a", "maj7": "M7", "min7": "m7", "7": "D7",
                  "dim7": "d7", "hdim7": "h7", "sus2": "M", "sus4": "M"}
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 11)


def _degree_offset(degree: str, minor: bool) -> int:
    acc = degree.count("+") - degree.count("-")
    return ((_MINOR if minor else _MAJOR)[int(degree.strip("+-")) - 1] + acc) % 12


def bps_chord(key: str, degree: str, quality: str, inversion: int) -> tuple[Chord, str]:
    """A BPS-FH row → (Chord, key name). Applied degrees 'x/y' are read in the key of degree y;
    augmented sixths ('+4', a6) become the enharmonic dominant seventh on the lowered sixth."""
    tonic, minor = harmony.key_tonic_mode(key)
    if quality == "a6":
        root = (tonic + 8) % 12
    elif "/" in degree:
        x, y = degree.split("/")
        local = (tonic + _degree_offset(y, minor)) % 12
        root = (local + _degree_offset(x, False)) % 12
    else:
        root = (tonic + _degree_offset(degree, minor)) % 12
    q = BPS_QUALITY[quality]
    tones = harmony.INTERVALS[q]
    bass = (root + tones[min(int(inversion), len(tones) - 1)]) % 12
    name = harmony.FLAT_NAMES[tonic] + (" minor" if minor else " major")
    return Chord(root, q, bass), name


@functools.lru_cache(maxsize=20000)
def roman_chord(figure: str, key: str) -> Chord | None:
    """A Roman numeral in a key ('V65/V', 'G major') → Chord, via music21 (cached)."""
    from music21 import roman

    try:
        rn = roman.RomanNumeral(figure, _m21_key(key))
        pitches = [p.midi for p in rn.pitches]
        bass = rn.bass().midi
    except Exception:
        return None
    pitches = [bass] + [p for p in pitches if p > bass] + [p + 12 for p in pitches if p <= bass and p != bass]
    return harmony.from_pitches(pitches)


def _m21_key(key: str) -> str:
    tonic, mode = key.split()
    tonic = tonic[0] + tonic[1:].replace("b", "-")
    return tonic.lower() if mode == "minor" else tonic


def _span_key(spans_key: list, t: float) -> str:
    for a in spans_key:
        if a.start_beat <= t < a.end_beat:
            return str(a.value)
    return str(spans_key[-1].value) if spans_key else ""


def chord_spans(piece: Piece, dataset: str) -> list[Span]:
    """(start_beat, end_beat, Chord | None, key name) for a loaded example of `dataset`."""
    keys = sorted(piece.annotations_of("key"), key=lambda a: a.start_beat)
    out: list[Span] = []
    if dataset == "bps_fh":
        kinds = {k: sorted(piece.annotations_of(k), key=lambda a: a.start_beat)
                 for k in ("degree", "quality", "inversion")}
        for d, q, inv in zip(kinds["degree"], kinds["quality"], kinds["inversion"]):
            k = _span_key(keys, d.start_beat)
            tonic, minor = harmony.key_tonic_mode(k)
            bps_key = harmony.SHARP_NAMES[tonic].replace("#", "+")
            chord, _ = bps_chord(bps_key.lower() if minor else bps_key, str(d.value), str(q.value), int(inv.value))
            out.append((d.start_beat, d.end_beat, chord, k))
        return out
    if dataset == "when_in_rome":
        for a in sorted(piece.annotations_of("roman"), key=lambda a: a.start_beat):
            k = _span_key(keys, a.start_beat)
            out.append((a.start_beat, a.end_beat, roman_chord(str(a.value), k) if k else None, k))
        return out
    for a in sorted(piece.annotations_of("chord"), key=lambda a: a.start_beat):
        try:
            chord = harmony.parse_harte(str(a.value))
        except Exception:
            try:
                chord = harmony.parse_symbol(str(a.value))
            except Exception:
                continue
        out.append((a.start_beat, a.end_beat, chord, _span_key(keys, a.start_beat)))
    return out


def frame_targets(spans: list[Span], n_frames: int, resolution_beats: float = 1.0,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(class, bass) per frame, sampled at frame middles; frames outside every span are N (bass -1)."""
    cls = np.full(n_frames, harmony.N_CLASS, dtype=np.int64)
    bass = np.full(n_frames, -1, dtype=np.int64)
    mid = (np.arange(n_frames) + 0.5) * resolution_beats
    for s, e, chord, _ in spans:
        sel = (mid >= s) & (mid < e)
        if chord is not None:
            cls[sel], bass[sel] = chord.index, chord.bass
    return cls, bass


def examples(dataset: str, split: str, limit: int | None = None) -> Iterator[tuple[str, Piece, list[Span]]]:
    """(id, Piece, spans) for the examples of a dataset split that load and have chords."""
    from symbolic_ai.data import iter_examples
    from symbolic_ai.errors import InputError

    n = 0
    for ex in iter_examples(dataset, split=split):
        if dataset == "when_in_rome" and split == "train" and ex.labels.get("genre") not in (
                "Early_Choral", "Textbooks", "OpenScore-LiederCorpus", "Piano_Sonatas", "Quartets",
                "Keyboard_Other", "Variations_and_Grounds"):
            continue
        try:
            piece = ex.load()
        except InputError:
            continue
        spans = chord_spans(piece, dataset)
        if not spans or not len(piece.pitched()):
            continue
        yield ex.id, piece, spans
        n += 1
        if limit and n >= limit:
            return
