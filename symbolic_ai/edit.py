"""Small edits composers expect: transpose, a range of bars, some of the tracks, another tempo.

Each takes a Piece and returns a new one (also as methods: `piece.transpose(2)`); note ids are kept,
so notes of the result can be matched to the original. Bars are numbered as `Piece.notes["bar"]`
(0-based; with a pickup, bar 0 is the pickup).
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from . import limits as L
from .errors import InputError
from .harmony import DEFAULT_NAMES, Key, pc_names, pitch_class
from .piece import Annotation, KeySignature, Piece, Tempo, TimeSignature

Timed = TypeVar("Timed", Tempo, TimeSignature, KeySignature)

_CHORD = re.compile(r"^([A-G][#b]?)([^/]*)(?:/([A-G][#b]?))?$")


def transpose(piece: Piece, semitones: int) -> Piece:
    """Pitched notes (not drums) moved by `semitones`; key signatures and `key`, `chord` and
    `roman` annotations follow (spelled for the new key). InputError if a note leaves 0..127."""
    if isinstance(semitones, bool) or not isinstance(semitones, (int, np.integer)) or abs(semitones) > 127:
        raise InputError(f"transpose: semitones must be an integer in -127..127, got {semitones!r}")
    s = int(semitones)
    notes = piece.notes.copy()
    drum = np.array([t.is_drum for t in piece.tracks], dtype=bool)[notes["track"]]
    moved = notes["pitch"].astype(int) + s
    bad = ~drum & ((moved < L.MIN_PITCH) | (moved > L.MAX_PITCH))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"transpose({s:+d}): note id {int(notes['id'][i])} (pitch {int(notes['pitch'][i])}) would "
                         f"reach pitch {int(moved[i])}, outside {L.MIN_PITCH}..{L.MAX_PITCH}; transpose by less")
    notes["pitch"] = np.where(drum, notes["pitch"], moved)
    keys = tuple(KeySignature(k.start_beat, _fifths(k.fifths + 7 * s), k.mode) for k in piece.key_signatures)
    names = pc_names(*_tonic(keys[0])) if keys else DEFAULT_NAMES
    return piece.replace(notes=notes, key_signatures=keys,
                         annotations=tuple(_transpose_annotation(a, s, names) for a in piece.annotations))


def slice_bars(piece: Piece, start: int, stop: int | None = None) -> Piece:
    """Bars `start` up to (not including) `stop` (default: to the end), moved to begin at beat 0.

    Notes are those that start in these bars, cut at the slice's end; tempo, time and key
    signatures in force at the start are kept, and annotations are cut to the slice."""
    if not piece.has_beats:
        raise InputError("slice_bars: this piece has no beat grid (a performance in seconds only), so it has no bars")
    starts = piece.bar_starts()
    count = len(starts)
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < count:
        raise InputError(f"slice_bars: start must be a bar number in 0..{count - 1}, got {start!r}")
    if stop is None:
        stop = count
    if isinstance(stop, bool) or not isinstance(stop, (int, np.integer)) or not start < stop:
        raise InputError(f"slice_bars: stop must be a bar number after start={start}, got {stop!r}")
    b0 = float(starts[start])
    b1 = float(starts[stop]) if stop < count else max(piece.duration_beat, b0)
    n = piece.notes
    keep = (n["onset_beat"] >= b0 - 1e-9) & (n["onset_beat"] < b1 - 1e-9)
    notes = n[keep].copy()
    notes["onset_beat"] = np.maximum(notes["onset_beat"] - b0, 0.0)
    notes["duration_beat"] = np.minimum(notes["duration_beat"], (b1 - b0) - notes["onset_beat"])
    for f in ("onset_sec", "duration_sec", "beat_in_bar"):
        notes[f] = np.nan  # derived again from the beats
    notes["bar"] = -1

    def moved(items: Sequence[Timed]) -> tuple[Timed, ...]:
        """The item in force at b0 (moved to 0) and those inside the slice, shifted by b0."""
        before = [x for x in items if x.start_beat <= b0 + 1e-9]
        inside = [x for x in items if b0 + 1e-9 < x.start_beat < b1 - 1e-9]
        return tuple(dataclasses.replace(x, start_beat=max(x.start_beat - b0, 0.0))
                     for x in ([before[-1]] if before else []) + inside)

    annotations = tuple(Annotation(a.kind, max(a.start_beat, b0) - b0, min(a.end_beat, b1) - b0, a.value)
                        for a in piece.annotations if a.end_beat > b0 and a.start_beat < b1)
    return piece.replace(notes=notes, tempos=moved(piece.tempos), time_signatures=moved(piece.time_signatures),
                         key_signatures=moved(piece.key_signatures), annotations=annotations,
                         pickup_beats=piece.pickup_beats if start == 0 else 0.0,
                         metadata={**piece.metadata, "bars": [int(start), int(stop)]})


def select_tracks(piece: Piece, tracks: Sequence[int | str]) -> Piece:
    """Only these tracks (indices into `piece.tracks`, or track names), in the order given."""
    if isinstance(tracks, (str, int)):
        tracks = [tracks]
    picked: list[int] = []
    names = [t.name for t in piece.tracks]
    for t in tracks:
        if isinstance(t, str) and t in names:
            picked.append(names.index(t))
        elif isinstance(t, (int, np.integer)) and not isinstance(t, bool) and 0 <= t < len(piece.tracks):
            picked.append(int(t))
        else:
            raise InputError(f"select_tracks: no track {t!r}; the piece has tracks 0..{len(piece.tracks) - 1}"
                             f" named {', '.join(repr(n) for n in names)}")
    if not picked or len(set(picked)) != len(picked):
        raise InputError(f"select_tracks: give one or more different tracks, got {list(tracks)!r}")
    order = np.full(len(piece.tracks), -1, dtype=np.int16)
    order[picked] = np.arange(len(picked))
    notes = piece.notes[order[piece.notes["track"]] >= 0].copy()
    notes["track"] = order[notes["track"]]
    return piece.replace(notes=notes, tracks=tuple(piece.tracks[i] for i in picked))


def with_tempo(piece: Piece, qpm: float) -> Piece:
    """The same beats at one constant tempo of `qpm` quarter notes per minute (seconds follow)."""
    if isinstance(qpm, bool) or not isinstance(qpm, (int, float, np.number)) or not math.isfinite(qpm) \
            or not L.MIN_QPM <= qpm <= L.MAX_QPM:
        raise InputError(f"with_tempo: qpm must be a number in {L.MIN_QPM:g}..{L.MAX_QPM:g}, got {qpm!r}")
    if not piece.has_beats:
        raise InputError("with_tempo: this piece has no beat grid (a performance in seconds only); "
                         "its tempo cannot be set")
    notes = piece.notes.copy()
    notes["onset_sec"] = np.nan
    notes["duration_sec"] = np.nan
    return piece.replace(notes=notes, tempos=(Tempo(0.0, float(qpm)),))


def _fifths(f: int) -> int:
    """A key signature's fifths folded into -6..6 (F# major rather than Gb, C# as Db)."""
    f %= 12
    return f - 12 if f > 6 else f


