"""`Piece`: the one data type every task takes and returns.

Notes live in a structured numpy array with units in the field names (`NOTE_DTYPE`).
Every `*_beat` value counts quarter notes from the start of the piece, as MIDI beats do;
`bar` and `beat_in_bar` are separate fields derived from the time signatures. A score
knows its beats; a performance may know only seconds, and then its `*_beat` fields are NaN.
A Piece is immutable: tasks return a new one (`Piece.replace`, `Piece.annotate`).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import limits as L
from .errors import InputError

NOTE_DTYPE = np.dtype(
    [
        ("onset_sec", "f8"),
        ("duration_sec", "f8"),
        ("onset_beat", "f8"),      # quarter notes from the start; NaN if unknown
        ("duration_beat", "f8"),
        ("pitch", "i2"),           # MIDI pitch 0..127
        ("velocity", "i2"),        # 1..127
        ("track", "i2"),           # index into Piece.tracks
        ("id", "i4"),              # stable within a Piece; survives transforms
        ("bar", "i4"),             # 0-based bar index (pickup bar = 0); -1 if unknown
        ("beat_in_bar", "f8"),     # quarter notes from the bar's start; NaN if unknown
        ("voice", "i2"),           # 0 = unknown
    ]
)
NOTE_FIELDS: tuple[str, ...] = tuple(NOTE_DTYPE.names or ())  # the field names, in order
DEFAULT_QPM = 120.0


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_real(x: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_)) \
        and math.isfinite(x)


def _check_start(cls: str, start_beat: Any) -> None:
    if not (_is_real(start_beat) and 0 <= start_beat <= L.MAX_BEATS):
        raise InputError(f"{cls} start_beat must be a number in 0..{L.MAX_BEATS:g}, got {start_beat!r}")


@dataclass(frozen=True)
class Track:
    """One instrument: General MIDI `program` 0..127, a name, and whether it is a drum kit."""

    program: int = 0
    name: str = ""
    is_drum: bool = False

    def __post_init__(self) -> None:
        if not (_is_int(self.program) and L.MIN_PROGRAM <= self.program <= L.MAX_PROGRAM):
            raise InputError(f"Track program must be an int in {L.MIN_PROGRAM}..{L.MAX_PROGRAM}, got {self.program!r}")
        if not isinstance(self.name, str):
            raise InputError(f"Track name must be a string, got {self.name!r}")
        if not isinstance(self.is_drum, (bool, np.bool_)):
            raise InputError(f"Track is_drum must be true or false, got {self.is_drum!r}")


@dataclass(frozen=True)
class Tempo:
    """From `start_beat` on, `qpm` quarter notes per minute."""

    start_beat: float
    qpm: float

    def __post_init__(self) -> None:
        if not (_is_real(self.qpm) and L.MIN_QPM <= self.qpm <= L.MAX_QPM):
            raise InputError(f"Tempo qpm must be in {L.MIN_QPM:g}..{L.MAX_QPM:g}, got {self.qpm!r}")
        _check_start("Tempo", self.start_beat)


@dataclass(frozen=True)
class TimeSignature:
    start_beat: float
    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        if not (_is_int(self.numerator) and L.MIN_NUMERATOR <= self.numerator <= L.MAX_NUMERATOR
                and _is_int(self.denominator) and self.denominator in L.DENOMINATORS):
            raise InputError(f"bad time signature {self.numerator!r}/{self.denominator!r}: the numerator "
                             f"must be an int in {L.MIN_NUMERATOR}..{L.MAX_NUMERATOR}, the denominator one of "
                             f"{', '.join(map(str, L.DENOMINATORS))}")
        _check_start("TimeSignature", self.start_beat)

    @property
    def bar_beats(self) -> float:
        """Length of one bar in quarter notes."""
        return self.numerator * 4.0 / self.denominator


@dataclass(frozen=True)
class KeySignature:
    """`fifths` sharps (>0) or flats (<0); `mode` is 'major', 'minor' or '' if not stated."""

    start_beat: float
    fifths: int
    mode: str = ""

    def __post_init__(self) -> None:
        if not (_is_int(self.fifths) and L.MIN_FIFTHS <= self.fifths <= L.MAX_FIFTHS):
            raise InputError(f"key signature fifths must be an int in {L.MIN_FIFTHS}..{L.MAX_FIFTHS}, "
                             f"got {self.fifths!r}")
        if self.mode not in ("major", "minor", ""):
            raise InputError(f"key signature mode must be 'major', 'minor' or '', got {self.mode!r}")
        _check_start("KeySignature", self.start_beat)


@dataclass(frozen=True)
class Annotation:
    """A labelled span: `Annotation("chord", 0, 4, "G7/B")`. `value` must be JSON-serialisable."""

    kind: str
    start_beat: float
    end_beat: float
    value: Any = None

    def __post_init__(self) -> None:
        if not self.kind or not isinstance(self.kind, str):
            raise InputError(f"Annotation kind must be a non-empty string, got {self.kind!r}")
        for name in ("start_beat", "end_beat"):
            if not _is_real(getattr(self, name)):
                raise InputError(f"Annotation {self.kind!r} {name} must be a finite number, "
                                 f"got {getattr(self, name)!r}")
        if self.start_beat < 0:
            raise InputError(f"Annotation {self.kind!r} start_beat must be >= 0, got {self.start_beat!r}")
        if self.end_beat > L.MAX_BEATS:
            raise InputError(f"Annotation {self.kind!r} ends at beat {self.end_beat!r}, over the limit of "
                             f"{L.MAX_BEATS:g} beats")
        if not self.end_beat >= self.start_beat:
            raise InputError(
                f"Annotation {self.kind!r} ends before it starts: {self.start_beat!r} > {self.end_beat!r}"
            )
        if not _json_ready(self.value):
            raise InputError(f"Annotation {self.kind!r} value must be JSON-ready (str, number, bool, None, "
                             f"list, dict with str keys), got {self.value!r:.80}")


def _json_ready(x: Any, depth: int = 0) -> bool:
    """True if `x` is made of str/int/float/bool/None, lists/tuples and dicts with str keys."""
    if x is None or isinstance(x, (str, bool, int, float, np.generic)):
        return not isinstance(x, np.generic) or isinstance(x, (np.number, np.bool_))
    if depth > L.MAX_VALUE_DEPTH:
        return False
    if isinstance(x, (list, tuple)):
        return all(_json_ready(v, depth + 1) for v in x)
    if isinstance(x, dict):
        return all(isinstance(k, str) and _json_ready(v, depth + 1) for k, v in x.items())
    return False


def dedupe_by_start(items: Iterable[Any]) -> list[Any]:
    """Sorted by `start_beat`, keeping the last item at each start (files often repeat a tempo at 0)."""
    by_start = {round(float(x.start_beat), 6): x for x in items}
    return [by_start[k] for k in sorted(by_start)]


def empty_notes(n: int = 0) -> np.ndarray:
    """A note array of length n with unknown fields set to NaN / -1 / 0."""
    a = np.zeros(n, dtype=NOTE_DTYPE)
    for f in ("onset_sec", "duration_sec", "onset_beat", "duration_beat", "beat_in_bar"):
        a[f] = np.nan
    a["bar"] = -1
    a["velocity"] = 64
    a["id"] = np.arange(n)
    return a


@dataclass(frozen=True, eq=False)
class Piece:
    """Notes plus the time system and annotations that give them meaning.

    `tempos` empty means the beat grid is unknown (a performance known only in seconds).
    Missing seconds are derived from beats, missing bars from time signatures.
    """

    notes: np.ndarray = field(default_factory=empty_notes)
    tracks: tuple[Track, ...] = (Track(),)
    tempos: tuple[Tempo, ...] = (Tempo(0.0, DEFAULT_QPM),)
    time_signatures: tuple[TimeSignature, ...] = (TimeSignature(0.0, 4, 4),)
    key_signatures: tuple[KeySignature, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    pickup_beats: float = 0.0  # length of an anacrusis: bar 0 is the pickup, bar 1 starts here

    def __post_init__(self) -> None:
        if not (_is_real(self.pickup_beats) and 0 <= self.pickup_beats <= L.MAX_BEATS):
            raise InputError(f"Piece pickup_beats must be in 0..{L.MAX_BEATS:g}, got {self.pickup_beats!r}")
        notes = self.notes
        if not isinstance(notes, np.ndarray) or notes.dtype != NOTE_DTYPE:
            raise InputError(
                f"Piece.notes must be a numpy array of NOTE_DTYPE, got {type(notes).__name__}"
                f" {getattr(notes, 'dtype', '')}; build it with symbolic_ai.piece.empty_notes(n)"
            )
        if len(notes) > L.MAX_NOTES:
            raise InputError(f"a Piece holds at most {L.MAX_NOTES} notes, got {len(notes)}")
        kinds = {"tracks": Track, "tempos": Tempo, "time_signatures": TimeSignature,
                 "key_signatures": KeySignature, "annotations": Annotation}
        for name, cls in kinds.items():
            items = tuple(getattr(self, name))
            for i, x in enumerate(items):
                if not isinstance(x, cls):
                    raise InputError(f"Piece.{name}[{i}] must be a {cls.__name__}, got {x!r:.80}")
            object.__setattr__(self, name, items)
        if not self.tracks:
            raise InputError("a Piece needs at least one Track")
        if len(self.tracks) > L.MAX_TRACKS:
            raise InputError(f"a Piece holds at most {L.MAX_TRACKS} tracks, got {len(self.tracks)}")
        if not isinstance(self.metadata, dict):
            raise InputError(f"Piece.metadata must be a dict, got {type(self.metadata).__name__}")
        object.__setattr__(self, "tempos", tuple(sorted(self.tempos, key=lambda t: t.start_beat)))
        for name in ("time_signatures", "key_signatures"):
            object.__setattr__(self, name, tuple(sorted(getattr(self, name), key=lambda t: t.start_beat)))
        notes = notes.copy()
        self._validate(notes)
        self._derive(notes)
        notes.flags.writeable = False
        object.__setattr__(self, "notes", notes)

    # -- validation --------------------------------------------------------------------------
    def _validate(self, n: np.ndarray) -> None:
        def bad(mask: np.ndarray, what: str, fieldname: str) -> None:
            if mask.any():
                i = int(np.flatnonzero(mask)[0])
                raise InputError(f"note {i} (id {int(n['id'][i])}): {what}, got {fieldname}={n[fieldname][i].item()!r}")

        bad((n["pitch"] < L.MIN_PITCH) | (n["pitch"] > L.MAX_PITCH),
            f"pitch must be in {L.MIN_PITCH}..{L.MAX_PITCH}", "pitch")
        bad((n["velocity"] < L.MIN_VELOCITY) | (n["velocity"] > L.MAX_VELOCITY),
            f"velocity must be in {L.MIN_VELOCITY}..{L.MAX_VELOCITY}", "velocity")
        bad((n["track"] < 0) | (n["track"] >= len(self.tracks)),
            f"track must index one of the {len(self.tracks)} tracks", "track")
        for f in ("onset_sec", "onset_beat", "duration_sec", "duration_beat", "beat_in_bar"):
            bad(np.isinf(n[f]), f"{f} must be finite (or NaN where unknown)", f)
            bad(n[f] < 0, f"{f} must be >= 0", f)
        self._check_span(n)
        has_sec = np.isfinite(n["onset_sec"]) & np.isfinite(n["duration_sec"])
        has_beat = np.isfinite(n["onset_beat"]) & np.isfinite(n["duration_beat"])
        unit = "beat" if np.isfinite(n["onset_beat"]).any() else "sec"
        bad(~(has_sec | has_beat), "a note needs an onset and a duration, in seconds or in beats",
            f"duration_{unit}")
        if len(np.unique(n["id"])) != len(n):
            raise InputError("note ids must be unique within a Piece")
        if not self.tempos and np.isfinite(n["onset_beat"]).any():
            raise InputError("notes have beats but the Piece has no tempo map; add a Tempo")

    @staticmethod
    def _check_span(n: np.ndarray) -> None:
        """Refuse notes past the span limits (before anything allocates per bar or per beat)."""
        with np.errstate(invalid="ignore"):
            for unit, limit in (("beat", L.MAX_BEATS), ("sec", L.MAX_SECONDS)):
                end = n[f"onset_{unit}"] + np.nan_to_num(n[f"duration_{unit}"])
                over = np.flatnonzero(end > limit)
                if over.size:
                    i = int(over[0])
                    raise InputError(f"note {i} (id {int(n['id'][i])}): "
                                     + str(L.check_span("it", **{"beats" if unit == "beat" else "seconds":
                                                                  float(end[i])})))

    def _derive(self, n: np.ndarray) -> None:
        if not self.tempos:
            return
        missing = np.isnan(n["onset_sec"]) | np.isnan(n["duration_sec"])
        if missing.any():
            on = self.beat_to_sec(n["onset_beat"][missing])
            off = self.beat_to_sec(n["onset_beat"][missing] + n["duration_beat"][missing])
            n["onset_sec"][missing], n["duration_sec"][missing] = on, off - on
        missing = np.isnan(n["onset_beat"]) | np.isnan(n["duration_beat"])
        if missing.any():
            on = self.sec_to_beat(n["onset_sec"][missing])
            off = self.sec_to_beat(n["onset_sec"][missing] + n["duration_sec"][missing])
            n["onset_beat"][missing], n["duration_beat"][missing] = on, off - on
        self._check_span(n)  # derived values too: seconds at 1 qpm, beats at 2000 qpm
        unknown = n["bar"] < 0
        if unknown.any() and self.time_signatures:
            bar, pos = self.bar_position(n["onset_beat"][unknown])
            n["bar"][unknown], n["beat_in_bar"][unknown] = bar, pos

    # -- time maps ---------------------------------------------------------------------------
    def _tempo_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        beats = np.array([t.start_beat for t in self.tempos], dtype=float)
        spb = np.array([60.0 / t.qpm for t in self.tempos], dtype=float)
        if beats[0] > 0:  # the first tempo holds from beat 0
            beats[0] = 0.0
        secs = np.concatenate([[0.0], np.cumsum(np.diff(beats) * spb[:-1])])
        return beats, secs, spb

    def beat_to_sec(self, beat: np.ndarray | float) -> np.ndarray:
        """Seconds at the given beats (quarter notes from the start)."""
        if not self.tempos:
            raise InputError("this Piece has no tempo map (a performance in seconds only)")
        b = np.asarray(beat, dtype=float)
        beats, secs, spb = self._tempo_table()
        i = np.clip(np.searchsorted(beats, b, side="right") - 1, 0, len(beats) - 1)
        out: np.ndarray = secs[i] + (b - beats[i]) * spb[i]
        return out

    def sec_to_beat(self, sec: np.ndarray | float) -> np.ndarray:
        """Beats (quarter notes from the start) at the given seconds."""
        if not self.tempos:
            raise InputError("this Piece has no tempo map (a performance in seconds only)")
        s = np.asarray(sec, dtype=float)
        beats, secs, spb = self._tempo_table()
        i = np.clip(np.searchsorted(secs, s, side="right") - 1, 0, len(secs) - 1)
        out: np.ndarray = beats[i] + (s - secs[i]) / spb[i]
        return out

    def bar_starts(self, until_beat: float | None = None) -> np.ndarray:
        """Start beat of every bar up to `until_beat` (default: the end of the piece)."""
        end = self.duration_beat if until_beat is None else until_beat
        sigs = self.time_signatures or (TimeSignature(0.0, 4, 4),)
        if sigs[0].start_beat > 0:  # before the first signature, 4/4 (as in MIDI)
            sigs = (TimeSignature(0.0, 4, 4),) + sigs
        if not (math.isfinite(end) and end <= L.MAX_BEATS + 1e-6):  # before one entry per bar is built
            raise InputError(f"bar_starts: {L.check_span('the piece', beats=end)}")
        count = 0.0
        for k, ts in enumerate(sigs):
            stop = sigs[k + 1].start_beat if k + 1 < len(sigs) else end
            count += max(0.0, min(stop, end) - ts.start_beat) / ts.bar_beats + 1
        if count > L.MAX_BARS:
            raise InputError(f"the piece has about {count:.0f} bars, over the limit of {L.MAX_BARS}")
        starts: list[float] = []
        for k, ts in enumerate(sigs):
            stop = sigs[k + 1].start_beat if k + 1 < len(sigs) else max(end, ts.start_beat) + 1e-9
            b = max(ts.start_beat, self.pickup_beats)
            while b < stop and b <= end + 1e-9:
                starts.append(b)
                b += ts.bar_beats
        if not starts or starts[0] > 0:
            starts.insert(0, 0.0)
        return np.asarray(starts, dtype=float)

    def bar_position(self, beat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bar index, quarter notes since that bar's start) for each beat."""
        b = np.asarray(beat, dtype=float)
        finite = b[np.isfinite(b)]
        starts = self.bar_starts(float(finite.max()) if finite.size else 0.0)
        i = np.clip(np.searchsorted(starts, b + 1e-9, side="right") - 1, 0, len(starts) - 1)
        # a beat within 1e-9 before a bar line belongs to that bar: clamp the rounding residue
        return i.astype(np.int32), np.maximum(b - starts[i], 0.0)

    # -- views -------------------------------------------------------------------------------
    @property
    def has_beats(self) -> bool:
        return bool(self.tempos)

    @property
    def duration_sec(self) -> float:
        n = self.notes
        return float((n["onset_sec"] + n["duration_sec"]).max()) if len(n) else 0.0

    @property
    def duration_beat(self) -> float:
        n = self.notes
        if not len(n) or not self.tempos:
            return 0.0
        return float(np.nanmax(n["onset_beat"] + n["duration_beat"]))

    def pitched(self) -> np.ndarray:
        """Notes not on drum tracks, sorted by onset then pitch."""
        drum = np.array([t.is_drum for t in self.tracks], dtype=bool)
        n = self.notes[~drum[self.notes["track"]]] if len(self.notes) else self.notes
        return n[np.lexsort((n["pitch"], n["onset_sec"]))]

    def annotations_of(self, kind: str) -> list[Annotation]:
        return [a for a in self.annotations if a.kind == kind]

    def __len__(self) -> int:
        return len(self.notes)

    def __repr__(self) -> str:
        title = self.metadata.get("title") or self.metadata.get("source") or ""
        return (f"Piece({title!r}, {len(self.notes)} notes, {len(self.tracks)} tracks, "
                f"{self.duration_sec:.1f} s, {len(self.annotations)} annotations)")

    # -- building new pieces -----------------------------------------------------------------
    def replace(self, **changes: Any) -> Piece:
        """A new Piece with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def annotate(self, annotations: Iterable[Annotation], *, replace_kinds: Sequence[str] = ()) -> Piece:
        """A new Piece with `annotations` added; existing ones of `replace_kinds` are dropped."""
        kept = tuple(a for a in self.annotations if a.kind not in replace_kinds)
        return self.replace(annotations=kept + tuple(annotations))

    def span_sec(self, start_beat: float, end_beat: float) -> tuple[float, float]:
        """Seconds of a beat span (NaN, NaN when the piece has no beat grid)."""
        if not self.tempos:
            return (math.nan, math.nan)
        s, e = self.beat_to_sec(np.array([start_beat, end_beat]))
        return float(s), float(e)

    # -- edits, interop and pictures (symbolic_ai.edit, .interop, .plot own them) --------------
    def transpose(self, semitones: int) -> Piece:
        """See `symbolic_ai.edit.transpose`."""
        from .edit import transpose
        return transpose(self, semitones)

    def slice_bars(self, start: int, stop: int | None = None) -> Piece:
        """See `symbolic_ai.edit.slice_bars`."""
        from .edit import slice_bars
        return slice_bars(self, start, stop)

    def select_tracks(self, tracks: Sequence[int | str]) -> Piece:
        """See `symbolic_ai.edit.select_tracks`."""
        from .edit import select_tracks
        return select_tracks(self, tracks)

    def with_tempo(self, qpm: float) -> Piece:
        """See `symbolic_ai.edit.with_tempo`."""
        from .edit import with_tempo
        return with_tempo(self, qpm)

    def to_music21(self) -> Any:
        """A music21 Score (see `symbolic_ai.interop`)."""
        from .interop import to_music21
        return to_music21(self)

    def to_pretty_midi(self) -> Any:
        """A pretty_midi.PrettyMIDI (see `symbolic_ai.interop`)."""
        from .interop import to_pretty_midi
        return to_pretty_midi(self)

    @classmethod
    def from_music21(cls, obj: Any, *, tune: int | None = None) -> Piece:
        """A Piece from a music21 Stream/Score/Opus (see `symbolic_ai.interop`)."""
        from .interop import from_music21
        return from_music21(obj, tune=tune)

    @classmethod
    def from_pretty_midi(cls, pm: Any) -> Piece:
        """A Piece from a pretty_midi.PrettyMIDI (see `symbolic_ai.interop`)."""
        from .interop import from_pretty_midi
        return from_pretty_midi(pm)

    def plot(self, path: Any = None, **options: Any) -> Any:
        """A piano roll with the piece's annotations (see `symbolic_ai.plot.plot`)."""
        from .plot import plot
        return plot(self, path, **options)


def notes_from_columns(**columns: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Build a note array from equal-length columns, e.g. `notes_from_columns(pitch=[60], onset_beat=[0], ...)`."""
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise InputError(f"note columns have different lengths: { {k: len(v) for k, v in columns.items()} }")
    n = empty_notes(lengths.pop() if lengths else 0)
    for k, v in columns.items():
        if k not in NOTE_FIELDS:
            raise InputError(f"unknown note field {k!r}; fields are {', '.join(NOTE_FIELDS)}")
        n[k] = v
    return n
