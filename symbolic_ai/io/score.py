"""Notated formats through music21: MusicXML/MXL, ABC, Humdrum kern, RomanText ⇄ Piece.

Chord symbols (`<harmony>`) become `chord` annotations; RomanText analyses become `roman` and
`key` annotations and their chords become notes. Writing MusicXML puts `chord` annotations back
as `<harmony>` elements on the first part.
"""
from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..piece import (Annotation, KeySignature, Piece, Tempo, TimeSignature, Track,
                     dedupe_by_start, empty_notes)

FORMATS = {".musicxml": "musicxml", ".xml": "musicxml", ".mxl": "musicxml", ".abc": "abc",
           ".krn": "humdrum", ".rntxt": "romantext"}


def read_score(path: Path, fmt: str | None = None) -> Piece:
    """Parse a notated file with music21 and convert it to a Piece."""
    import music21

    fmt = fmt or FORMATS.get(path.suffix.lower())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = music21.converter.parse(str(path), format=fmt, forceSource=True)
    except Exception as exc:  # music21 raises many unrelated types on bad files
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: could not be read as {fmt or 'a score'} ({reason})") from None
    if isinstance(parsed, music21.stream.Opus):
        if not parsed.scores:
            raise InputError(f"{path}: the file holds no tunes")
        parsed = parsed.scores[0]
    return from_music21(parsed, source=str(path))


def from_music21(score, source: str = "") -> Piece:
    """Convert a music21 Score (or Part/Stream) to a Piece."""
    import music21
    from music21 import chord as m21chord, harmony, note as m21note, roman

    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    rows, tracks, annotations = [], [], []
    for pi, part in enumerate(parts):
        stripped = part.stripTies() if _has_ties(part) else part
        inst = part.getInstrument(returnDefault=True)
        program = inst.midiProgram if inst.midiProgram is not None else 0
        tracks.append(Track(program=int(program), name=str(part.partName or inst.instrumentName or f"part {pi}"),
                            is_drum=isinstance(inst, music21.instrument.UnpitchedPercussion)))
        for el, offset, bar, in_bar in _elements(stripped):
            if isinstance(el, harmony.Harmony) and not isinstance(el, roman.RomanNumeral):
                annotations.append(("chord", offset, _chord_symbol(el)))
                continue
            ql = float(el.duration.quarterLength)
            if ql <= 0 or isinstance(el, m21note.Rest):
                continue  # grace notes carry no duration of their own
            if isinstance(el, roman.RomanNumeral):
                annotations.append(("roman", offset, el.figure, ql))
                if el.key is not None:
                    annotations.append(("key", offset, _key_name(el.key)))
            pitches = el.pitches if isinstance(el, m21chord.Chord) else [el.pitch] if hasattr(el, "pitch") else []
            vel = el.volume.velocity if el.volume.velocity else 80  # MusicXML <note dynamics>, else mf
            voice = _voice_number(el)
            for p in pitches:
                if 0 <= p.midi <= 127:
                    rows.append((offset, ql, p.midi, int(vel), pi, voice, bar, in_bar))

    notes = empty_notes(len(rows))
    if rows:
        rows.sort(key=lambda r: (r[0], r[2]))
        a = np.asarray(rows, dtype=float)
        notes["onset_beat"], notes["duration_beat"] = a[:, 0], a[:, 1]
        notes["pitch"], notes["velocity"], notes["track"], notes["voice"] = a[:, 2], a[:, 3], a[:, 4], a[:, 5]
        notes["bar"], notes["beat_in_bar"] = a[:, 6], a[:, 7]
    end = float((notes["onset_beat"] + notes["duration_beat"]).max()) if rows else 0.0
    first = parts[0].flatten()
    title = score.metadata.title if getattr(score, "metadata", None) is not None and score.metadata.title else ""
    piece = Piece(
        notes=notes,
        tracks=tuple(tracks) or (Track(),),
        tempos=_tempos(score),
        time_signatures=tuple(TimeSignature(float(ts.offset), ts.numerator, ts.denominator)
                              for ts in _unique_offsets(first.getElementsByClass("TimeSignature")))
        or (TimeSignature(0.0, 4, 4),),
        key_signatures=tuple(_key_signature(k) for k in _unique_offsets(
            sorted(first.getElementsByClass("KeySignature"), key=lambda k: getattr(k, "mode", "") not in
                   ("major", "minor")))),  # at one offset, a Key (with its mode) wins over a bare signature
        metadata={"source": source, "title": title},
        pickup_beats=_pickup(parts[0]),
    )
    return piece.annotate(_spans(annotations, end))