def _tonic(k: KeySignature) -> tuple[int, bool]:
    """(tonic pitch class, minor) of a key signature (major when its mode is not stated)."""
    minor = k.mode == "minor"
    return ((k.fifths * 7) % 12 + (9 if minor else 0)) % 12, minor


def _transpose_annotation(a: Annotation, s: int, names: tuple[str, ...]) -> Annotation:
    if not isinstance(a.value, str) or a.kind not in ("chord", "key", "roman"):
        return a
    try:
        if a.kind == "chord":
            value = _transpose_chord(a.value, s, names)
        elif a.kind == "key":
            value = _transpose_key(a.value, s)
        else:  # roman: 'G minor: V64/iv', the key part moves
            key, sep, figure = a.value.partition(": ")
            value = _transpose_key(key, s) + sep + figure if sep else a.value
    except InputError:
        return a  # a label we cannot read is kept as it is
    return Annotation(a.kind, a.start_beat, a.end_beat, value)


def _transpose_key(name: str, s: int) -> str:
    k = Key.parse(name)
    return Key((k.tonic + s) % 12, k.minor).name


def _transpose_chord(label: str, s: int, names: tuple[str, ...]) -> str:
    m = _CHORD.match(label.strip())
    if not m:
        return label
    root = names[(pitch_class(m.group(1)) + s) % 12]
    bass = f"/{names[(pitch_class(m.group(3)) + s) % 12]}" if m.group(3) else ""
    return root + m.group(2) + bass
