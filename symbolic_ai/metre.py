"""The metrical time axis: where the library reads a note's position in beats.

A piece with a beat grid (a score, or a MIDI file with tempo) is read in its own beats (quarter
notes, `onset_beat` / `duration_beat`). A performance known only in seconds is read on a *nominal*
grid of `NOMINAL_QPM` = 120 quarter notes per minute, so one second is two nominal beats. The same
grid is used wherever such a performance needs beats: the tasks' windows and frames, its MIDI and
MusicXML files (`io.midi`), the OSC bridge's note records and the tokenizer.

This module is the one owner of that rule: code that needs beats of a piece calls `beat_axis`,
`span` or the two conversions below, never `seconds * 2` itself. The bar-true metrical grid
(`grid`: bars and beats counted from the barlines, after a pickup and through time-signature
changes; harmonic-rhythm points; the frame `lead` that puts frame edges on barlines) lives here
too: chords, harmonize, the accompaniment writer and perform read bars and beats through it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from .errors import InputError
from .piece import Piece, TimeSignature

NOMINAL_QPM = 120.0
BEATS_PER_SEC = NOMINAL_QPM / 60.0  # nominal beats per second of a performance without a beat grid

Time = TypeVar("Time", float, np.ndarray)


def nominal_beats(sec: Time) -> Time:
    """Seconds → nominal beats (at NOMINAL_QPM)."""
    return sec * BEATS_PER_SEC


def nominal_sec(beats: Time) -> Time:
    """Nominal beats (at NOMINAL_QPM) → seconds."""
    return beats / BEATS_PER_SEC


def beat_axis(piece: Piece, notes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(onset, duration, unit) of `notes` (default: the piece's pitched notes) on the piece's beat
    axis: its beats (unit "beat") when it has a beat grid, else nominal beats (unit "sec")."""
    n = piece.pitched() if notes is None else notes
    if piece.has_beats:
        return n["onset_beat"], n["duration_beat"], "beat"
    return nominal_beats(n["onset_sec"]), nominal_beats(n["duration_sec"]), "sec"


def span(piece: Piece, start: float, end: float) -> tuple[float, float, float, float]:
    """(start_beat, end_beat, start_sec, end_sec) of [start, end) on the piece's beat axis; the
    beats are NaN for a piece without a beat grid (its positions are nominal)."""
    if piece.has_beats:
        start_sec, end_sec = piece.span_sec(start, end)
        return start, end, start_sec, end_sec
    return math.nan, math.nan, nominal_sec(start), nominal_sec(end)


# -- the bar-true metrical grid -------------------------------------------------------------------
def beat_length(numerator: int, denominator: int) -> float:
    """Length of one beat in quarter notes: the denominator's note, or a dotted quarter (three
    eighths) in compound metres (6/8, 9/8, 12/8; 3/8 is one dotted-quarter beat)."""
    if denominator >= 8 and numerator % 3 == 0:
        return 3 * 4.0 / denominator
    return 4.0 / denominator


