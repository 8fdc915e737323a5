"""The OpenAPI 3 description of the HTTP routes, generated from the task registry; every bound in
the schemas comes from `symbolic_ai.limits`, and request bodies are checked with `jsonschema`."""
from __future__ import annotations

import math
from typing import Any

import jsonschema

from symbolic_ai import __version__, registry
from symbolic_ai import limits as L

from .errors import BadRequest

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
JOB = {"type": "object", "required": ["id", "task", "state", "progress"], "properties": {
    "id": {"type": "integer"}, "task": {"type": "string"},
    "state": {"type": "string", "enum": ["queued", "running", "done", "error", "cancelled"]},
    "progress": {"type": "number", "minimum": 0, "maximum": 1},
    "client": {"type": "string"}, "request_id": {"type": ["integer", "null"]},
    "params": {"type": "object"}, "result": {"type": ["object", "null"]},
    "output": {"type": ["string", "null"]}, "error": {"oneOf": [{"type": "null"}, ERROR["properties"]["error"]]},
    "annotations": {"type": "array", "items": {"type": "object"}},
    "piece": {"$ref": "#/components/schemas/Piece"}, "timing_ms": {"type": "object"}}}
PITCH = {"type": "integer", "minimum": L.MIN_PITCH, "maximum": L.MAX_PITCH}
VELOCITY = {"type": "integer", "minimum": L.MIN_VELOCITY, "maximum": L.MAX_VELOCITY}
BEATS = {"type": "number", "minimum": 0, "maximum": L.MAX_BEATS}
SECONDS = {"type": "number", "minimum": 0, "maximum": L.MAX_SECONDS}
NOTE = {"type": "object", "required": ["pitch"], "additionalProperties": False, "properties": {
    **{k: {**BEATS, "type": ["number", "null"]} for k in ("onset_beat", "duration_beat")},
    **{k: {**SECONDS, "type": ["number", "null"]} for k in ("onset_sec", "duration_sec")},
    "pitch": PITCH,
    "velocity": {**VELOCITY, "type": ["integer", "null"]},
    "track": {"type": ["integer", "null"], "minimum": 0, "maximum": 32767},
    "id": {"type": ["integer", "null"], "minimum": -2 ** 31, "maximum": 2 ** 31 - 1},
    "bar": {"type": ["integer", "null"], "minimum": -1, "maximum": 2 ** 31 - 1},
    "beat_in_bar": {**BEATS, "type": ["number", "null"]},
    "voice": {"type": ["integer", "null"], "minimum": -32768, "maximum": 32767}}}
NOTE_REF = {"$ref": "#/components/schemas/Note"}
PIECE = {"type": "object", "description": "a Piece in the JSON wire format v1 (symbolic_ai.io.wire)",
         "properties": {"format": {"type": "string", "enum": ["symbolic_ai.piece"]},
                        "version": {"type": "integer", "enum": [1]},
                        "notes": {"type": "array", "maxItems": L.MAX_NOTES, "items": NOTE_REF},
                        "tracks": {"type": "array", "maxItems": L.MAX_TRACKS, "items": {"type": "object"}},
                        "tempos": {"type": "array", "items": {"type": "object"}},
                        "time_signatures": {"type": "array", "items": {"type": "object"}},
                        "key_signatures": {"type": "array", "items": {"type": "object"}},
                        "annotations": {"type": "array", "items": {"type": "object"}},
                        "metadata": {"type": "object"}, "pickup_beats": {**BEATS, "type": ["number", "null"]}}}
PATH = {"type": "string", "maxLength": 4096, "pattern": "^[^\\x00]*$"}
FLAG = {"type": "string", "enum": ["0", "1", "true", "false"]}
EVENT = {"type": "object", "required": ["event", "data"], "description": "data is the job document as JSON",
         "properties": {"event": {"type": "string", "enum": ["progress", "done", "error"]}, "data": {"type": "string"}}}
NOTE_ROW = {"type": "array", "minItems": 5, "maxItems": 5, "items": False,
            "prefixItems": [PITCH, VELOCITY, BEATS, BEATS, {"type": "integer", "minimum": 1, "maximum": 16}],
            "description": "[pitch, velocity, start_beats, duration_beats, channel]"}
