"""Notated formats through music21: MusicXML/MXL, ABC, Humdrum kern, RomanText ⇄ Piece.

Chord symbols (`<harmony>`) become `chord` annotations; RomanText analyses become `roman` and
`key` annotations and their chords become notes. Writing MusicXML puts `chord` annotations back
as `<harmony>` elements on the first part.
"""
from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..piece import Annotation, KeySignature, Piece, Tempo, TimeSignature, Track, dedupe_by_start, empty_notes
from . import budget
from .abc import Tune, pick_tune, split_tunes
from .markings import markings
from .musicxml import NO_CHORD, to_music21, write_musicxml  # noqa: F401  (the writer, re-exported)

if TYPE_CHECKING:
    from music21 import key, stream

FORMATS = {".musicxml": "musicxml", ".xml": "musicxml", ".mxl": "musicxml", ".abc": "abc",
           ".krn": "humdrum", ".rntxt": "romantext"}


def read_score(path: Path, fmt: str | None = None, tune: int | None = None) -> Piece:
    """Parse a notated file with music21 and convert it to a Piece.

    The input is bounded before music21 sees it (`budget.check_score`: note, measure and bar-number
    counts from `symbolic_ai.limits`; an .mxl is inflated here, within a size and entry limit), so
    the parse is bounded too. In an ABC file, `tune` picks the tune by its `X:` number (default:
    the first); only that tune is parsed."""
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt == "abc":
        tunes = split_tunes(path.read_bytes())
        return read_abc_tune(path, pick_tune(tunes, tune, str(path)), len(tunes))
    if tune is not None:
        raise InputError(f"{path}: tune={tune} picks a tune of an ABC file; this file is {fmt or 'not ABC'}")
    with tempfile.TemporaryDirectory(prefix="symbolic_ai-") as tmp:
        source = path
        if path.suffix.lower() == ".mxl":
            source = Path(tmp) / "score.musicxml"
            source.write_bytes(budget.inflate_mxl(path))
        budget.check_score(source.read_bytes(), fmt or "", str(path))
        parsed = _parse(source, fmt, path)
    return from_music21(parsed, source=str(path))


def read_abc_tune(path: Path, tune: Tune, count: int) -> Piece:
    """One tune of an ABC file (`abc.split_tunes`) as a Piece; `metadata["tune"]` is its X: number
    when the file holds more than one."""
    budget.check_score(tune.text, "abc", str(path))
    with tempfile.TemporaryDirectory(prefix="symbolic_ai-") as tmp:
        source = Path(tmp) / "tune.abc"
        source.write_bytes(tune.text)
        parsed = _parse(source, "abc", path if count == 1 else f"{path} (tune X:{tune.number})")
    piece = from_music21(parsed, source=str(path))
    return piece if count == 1 else piece.replace(metadata={**piece.metadata, "tune": tune.number})


def _parse(source: Path, fmt: str | None, name: object) -> Any:
    """music21's parse of `source` (the first score of an Opus), its many exception types turned
    into one InputError on `name`."""
    import music21

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = music21.converter.parse(str(source), format=fmt, forceSource=True)
    except Exception as exc:  # music21 raises many unrelated types on bad files
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InputError(f"{name}: could not be read as {fmt or 'a score'} ({reason})") from None
    if isinstance(parsed, music21.stream.Opus):
        if not parsed.scores:
            raise InputError(f"{name}: the file holds no tunes")
        parsed = parsed.scores[0]
    return parsed


def from_music21(score: Any, source: str = "") -> Piece:
    """Convert a music21 Score (or Part/Stream) to a Piece."""
    import music21
    from music21 import chord as m21chord
    from music21 import harmony, roman
    from music21 import note as m21note

    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    rows: list[list[Any]] = []
    tracks: list[Track] = []
    annotations: list[tuple[Any, ...]] = []  # (kind, offset, value[, length]) points for _spans
    for pi, part in enumerate(parts):
        open_ties: dict[int, list[list[Any]]] = {}  # MIDI pitch -> rows whose tie chains are still open
        inst = part.getInstrument(returnDefault=True)
        program = inst.midiProgram if inst.midiProgram is not None else 0
        tracks.append(Track(program=int(program), name=str(part.partName or inst.instrumentName or f"part {pi}"),
                            is_drum=isinstance(inst, music21.instrument.UnpitchedPercussion)))
        for el, offset, bar, in_bar in _elements(part):
            if isinstance(el, harmony.Harmony) and not isinstance(el, roman.RomanNumeral):
                annotations.append(("chord", _snap(offset), _chord_symbol(el)))
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
            for i, p in enumerate(pitches):
                if not 0 <= p.midi <= 127:
                    continue
                tie = _tie_type(el, i)
                chains = open_ties.setdefault(p.midi, [])
                row = next((r for r in chains if abs(r[0] + r[1] - offset) < 1e-6), None)
                if tie in ("continue", "stop") and row is not None:
                    row[1] += ql  # the tied continuation lengthens the note it continues
                    if tie == "stop":
                        chains.remove(row)
                    continue
                row = [offset, ql, p.midi, int(vel), pi, voice, bar, in_bar]
                rows.append(row)
                if tie in ("start", "continue"):
                    chains.append(row)

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
    return piece.annotate(_spans(annotations, end) + markings(parts))


