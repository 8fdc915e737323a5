"""The HTTP/JSON adapter: the same jobs as OSC, for MuseScore plugins, Node-for-Max and REAPER.

A small HTTP/1.1 server on asyncio streams (no new dependency): keep-alive, bounded headers and
bodies, a deadline for the whole request head and one for the body, a cap on open connections
(total and per peer address). Requests from web pages are refused (an `Origin` that is not
loopback, including `null`; a `Host` that is not the daemon's; any POST, cancel included, that is
not `application/json`), so a browser cannot be used to reach the daemon. With a token every route
but `/sai/ping` and `/openapi.json` needs `Authorization: Bearer TOKEN`, checked with the origin
before the body is read. Large job documents are serialized off the event loop. The route
handlers' docstrings are the help served at `/`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import re
import resource
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from symbolic_ai import __version__, registry
from symbolic_ai.errors import ParameterError, SymbolicAIError
from symbolic_ai.io.wire import dumps, piece_from_dict, piece_to_dict

from . import files
from .config import Config, is_loopback
from .engine import FINAL, Engine, Job, notes_held
from .errors import (
    BadRequest,
    DaemonError,
    Forbidden,
    NotFound,
    TooLarge,
    Unauthorized,
    http_status,
)
from .openapi import openapi, task_body, validate
from .wire import new_annotations, piece_from_notes

log = logging.getLogger("symbolic_ai.daemon.http")

HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0
MAX_HEADERS = 64
LINE_LIMIT = 16384
MAX_CONNECTIONS = 512          # open connections in all (kept below the file-descriptor limit)
MAX_PER_PEER = 128             # open connections from one address
LARGE_DOC_NOTES = 5000         # job documents with more notes are serialized off the event loop
OPEN_ROUTES = ("/sai/ping", "/openapi.json")  # need no token
FLAGS = {"1": True, "0": False, "true": True, "false": False}
TASK_ROUTE = r"/sai/(?!(?:ping|caps|status|jobs)$)([A-Za-z0-9_.-]{1,64})"
REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
           411: "Length Required", 413: "Payload Too Large", 415: "Unsupported Media Type",
           422: "Unprocessable Entity", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    match: re.Match | None = None

    def flag(self, name: str, default: bool) -> bool:
        v = self.query.get(name)
        if v is None:
            return default
        if v.lower() not in FLAGS:
            raise BadRequest(f"query parameter {name} must be one of {', '.join(FLAGS)}, got {v[:40]!r}")
        return FLAGS[v.lower()]


class Response:
    def __init__(self, status: int, body: Any = None, *, content_type: str = "application/json",
                 headers: dict[str, str] | None = None) -> None:
        self.status, self.headers = status, dict(headers or {})
        if isinstance(body, (dict, list)):
            body = dumps(body)
        self.body = body.encode() if isinstance(body, str) else (body or b"")
        self.headers["Content-Type"] = content_type


def error_response(exc: BaseException) -> Response:
    code = getattr(exc, "code", "internal")
    return Response(http_status(exc), {"error": {"code": code, "message": str(exc)}})


class HttpServer:
    """Routes: (method, pattern, handler) tried in order; `{task}` routes come from the registry."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine, self.config = engine, config
        self.routes: list[tuple[str, re.Pattern, Callable[[Request], Awaitable[Response | None]]]] = [
            ("GET", re.compile(r"/"), self.index),
            ("GET", re.compile(r"/openapi\.json"), self.openapi),
            ("GET", re.compile(r"/sai/ping"), self.ping),
            ("GET", re.compile(r"/sai/caps"), self.caps),
            ("GET", re.compile(r"/sai/status"), self.status),
            ("GET", re.compile(r"/sai/jobs"), self.list_jobs),
            ("GET", re.compile(r"/sai/jobs/(\d{1,18})"), self.get_job),
            ("GET", re.compile(r"/sai/jobs/(\d{1,18})/events"), self.events),
            ("POST", re.compile(r"/sai/jobs/(\d{1,18})/cancel"), self.cancel),
            ("POST", re.compile(TASK_ROUTE), self.submit),
        ]
        self.port = 0
        self.connections: set[asyncio.Task] = set()
        self.per_peer: Counter[str] = Counter()
        self.max_connections = connection_cap()
        self.refused_connections = 0

    async def start(self, host: str, port: int) -> asyncio.base_events.Server:
        server = await asyncio.start_server(self._connection, host, port, limit=LINE_LIMIT)
        self.port = server.sockets[0].getsockname()[1]
        return server

    # -- connection handling -----------------------------------------------------------------
    async def close(self) -> None:
        """Close the open connections (keep-alive, event streams) once the jobs have drained."""
        tasks = [t for t in self.connections if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = (writer.get_extra_info("peername") or ("?",))[0]
        if len(self.connections) >= self.max_connections or self.per_peer[peer] >= MAX_PER_PEER:
            self.refused_connections += 1
            if self.refused_connections % 1000 == 1:  # say it, without flooding the log
                log.warning("HTTP connection from %s refused: %d open (limit %d, %d per address); %d refused so far",
                            peer, len(self.connections), self.max_connections, MAX_PER_PEER, self.refused_connections)
            writer.transport.abort()
            return
        task = asyncio.current_task()
        self.connections.add(task)
        self.per_peer[peer] += 1
        try:
            while True:
                try:
                    req = await self._read_request(reader)
                except DaemonError as exc:
                    await self._write(writer, error_response(exc), close=True)
                    return
                if req is None:
                    return
                close = req.headers.get("connection", "").lower() == "close"
                try:
                    resp = await self._dispatch(req, writer)
                except SymbolicAIError as exc:
                    resp = error_response(exc)
                except Exception as exc:
                    log.exception("%s %s failed", req.method, req.path)
                    resp = Response(500, {"error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}})
                if resp is None:  # streamed (server-sent events): the connection is done
                    return
                await self._write(writer, resp, close=close)
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass  # the client went away or stalled: nothing to answer
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("HTTP connection failed")
        finally:
            self.connections.discard(task)
            self.per_peer[peer] -= 1
            if self.per_peer[peer] <= 0:
                del self.per_peer[peer]
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> Request | None:
        deadline = asyncio.get_running_loop().time() + HEADER_TIMEOUT_S  # for the whole head, not per line
        try:
            line = await asyncio.wait_for(reader.readline(), HEADER_TIMEOUT_S)
        except asyncio.TimeoutError:
            return None  # an idle keep-alive connection: close quietly
        except (ValueError, asyncio.LimitOverrunError):
            raise TooLarge("request line too long") from None
        if not line:
            return None
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest(f"not an HTTP/1.x request line: {line[:80]!r}")
        method, target, version = parts
        headers: dict[str, str] = {} if version == "HTTP/1.1" else {"connection": "close"}
        while True:
            try:
                h = await asyncio.wait_for(reader.readline(), deadline - asyncio.get_running_loop().time())
            except (ValueError, asyncio.LimitOverrunError):
                raise TooLarge("header line too long") from None
            if h in (b"\r\n", b"\n"):
                break
            if not h:
                raise asyncio.IncompleteReadError(h, None)
            if len(headers) >= MAX_HEADERS:
                raise TooLarge(f"more than {MAX_HEADERS} headers")
            name, sep, value = h.decode("latin-1").partition(":")
            if not sep or not name.strip():
                raise BadRequest(f"malformed header line {h[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        if "transfer-encoding" in headers:
            raise BadRequest("chunked request bodies are not supported; send Content-Length")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise BadRequest(f"bad Content-Length {headers['content-length']!r:.40}") from None
        if length < 0:
            raise BadRequest(f"bad Content-Length {length}")
        if length > self.config.max_body_bytes:
            raise TooLarge(f"request body of {length} bytes is over the daemon's {self.config.max_body_bytes}-byte limit")
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        req = Request(method.upper(), url.path or "/", query, headers, b"")
        # refuse web pages and missing tokens before a byte of the body is read
        self._check_origin(req)
        if self.config.token and req.path not in OPEN_ROUTES:
            self._check_token(req)
        if length:
            req.body = await asyncio.wait_for(reader.readexactly(length), BODY_TIMEOUT_S)
        return req

    async def _write(self, writer: asyncio.StreamWriter, resp: Response, close: bool = False) -> None:
        head = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Status')}",
                f"Content-Length: {len(resp.body)}", "Cache-Control: no-store",
                "X-Content-Type-Options: nosniff", f"Connection: {'close' if close else 'keep-alive'}"]
        head += [f"{k}: {v}" for k, v in resp.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + resp.body)
        await writer.drain()

    async def _dispatch(self, req: Request, writer: asyncio.StreamWriter) -> Response | None:
        allowed = []  # origin, content type and token were checked before the body was read
        for method, pattern, handler in self.routes:
            m = pattern.fullmatch(req.path)
            if m:
                if method != req.method:
                    allowed.append(method)
                    continue
                req.match = m
                if handler not in (self.submit, self.get_job):
                    _only_query(req)
                if handler == self.events:
                    return await self.events(req, writer)
                return await handler(req)
        if allowed:
            return Response(405, {"error": {"code": "bad_request", "message": f"{req.method} {req.path}: "
                                            f"use {', '.join(allowed)}"}}, headers={"Allow": ", ".join(allowed)})
        raise NotFound(f"{req.path}: no such route; see GET / or GET /openapi.json")

    def _check_origin(self, req: Request) -> None:
        origin = req.headers.get("origin")
        if origin:  # `null` (sandboxed frames, file: pages) is a web page too
            host = urlsplit(origin).hostname or ""
            if not is_loopback(host, resolve=False):
                raise Forbidden(f"requests from web pages ({origin}) are refused")
        if not self.config.token:
            host = req.headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:host.find("]")]
            if host and not (is_loopback(name, resolve=False) or name == self.config.host):
                raise Forbidden(f"Host {host!r} is not this daemon (a DNS-rebinding page?); use 127.0.0.1")
        if req.method == "POST" and self._routed(req):  # every state-changing route (else 404/405 follows):
            # a page cannot send a JSON content type without a CORS preflight, which is never granted
            ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise Forbidden(f"POST bodies must be application/json, got {ctype or 'no Content-Type'!r}")

    def _routed(self, req: Request) -> bool:
        return any(m == req.method and p.fullmatch(req.path) for m, p, _ in self.routes)

    def _check_token(self, req: Request) -> None:
        auth = req.headers.get("authorization", "")
        given = auth[7:] if auth.lower().startswith("bearer ") else ""
        if not secrets.compare_digest(given.encode(), (self.config.token or "").encode()):
            raise Unauthorized("this daemon needs 'Authorization: Bearer TOKEN' (the --token it was started with)")

    # -- routes ------------------------------------------------------------------------------
    async def index(self, req: Request) -> Response:
        """GET / — this help: every route and what it does."""
        lines = [f"symbolic-ai daemon {__version__}: HTTP/JSON routes (OpenAPI at /openapi.json)", ""]
        for _method, _pattern, handler in self.routes:
            route, _, text = " ".join((handler.__doc__ or "").split()).partition(" — ")
            lines += [route, f"    {text}"]
        lines += ["", "tasks: " + ", ".join(registry.TASKS)]
        return Response(200, "\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")

    async def openapi(self, req: Request) -> Response:
        """GET /openapi.json — the OpenAPI 3 description of these routes, generated from the task registry."""
        return Response(200, openapi())

    async def ping(self, req: Request) -> Response:
        """GET /sai/ping — {"version"}: is the daemon there."""
        return Response(200, {"version": __version__})

    async def caps(self, req: Request) -> Response:
        """GET /sai/caps — every task with its summary, model, input and output kinds and parameter schemas."""
        return Response(200, {"version": __version__, "tasks": [
            {"name": s.name, "summary": s.summary, "model": s.model, "input": s.input, "output": s.output,
             "doc": s.doc, "params": {p.name: p.schema() for p in s.params}} for s in registry.TASKS.values()]})

    async def status(self, req: Request) -> Response:
        """GET /sai/status — queue and job counters."""
        return Response(200, self.engine.stats())

    async def list_jobs(self, req: Request) -> Response:
        """GET /sai/jobs — the running jobs and the most recent finished ones (OSC jobs too)."""
        jobs = list(self.engine.active.values()) + list(self.engine.finished.values())[-100:]
        return Response(200, {"jobs": [j.status() for j in jobs]})

    async def get_job(self, req: Request) -> Response:
        """GET /sai/jobs/{id}[?piece=0|1] — a job's state, progress and, when done, its result (with the
        result piece in the JSON wire format if piece=1; default 1 for tasks that make new notes)."""
        _only_query(req, "piece")
        req.flag("piece", False)  # a bad value is refused even before the job is done
        return Response(200, await self._job_json(self._job(req), req))

    async def cancel(self, req: Request) -> Response:
        """POST /sai/jobs/{id}/cancel — cancel a queued or running job; returns its state."""
        job = self._job(req)
        self.engine.cancel(job)
        return Response(200, job.status())

    async def events(self, req: Request, writer: asyncio.StreamWriter) -> None:
        """GET /sai/jobs/{id}/events — server-sent events: `progress` with the state, then one `done` or
        `error` with the whole job document; the stream then ends."""
        job = self._job(req)
        queue: asyncio.Queue[str] = asyncio.Queue()
        if job.state not in FINAL:
            job.notify_progress = True
            job.listeners.append(lambda j, event: queue.put_nowait(event))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
                     b"Connection: close\r\n\r\n")
        event = "progress" if job.state not in FINAL else "done" if job.state == "done" else "error"
        while True:
            data = await self._job_json(job, req) if event != "progress" else dumps(job.status())
            writer.write(f"event: {event}\ndata: {data}\n\n".encode())
            await writer.drain()
            if event != "progress":
                return None
            event = await queue.get()

    async def submit(self, req: Request) -> Response:
        """POST /sai/{task}[?wait=1] — run a task. JSON body: one of `piece` (the wire format), `notes`
        ([[pitch, velocity, start_beats, duration_beats, channel], ...] with optional `qpm`, `numerator`,
        `denominator`) or `in_path`; optional `out_path` (the result is also written there), `params`,
        `request_id`, `wait`. Answers 202 with
        the job (poll /sai/jobs/{id}) or, with wait, 200 with the finished job."""
        spec = registry.get(req.match.group(1))
        _only_query(req, "wait")
        wait = req.flag("wait", False)
        body = _json(req.body)
        # the body must match the OpenAPI schema; big ones are checked off the event loop
        try:
            check = lambda: validate(task_body(spec), body)  # noqa: E731
            await asyncio.get_running_loop().run_in_executor(None, check) if len(req.body) > 65536 else check()
        except BadRequest as exc:  # the task's parameters keep the library's error code
            raise (ParameterError(f"{spec.name}: {exc}") if str(exc).startswith("body.params") else exc) from None
        load, save = self._source(body)
        notes = len(body["notes"]) if "notes" in body else len(body["piece"].get("notes", [])) if "piece" in body else 0
        job = self.engine.submit(spec.name, body.get("params", {}), load, save, client="http",
                                 request_id=body.get("request_id"), notify_progress=False, notes=notes)
        if wait or body.get("wait", False):
            try:
                await asyncio.wait_for(job.done_event.wait(), self.config.job_timeout_s + 5)
            except asyncio.TimeoutError:
                pass
            return Response(200, await self._job_json(job, req))
        return Response(202, job.status(), headers={"Location": f"/sai/jobs/{job.id}"})

    # -- helpers -----------------------------------------------------------------------------
    def _source(self, body: dict) -> tuple[Callable, Callable | None]:
        """The job's input loader and output writer for a body that matches the schema."""
        config = self.config
        save = files.saver(files.output_path(body.get("out_path"), config), config)
        if "piece" in body:  # the loaders run in a worker process, so they are partials (picklable)
            doc = body["piece"]
            files.check_notes(len(doc.get("notes", [])), config, "piece")
            return functools.partial(piece_from_dict, doc, "piece"), save
        if "notes" in body:
            rows = body["notes"]
            files.check_notes(len(rows), config, "notes")
            return functools.partial(piece_from_notes, rows, qpm=float(body.get("qpm", 120.0)),
                                     numerator=int(body.get("numerator", 4)),
                                     denominator=int(body.get("denominator", 4))), save
        return files.loader(files.input_path(body["in_path"], config), config), save

    def _job(self, req: Request) -> Job:
        job = self.engine.get(int(req.match.group(1)))
        if job is None:
            raise NotFound(f"no job {req.match.group(1)} (finished jobs are kept for the last "
                           f"{self.config.keep_finished})")
        return job

    async def _job_json(self, job: Job, req: Request) -> str:
        """The job document as JSON text; one holding many notes is built in a worker thread so
        the event loop keeps answering (OSC pings included) meanwhile."""
        if notes_held(job) <= LARGE_DOC_NOTES:
            return dumps(self._job_doc(job, req))
        return await asyncio.get_running_loop().run_in_executor(None, lambda: dumps(self._job_doc(job, req)))

    def _job_doc(self, job: Job, req: Request) -> dict:
        doc = job.status()
        if job.result is not None:
            spec = registry.TASKS[job.task]
            doc["annotations"] = [dataclasses.asdict(a) for a in new_annotations(job.input_piece, job.result)]
            if req.flag("piece", spec.output == "piece"):
                doc["piece"] = piece_to_dict(job.result.piece)
        return doc


def connection_cap() -> int:
    """MAX_CONNECTIONS, or a quarter of the soft file-descriptor limit when that is lower (file jobs,
    model files and the OSC socket need descriptors too)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(16, min(MAX_CONNECTIONS, soft // 4))


def _only_query(req: Request, *names: str) -> None:
    unknown = set(req.query) - set(names)
    if unknown:
        raise BadRequest(f"unknown query parameter(s) {', '.join(sorted(k[:30] for k in unknown))!r}; "
                         f"this route takes {', '.join(names) or 'none'}")


def _json(body: bytes) -> dict:
    if not body:
        raise BadRequest("the request needs a JSON object body")
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(doc, dict):
        raise BadRequest(f"the body must be a JSON object, got {type(doc).__name__}")
    return doc
