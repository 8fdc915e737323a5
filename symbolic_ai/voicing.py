"""Voiced accompaniment from a chord progression: block chords, arpeggios or comping.

`voice_progression` picks, for each chord, a bass note near `register_pitch - 12` and three
upper voices in close position around `register_pitch`, choosing among all inversions and
octave placements the one that moves the upper voices least from the previous chord (smooth
voice leading) and stays below the melody where it can. `accompaniment_notes` then plays the
voicings in a pattern on the piece's beat grid.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import InputError
from .harmony import Chord
from .metre import Grid
from .piece import empty_notes

PATTERNS = ("block", "arpeggio", "comping")


def _candidates(chord: Chord, center: int) -> list[tuple[int, ...]]:
    """Close-position 3-voice upper structures (sorted pitches) within an octave of `center`."""
    tones = list(chord.pitch_classes)
    if len(tones) > 3:  # a seventh chord: drop the fifth, keep root, third, seventh
        tones = [tones[0], tones[1], tones[3]]
    out = set()
    for base in range(center - 12, center + 13):
        if base % 12 not in tones:
            continue
        voicing = [base]
        for pc in tones:
            if pc == base % 12:
                continue
            p = base + (pc - base) % 12
            voicing.append(p)
        v = tuple(sorted(voicing))
        if v[-1] - v[0] <= 12 and center - 12 <= v[0] and v[-1] <= center + 12:
            out.add(v)
    return sorted(out)


def voice_progression(chords: Sequence[Chord], register_pitch: int = 60,
                      melody_floor: Sequence[float] | None = None) -> list[tuple[int, tuple[int, ...]]]:
    """(bass pitch, upper-voice pitches) per chord with minimal upper-voice motion.

    `melody_floor[i]` is the lowest melody pitch over chord i (NaN if none): upper voices stay
    at least a tone below it when a candidate allows."""
    if not 24 <= register_pitch <= 96:
        raise InputError(f"register_pitch must be in 24..96, got {register_pitch!r}")
    out: list[tuple[int, tuple[int, ...]]] = []
    prev: tuple[int, ...] | None = None
    for i, chord in enumerate(chords):
        cands = _candidates(chord, register_pitch)
        floor = melody_floor[i] if melody_floor is not None else float("nan")
        if np.isfinite(floor):
            below = [c for c in cands if c[-1] <= floor - 2]
            cands = below or cands
        if prev is None:
            best = min(cands, key=lambda c: abs(np.mean(c) - register_pitch))
        else:
            last: tuple[int, ...] = prev
            best = min(cands, key=lambda c: (sum(abs(a - b) for a, b in zip(c, last))
                                             + 0.25 * abs(np.mean(c) - register_pitch)))
        low = min(best) - 5
        bass = max(p for p in range(low - 12, low + 1) if p % 12 == chord.bass)
        out.append((bass, best))
        prev = best
    return out


def _strikes(start: float, end: float, metre: Grid | None, beats_per_bar: float) -> list[tuple[float, float, float]]:
    """(strike, bar length, beat length) for a segment: its start, then every barline inside it."""
    if metre is None:
        pts = [float(p) for p in np.arange(start, end - 1e-6, beats_per_bar)] or [start]
        return [(p, beats_per_bar, 1.0) for p in pts]
    bars = metre.bars[(metre.bars > start + 1e-6) & (metre.bars < end - 1e-6)]
    pts = [start] + [float(b) for b in bars]
    i = metre.bar_index(np.asarray(pts))
    return [(p, float(metre.bar_beats[j]), float(metre.beat[j])) for p, j in zip(pts, i)]


def accompaniment_notes(segments: Sequence[tuple[float, float, Chord]], *, pattern: str = "block",
                        register_pitch: int = 60, beats_per_bar: float = 4.0, velocity: int = 64,
                        melody_floor: Sequence[float] | None = None, track: int = 1,
                        metre: Grid | None = None) -> np.ndarray:
    """Notes (NOTE_DTYPE, beats only) playing `(start_beat, end_beat, Chord)` segments in a pattern.

    With `metre` (the piece's `metre.Grid`) chords are struck again on its barlines and the
    patterns follow its bars and beats; without it, every `beats_per_bar` from the segment start.
    block: bass + chord sustained, struck again at each bar; arpeggio: bass then the upper voices
    in eighth notes (up and down); comping: bass on the segment start and mid-bar, short chords off
    the beat (the "and" of each beat; the third eighth of a dotted-quarter beat)."""
    if pattern not in PATTERNS:
        raise InputError(f"accompaniment pattern must be one of {', '.join(PATTERNS)}, got {pattern!r}")
    voiced = voice_progression([c for _, _, c in segments], register_pitch, melody_floor)
    rows: list[tuple[float, float, int, int]] = []
    soft = max(1, int(velocity * 0.85))
    for (start, end, chord), (bass, upper) in zip(segments, voiced):
        if end - start <= 1e-6:
            continue
        strikes = _strikes(start, end, metre, beats_per_bar)
        for k, (s, bar, beat) in enumerate(strikes):
            e = min(end, strikes[k + 1][0] if k + 1 < len(strikes) else end)
            if pattern == "block":
                rows += [(s, e - s, bass, velocity)] + [(s, e - s, p, soft) for p in upper]
            elif pattern == "arpeggio":
                u = list(upper)
                seq = [bass, u[0], u[1], u[-1], u[1], u[0], u[1], u[-1]]
                t, j = s, 0
                while t < e - 1e-6:
                    d = min(0.5, e - t)
                    rows.append((t, d, seq[j % len(seq)], velocity if j == 0 else soft))
                    t, j = t + 0.5, j + 1
            else:  # comping
                rows.append((s, min(e - s, bar / 2), bass, velocity))
                half = s + bar / 2
                if half < e - 1e-6 and bar >= 2:
                    fifth = chord.pitch_classes[2]  # alternate bass: the chord's fifth, below the bass
                    rows.append((half, min(e - half, bar / 2), bass - (bass - fifth) % 12, soft))
                t = s + (beat - 0.5 if beat > 1 else beat / 2)
                while t < e - 1e-6:
                    rows += [(t, min(0.4, e - t), p, soft) for p in upper]
                    t += beat
    notes = empty_notes(len(rows))
    if rows:
        a = np.asarray(rows, dtype=float)
        notes["onset_beat"], notes["duration_beat"] = a[:, 0], a[:, 1]
        notes["pitch"], notes["velocity"] = a[:, 2], np.clip(a[:, 3], 1, 127)
        notes["track"] = track
    return notes
