"""The OpenAPI 3 description of the HTTP routes, generated from the task registry."""
from __future__ import annotations

import json
import math
import re
from typing import Any

from symbolic_ai import __version__, registry

from .errors import BadRequest
from .wire import MAX_BEATS

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
NOTE = {"type": "object", "required": ["pitch"], "additionalProperties": False, "properties": {
    **{k: {"type": ["number", "null"], "minimum": 0} for k in ("onset_sec", "duration_sec", "onset_beat", "duration_beat")},
    "pitch": {"type": "integer", "minimum": 0, "maximum": 127},
    "velocity": {"type": ["integer", "null"], "minimum": 0, "maximum": 127},
    "track": {"type": ["integer", "null"], "minimum": 0, "maximum": 32767},
    "id": {"type": ["integer", "null"], "minimum": -2 ** 31, "maximum": 2 ** 31 - 1},
    "bar": {"type": ["integer", "null"], "minimum": -1, "maximum": 2 ** 31 - 1},
    "beat_in_bar": {"type": ["number", "null"]},
    "voice": {"type": ["integer", "null"], "minimum": -32768, "maximum": 32767}}}
PIECE = {"type": "object", "description": "a Piece in the JSON wire format v1 (symbolic_ai.io.wire)",
         "properties": {"format": {"type": "string", "enum": ["symbolic_ai.piece"]},
                        "version": {"type": "integer", "enum": [1]},
                        "notes": {"type": "array", "items": {"$ref": "#/components/schemas/Note"}},
                        "tracks": {"type": "array", "items": {"type": "object"}},
                        "tempos": {"type": "array", "items": {"type": "object"}},
                        "time_signatures": {"type": "array", "items": {"type": "object"}},
                        "key_signatures": {"type": "array", "items": {"type": "object"}},
                        "annotations": {"type": "array", "items": {"type": "object"}},
                        "metadata": {"type": "object"}, "pickup_beats": {"type": ["number", "null"], "minimum": 0}}}
PATH = {"type": "string", "maxLength": 4096, "pattern": "^[^\\x00]*$"}
FLAG = {"type": "string", "enum": ["0", "1", "true", "false"]}
EVENT = {"type": "object", "required": ["event", "data"], "description": "data is the job document as JSON",
         "properties": {"event": {"type": "string", "enum": ["progress", "done", "error"]}, "data": {"type": "string"}}}
NOTE_ROW = {"type": "array", "minItems": 5, "maxItems": 5, "items": False,
            "prefixItems": [{"type": "integer", "minimum": 0, "maximum": 127},
                            {"type": "integer", "minimum": 0, "maximum": 127},
                            {"type": "number", "minimum": 0, "maximum": MAX_BEATS},
                            {"type": "number", "minimum": 0, "maximum": MAX_BEATS},
                            {"type": "integer", "minimum": 1, "maximum": 16}],
            "description": "[pitch, velocity, start_beats, duration_beats, channel]"}


def validate(schema: dict | bool, value: Any, where: str = "body") -> None:
    """Check a JSON value against the subset of JSON Schema these descriptions use; BadRequest if not."""
    if schema is True:
        return
    if schema is False:
        raise BadRequest(f"{where}: not allowed here")
    if "$ref" in schema:
        return validate(COMPONENTS[schema["$ref"].rsplit("/", 1)[1]], value, where)
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_is(t, value) for t in types):
            raise BadRequest(f"{where} must be {' or '.join(types)}, got {_show(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise BadRequest(f"{where} must be one of {', '.join(map(str, schema['enum']))}, got {_show(value)}")
    if _is("number", value):
        if "minimum" in schema and value < schema["minimum"] or "maximum" in schema and value > schema["maximum"]:
            raise BadRequest(f"{where} must be in [{schema.get('minimum', '-inf')}, {schema.get('maximum', 'inf')}], "
                             f"got {value!r}")
    if isinstance(value, str):
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            raise BadRequest(f"{where} must have {schema.get('minLength', 0)}..{schema.get('maxLength', '')} "
                             f"characters, got {len(value)}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise BadRequest(f"{where} must match {schema['pattern']}, got {_show(value)}")
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            raise BadRequest(f"{where} must have {schema.get('minItems', 0)}..{schema.get('maxItems', '')} items, "
                             f"got {len(value)}")
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            validate(prefix[i] if i < len(prefix) else schema.get("items", True), item, f"{where}[{i}]")
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                raise BadRequest(f"{where} needs {k!r}")
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                validate(props[k], v, f"{where}.{k}")
            elif schema.get("additionalProperties", True) is False:
                raise BadRequest(f"{where}: unknown field {k[:40]!r}; fields are {', '.join(props)}")
    if "oneOf" in schema:
        ok = 0
        for option in schema["oneOf"]:
            try:
                validate(option, value, where)
                ok += 1
            except BadRequest:
                pass
        if ok != 1:
            raise BadRequest(f"{where} must match exactly one of its forms ({schema.get('description', 'see the OpenAPI description')})")


def _is(t: str, v: Any) -> bool:
    if t == "null":
        return v is None
    if t == "boolean":
        return isinstance(v, bool)
    if t in ("number", "integer"):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or isinstance(v, float) and not math.isfinite(v):
            return False
        return t == "number" or float(v).is_integer()
    return isinstance(v, {"string": str, "array": list, "object": dict}[t])


def _show(v: Any) -> str:
    return f"{type(v).__name__} {json.dumps(v, default=str)[:60]}"


COMPONENTS = {"Job": JOB, "Piece": PIECE, "Note": NOTE, "Error": ERROR}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "malformed request", 401: "token needed", 403: "refused (path, origin, host, content type)",
            404: "no such task, job or route", 405: "wrong method", 409: "cancelled",
            413: "over a size limit", 422: "bad input or parameter", 500: "internal error",
            503: "busy or shutting down", 504: "timed out"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def task_body(spec: registry.TaskSpec) -> dict:
    """The request body schema of POST /sai/<task>: one input source, the task's parameters, options."""
    params = {"type": "object", "additionalProperties": False,
              "properties": {p.name: p.schema() for p in spec.params}}
    return {"type": "object", "additionalProperties": False, "properties": {
        "piece": {"$ref": "#/components/schemas/Piece"},
        "notes": {"type": "array", "items": NOTE_ROW},
        "qpm": {"type": "number", "minimum": 1, "maximum": 2000, "default": 120},
        "numerator": {"type": "integer", "minimum": 1, "maximum": 64, "default": 4},
        "denominator": {"type": "integer", "enum": [1, 2, 4, 8, 16, 32, 64], "default": 4},
        "in_path": {**PATH, "minLength": 1, "description": "a music file inside an allowed directory"},
        "out_path": {**PATH, "description": ".mid, .musicxml or .json inside an allowed directory; '' for none"},
        "params": params, "request_id": {"type": "integer"}, "wait": {"type": "boolean", "default": False}},
        "description": "one of piece, notes or in_path",
        "oneOf": [{"required": ["piece"]}, {"required": ["notes"]}, {"required": ["in_path"]}]}


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
    for spec in registry.TASKS.values():
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
