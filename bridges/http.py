"""The HTTP/JSON adapter on aiohttp: the same jobs as OSC, for MuseScore plugins, Node-for-Max and REAPER.

aiohttp (a maintained asyncio HTTP/1.1 server) parses the requests: keep-alive, chunked bodies,
bounded request lines, header sizes and counts. This module adds what a daemon on a shared
machine needs on top, before any byte of a body is read: a cap on open connections (in all and
per peer address; past it a connection is closed at once), a deadline for each whole request head
and one for the body, and the refusal of web pages (an `Origin` that is not loopback, `null`
included; a `Host` that is not the daemon's; any POST, cancel included, that is not
`application/json`). With a token every route but `/sai/ping` and `/openapi.json` needs
`Authorization: Bearer TOKEN`, checked with the origin from the head alone. Large job documents
are serialized off the event loop. The route handlers' docstrings are the help served at `/`.
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
from urllib.parse import urlsplit

from aiohttp import web

from symbolic_ai import __version__, registry
from symbolic_ai.errors import ParameterError, SymbolicAIError
from symbolic_ai.io.wire import dumps, piece_from_dict, piece_to_dict

from . import files
from .config import Config, is_loopback
from .engine import FINAL, LARGE_JOB_NOTES, Engine, Job, notes_held
from .errors import (
    BadRequest,
    Forbidden,
    NotFound,
    TooLarge,
    Unauthorized,
    http_status,
)
from .openapi import openapi, task_body, validate
from .wire import new_annotations, piece_from_notes

log = logging.getLogger("symbolic_ai.daemon.http")

HEADER_TIMEOUT_S = 10.0        # a whole request head, from its first byte (and an idle keep-alive connection)
BODY_TIMEOUT_S = 30.0
MAX_HEADERS = 64
LINE_LIMIT = 16384             # request line and each header
MAX_CONNECTIONS = 512          # open connections in all (kept below the file-descriptor limit)
MAX_PER_PEER = 128             # open connections from one address
LINGER_S = 2.0                 # after an answer sent before its body was read, the rest is discarded this long
OPEN_ROUTES = ("/sai/ping", "/openapi.json")  # need no token
FLAGS = {"1": True, "0": False, "true": True, "false": False}
TASK_ROUTE = r"/sai/(?!(?:ping|caps|status|jobs)$)([A-Za-z0-9_.-]{1,64})"
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    match: re.Match | None = None
    raw: web.Request | None = None

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

    def web(self) -> web.Response:
        return web.Response(status=self.status, body=self.body, headers={**SECURITY_HEADERS, **self.headers})


def error_response(exc: BaseException) -> Response:
    code = getattr(exc, "code", "internal")
    return Response(http_status(exc), {"error": {"code": code, "message": str(exc)}})


class _OneIn(logging.Filter):
    """Lets one record in `every` through, as one line: malformed requests are counted, not each
    logged with a traceback (a client could otherwise fill the disk)."""

    def __init__(self, every: int = 1000) -> None:
        super().__init__()
        self.every, self.seen = every, 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.seen += 1
        if (self.seen - 1) % self.every:
            return False
        exc = record.exc_info[1] if record.exc_info else None
        record.msg, record.args = "%s (%d so far): %s", (record.getMessage(), self.seen, exc)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


PROTOCOL_LOG = logging.getLogger("symbolic_ai.daemon.http.protocol")  # aiohttp's own complaints
PROTOCOL_LOG.addFilter(_OneIn())


class Gate(asyncio.Protocol):
    """One TCP connection in front of aiohttp's protocol: refused at once past the connection caps,
    and closed if a request head takes longer than HEADER_TIMEOUT_S from its first byte."""

    def __init__(self, http: HttpServer) -> None:
        self.http = http
        self.inner: Any = None
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.busy = False                              # a request is being handled
        self.timer: asyncio.TimerHandle | None = None  # the head deadline

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        http = self.http
        self.peer = str((transport.get_extra_info("peername") or ("?",))[0])
        if len(http.gates) >= http.max_connections or http.per_peer[self.peer] >= MAX_PER_PEER:
            http.refused_connections += 1
            if http.refused_connections % 1000 == 1:  # say it, without flooding the log
                log.warning("HTTP connection from %s refused: %d open (limit %d, %d per address); %d refused so far",
                            self.peer, len(http.gates), http.max_connections, MAX_PER_PEER, http.refused_connections)
            transport.abort()  # type: ignore[attr-defined]
            return
        self.transport = transport  # type: ignore[assignment]
        http.gates[transport] = self
        http.per_peer[self.peer] += 1
        self.inner = http.runner.server()  # aiohttp's RequestHandler for this connection
        self.inner.connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(HEADER_TIMEOUT_S, self._expired)

    def _expired(self) -> None:
        self.timer = None
        if not self.busy and self.transport is not None:
            self.transport.abort()  # a head that never ends (slowloris) or an idle connection

    def started(self) -> None:
        """aiohttp has the whole head: the handler runs now."""
        self.busy = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def ended(self) -> None:
        self.busy = False

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if not self.busy:
            self._arm()  # the first bytes of a head: its deadline runs from now
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.inner is None:
            return
        http = self.http
        if http.gates.pop(self.transport, None) is not None:
            http.per_peer[self.peer] -= 1
            if http.per_peer[self.peer] <= 0:
                del http.per_peer[self.peer]
        self.inner.connection_lost(exc)


class HttpServer:
    """Routes: (method, pattern, handler) tried in order; `{task}` routes come from the registry."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine, self.config = engine, config
        self.routes: list[tuple[str, re.Pattern, Callable[[Request], Awaitable[Any]]]] = [
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
        self.gates: dict[asyncio.BaseTransport, Gate] = {}
        self.per_peer: Counter[str] = Counter()
        self.max_connections = connection_cap()
        self.refused_connections = 0

    async def start(self, host: str, port: int) -> asyncio.base_events.Server:
        app = web.Application(client_max_size=self.config.max_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self._handle)  # one entry: the routes above decide
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0,
                                    keepalive_timeout=HEADER_TIMEOUT_S, max_line_size=LINE_LIMIT,
                                    max_field_size=LINE_LIMIT, max_headers=MAX_HEADERS, lingering_time=LINGER_S,
                                    auto_decompress=False, logger=PROTOCOL_LOG, handler_cancellation=True)
        await self.runner.setup()
        server = await asyncio.get_running_loop().create_server(lambda: Gate(self), host, port)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def close(self) -> None:
        """Close the open connections (keep-alive, event streams) once the jobs have drained."""
        for transport in list(self.gates):
            transport.abort()  # type: ignore[attr-defined]
        for _ in range(3):  # let the aborted connections' handlers see it
            await asyncio.sleep(0)
        await self.runner.cleanup()

    # -- requests ----------------------------------------------------------------------------
    async def _handle(self, raw: web.Request) -> web.StreamResponse:
        gate = self.gates.get(raw.transport) if raw.transport is not None else None
        if gate is not None:
            gate.started()
        try:
            req = Request(raw.method.upper(), raw.path or "/", dict(raw.query.items()),
                          {k.lower(): v for k, v in raw.headers.items()}, b"", raw=raw)
            # refuse web pages and missing tokens from the head alone, before a byte of the body is read
            self._check_origin(req)
            if self.config.token and req.path not in OPEN_ROUTES:
                self._check_token(req)
            await self._read_body(req)
            resp = await self._dispatch(req)
            return resp if isinstance(resp, web.StreamResponse) else resp.web()
        except SymbolicAIError as exc:
            return error_response(exc).web()
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("%s %s failed", raw.method, raw.path)
            return Response(500, {"error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}}).web()
        finally:
            if gate is not None:
                gate.ended()

    async def _read_body(self, req: Request) -> None:
        raw = req.raw
        assert raw is not None
        limit = self.config.max_body_bytes
        if raw.content_length is not None and raw.content_length > limit:
            raise TooLarge(f"request body of {raw.content_length} bytes is over the daemon's {limit}-byte limit")
        if raw.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise BadRequest("compressed request bodies are not accepted; send the JSON as it is")
        if not raw.body_exists:
            return
        try:
            req.body = await asyncio.wait_for(raw.read(), BODY_TIMEOUT_S)
        except web.HTTPRequestEntityTooLarge:
            raise TooLarge(f"request body over the daemon's {limit}-byte limit") from None
        except asyncio.TimeoutError:
            raise BadRequest(f"the request body did not arrive within {BODY_TIMEOUT_S:g} s") from None

    async def _dispatch(self, req: Request) -> Response | web.StreamResponse:
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
                return await handler(req)  # type: ignore[no-any-return]
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
        lines += ["", "tasks: " + ", ".join(s.name for s in registry.all_tasks())]
        return Response(200, "\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")

    async def openapi(self, req: Request) -> Response:
        """GET /openapi.json — the OpenAPI 3 description of these routes, generated from the task registry."""
        return Response(200, openapi())

    async def ping(self, req: Request) -> Response:
        """GET /sai/ping — {"version"}: is the daemon there."""
        return Response(200, {"version": __version__})

    async def caps(self, req: Request) -> Response:
        """GET /sai/caps — every task with its summary, model (and the models it borrows), input and output kinds
        and parameter schemas."""
        return Response(200, {"version": __version__, "tasks": [
            {"name": s.name, "summary": s.summary, "model": s.model, "input": s.input, "output": s.output,
             "doc": s.doc, "params": {p.name: p.schema() for p in s.params}, "recording": s.takes_recording,
             "borrows": list(s.borrows)}
            for s in registry.all_tasks()]})

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

    async def events(self, req: Request) -> web.StreamResponse:
        """GET /sai/jobs/{id}/events — server-sent events: `progress` with the state, then one `done` or
        `error` with the whole job document; the stream then ends."""
        job = self._job(req)
        queue: asyncio.Queue[str] = asyncio.Queue()
        if job.state not in FINAL:
            job.notify_progress = True
            job.listeners.append(lambda j, event: queue.put_nowait(event))
        resp = web.StreamResponse(status=200, headers={**SECURITY_HEADERS, "Content-Type": "text/event-stream"})
        resp.force_close()
        assert req.raw is not None
        await resp.prepare(req.raw)
        event = "progress" if job.state not in FINAL else "done" if job.state == "done" else "error"
        while True:
            data = await self._job_json(job, req) if event != "progress" else dumps(job.status())
            await resp.write(f"event: {event}\ndata: {data}\n\n".encode())
            if event != "progress":
                await resp.write_eof()
                return resp
            event = await queue.get()

    async def submit(self, req: Request) -> Response:
        """POST /sai/{task}[?wait=1] — run a task. JSON body: one of `piece` (the wire format), `notes`
        ([[pitch, velocity, start_beats, duration_beats, channel], ...] with optional `qpm`, `numerator`,
        `denominator`) or `in_path`; `recording_path` (an audio file; for locate also a MIDI clip) for the
        tasks that take a recording (align, locate); optional `out_path` (the result is also written
        there), `params`, `request_id`, `wait`. Answers 202 with
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
        recording = (files.recording_loader(files.recording_path(body["recording_path"], self.config), self.config)
                     if "recording_path" in body else None)
        job = self.engine.submit(spec.name, body.get("params", {}), load, save, client="http",
                                 request_id=body.get("request_id"), notify_progress=False, notes=notes,
                                 recording=recording)
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
        if notes_held(job) <= LARGE_JOB_NOTES:
            return dumps(self._job_doc(job, req))
        return await asyncio.get_running_loop().run_in_executor(None, lambda: dumps(self._job_doc(job, req)))

    def _job_doc(self, job: Job, req: Request) -> dict:
        doc = job.status()
        if job.result is not None:
            spec = registry.get(job.task)
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