def _elements(part: stream.Stream[Any]) -> Iterator[tuple[Any, float, int, float]]:
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
        found = [(float(el.getOffsetInHierarchy(m)), el) for el in m.recurse().notesAndRests]
        for in_bar, el in sorted(found, key=lambda x: x[0]):  # voices interleaved in time (stable)
            yield el, base + in_bar, bar, in_bar


def _pickup(part: stream.Stream[Any]) -> float:
    """Length of the first measure if it is shorter than its time signature (an anacrusis)."""
    from music21 import stream

    first = next(iter(part.getElementsByClass(stream.Measure)), None)
    if first is None or (first.timeSignature is None and first.getContextByClass("TimeSignature") is None):
        return 0.0
    ts = first.timeSignature or first.getContextByClass("TimeSignature")
    dur = float(first.duration.quarterLength)
    return dur if 0 < dur < float(ts.barDuration.quarterLength) - 1e-9 else 0.0


def _snap(beat: float) -> float:
    """A position within 1/1000 of a quarter of the 1/48 grid is put on it: music21 writes a
    `<harmony>` inside a sounding note one MusicXML division off."""
    snapped = round(beat * 48) / 48
    return snapped if abs(snapped - beat) < 1e-3 else beat


def _tie_type(el: Any, i: int) -> str | None:
    """'start', 'continue', 'stop' or None for the i-th pitch of a note or chord.

    Ties are joined here rather than with music21's stripTies, which mismatches them when notes
    of different lengths overlap in one part.
    """
    notes = getattr(el, "notes", None)
    tie = notes[i].tie if notes and i < len(notes) and notes[i].tie is not None else el.tie
    return tie.type if tie is not None else None


def _voice_number(el: Any) -> int:
    ctx = el.getContextByClass("Voice")
    try:
        return int(ctx.id) if ctx is not None and str(ctx.id).isdigit() else 0
    except (TypeError, ValueError):
        return 0


def _unique_offsets(elements: Iterable[Any]) -> list[Any]:
    seen: dict[float, object] = {}
    for e in elements:
        seen.setdefault(float(e.offset), e)
    return [seen[k] for k in sorted(seen)]


def _tempos(score: Any) -> tuple[Tempo, ...]:
    out = []
    try:
        for start, _end, mark in score.metronomeMarkBoundaries():
            qpm = mark.getQuarterBPM()
            if qpm and math.isfinite(qpm):
                out.append(Tempo(float(start), float(min(max(qpm, 1.0), 2000.0))))
    except Exception:  # music21 can fail on odd tempo marks; the default tempo is fine then
        pass
    return tuple(dedupe_by_start(out)) or (Tempo(0.0, 120.0),)


def _key_signature(k: key.KeySignature) -> KeySignature:
    mode = getattr(k, "mode", "")
    return KeySignature(float(k.offset), int(k.sharps), mode if mode in ("major", "minor") else "")


def _key_name(k: key.Key) -> str:
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"


def _chord_symbol(h: Any) -> str:
    """The label of a `<harmony>`: root + the kind's display text (+ /bass) when the file gives that
    text, else music21's figure; 'N' for no chord. Flats are spelled 'b' ('Bb7')."""
    from music21 import harmony

    if isinstance(h, harmony.NoChord):
        return NO_CHORD
    root = h.root()
    if h.chordKindStr and root is not None:
        bass = h.bass()
        slash = f"/{bass.name}" if bass is not None and bass.name != root.name else ""
        label: str = (root.name + h.chordKindStr + slash).replace("-", "b")
        return label
    fig = h.figure or ""
    return fig.replace("-", "b") if fig and fig[0] in "ABCDEFG" else fig


def _spans(items: list[tuple[Any, ...]], end: float) -> list[Annotation]:
    """Turn point labels into spans: each lasts until the next of its kind (or its own duration)."""
    out = []
    by_kind: dict[str, list[tuple[Any, ...]]] = {}
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