_ROW_BOUNDS = [(p["type"] == "integer", False, p["minimum"], p["maximum"]) for p in NOTE_ROW["prefixItems"]]
_NOTE_BOUNDS = {k: ("integer" in p["type"], "null" in p["type"], p.get("minimum", -math.inf),
                    p.get("maximum", math.inf)) for k, p in NOTE["properties"].items()}


def _finite_number(checker: Any, v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _max_items(validator: Any, limit: int, instance: Any, schema: dict) -> Any:
    """maxItems with a short message (jsonschema's quotes the whole list: seconds for a big one)."""
    if isinstance(instance, list) and len(instance) > limit:
        yield jsonschema.ValidationError(f"has {len(instance)} items, over the limit of {limit}")


def _value_ok(v: Any, bound: tuple[bool, bool, float, float]) -> bool:
    """A JSON value against (integer?, nullable?, minimum, maximum), as the schema would judge it."""
    integer, nullable, lo, hi = bound
    if v is None:
        return nullable
    if type(v) is int:
        return lo <= v <= hi
    return type(v) is float and lo <= v <= hi and (not integer or v.is_integer())


def _row_ok(row: Any) -> bool:
    return type(row) is list and len(row) == len(_ROW_BOUNDS) and all(map(_value_ok, row, _ROW_BOUNDS))


def _note_ok(note: Any) -> bool:
    return type(note) is dict and "pitch" in note and all(
        k in _NOTE_BOUNDS and _value_ok(v, _NOTE_BOUNDS[k]) for k, v in note.items())


def _items(validator: Any, items: Any, instance: Any, schema: dict) -> Any:
    """`items` of note lists (NOTE_ROW rows, Note objects): a plain loop first (the same bounds, read
    from the schemas), and the full jsonschema check only to name the first bad note; a 100k-note
    list costs ~0.1 s instead of ~6 s."""
    if isinstance(instance, list) and ((items is NOTE_ROW and all(map(_row_ok, instance)))
                                       or (items is NOTE_REF and all(map(_note_ok, instance)))):
        return
    yield from _ITEMS(validator, items, instance, schema)


_ITEMS = jsonschema.Draft202012Validator.VALIDATORS["items"]
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, validators={"maxItems": _max_items, "items": _items},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("number", _finite_number))


def validate(schema: dict | bool, value: Any, where: str = "body") -> None:
    """Check a JSON value against one of these schemas with `jsonschema`; BadRequest naming the first
    offending entry (`body.notes[3][0]`) if it does not match. Errors are found lazily, and each list's
    size is checked before its items, so an oversized list is refused at once."""
    root = schema if isinstance(schema, bool) else {**schema, "components": {"schemas": COMPONENTS}}
    error = next(_Validator(root).iter_errors(value), None)
    if error is None:
        return
    path = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "additionalProperties":
        message = error.message.replace(" were unexpected", "").replace(" was unexpected", "")
        raise BadRequest(f"{path}: unknown field ({message[:120]}); fields are "
                         f"{', '.join(error.schema.get('properties', {}))}")
    if error.validator == "oneOf":
        raise BadRequest(f"{path} must match exactly one of its forms "
                         f"({error.schema.get('description', 'see the OpenAPI description')})")
    if error.validator == "minItems" or error.validator == "maxItems":
        size = len(error.instance) if isinstance(error.instance, list) else 0
        raise BadRequest(f"{path} must have {error.schema.get('minItems', 0)}..{error.schema.get('maxItems', '')} "
                         f"items, got {size}")
    raise BadRequest(f"{path}: {error.message[:200]}")


COMPONENTS = {"Job": JOB, "Piece": PIECE, "Note": NOTE, "Error": ERROR}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "malformed request", 401: "token needed", 403: "refused (path, origin, host, content type)",
            404: "no such task, job or route", 405: "wrong method", 409: "cancelled",
            413: "over a size limit", 422: "bad input or parameter", 500: "internal error",
            503: "busy or shutting down", 504: "timed out"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


RECORDING_TEXT = ("the recording inside an allowed directory: an audio file (.wav, .flac, .ogg, .mp3, .aiff), "
                  "for locate also a MIDI or score clip")