def _elements(part):
    """(element, offset in quarters, bar index, quarters into the bar) for every note-like element.

    Bars come from the score's measures, so a pickup is bar 0 and bar 1 starts after it.
    """
    from music21 import stream

    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        for el in part.flatten().notesAndRests:
            yield el, float(el.offset), -1, float("nan")
        return
    for bar, m in enumerate(measures):
        base = float(m.offset)
        for el in m.recurse().notesAndRests:
            in_bar = float(el.getOffsetInHierarchy(m))
            yield el, base + in_bar, bar, in_bar


def _pickup(part) -> float:
    """Length of the first measure if it is shorter than its time signature (an anacrusis)."""
    from music21 import stream

    first = next(iter(part.getElementsByClass(stream.Measure)), None)
    if first is None or first.timeSignature is None and first.getContextByClass("TimeSignature") is None:
        return 0.0
    ts = first.timeSignature or first.getContextByClass("TimeSignature")
    dur = float(first.duration.quarterLength)
    return dur if 0 < dur < float(ts.barDuration.quarterLength) - 1e-9 else 0.0


def _has_ties(part) -> bool:
    return any(n.tie is not None for n in part.recurse().notes)


def _voice_number(el) -> int:
    ctx = el.getContextByClass("Voice")
    try:
        return int(ctx.id) if ctx is not None and str(ctx.id).isdigit() else 0
    except (TypeError, ValueError):
        return 0


def _unique_offsets(elements) -> list:
    seen: dict[float, object] = {}
    for e in elements:
        seen.setdefault(float(e.offset), e)
    return [seen[k] for k in sorted(seen)]


def _tempos(score) -> tuple[Tempo, ...]:
    out = []
    try:
        for start, _end, mark in score.metronomeMarkBoundaries():
            qpm = mark.getQuarterBPM()
            if qpm and math.isfinite(qpm):
                out.append(Tempo(float(start), float(min(max(qpm, 1.0), 2000.0))))
    except Exception:  # music21 can fail on odd tempo marks; the default tempo is fine then
        pass
    return tuple(dedupe_by_start(out)) or (Tempo(0.0, 120.0),)


def _key_signature(k) -> KeySignature:
    mode = getattr(k, "mode", "")
    return KeySignature(float(k.offset), int(k.sharps), mode if mode in ("major", "minor") else "")


def _key_name(k) -> str:
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"


NO_CHORD = "N"


def _chord_symbol(h) -> str:
    """The label of a `<harmony>`: root + the kind's display text (+ /bass) when the file gives that
    text, else music21's figure; 'N' for no chord. Flats are spelled 'b' ('Bb7')."""
    from music21 import harmony

    if isinstance(h, harmony.NoChord):
        return NO_CHORD
    root = h.root()
    if h.chordKindStr and root is not None:
        bass = h.bass()
        slash = f"/{bass.name}" if bass is not None and bass.name != root.name else ""
        return (root.name + h.chordKindStr + slash).replace("-", "b")
    fig = h.figure or ""
    return fig.replace("-", "b") if fig and fig[0] in "ABCDEFG" else fig


def _spans(items: list[tuple], end: float) -> list[Annotation]:
    """Turn point labels into spans: each lasts until the next of its kind (or its own duration)."""
    out = []
    by_kind: dict[str, list[tuple]] = {}
    for it in items:
        by_kind.setdefault(it[0], []).append(it)
    for kind, lst in by_kind.items():
        lst.sort(key=lambda t: t[1])
        for i, it in enumerate(lst):
            if kind == "key" and i and lst[i - 1][2] == it[2]:
                continue
            nxt = next((x[1] for x in lst[i + 1:] if x[1] > it[1] and (kind != "key" or x[2] != it[2])), None)
            stop = it[1] + it[3] if len(it) > 3 else (nxt if nxt is not None else max(end, it[1]))
            out.append(Annotation(kind, it[1], stop, it[2]))
    return out


