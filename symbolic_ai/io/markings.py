"""Performance markings of a music21 score → `Annotation`s (what `perform` reads; additive to `score.py`).

Kinds (beats are quarter notes from the start, as everywhere):
- `dynamic`: a dynamic mark at its offset, lasting until the next one ("pp", "mf", "sfz", "fp", …).
- `hairpin`: a crescendo or diminuendo wedge over its span (value "crescendo" / "diminuendo").
- `tempo`: a metronome mark (and its words) at its offset, until the next one:
  `{"text": "Allegro", "qpm": 132.0}`; `qpm` is null when the mark gives only words. A MusicXML
  `<sound tempo>` alone is a playback setting, not a marking, and is not read here.
- `words`: a text direction ("Adagio", "dolce", "rit."), until the next one.
- `fermata`: a fermata over a note or chord, spanning it.
- `articulation`: one per marked note, `{"mark": "staccato" | "accent" | "tenuto" | "marcato" |
  "ornament", "pitch": 60, "track": 0}` spanning the note.
- `slur`, `pedal_mark`: spans of slurs and of the score's pedal marks.
- `grace`: grace notes (which carry no duration, so they are not notes of the Piece), with their pitches.
- `section`: a double or final bar line (a section or phrase boundary), at its beat.
A mark music21 cannot place is skipped; reading never fails because of markings.
"""
from __future__ import annotations

import math
from typing import Any

from ..piece import Annotation

ARTICULATIONS = {"Staccato": "staccato", "Staccatissimo": "staccato", "Spiccato": "staccato",
                 "Accent": "accent", "StrongAccent": "marcato", "Tenuto": "tenuto", "DetachedLegato": "tenuto"}
ORNAMENTS = ("Trill", "Mordent", "InvertedMordent", "Turn", "InvertedTurn", "Tremolo")
SECTION_BARLINES = ("double", "final", "light-light", "light-heavy", "heavy-light", "heavy-heavy")


def markings(parts: list[Any]) -> list[Annotation]:
    """The markings of every part (`from_music21`'s parts, in track order) as annotations."""
    out: list[Annotation] = []
    for track, part in enumerate(parts):
        try:
            out += _part_markings(part, track, first=track == 0)
        except Exception:  # a malformed mark must not stop the notes from being read
            continue
    return out


def _part_markings(part: Any, track: int, first: bool) -> list[Annotation]:
    from music21 import dynamics, expressions, spanner, stream, tempo

    flat = part.flatten()
    end = float(flat.highestTime)
    out: list[Annotation] = []
    dyn = sorted((float(d.offset), str(d.value)) for d in flat.getElementsByClass(dynamics.Dynamic) if d.value)
    for i, (off, value) in enumerate(dyn):
        stop = dyn[i + 1][0] if i + 1 < len(dyn) else end
        out.append(Annotation("dynamic", off, max(stop, off), value))
    if first:  # tempo marks are the score's, not a part's: read them once
        marks: list[tuple[float, dict[str, Any]]] = []
        for m in flat.getElementsByClass(tempo.TempoIndication):
            text = str(getattr(m, "text", "") or "").strip()
            number = getattr(m, "number", None)
            explicit = number is not None and not getattr(m, "numberImplicit", False)
            qpm = None
            if explicit and isinstance(m, tempo.MetronomeMark):
                q = m.getQuarterBPM()
                qpm = float(q) if q and math.isfinite(q) and 1 <= q <= 2000 else None
            if text or qpm:
                marks.append((float(m.offset), {"text": text, "qpm": qpm}))
        for i, (off, mark) in enumerate(marks):
            stop = marks[i + 1][0] if i + 1 < len(marks) else end
            out.append(Annotation("tempo", off, max(stop, off), mark))
        words = sorted((float(t.offset), str(t.content).strip()) for t in flat.getElementsByClass(expressions.TextExpression)
                       if str(t.content or "").strip())
        for i, (off, text) in enumerate(words):
            stop = words[i + 1][0] if i + 1 < len(words) else end
            out.append(Annotation("words", off, max(stop, off), text))
    for sp in part.spannerBundle if hasattr(part, "spannerBundle") else []:
        kind = ("hairpin" if isinstance(sp, (dynamics.Crescendo, dynamics.Diminuendo)) else
                "slur" if isinstance(sp, spanner.Slur) else
                "pedal_mark" if isinstance(sp, getattr(expressions, "PedalMark", ())) else None)
        els = sp.getSpannedElements()
        if kind is None or not els:
            continue
        a = float(els[0].getOffsetInHierarchy(part))
        b = float(els[-1].getOffsetInHierarchy(part) + els[-1].duration.quarterLength)
        wedge = ("crescendo" if isinstance(sp, dynamics.Crescendo) else "diminuendo") if kind == "hairpin" else None
        out.append(Annotation(kind, a, max(a, b), wedge))
    for n in flat.notes:
        off, ql = float(n.offset), float(n.duration.quarterLength)
        pitches = [p.midi for p in n.pitches if 0 <= p.midi <= 127]
        if n.duration.isGrace or ql <= 0:
            out.append(Annotation("grace", off, off, {"pitches": pitches, "track": track}))
            continue
        names = {type(x).__name__ for x in list(n.articulations) + list(n.expressions)}
        if "Fermata" in names:
            out.append(Annotation("fermata", off, off + ql))
        found = {ARTICULATIONS[x] for x in names if x in ARTICULATIONS}
        if names & set(ORNAMENTS):
            found.add("ornament")
        for art in sorted(found):
            out += [Annotation("articulation", off, off + ql, {"mark": art, "pitch": p, "track": track})
                    for p in pitches]
    if first:
        for m in part.getElementsByClass(stream.Measure):
            bl = m.rightBarline
            if bl is not None and getattr(bl, "type", "") in SECTION_BARLINES:
                at = float(m.offset + m.duration.quarterLength)
                out.append(Annotation("section", at, at, str(bl.type)))
    return out
