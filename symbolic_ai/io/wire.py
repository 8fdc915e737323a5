"""The JSON wire format (version 1): a Piece as plain JSON, used by files, the CLI and the daemon.

The specification is docs/wire-format.md; tests/data/piece.json is its example. In short:
`{"format": "symbolic_ai.piece", "version": 1, "notes": [...], "tracks": [...], "tempos": [...],
"time_signatures": [...], "key_signatures": [...], "annotations": [...], "metadata": {...},
"pickup_beats": 0.0}`, unknown values as `null`. Each note needs `pitch` and an onset and a
duration in beats or in seconds. Reading is strict: errors name the entry (`notes[3].pitch`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

import numpy as np

from .. import limits
from ..errors import InputError
from ..piece import NOTE_DTYPE, NOTE_FIELDS, Annotation, KeySignature, Piece, Tempo, TimeSignature, Track, empty_notes

FORMAT = "symbolic_ai.piece"
VERSION = 1


def _clean(x: Any) -> Any:
    """NaN → None and numpy scalars → Python, recursively."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def piece_to_dict(piece: Piece) -> dict[str, Any]:
    notes = [dict(zip(NOTE_FIELDS, row)) for row in piece.notes.tolist()]
    out: dict[str, Any] = _clean({
        "format": FORMAT, "version": VERSION,
        "notes": notes,
        "tracks": [dataclasses.asdict(t) for t in piece.tracks],
        "tempos": [dataclasses.asdict(t) for t in piece.tempos],
        "time_signatures": [dataclasses.asdict(t) for t in piece.time_signatures],
        "key_signatures": [dataclasses.asdict(t) for t in piece.key_signatures],
        "annotations": [dataclasses.asdict(a) for a in piece.annotations],
        "metadata": {k: v for k, v in piece.metadata.items() if isinstance(v, (str, int, float, bool))},
        "pickup_beats": piece.pickup_beats,
    })
    return out


TOP_LEVEL = ("format", "version", "notes", "tracks", "tempos", "time_signatures", "key_signatures",
             "annotations", "metadata", "pickup_beats")
_OBJECTS = {"tracks": Track, "tempos": Tempo, "time_signatures": TimeSignature,
            "key_signatures": KeySignature, "annotations": Annotation}


def piece_from_dict(d: dict[str, Any], name: str = "<json>") -> Piece:
    """Build a Piece from the wire format; errors name the offending entry (e.g. `notes[3].pitch`)."""
    if not isinstance(d, dict):
        raise InputError(f"{name}: expected a JSON object, got {type(d).__name__}")
    if d.get("format", FORMAT) != FORMAT:
        raise InputError(f"{name}: format is {d.get('format')!r}, expected {FORMAT!r}")
    if d.get("version", VERSION) != VERSION:
        raise InputError(f"{name}: wire format version {d.get('version')!r} is not supported (this is {VERSION})")
    unknown = sorted(set(d) - set(TOP_LEVEL))
    if unknown:
        raise InputError(f"{name}: unknown key {unknown[0]!r}; keys are {', '.join(TOP_LEVEL)}")
    try:
        kwargs: dict[str, Any] = {"notes": _notes(d.get("notes", []), name)}
        for key, cls in _OBJECTS.items():
            if key in d:
                kwargs[key] = _objects(d[key], key, cls, name)
        if not kwargs.get("tracks", True):
            kwargs["tracks"] = (Track(),)
        metadata = d.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InputError(f"'metadata' must be an object, got {metadata!r:.80}")
        kwargs["metadata"] = dict(metadata)
        if d.get("pickup_beats") is not None:
            kwargs["pickup_beats"] = _number(d["pickup_beats"], "pickup_beats")
        return Piece(**kwargs)
    except InputError as exc:
        msg = re.sub(r"^note (\d+) \(id -?\d+\)", r"notes[\1]", str(exc))  # the Piece keeps the order
        raise InputError(msg if msg.startswith(name) else f"{name}: {msg}") from None


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{where} must be a number, got {v!r:.80}")
    return v


def _notes(raw: Any, name: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise InputError(f"'notes' must be a list, got {type(raw).__name__}")
    if len(raw) > limits.MAX_NOTES:  # counted before a note is looked at
        raise InputError(f"'notes' holds {len(raw)} notes, over the limit of {limits.MAX_NOTES}")
    notes = empty_notes(len(raw))
    for i, nd in enumerate(raw):
        if not isinstance(nd, dict) or "pitch" not in nd:
            raise InputError(f"notes[{i}] must be an object with at least 'pitch', got {nd!r:.80}")
        for k, v in nd.items():
            if k not in NOTE_FIELDS:
                raise InputError(f"notes[{i}] has unknown field {k!r}; fields are {', '.join(NOTE_FIELDS)}")
            if v is None:
                continue
            _number(v, f"notes[{i}].{k}")
            kind: np.dtype[Any] = NOTE_DTYPE[k]
            if kind.kind == "i" and not (math.isfinite(v) and float(v).is_integer()
                                         and np.iinfo(kind).min <= v <= np.iinfo(kind).max):
                raise InputError(f"notes[{i}].{k} must be a whole number in range, got {v!r}")
            notes[k][i] = v
        if "id" not in nd or nd["id"] is None:
            notes["id"][i] = i
    return notes


def _objects(raw: Any, key: str, cls: type, name: str) -> tuple[Any, ...]:
    if not isinstance(raw, list):
        raise InputError(f"{key!r} must be a list, got {type(raw).__name__}")
    fields = [f.name for f in dataclasses.fields(cls)]
    out = []
    for i, o in enumerate(raw):
        if not isinstance(o, dict):
            raise InputError(f"{key}[{i}] must be an object, got {o!r:.80}")
        extra = sorted(set(o) - set(fields))
        if extra:
            raise InputError(f"{key}[{i}] has unknown field {extra[0]!r}; fields are {', '.join(fields)}")
        try:
            out.append(cls(**o))
        except TypeError:
            missing = [f for f in fields if f not in o]
            raise InputError(f"{key}[{i}] lacks {', '.join(map(repr, missing))}") from None
        except InputError as exc:
            raise InputError(f"{key}[{i}]: {exc}") from None
    return tuple(out)


def dumps(obj: Any, indent: int | None = None) -> str:
    return json.dumps(_clean(obj), indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))


def loads(data: bytes | str, name: str = "<json>") -> Any:
    """Parse JSON; bad bytes or nesting deeper than Python's stack are one InputError."""
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{name}: the JSON is nested too deeply to read (a Piece document needs a few levels)") from None


def read_json(data: bytes, name: str = "<json>") -> Piece:
    d = loads(data, name)
    if isinstance(d, dict) and "piece" in d and "notes" not in d:  # a task result document
        d = d["piece"]
    return piece_from_dict(d, name)