def to_music21(piece: Piece):
    """A music21 Score with one part per track and `chord` annotations as chord symbols.

    A performance known only in seconds is notated on the nominal grid used for MIDI (120 qpm,
    beats = seconds × 2). A pickup becomes a short first measure numbered 0.
    """
    from music21 import chord, harmony, instrument, key, meter, note, stream, tempo

    if not piece.has_beats:
        from .midi import _with_nominal_tempo
        piece = _with_nominal_tempo(piece)
    score = stream.Score()
    sigs = piece.time_signatures or (TimeSignature(0.0, 4, 4),)
    pickup = piece.pickup_beats if 0 < piece.pickup_beats < sigs[0].bar_beats else 0.0
    for ti, tr in enumerate(piece.tracks):
        part = stream.Part()
        part.partName = tr.name or f"track {ti}"
        part.insert(0, instrument.instrumentFromMidiProgram(tr.program))
        if ti == 0:
            for t in piece.tempos:
                part.insert(_q(t.start_beat), tempo.MetronomeMark(number=round(t.qpm, 2)))
        for ts in sigs:
            start = pickup if ts.start_beat == 0 and pickup else ts.start_beat
            part.insert(_q(start), meter.TimeSignature(f"{ts.numerator}/{ts.denominator}"))
        if pickup:  # a provisional short bar; replaced by the real signature below
            part.insert(0, _pickup_signature(pickup))
        for ks in piece.key_signatures:
            part.insert(_q(ks.start_beat), _m21_key(ks))
        n = piece.notes[piece.notes["track"] == ti]
        groups: dict[tuple[float, float, int], list[int]] = {}
        for x in n:
            on = _q(x["onset_beat"])
            key_ = (on, max(_q(x["duration_beat"]), 1 / 48), max(int(x["velocity"]), 1))
            groups.setdefault(key_, []).append(int(x["pitch"]))
        for (on, dur, vel), pitches in sorted(groups.items()):
            el = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(sorted(set(pitches)))
            el.quarterLength = dur
            el.volume.velocity = vel  # written as <note dynamics="…">
            part.insert(on, el)
        if ti == 0:
            for a in piece.annotations_of("chord"):
                try:
                    part.insert(_q(a.start_beat), _m21_chord_symbol(str(a.value)))
                except Exception:
                    continue  # a label music21 cannot spell (e.g. "N") is left out of the notation
        if pickup:
            part = _as_anacrusis(part.makeNotation(), sigs[0], pickup)
        score.insert(0, part)
    return score


def _m21_key(ks: KeySignature):
    """A music21 Key when the mode is known (MusicXML then records it), else a KeySignature."""
    from music21 import key

    sig = key.KeySignature(ks.fifths)
    return sig.asKey(ks.mode) if ks.mode else sig


def _m21_chord_symbol(label: str):
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


def _pickup_signature(pickup: float):
    from fractions import Fraction

    from music21 import meter

    f = Fraction(pickup).limit_denominator(64) / 4
    return meter.TimeSignature(f"{f.numerator}/{f.denominator}")


def _as_anacrusis(part, first: TimeSignature, pickup: float):
    """Measures made with a provisional short first bar → measure 0 as a proper pickup."""
    from music21 import meter, stream

    measures = list(part.getElementsByClass(stream.Measure))
    if len(measures) > 1 and measures[1].timeSignature is not None:
        measures[1].remove(measures[1].timeSignature)
    measures[0].timeSignature = meter.TimeSignature(f"{first.numerator}/{first.denominator}")
    measures[0].paddingLeft = first.bar_beats - pickup
    for i, m in enumerate(measures):
        m.number = i
    return part


def _q(beat: float, grid: int = 48) -> float:
    """Quantise to 1/48 of a quarter (covers 32nds and triplets) so music21 can notate it."""
    return round(float(beat) * grid) / grid


def write_musicxml(piece: Piece) -> bytes:
    """Encode a Piece as uncompressed MusicXML."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    score = to_music21(piece)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GeneralObjectExporter(score).parse()
