"""Piece → MusicXML, through a music21 Score built measure by measure.

Each track becomes a part. Notes that start together with the same length and velocity become one
chord; notes that overlap otherwise go to separate voices, allocated here (music21's own voice
and rest filling misplaces bar lines when lengths differ). Every voice is filled with rests to the
last bar line, so only a pickup makes a short first measure. `chord` annotations become
`<harmony>` elements on the first part, keeping their label as the kind's display text.
"""
from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any

from ..piece import KeySignature, Piece, TimeSignature

if TYPE_CHECKING:
    from music21 import harmony, key, meter, stream

NO_CHORD = "N"
GRID = 48  # positions are quantised to 1/48 of a quarter note (32nds and triplets)


def _q(beat: float, grid: int = GRID) -> float:
    """Quantise to 1/48 of a quarter (covers 32nds and triplets) so music21 can notate it."""
    return round(float(beat) * grid) / grid


def write_musicxml(piece: Piece) -> bytes:
    """Encode a Piece as uncompressed MusicXML."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    score = to_music21(piece)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GeneralObjectExporter(score).parse()


def to_music21(piece: Piece) -> stream.Score:
    """A music21 Score with one part per track and `chord` annotations as chord symbols.

    A performance known only in seconds is notated on the nominal grid used for MIDI (120 qpm,
    beats = seconds × 2). A pickup becomes a short first measure numbered 0.
    """
    from music21 import instrument, meter, stream, tempo

    if not piece.has_beats:
        from .midi import _with_nominal_tempo
        piece = _with_nominal_tempo(piece)
    sigs = piece.time_signatures or (TimeSignature(0.0, 4, 4),)
    pickup = piece.pickup_beats if 0 < piece.pickup_beats < sigs[0].bar_beats else 0.0
    end = _notation_end(piece)
    bars = [b for b in (_q(s) for s in piece.bar_starts(end)) if b <= end]

    def meters() -> stream.Stream[Any]:  # a fresh meter stream per voice (music21 elements live in one stream at a time)
        s: stream.Stream[Any] = stream.Stream()
        for ts in sigs:
            s.insert(_q(pickup if ts.start_beat == 0 and pickup else ts.start_beat),
                     meter.TimeSignature(f"{ts.numerator}/{ts.denominator}"))
        if pickup:  # a provisional short bar; replaced by the real signature in _as_anacrusis
            s.insert(0, _pickup_signature(pickup))
        return s

    score = stream.Score()
    for ti, tr in enumerate(piece.tracks):
        extras: list[tuple[float, object]] = [(_q(k.start_beat), _m21_key(k)) for k in piece.key_signatures]
        if ti == 0:
            extras += [(_q(t.start_beat), tempo.MetronomeMark(number=round(t.qpm, 2))) for t in piece.tempos]
            extras += [(_q(a.start_beat), cs) for a in piece.annotations_of("chord")
                       if (cs := _chord_symbol_or_none(str(a.value))) is not None]
        voices = [_voice_measures(v, bars, meters(), pickup) for v in _voices(piece, ti)]
        part = _merge_voices(voices, extras)
        part.partName = tr.name or f"track {ti}"
        part.insert(0, instrument.instrumentFromMidiProgram(tr.program))
        if pickup:
            _as_anacrusis(part, sigs[0], pickup)
        score.insert(0, part)
    return score


def _voices(piece: Piece, track: int) -> list[list[tuple[float, float, int, list[int]]]]:
    """The track's notes as (onset, duration, velocity, pitches) groups, split into voices whose
    groups never overlap (greedy: each group goes to the first voice that is free)."""
    n = piece.notes[piece.notes["track"] == track]
    groups: dict[tuple[float, float, int], list[int]] = {}
    for x in n:
        key = (_q(x["onset_beat"]), max(_q(x["duration_beat"]), 1 / GRID), max(int(x["velocity"]), 1))
        groups.setdefault(key, []).append(int(x["pitch"]))
    voices: list[list[tuple[float, float, int, list[int]]]] = []
    ends: list[float] = []
    for (on, dur, vel), pitches in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        free = next((i for i, e in enumerate(ends) if e <= on + 1e-9), None)
        if free is None:
            voices.append([])
            ends.append(0.0)
            free = len(voices) - 1
        voices[free].append((on, dur, vel, sorted(set(pitches))))
        ends[free] = on + dur
    return voices or [[]]


def _voice_measures(groups: list[tuple[float, float, int, list[int]]], bars: list[float], meter_stream: stream.Stream[Any],
                    pickup: float) -> list[stream.Measure]:
    """One voice as measures: its notes, rests in every gap (split at bar lines), ties across bars."""
    from music21 import chord, note, stream

    s: stream.Stream[Any] = stream.Stream()
    now = 0.0
    for on, dur, vel, pitches in groups + [(bars[-1], 0.0, 0, [])]:
        for a, b in zip(bars[:-1], bars[1:]):  # the gap [now, on) as rests, bar by bar
            lo, hi = _q(max(a, now)), _q(min(b, on))
            full = (lo, hi) == (a, b) and not (pickup and a == bars[0])  # a pickup bar is not full
            for start, length in _rest_pieces(lo, hi, whole_bar=full):
                s.insert(start, note.Rest(quarterLength=length))
        if pitches:
            el = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(pitches)
            el.quarterLength = dur
            el.volume.velocity = vel  # written as <note dynamics="…">
            s.insert(on, el)
        now = max(now, on + dur)
    measures = s.makeMeasures(meterStream=meter_stream)  # type: ignore[no-untyped-call]  # unannotated in music21
    measures.makeTies(inPlace=True)
    return list(measures.getElementsByClass(stream.Measure))


def _rest_pieces(lo: float, hi: float, whole_bar: bool) -> list[tuple[float, float]]:
    """A rest over [lo, hi) as (start, length) pieces with no whole or breve rest unless it fills
    the bar: music21's reader stretches a whole/breve rest to the full bar (a notation convention)."""
    if hi <= lo:
        return []
    if whole_bar:
        return [(lo, _q(hi - lo))]
    halves = int((hi - lo + 1e-9) // 2.0)
    pieces = [(lo + 2.0 * i, 2.0) for i in range(halves)]
    rest = _q(hi - lo - 2.0 * halves)  # on the grid: float noise would become a stray division
    return pieces + ([(_q(lo + 2.0 * halves), rest)] if rest > 0 else [])


def _merge_voices(voices: list[list[stream.Measure]], extras: list[tuple[float, object]]) -> stream.Part:
    """A Part whose measure i holds measure i of every voice (as music21 Voices when several)."""
    from music21 import stream

    part = stream.Part()  # type: ignore[no-untyped-call]  # unannotated in music21
    count = min(len(v) for v in voices)
    for i in range(count):
        m = voices[0][i]
        if len(voices) > 1:
            merged = stream.Measure(number=m.number)
            for el in m.getElementsByClass(["TimeSignature", "Clef"]):
                merged.insert(el.offset, el)
            for vi, v in enumerate(voices):
                voice = stream.Voice(id=str(vi + 1))
                for el in v[i].notesAndRests:
                    voice.insert(el.offset, el)
                merged.insert(0, voice)
            m = merged
        part.insert(voices[0][i].offset, m)
    measures = list(part.getElementsByClass(stream.Measure))
    for beat, el in extras:  # key signatures, tempo marks and chord symbols, into their measure
        m = next((x for x in reversed(measures) if x.offset <= beat + 1e-9), measures[0])
        m.insert(beat - m.offset, el)
    return part


def _notation_end(piece: Piece) -> float:
    """The first bar line at or after every note, annotation and signature (on the 1/48 grid)."""
    sigs = piece.time_signatures or (TimeSignature(0.0, 4, 4),)
    n = piece.notes
    ends = [float((n["onset_beat"] + n["duration_beat"]).max()) if len(n) else 0.0]
    ends += [a.end_beat for a in piece.annotations_of("chord")]
    ends += [s.start_beat + s.bar_beats for s in sigs] + [k.start_beat for k in piece.key_signatures]
    ends += [t.start_beat for t in piece.tempos]
    last = _q(max(ends))
    starts = [_q(s) for s in piece.bar_starts(last + max(s.bar_beats for s in sigs))]
    return min((s for s in starts if s >= last), default=last)


def _m21_key(ks: KeySignature) -> key.KeySignature:
    """A music21 Key when the mode is known (MusicXML then records it), else a KeySignature."""
    from music21 import key

    sig = key.KeySignature(ks.fifths)
    return sig.asKey(ks.mode) if ks.mode else sig


def _m21_chord_symbol(label: str) -> harmony.ChordSymbol:
    """A music21 ChordSymbol for a label ('Bb7', 'Dm7b5', 'G7/B', 'N'), keeping the label's own kind
    text (written as `<kind text="m7b5">`) so that reading it back gives the same label."""
    from music21 import harmony

    if label in (NO_CHORD, "N.C.", "NC"):
        return harmony.NoChord()
    m = re.match(r"^([A-G])([b#]*)([^/]*)(?:/([A-G][b#]*))?$", label)
    if not m:
        raise ValueError(f"not a chord label: {label!r}")
    root, accidental, kind, bass = m.groups()
    figure = root + accidental.replace("b", "-") + kind + (f"/{bass[0]}{bass[1:].replace('b', '-')}" if bass else "")
    cs = harmony.ChordSymbol(figure)
    cs.chordKindStr = kind
    return cs


def _chord_symbol_or_none(label: str) -> harmony.ChordSymbol | None:
    try:
        return _m21_chord_symbol(label)
    except Exception:  # a label music21 cannot spell is left out of the notation
        return None


def _pickup_signature(pickup: float) -> meter.TimeSignature:
    from fractions import Fraction

    from music21 import meter

    f = Fraction(pickup).limit_denominator(64) / 4   # in whole notes
    den = max(f.denominator, 4)                       # "4/4", not "1/1", for a whole-bar-long pickup
    return meter.TimeSignature(f"{f * den}/{den}")


def _as_anacrusis(part: stream.Part, first: TimeSignature, pickup: float) -> None:
    """Measures made with a provisional short first bar → measure 0 as a proper pickup."""
    from music21 import meter, stream

    measures = list(part.getElementsByClass(stream.Measure))
    if len(measures) > 1 and measures[1].timeSignature is not None:
        measures[1].remove(measures[1].timeSignature)
    measures[0].timeSignature = meter.TimeSignature(f"{first.numerator}/{first.denominator}")
    measures[0].paddingLeft = first.bar_beats - pickup
    for i, m in enumerate(measures):
        m.number = i
