"""Pieces to and from the objects of music21 and pretty_midi, for scripts that use them alongside.

```python
import symbolic_ai as sai
piece = sai.load(music21.corpus.parse("bach/bwv66.6"))   # a Stream/Score, or a PrettyMIDI
score = piece.to_music21()                                 # a music21 Score, one part per track
pm = sai.run("perform", piece).piece.to_pretty_midi()      # a pretty_midi.PrettyMIDI
```

music21 goes through the same converters as MusicXML files (`io.musicxml.to_music21`,
`io.score.from_music21`): a Piece and the MusicXML written from it agree. pretty_midi goes through
the MIDI codec (`io.midi`): a `PrettyMIDI` is what pretty_midi reads from the file `sai.save` writes,
so tempo map, time signatures, programs, drums, velocities, pedal and markers survive, and a
Piece read from a `PrettyMIDI` is the one `sai.load` reads from the file it writes (MIDI has no
"unstated" mode: a key signature without one comes back major). A music21 Score notates `chord`
annotations (not markers or pedal) and puts positions on the 1/48-quarter grid of notation.
"""
from __future__ import annotations

import io
from typing import Any

from .errors import InputError, require
from .piece import Piece


def to_music21(piece: Piece) -> Any:
    """A `music21.stream.Score`: one part per track, `chord` annotations as chord symbols."""
    from .io.musicxml import to_music21 as convert

    return convert(piece)


def from_music21(obj: Any, *, tune: int | None = None) -> Piece:
    """A Piece from a music21 Score, Part or Stream; from an Opus (e.g. a multi-tune ABC file),
    the tune whose number is `tune` (default: the first)."""
    from music21 import stream

    from .io.score import from_music21 as convert

    if not isinstance(obj, stream.Stream):
        raise InputError(f"expected a music21 Stream, Score or Opus, got {type(obj).__name__}")
    if isinstance(obj, stream.Opus):
        scores = list(obj.scores)
        if not scores:
            raise InputError("the music21 Opus holds no scores")
        numbers = [getattr(s.metadata, "number", None) if s.metadata is not None else None for s in scores]
        if tune is None:
            obj = scores[0]
        elif str(tune) in map(str, numbers):
            obj = scores[[str(n) for n in numbers].index(str(tune))]
        else:
            raise InputError(f"the music21 Opus has no tune number {tune}; its numbers are "
                             f"{', '.join(str(n) for n in numbers[:10])}{', …' if len(numbers) > 10 else ''}")
    elif tune is not None:
        raise InputError(f"tune={tune} picks a score of a music21 Opus; got a {type(obj).__name__}")
    return convert(obj, source=f"<music21 {type(obj).__name__}>")


def to_pretty_midi(piece: Piece) -> Any:
    """A `pretty_midi.PrettyMIDI` of the Piece (what pretty_midi reads from `sai.save(piece, 'x.mid')`)."""
    pretty_midi = require("pretty_midi", "pretty_midi")
    from .io.midi import write_midi

    return pretty_midi.PrettyMIDI(io.BytesIO(write_midi(piece)))


def from_pretty_midi(pm: Any) -> Piece:
    """A Piece from a `pretty_midi.PrettyMIDI` (built in a script or read from a file)."""
    pretty_midi = require("pretty_midi", "pretty_midi")
    from .io.midi import read_midi

    if not isinstance(pm, pretty_midi.PrettyMIDI):
        raise InputError(f"expected a pretty_midi.PrettyMIDI, got {type(pm).__name__}")
    buf = io.BytesIO()
    try:
        pm.write(buf)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a note with pitch 200 built by hand
        raise InputError(f"the PrettyMIDI cannot be written as MIDI ({exc})") from None
    piece = read_midi(buf.getvalue(), "<pretty_midi>")
    return piece.replace(metadata={**piece.metadata, "source": "<pretty_midi>"})


def from_object(obj: Any, *, tune: int | None = None) -> Piece:
    """What `symbolic_ai.load` does with an object that is not a path: a music21 Stream or a
    PrettyMIDI becomes a Piece (checked by module name, so neither library is imported for a path)."""
    module = type(obj).__module__.split(".")[0]
    if module == "music21":
        return from_music21(obj, tune=tune)
    if module == "pretty_midi":
        if tune is not None:
            raise InputError(f"tune={tune} picks a tune of an ABC file or a music21 Opus, not of a PrettyMIDI")
        return from_pretty_midi(obj)
    if isinstance(obj, Piece):
        return obj
    raise InputError(f"cannot load a {type(obj).__name__}: give a path (str or Path), a music21 Stream "
                     f"or a pretty_midi.PrettyMIDI")
