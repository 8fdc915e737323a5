"""The JSON wire format (version 1): a Piece as plain JSON, used by files, the CLI and the daemon.

```json
{"format": "symbolic_ai.piece", "version": 1,
 "notes": [{"onset_sec": 0.0, "duration_sec": 0.5, "onset_beat": 0.0, "duration_beat": 1.0,
            "pitch": 60, "velocity": 80, "track": 0, "id": 0, "bar": 0, "beat_in_bar": 0.0, "voice": 0}],
 "tracks": [{"program": 0, "name": "Piano", "is_drum": false}],
 "tempos": [{"start_beat": 0.0, "qpm": 120.0}],
 "time_signatures": [{"start_beat": 0.0, "numerator": 4, "denominator": 4}],
 "key_signatures": [{"start_beat": 0.0, "fifths": 0, "mode": "major"}],
 "annotations": [{"kind": "chord", "start_beat": 0.0, "end_beat": 4.0, "value": "C"}],
 "metadata": {"title": "..."}}
```
Unknown values are `null` (NaN in the Piece). In notes only `pitch` and an onset are required.
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from ..errors import InputError
from ..piece import (NOTE_DTYPE, Annotation, KeySignature, Piece, Tempo, TimeSignature, Track,
                     empty_notes)

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


def piece_to_dict(piece: Piece) -> dict:
    notes = [dict(zip(NOTE_DTYPE.names, row)) for row in piece.notes.tolist()]
    return _clean({
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


def piece_from_dict(d: dict, name: str = "<json>") -> Piece:
    """Build a Piece from the wire format; errors name the offending entry."""
    if not isinstance(d, dict):
        raise InputError(f"{name}: expected a JSON object, got {type(d).__name__}")
    if d.get("format", FORMAT) != FORMAT:
        raise InputError(f"{name}: format is {d.get('format')!r}, expected {FORMAT!r}")
    if d.get("version", VERSION) != VERSION:
        raise InputError(f"{name}: wire format version {d.get('version')!r} is not supported (this is {VERSION})")
    try:
        raw = d.get("notes", [])
        if not isinstance(raw, list):
            raise InputError(f"{name}: 'notes' must be a list")
        notes = empty_notes(len(raw))
        for i, nd in enumerate(raw):
            if not isinstance(nd, dict) or "pitch" not in nd:
                raise InputError(f"{name}: notes[{i}] must be an object with at least 'pitch', got {nd!r:.80}")
            for k, v in nd.items():
                if k not in NOTE_DTYPE.names:
                    raise InputError(f"{name}: notes[{i}] has unknown field {k!r}")
                if v is None:
                    continue
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    raise InputError(f"{name}: notes[{i}].{k} must be a number, got {v!r}")
                kind = NOTE_DTYPE[k]
                if kind.kind == "i" and (not float(v).is_integer() or not
                                         np.iinfo(kind).min <= v <= np.iinfo(kind).max):
                    raise InputError(f"{name}: notes[{i}].{k} must be a whole number in range, got {v!r}")
                notes[k][i] = v
            if "id" not in nd:
                notes["id"][i] = i
        has_tempo = "tempos" in d

        def objs(key: str, cls):
            return tuple(cls(**o) for o in d.get(key, []))

        kwargs: dict[str, Any] = dict(
            notes=notes,
            tracks=objs("tracks", Track) or (Track(),),
            key_signatures=objs("key_signatures", KeySignature),
            annotations=objs("annotations", Annotation),
            metadata=dict(d.get("metadata") or {}),
            pickup_beats=float(d.get("pickup_beats") or 0.0),
        )
        if has_tempo:
            kwargs["tempos"] = objs("tempos", Tempo)
        if "time_signatures" in d:
            kwargs["time_signatures"] = objs("time_signatures", TimeSignature)
        return Piece(**kwargs)
    except InputError as exc:
        msg = str(exc)
        raise InputError(msg if msg.startswith(name) else f"{name}: {msg}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{name}: not a valid {FORMAT} document ({exc})") from None


def dumps(obj: Any, indent: int | None = None) -> str:
    return json.dumps(_clean(obj), indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))


def read_json(data: bytes, name: str = "<json>") -> Piece:
    try:
        d = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: not valid JSON ({exc})") from None
    if isinstance(d, dict) and "piece" in d and "notes" not in d:  # a task result document
        d = d["piece"]
    return piece_from_dict(d, name)
