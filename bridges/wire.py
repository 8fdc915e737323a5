"""Pieces and results as flat OSC arguments (ints, floats, strings), and back.

A note on the wire is `pitch velocity start_beats duration_beats channel` (channel 1..16; 10 is
drums). Results become flat messages: the task's scalar results as key/value pairs in `done`,
each list of records as one message per record, new annotations, and for tasks that make new
notes, the notes framed as they came in. The JSON twin of all this is `symbolic_ai.io.wire`.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from symbolic_ai import limits as L
from symbolic_ai.channels import assign_channels
from symbolic_ai.metre import beat_axis
from symbolic_ai.piece import Annotation, Piece, Tempo, TimeSignature, Track, notes_from_columns
from symbolic_ai.registry import Result, TaskSpec

from .errors import BadRequest

OscArgs = list[Any]
NOTE_FIELDS = ("pitch", "velocity", "start_beats", "duration_beats", "channel")
INT32 = 2 ** 31
MAX_BEATS = L.MAX_BEATS  # the checks below follow symbolic_ai.limits


def osc_value(v: Any) -> int | float | str:
    """One value as an OSC int, float or string (bool → 0/1, None/NaN → 'null', nested → JSON)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v if -INT32 <= v < INT32 else float(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else "null"
    if v is None:
        return "null"
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str)


def as_int(v: Any, what: str) -> int:
    """An int from an OSC int or a whole float (Pd sends every number as a float)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not (
            math.isfinite(v) and v.is_integer())):
        raise BadRequest(f"{what} must be an integer, got {v!r:.60}")
    return int(v)


def as_float(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise BadRequest(f"{what} must be a finite number, got {v!r:.60}")
    return float(v)


SECRET_NAMES = ("token",)  # option names whose values never appear in a message or the log


def redacted(args: Sequence[Any]) -> list[Any]:
    """`args` with the value after any option named like a secret (`token`) replaced by '***'."""
    out = list(args)
    for i, v in enumerate(out[:-1]):
        if isinstance(v, str) and v.lower() in SECRET_NAMES:
            out[i + 1] = "***"
    return out


def options(args: Sequence[Any], what: str) -> dict[str, Any]:
    """Trailing `key value key value ...` arguments as a dict (keys must be strings)."""
    if len(args) % 2:
        raise BadRequest(f"{what}: options come in key/value pairs; {len(args)} trailing arguments "
                         f"({', '.join(map(repr, redacted(args)[:6]))}) leave one without a value")
    out: dict[str, Any] = {}
    for k, v in zip(args[::2], args[1::2]):
        if not isinstance(k, str) or not k:  # k may be a secret that lost its name: not quoted
            raise BadRequest(f"{what}: option names must be strings, got a {type(k).__name__}")
        out[k] = v
    return out


def check_note(i: int, values: Sequence[Any]) -> tuple[int, int, float, float, int]:
    """Validate one `pitch velocity start_beats duration_beats channel` record."""
    if len(values) != 5:
        raise BadRequest(f"note {i}: expected {' '.join(NOTE_FIELDS)}, got {len(values)} values")
    pitch, vel, start, dur, ch = values
    pitch, vel, ch = as_int(pitch, f"note {i} pitch"), as_int(vel, f"note {i} velocity"), as_int(ch, f"note {i} channel")
    start, dur = as_float(start, f"note {i} start_beats"), as_float(dur, f"note {i} duration_beats")
    if not L.MIN_PITCH <= pitch <= L.MAX_PITCH:
        raise BadRequest(f"note {i}: pitch must be in {L.MIN_PITCH}..{L.MAX_PITCH}, got {pitch}")
    if not L.MIN_VELOCITY <= vel <= L.MAX_VELOCITY:
        raise BadRequest(f"note {i}: velocity must be in {L.MIN_VELOCITY}..{L.MAX_VELOCITY}, got {vel}")
    if not 1 <= ch <= 16:
        raise BadRequest(f"note {i}: channel must be in 1..16, got {ch}")
    if not (start >= 0 and dur >= 0 and start + dur <= MAX_BEATS):
        raise BadRequest(f"note {i}: start_beats and duration_beats must be >= 0 and end by beat {MAX_BEATS:g}, "
                         f"got {start:g} and {dur:g}")
    return pitch, vel, start, dur, ch


def piece_from_notes(rows: Iterable[Sequence[Any]], *, qpm: float = 120.0, numerator: int = 4,
                     denominator: int = 4, title: str = "") -> Piece:
    """A Piece from note records; one track per channel used, channel 10 as drums."""
    notes = [check_note(i, r) for i, r in enumerate(rows)]
    channels = sorted({n[4] for n in notes}) or [1]
    track_of = {c: t for t, c in enumerate(channels)}
    cols = list(zip(*notes)) if notes else [()] * 5
    arr = notes_from_columns(pitch=cols[0], velocity=cols[1], onset_beat=cols[2], duration_beat=cols[3],
                             track=[track_of[c] for c in cols[4]])
    if not (math.isfinite(qpm) and L.MIN_QPM <= qpm <= L.MAX_QPM):
        raise BadRequest(f"qpm must be in {L.MIN_QPM:g}..{L.MAX_QPM:g}, got {qpm!r}")
    if not L.MIN_NUMERATOR <= numerator <= L.MAX_NUMERATOR or denominator not in L.DENOMINATORS:
        raise BadRequest(f"bad time signature {numerator}/{denominator}: the numerator must be in "
                         f"{L.MIN_NUMERATOR}..{L.MAX_NUMERATOR}, the denominator one of "
                         f"{', '.join(map(str, L.DENOMINATORS))}")
    tracks = tuple(Track(name=f"channel {c}", is_drum=c == 10) for c in channels)
    return Piece(notes=arr, tracks=tracks, tempos=(Tempo(0.0, qpm),),
                 time_signatures=(TimeSignature(0.0, numerator, denominator),),
                 metadata={"title": title or "note list", "source": "osc"})


def note_rows(piece: Piece) -> list[tuple[int, int, float, float, int]]:
    """The Piece's notes as `pitch velocity start_beats duration_beats channel` records."""
    n = piece.notes[np.lexsort((piece.notes["pitch"], piece.notes["onset_sec"]))]
    chan = [c + 1 for c in assign_channels(piece.tracks)]  # 1-based in the records
    on, dur, _ = beat_axis(piece, n)
    return [(int(p), int(v), float(o), float(d), chan[int(t)])
            for p, v, o, d, t in zip(n["pitch"], n["velocity"], on, dur, n["track"])]


