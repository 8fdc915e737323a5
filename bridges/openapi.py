"""The OpenAPI 3 description of the HTTP routes, generated from the task registry."""
from __future__ import annotations

from typing import Any

from symbolic_ai import __version__, registry

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
NOTE = {"type": "object", "required": ["pitch"], "properties": {
    k: {"type": ["number", "null"]} for k in ("onset_sec", "duration_sec", "onset_beat", "duration_beat",
                                              "pitch", "velocity", "track", "id", "bar", "beat_in_bar", "voice")}}
PIECE = {"type": "object", "description": "a Piece in the JSON wire format v1 (symbolic_ai.io.wire)",
         "properties": {"format": {"type": "string", "enum": ["symbolic_ai.piece"]},
                        "version": {"type": "integer", "enum": [1]},
                        "notes": {"type": "array", "items": {"$ref": "#/components/schemas/Note"}},
                        "tracks": {"type": "array", "items": {"type": "object"}},
                        "tempos": {"type": "array", "items": {"type": "object"}},
                        "time_signatures": {"type": "array", "items": {"type": "object"}},
                        "key_signatures": {"type": "array", "items": {"type": "object"}},
                        "annotations": {"type": "array", "items": {"type": "object"}},
                        "metadata": {"type": "object"}, "pickup_beats": {"type": "number", "minimum": 0}}}
NOTE_ROW = {"type": "array", "minItems": 5, "maxItems": 5, "items": {"type": "number"},
            "description": "[pitch 0..127, velocity 0..127, start_beats, duration_beats, channel 1..16]"}


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
        "in_path": {"type": "string", "description": "a music file inside an allowed directory"},
        "out_path": {"type": "string", "description": ".mid, .musicxml or .json inside an allowed directory"},
        "params": params, "request_id": {"type": "integer"}, "wait": {"type": "boolean", "default": False}},
        "oneOf": [{"required": ["piece"]}, {"required": ["notes"]}, {"required": ["in_path"]}]}


def openapi() -> dict:
    """The whole description; every registered task gets its own POST route."""
    job_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}]
    job = _json({"$ref": "#/components/schemas/Job"}, "the job")
    paths: dict[str, Any] = {
        "/sai/ping": {"get": {"summary": "version", "operationId": "ping", "responses": {
            "200": _json({"type": "object", "properties": {"version": {"type": "string"}}}, "the daemon's version")}}},
        "/sai/caps": {"get": {"summary": "tasks and parameter schemas", "operationId": "caps",
                              "responses": {"200": _json({"type": "object"}, "the tasks"), **_errors(401)}}},
        "/sai/status": {"get": {"summary": "queue and job counters", "operationId": "status",
                                "responses": {"200": _json({"type": "object"}, "counters"), **_errors(401)}}},
        "/sai/jobs": {"get": {"summary": "running and recent jobs", "operationId": "listJobs", "responses": {
            "200": _json({"type": "object", "properties": {"jobs": {"type": "array", "items": JOB}}}, "jobs"),
            **_errors(401)}}},
        "/sai/jobs/{id}": {"get": {"summary": "a job's state and result", "operationId": "getJob",
                                   "parameters": job_id + [{"name": "piece", "in": "query", "schema": {
                                       "type": "string", "enum": ["0", "1"]}}],
                                   "responses": {"200": job, **_errors(401, 404)}}},
        "/sai/jobs/{id}/events": {"get": {"summary": "progress as server-sent events", "operationId": "jobEvents",
                                          "parameters": job_id, "responses": {
                                              "200": {"description": "event stream",
                                                      "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                                              **_errors(401, 404)}}},
        "/sai/jobs/{id}/cancel": {"post": {"summary": "cancel a job", "operationId": "cancelJob",
                                           "parameters": job_id, "responses": {"200": job, **_errors(401, 404)}}},
    }
    for spec in registry.TASKS.values():
        paths[f"/sai/{spec.name}"] = {"post": {
            "summary": spec.summary, "description": spec.doc, "operationId": f"run_{spec.name}",
            "parameters": [{"name": "wait", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": task_body(spec)}}},
            "responses": {"200": _json({"$ref": "#/components/schemas/Job"}, "the finished job (with wait)"),
                          "202": _json({"$ref": "#/components/schemas/Job"}, "queued; poll /sai/jobs/{id}"),
                          **_errors(400, 401, 403, 404, 413, 422, 503)}}}
    return {"openapi": "3.1.0",
            "info": {"title": "symbolic-ai daemon", "version": __version__,
                     "description": "Music-for-music transforms on loopback; the same jobs as the OSC interface."},
            "paths": paths,
            "components": {"schemas": {"Job": JOB, "Piece": PIECE, "Note": NOTE, "Error": ERROR},
                           "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}}}