def task_body(spec: registry.TaskSpec, max_notes: int = L.MAX_NOTES) -> dict:
    """The request body schema of POST /sai/<task>: one input source, the task's parameters, options.
    `max_notes` (the daemon's `--max-notes`) bounds each note list, checked before its items."""
    params = {"type": "object", "additionalProperties": False,
              "properties": {p.name: p.schema() for p in spec.params}}
    recording = {"recording_path": {**PATH, "minLength": 1, "description": RECORDING_TEXT}} \
        if spec.takes_recording else {}
    body = {"type": "object", "additionalProperties": False, "properties": {
        "piece": {"properties": {"notes": {"type": "array", "maxItems": max_notes}},  # size before items
                  "$ref": "#/components/schemas/Piece"},
        "notes": {"type": "array", "maxItems": max_notes, "items": NOTE_ROW},
        "qpm": {"type": "number", "minimum": L.MIN_QPM, "maximum": L.MAX_QPM, "default": 120},
        "numerator": {"type": "integer", "minimum": L.MIN_NUMERATOR, "maximum": L.MAX_NUMERATOR, "default": 4},
        "denominator": {"type": "integer", "enum": list(L.DENOMINATORS), "default": 4},
        "in_path": {**PATH, "minLength": 1, "description": "a music file inside an allowed directory"},
        "out_path": {**PATH, "description": ".mid, .musicxml or .json inside an allowed directory; '' for none"},
        "params": params, "request_id": {"type": "integer"}, "wait": {"type": "boolean", "default": False},
        **recording},
        "description": "one of piece, notes or in_path" + (", and recording_path" if recording else ""),
        "oneOf": [{"required": ["piece"]}, {"required": ["notes"]}, {"required": ["in_path"]}]}
    if recording:
        body["required"] = ["recording_path"]
    return body


def openapi() -> dict:
    """The whole description; every registered task gets its own POST route."""
    job_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}]
    job = _json({"$ref": "#/components/schemas/Job"}, "the job")
    paths: dict[str, Any] = {
        "/sai/ping": {"get": {"summary": "version", "operationId": "ping", "responses": {
            "200": _json({"type": "object", "properties": {"version": {"type": "string"}}}, "the daemon's version")}}},
        "/sai/caps": {"get": {"summary": "tasks and parameter schemas", "operationId": "caps",
                              "responses": {"200": _json({"type": "object"}, "the tasks"), **_errors(400, 401)}}},
        "/sai/status": {"get": {"summary": "queue and job counters", "operationId": "status",
                                "responses": {"200": _json({"type": "object"}, "counters"), **_errors(400, 401)}}},
        "/sai/jobs": {"get": {"summary": "running and recent jobs", "operationId": "listJobs", "responses": {
            "200": _json({"type": "object", "properties": {"jobs": {"type": "array", "items": JOB}}}, "jobs"),
            **_errors(400, 401)}}},
        "/sai/jobs/{id}": {"get": {"summary": "a job's state and result", "operationId": "getJob",
                                   "parameters": job_id + [{"name": "piece", "in": "query", "schema": FLAG}],
                                   "responses": {"200": job, **_errors(400, 401, 404)}}},
        "/sai/jobs/{id}/events": {"get": {"summary": "progress as server-sent events", "operationId": "jobEvents",
                                          "parameters": job_id, "responses": {
                                              "200": {"description": "event stream",
                                                      "content": {"text/event-stream": {"schema": EVENT}}},
                                              **_errors(400, 401, 404)}}},
        "/sai/jobs/{id}/cancel": {"post": {"summary": "cancel a job", "operationId": "cancelJob",
                                           "parameters": job_id, "responses": {"200": job, **_errors(400, 401, 403, 404)}}},
    }
    for spec in registry.all_tasks():
        paths[f"/sai/{spec.name}"] = {"post": {
            "summary": spec.summary, "description": spec.doc, "operationId": f"run_{spec.name}",
            "parameters": [{"name": "wait", "in": "query", "schema": FLAG}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": task_body(spec)}}},
            "responses": {"200": _json({"$ref": "#/components/schemas/Job"}, "the finished job (with wait)"),
                          "202": _json({"$ref": "#/components/schemas/Job"}, "queued; poll /sai/jobs/{id}"),
                          **_errors(400, 401, 403, 404, 413, 422, 503)}}}
    return {"openapi": "3.1.0",
            "info": {"title": "symbolic-ai daemon", "version": __version__,
                     "description": "Music-for-music transforms on loopback; the same jobs as the OSC interface."},
            "paths": paths,
            "components": {"schemas": COMPONENTS,
                           "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}}}
