"""The metrical time axis: where the library reads a note's position in beats.

A piece with a beat grid (a score, or a MIDI file with tempo) is read in its own beats (quarter
notes, `onset_beat` / `duration_beat`). A performance known only in seconds is read on a *nominal*
grid of `NOMINAL_QPM` = 120 quarter notes per minute, so one second is two nominal beats. The same
grid is used wherever such a performance needs beats: the tasks' windows and frames, its MIDI and
MusicXML files (`io.midi`), the OSC bridge's note records and the tokenizer.

This module is the one owner of that rule: code that needs beats of a piece calls `beat_axis`,
`span` or the two conversions below, never `seconds * 2` itself. A bar-true metrical grid
(pickups, bars counted from the barlines) belongs here too, built on `beat_axis`.
"""
from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

from .piece import Piece

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