@dataclass(frozen=True)
class Grid:
    """Bars and beats of a piece counted from its barlines (time signatures and pickup).

    `bars[i]` is the start beat of bar i (bar 0 is the pickup when there is one) and `bars[-1]`
    the end; `bar_beats[i]` and `beat[i]` are bar i's length and beat length in quarter notes.
    Every task that needs bars, beats or harmonic-rhythm points reads them here."""

    bars: np.ndarray
    bar_beats: np.ndarray
    beat: np.ndarray

    def bar_index(self, t: np.ndarray | float) -> np.ndarray:
        """Index of the bar holding each beat position (positions within 1e-6 of a barline belong to it)."""
        i = np.searchsorted(self.bars[:-1], np.asarray(t, dtype=float) + 1e-6, side="right") - 1
        return np.clip(i, 0, len(self.bars) - 2)

    def position(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """(bar index, quarter notes since that bar's start) of each position."""
        i = self.bar_index(t)
        return i, np.maximum(np.asarray(t, dtype=float) - self.bars[i], 0.0)

    def bar_length(self, t: np.ndarray | float) -> np.ndarray:
        """The nominal length (from its time signature) of the bar holding each position."""
        out: np.ndarray = self.bar_beats[self.bar_index(t)]
        return out

    def beats(self) -> np.ndarray:
        """Every beat start, counted from each barline."""
        out = [np.arange(a, b - 1e-6, d) for a, b, d in zip(self.bars[:-1], self.bars[1:], self.beat)]
        return np.concatenate(out) if out else np.zeros(0)

    def points(self, rhythm: str) -> np.ndarray:
        """Harmonic-rhythm points plus the end: 'bar' (barlines), 'half' (and the middle of bars of an
        even number of beats), 'beat' (every beat)."""
        if rhythm == "beat":
            pts = self.beats()
        elif rhythm == "half":
            halves = [a + ln / 2 for a, b, ln, d in zip(self.bars[:-1], self.bars[1:], self.bar_beats, self.beat)
                      if round(ln / d) % 2 == 0 and a + ln / 2 < b - 1e-6]
            pts = np.concatenate([self.bars[:-1], halves])
        elif rhythm == "bar":
            pts = self.bars[:-1]
        else:
            raise InputError(f"harmonic rhythm must be 'bar', 'half' or 'beat', got {rhythm!r}")
        return np.unique(np.round(np.concatenate([pts, self.bars[-1:]]), 6))

    def on(self, t: np.ndarray | float, rhythm: str = "beat") -> np.ndarray:
        """Whether each position falls on a point of `rhythm` (within 1e-3 quarter notes)."""
        pts = self.points(rhythm)
        tt = np.atleast_1d(np.asarray(t, dtype=float))
        j = np.clip(np.searchsorted(pts, tt), 1, len(pts) - 1)
        near = np.minimum(np.abs(pts[j] - tt), np.abs(pts[j - 1] - tt))
        return np.asarray(near < 1e-3)

    def lead(self, frame: float = 1.0) -> float:
        """How far to shift the piece so that frames of `frame` quarter notes counted from 0 meet the
        first full bar's barline (0.5 for an eighth-note pickup in 6/8 with quarter frames)."""
        first = float(self.bars[1]) if len(self.bars) > 2 and self.bars[0] < self.bars[1] else 0.0
        r = (-first) % frame
        return 0.0 if min(r, frame - r) < 1e-6 else float(r)


def grid(piece: Piece, until: float | None = None) -> Grid:
    """The metrical grid of a piece with a beat grid, up to `until` (default: its end), at least one bar.
    Before the first time signature, 4/4 (as in MIDI); a pickup longer than the first bar is refused."""
    if not piece.has_beats:
        raise InputError("this piece has no beat grid (a performance in seconds only); bars need a score "
                         "or a MIDI file with tempo")
    sigs = piece.time_signatures or (TimeSignature(0.0, 4, 4),)
    if piece.pickup_beats > sigs[0].bar_beats + 1e-6:
        raise InputError(f"pickup of {piece.pickup_beats:g} quarter notes is longer than the first bar "
                         f"({sigs[0].bar_beats:g}); set pickup_beats to the anacrusis only")
    end = piece.duration_beat if until is None else until
    starts = piece.bar_starts(end)
    ends = np.append(starts[1:], max(end, starts[-1] + 1e-6))
    if len(starts) > 1 and ends[-1] - starts[-1] < 1e-3:  # the piece ends on a barline: no empty last bar
        starts, ends = starts[:-1], ends[:-1]
    k = np.array([max([j for j, s in enumerate(sigs) if s.start_beat <= b + 1e-6] or [0]) for b in starts])
    nominal = np.array([sigs[j].bar_beats for j in k])
    beat = np.array([beat_length(sigs[j].numerator, sigs[j].denominator) for j in k])
    return Grid(np.append(starts, ends[-1]), nominal, beat)


def bar_lengths(piece: Piece, beats: np.ndarray) -> np.ndarray:
    """Nominal bar length (quarter notes, from the time signature in force) at each position."""
    sigs = piece.time_signatures or (TimeSignature(0.0, 4, 4),)
    starts = np.array([s.start_beat for s in sigs])
    i = np.clip(np.searchsorted(starts, np.asarray(beats, dtype=float) + 1e-9, side="right") - 1, 0, len(sigs) - 1)
    return np.array([s.bar_beats for s in sigs])[i]


def shifted(piece: Piece, by: float) -> Piece:
    """The piece moved later by `by` quarter notes (notes, signatures after 0, pickup), so that a
    frame grid counted from 0 meets its barlines (see `Grid.lead`); `by` 0 returns it unchanged."""
    if by <= 0:
        return piece
    n = piece.notes.copy()
    n["onset_beat"] += by
    n["onset_sec"], n["duration_sec"], n["bar"], n["beat_in_bar"] = np.nan, np.nan, -1, np.nan
    sigs = tuple(TimeSignature(s.start_beat + by if s.start_beat > 0 else 0.0, s.numerator, s.denominator)
                 for s in piece.time_signatures)
    return piece.replace(notes=n, time_signatures=sigs, pickup_beats=piece.pickup_beats + by,
                         key_signatures=(), annotations=())