def result_messages(spec: TaskSpec, rid: int, result: Result, before: Piece | None,
                    with_notes: bool = True) -> list[tuple[str, OscArgs]]:
    """The reply to a finished job, `done` last so a client knows it has everything.

    `/sai/<task>/<name> id index key value ...` per record of each list result,
    `/sai/<task>/<name> id key value ...` per dict result, `/sai/<task>/annotation id index kind
    start_beat end_beat value` per new annotation, the notes (`/sai/notes/open id n`, `/sai/note
    ...`, `/sai/notes/close id`) for tasks whose output is a piece, then `/sai/<task>/done id
    key value ...` with the scalar results.
    """
    base = f"/sai/{spec.name}"
    msgs: list[tuple[str, OscArgs]] = []
    done: OscArgs = [rid]
    for k, v in result.data.items():
        if isinstance(v, dict):
            msgs.append((f"{base}/{k}", [rid, *_pairs(v)]))
        elif isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                values = (_pairs(item) if isinstance(item, dict) else [osc_value(x) for x in item]
                          if isinstance(item, (list, tuple)) else [osc_value(item)])  # time_map rows: sec beat
                msgs.append((f"{base}/{k}", [rid, i, *values]))
        else:
            done += [k, osc_value(v)]
    new = new_annotations(before, result)
    for i, a in enumerate(new):
        msgs.append((f"{base}/annotation", [rid, i, a.kind, osc_value(a.start_beat), osc_value(a.end_beat),
                                            osc_value(a.value)]))
    if spec.output == "piece" and with_notes:
        rows = note_rows(result.piece)
        msgs.append(("/sai/notes/open", [rid, len(rows)]))
        msgs += [("/sai/note", [rid, i, *r]) for i, r in enumerate(rows)]
        msgs.append(("/sai/notes/close", [rid]))
        done += ["n_notes", len(rows)]
    done += ["n_annotations", len(new)]
    msgs.append((f"{base}/done", done))
    return msgs


def new_annotations(before: Piece | None, result: Result) -> list[Annotation]:
    """The annotations a task added (all of them when the input is unknown)."""
    old = before.annotations if before is not None else ()
    return [a for a in result.piece.annotations if a not in old]


def _pairs(d: dict) -> OscArgs:
    out: OscArgs = []
    for k, v in d.items():
        out += [str(k), osc_value(v)]
    return out
