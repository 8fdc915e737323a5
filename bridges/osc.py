"""The OSC adapter: UDP datagrams in, job requests to the engine, flat OSC replies out.

Only ints, floats and strings are used (Max and Pd handle blobs, arrays and bundles poorly;
bundles are unpacked if they come). Every request carries an int request id (a whole float is
accepted too: Pd sends every number as a float). Options follow as trailing key/value pairs;
besides the task's parameters these are understood everywhere:
`reply_port N` (reply to this port on the sender's host, for senders such as liblo's `oscsend`
that use a new socket per message), `token SECRET` (when the daemon has one), `progress 0`
(no progress messages).

Replies go to the port named by `reply_port`, else to the one registered with `/sai/hello` by the
sending socket, else back to the sending socket. Datagrams are parsed defensively with
python-osc's type readers: a malformed packet, an unknown address or a wrong argument is answered
with `/sai/error id code message` (id 0 when it cannot be read) and logged; nothing stops the
server. Errors to a source that has not registered with `/sai/hello` (or, on a token daemon,
not authenticated) are rate-limited (`ERRORS_PER_S`), `/sai/caps` is answered at most once a
second per source, and on a daemon with a token a source that has not authenticated gets
replies no larger than its datagram (`UNAUTHED_REPLY_MIN` bytes at least), so a spoofed sender
cannot use the daemon as an amplifier. Token values are never logged. (python-osc's own Dispatcher drops
parse errors silently and sleeps in the event loop on
future-dated bundles, so it is not used.)
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import secrets
import socket
import struct
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pythonosc.osc_message import OscMessage
from pythonosc.parsing import osc_types

from symbolic_ai import __version__, registry
from symbolic_ai.errors import SymbolicAIError
from symbolic_ai.piece import Piece

from . import files
from .config import Config
from .engine import Engine, Job
from .errors import BadRequest, Busy, NotFound, Unauthorized
from .wire import (
    as_float,
    as_int,
    check_note,
    options,
    osc_value,
    piece_from_notes,
    result_messages,
)

log = logging.getLogger("symbolic_ai.daemon.osc")

ALLOWED_TAGS = set("ifsdhTFN")
RESERVED = ("reply_port", "token", "progress")
MAX_FRAMES = 8             # note lists one client may be sending at once
MAX_FRAME_NOTES = 4        # all open note lists together hold at most this many times --max-notes
FRAME_TTL_S = 60.0         # an unfinished note list is forgotten after this long without a note
MAX_ROUTES = 1024          # remembered /sai/hello registrations
MAX_DATAGRAM = 65507
RCVBUF_BYTES = 4 << 20
ERRORS_PER_S = 100.0       # error replies per source and second, a burst of as many (source: the host
                           # on a token daemon, where senders may be off-host; else host and port)
CAPS_INTERVAL_S = 1.0      # /sai/caps answers at most this often per source
UNAUTHED_REPLY_MIN = 64    # reply bytes per datagram to an unauthenticated source: max(this, its size)
MAX_LIMITED = 4096         # sources remembered by the rate limits
MAX_INTAKE = 8192          # datagrams read from the socket and waiting; more are answered `busy`
READ_BATCH = 512           # datagrams read at most per wake-up of the socket
HANDLE_BATCH = 64          # datagrams handled per event-loop turn
Addr = tuple[str, int]


def parse_packet(data: bytes, depth: int = 0) -> list[tuple[str, list[Any]]]:
    """The messages in a datagram (a message or a bundle); BadRequest with the reason if malformed."""
    if data.startswith(b"#bundle\x00"):
        if depth >= 4:
            raise BadRequest("bundles nested more than 4 deep")
        out, i = [], 16  # '#bundle\0' + 8-byte time tag (ignored: everything runs now)
        while i < len(data):
            if i + 4 > len(data):
                raise BadRequest("truncated bundle element size")
            (size,) = struct.unpack(">i", data[i:i + 4])
            if size <= 0 or size % 4 or i + 4 + size > len(data):
                raise BadRequest(f"bad bundle element size {size}")
            out += parse_packet(data[i + 4:i + 4 + size], depth + 1)
            i += 4 + size
        return out
    try:
        address, index = osc_types.get_string(data, 0)
        args: list[Any] = []
        if index < len(data):
            tags, index = osc_types.get_string(data, index)
            bad = sorted(set(tags[1:]) - ALLOWED_TAGS) if tags.startswith(",") else [tags[:1]]
            if bad:
                raise BadRequest(f"{address}: unsupported OSC type tag(s) {''.join(bad)!r}; "
                                 f"send ints, floats and strings")
            fast = _read_ifs(data, index, tags[1:])
            args = fast if fast is not None else list(OscMessage(data).params)
    except BadRequest:
        raise
    except Exception as exc:  # python-osc raises several kinds on garbage
        raise BadRequest(f"malformed OSC packet of {len(data)} bytes ({type(exc).__name__}: {exc})"[:300]) from None
    if not address.startswith("/"):
        raise BadRequest(f"OSC address must start with '/', got {address[:60]!r}")
    return [(address, args)]


def _read_ifs(data: bytes, index: int, tags: str) -> list[Any] | None:
    """Arguments of the common int/float/string messages, 5x faster than python-osc's general
    reader; None for other type tags (python-osc reads those)."""
    args: list[Any] = []
    for t in tags:
        if t == "i" or t == "f":
            if index + 4 > len(data):
                raise BadRequest(f"OSC argument {len(args)} ({t}) runs past the end of the packet")
            args.append(struct.unpack_from(">i" if t == "i" else ">f", data, index)[0])
            index += 4
        elif t == "s":
            end = data.find(b"\x00", index)
            if end < 0:
                raise BadRequest(f"OSC argument {len(args)} (s) is not terminated")
            args.append(data[index:end].decode("utf-8"))
            index = end + 4 - (end % 4)
        else:
            return None
    return args


def _pad(b: bytes) -> bytes:
    return b + b"\x00" * (4 - len(b) % 4)


def build(address: str, args: list[Any]) -> bytes:
    """An OSC message of ints, floats and strings (other values go through `wire.osc_value`)."""
    tags, body = [","], []
    for v in args:
        v = osc_value(v)
        if isinstance(v, float) and abs(v) > 3.4e38:  # beyond OSC's 32-bit float: say it in text
            v = repr(v)
        if isinstance(v, str):
            tags.append("s")
            body.append(_pad(v.encode("utf-8")))
        elif isinstance(v, float):
            tags.append("f")
            body.append(struct.pack(">f", v))
        else:
            tags.append("i")
            body.append(struct.pack(">i", v))
    return _pad(address.encode("utf-8")) + _pad("".join(tags).encode()) + b"".join(body)


@dataclass
class Frame:
    """A note list being received: `/sai/notes/open id n`, n × `/sai/note`, `/sai/notes/close id`."""

    n: int
    opts: dict
    rows: np.ndarray
    got: np.ndarray
    closed: bool = False
    touched: float = field(default_factory=time.monotonic)


class OscServer(asyncio.DatagramProtocol):
    """One UDP socket; handlers for the fixed addresses and two per registered task."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine, self.config = engine, config
        self.routes: OrderedDict[Addr, tuple[Addr, str]] = OrderedDict()  # sender -> (reply addr, name)
        self.authed: OrderedDict[Addr, bool] = OrderedDict()
        self.frames: OrderedDict[tuple[Addr, int], Frame] = OrderedDict()
        self.transport: asyncio.DatagramTransport | None = None
        self.handlers: dict[str, Callable[..., None]] = {
            "/sai/ping": self.ping, "/sai/hello": self.hello, "/sai/caps": self.caps,
            "/sai/status": self.status, "/sai/cancel": self.cancel, "/sai/notes/open": self.notes_open,
            "/sai/note": self.note, "/sai/notes/close": self.notes_close}
        for name in registry.TASKS:
            self.handlers[f"/sai/{name}/notes"] = self._bind(self.task_notes, name)
            self.handlers[f"/sai/{name}/file"] = self._bind(self.task_file, name)
        for name in registry.RECORDING_TASKS:  # a recording and a score file (no note-list route)
            self.handlers[f"/sai/{name}/file"] = self._bind(self.task_recording, name)
        self.dropped = 0
        self.intake: deque[tuple[bytes, Addr]] = deque()  # datagrams read, not yet handled
        self.handling = False                             # a handle_some() is scheduled
        self.reader: socket.socket | None = None
        self.suppressed = 0                                   # replies withheld by the limits below
        self.error_buckets: OrderedDict[Any, tuple[float, float]] = OrderedDict()  # source -> (tokens, time)
        self.caps_sent: OrderedDict[Addr, float] = OrderedDict()
        self.budget: int | None = None  # reply bytes left for the datagram being handled (None: no limit)
        self.limited = False            # the datagram being handled comes from an unregistered/unauthenticated source

    @staticmethod
    def _bind(method: Callable[..., None], task: str) -> Callable[..., None]:
        def handler(*args: Any) -> None:
            method(task, *args)
        handler.__doc__ = (method.__doc__ or "").replace("<task>", task)
        return handler

    # -- asyncio.DatagramProtocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        try:  # room for note lists sent in one burst (the kernel may cap it at net.core.rmem_max)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
            # a second handle on the same socket, to empty it into the intake queue in one go
            self.reader = socket.socket(fileno=os.dup(sock.fileno()))
            self.reader.setblocking(False)
        except (OSError, AttributeError):
            self.reader = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable: a client went away
        log.debug("UDP error (a client probably went away): %s", exc)

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        """Queue this datagram and every other one waiting in the socket, then handle a batch.

        Reading the socket empty moves a burst out of the kernel's buffer (where an overflow is
        dropped silently) into the intake queue; past MAX_INTAKE waiting datagrams a request is
        answered `busy` instead of being handled."""
        self.intake.append((data, addr))
        for _ in range(READ_BATCH):
            if self.reader is None:
                break
            try:
                more, src = self.reader.recvfrom(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. a reported ICMP error: the next read goes on
                continue
            if len(self.intake) >= MAX_INTAKE:
                self.handle(more, src, busy=True)
            else:
                self.intake.append((more, src))
        if not self.handling:
            self.handle_some()

    def handle_some(self) -> None:
        """Handle up to HANDLE_BATCH queued datagrams; the rest after the loop has looked at its sockets."""
        self.handling = False
        for _ in range(HANDLE_BATCH):
            if not self.intake:
                return
            self.handle(*self.intake.popleft())
        if self.intake and self.transport is not None and not self.transport.is_closing():
            self.handling = True
            asyncio.get_running_loop().call_soon(self.handle_some)

    def handle(self, data: bytes, addr: Addr, busy: bool = False) -> None:
        """One datagram: its messages dispatched, or (`busy`) each answered `busy`."""
        addr = (addr[0], addr[1])
        # a token daemon answers an unauthenticated source with no more bytes than it sent
        self.budget = (max(len(data), UNAUTHED_REPLY_MIN)
                       if self.config.token and addr not in self.authed else None)
        self.limited = addr not in self.routes or self.budget is not None
        try:
            try:
                messages = parse_packet(data)
            except BadRequest as exc:
                self.dropped += 1
                log.info("from %s:%d: %s", addr[0], addr[1], exc)
                self.send_error(self.routes.get(addr, (addr, ""))[0], 0, exc.code, str(exc))
                return
            for address, args in messages:
                if busy:
                    self.send_error(self.routes.get(addr, (addr, ""))[0], _rid_guess(args), "busy",
                                    f"{address}: {MAX_INTAKE} requests are waiting to be read; retry in a moment")
                else:
                    self.dispatch(address, args, addr)
        finally:
            self.budget, self.limited = None, False

    # -- dispatch ----------------------------------------------------------------------------
    def dispatch(self, address: str, args: list[Any], addr: Addr) -> None:
        rid, raw = _rid_guess(args), args
        target = self.routes.get(addr, (addr, ""))[0]
        try:
            args, reply_port, token, progress = _strip_reserved(address, args)
            if reply_port is not None:
                target = (addr[0], reply_port)
            handler = self.handlers.get(address)
            if handler is None:
                raise NotFound(f"{address}: unknown address; send /sai/caps for the list "
                               f"(tasks: {', '.join(s.name for s in registry.all_tasks())})")
            if self.config.token and address not in ("/sai/ping", "/sai/hello") and not self._authed(addr, token):
                raise Unauthorized(f"{address}: this daemon needs a token: send /sai/hello reply_port name "
                                   f"token SECRET first, or add 'token SECRET' to the message")
            handler(args, addr, target, progress, token)
        except SymbolicAIError as exc:
            message = _redact(str(exc), raw)
            log.info("from %s:%d %s: %s", addr[0], addr[1], address, message)
            self.send_error(target, rid, exc.code, message)
        except Exception as exc:  # a bug: answer, log, keep serving
            message = _redact(f"{address}: {type(exc).__name__}: {exc}", raw)
            log.error("from %s:%d %s failed: %s", addr[0], addr[1], address, message)
            self.send_error(target, rid, "internal", message)

    def _authed(self, addr: Addr, token: Any) -> bool:
        if addr in self.authed:
            return True
        return isinstance(token, str) and secrets.compare_digest(token.encode(), self.config.token.encode())

    def send(self, target: Addr, address: str, args: list[Any]) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            dgram = build(address, args)
        except Exception as exc:
            log.warning("cannot encode %s %r: %s", address, args[:4], exc)
            return
        if len(dgram) > MAX_DATAGRAM:
            dgram = build("/sai/error", [args[0] if args else 0, "too_large",
                                         f"{address}: the reply is {len(dgram)} bytes, over UDP's limit; "
                                         f"ask for a .json out_path or use HTTP"])
        if self.budget is not None:
            if len(dgram) > self.budget:
                self.suppressed += 1
                return
            self.budget -= len(dgram)
        try:
            self.transport.sendto(dgram, target)
        except OSError as exc:  # the client vanished or its buffer is full: drop, keep serving
            log.debug("reply to %s:%d dropped: %s", target[0], target[1], exc)

    def send_error(self, target: Addr, rid: int, code: str, message: str) -> None:
        """`/sai/error rid code message`; in answer to an unregistered or unauthenticated source at most
        ERRORS_PER_S a second (a burst of as many), shortened to fit what it may be sent."""
        if self.config.token:
            message = message.replace(self.config.token, "***")
        if not self.limited:  # a registered client, or a job's own answer: never dropped
            self.send(target, "/sai/error", [rid, code, message[:2000]])
            return
        now, source = time.monotonic(), target[0] if self.config.token else target
        tokens, then = self.error_buckets.pop(source, (ERRORS_PER_S, now))
        tokens = min(ERRORS_PER_S, tokens + (now - then) * ERRORS_PER_S)
        if tokens < 1:
            self.error_buckets[source] = (tokens, now)
            self.suppressed += 1
            return
        self.error_buckets[source] = (tokens - 1, now)
        _trim(self.error_buckets)
        message = message[:2000]
        if self.budget is not None:  # room left after the fixed part (address, tags, id, code)
            room = self.budget - len(build("/sai/error", [rid, code, ""])) - 3
            message = message[:max(0, room)].encode("utf-8")[:max(0, room)].decode("utf-8", "ignore")
        self.send(target, "/sai/error", [rid, code, message])

    # -- fixed addresses ---------------------------------------------------------------------
    def ping(self, args: list[Any], addr: Addr, target: Addr, progress: bool, token: Any) -> None:
        """`/sai/ping` → `/sai/pong version`. Is the daemon there, and which version."""
        _no_args("/sai/ping", args)
        self.send(target, "/sai/pong", [__version__])

    def hello(self, args: list[Any], addr: Addr, target: Addr, progress: bool, token: Any) -> None:
        """`/sai/hello reply_port [client_name]` → `/sai/welcome version client_name`. Replies to requests
        from this socket go to `reply_port` on its host from now on (0: back to the socket itself)."""
        if not 1 <= len(args) <= 2:
            raise BadRequest(f"/sai/hello takes reply_port [client_name], got {len(args)} arguments")
        port = as_int(args[0], "/sai/hello reply_port")
        if not 0 <= port <= 65535:
            raise BadRequest(f"/sai/hello reply_port must be in 0..65535, got {port}")
        name = str(args[1]) if len(args) > 1 else ""
        if self.config.token:
            if not self._authed(addr, token):
                raise Unauthorized("/sai/hello: wrong or missing token (send /sai/hello port name token SECRET)")
            _remember(self.authed, addr, True)
        reply = (addr[0], port or addr[1])
        _remember(self.routes, addr, (reply, name))
        log.info("hello from %s:%d %r: replies go to port %d", addr[0], addr[1], name, reply[1])
        self.send(reply, "/sai/welcome", [__version__, name])

    def caps(self, args: list[Any], addr: Addr, target: Addr, progress: bool, token: Any) -> None:
        """`/sai/caps` → per task `/sai/caps/task name model input output summary`, per parameter
        `/sai/caps/param task name type default min max choices help` (min/max '' when open, choices
        joined by '|'), then `/sai/caps/end n_tasks n_params`."""
        _no_args("/sai/caps", args)
        now = time.monotonic()
        if now - self.caps_sent.get(addr, -CAPS_INTERVAL_S) < CAPS_INTERVAL_S:
            raise Busy(f"/sai/caps is answered at most once every {CAPS_INTERVAL_S:g} s per client; "
                       f"keep the first answer")
        self.caps_sent[addr] = now
        self.caps_sent.move_to_end(addr)
        _trim(self.caps_sent)
        n_params = 0
        specs = registry.all_tasks()
        for spec in specs:
            self.send(target, "/sai/caps/task", [spec.name, spec.model or "", spec.input, spec.output, spec.summary])
            for p in spec.params:
                choices = "|".join(map(str, p.choices)) if p.choices else ""
                self.send(target, "/sai/caps/param",
                          [spec.name, p.name, p.type.__name__, p.default, "" if p.minimum is None else float(p.minimum),
                           "" if p.maximum is None else float(p.maximum), choices, p.help])
                n_params += 1
        self.send(target, "/sai/caps/end", [len(specs), n_params])

    def status(self, args: list[Any], addr: Addr, target: Addr, progress: bool, token: Any) -> None:
        """`/sai/status` → `/sai/status key value ...`: queued, running, workers, submitted, done, error,
        cancelled, timeout, refused."""
        _no_args("/sai/status", args)
        flat: list[Any] = []
        for k, v in self.engine.stats().items():
            flat += [k, v]
        self.send(target, "/sai/status", flat)

    def cancel(self, args: list[Any], addr: Addr, target: Addr, progress: bool, token: Any) -> None:
        """`/sai/cancel id` → the job answers `/sai/error id cancelled ...`; an open note list is dropped."""
        rid = _one_id("/sai/cancel", args)
        frame = self.frames.pop((target, rid), None)
        job = self.engine.find(_client(target), rid)
        if job is not None:
            self.engine.cancel(job)
        elif frame is not None:
            self.send_error(target, rid, "cancelled", f"note list {rid} dropped")
        else:
            raise NotFound(f"/sai/cancel: no job or note list with id {rid} from this client")

    # -- note lists --------------------------------------------------------------------------
    def notes_open(self, args: list[Any], addr: Addr, target: Addr, progress: bool, token: Any) -> None:
        """`/sai/notes/open id n [qpm Q] [numerator N] [denominator D]`: a note list of n notes follows
        (tempo 120 qpm and 4/4 unless given)."""
        if len(args) < 2:
            raise BadRequest("/sai/notes/open takes id n [qpm Q numerator N denominator D]")
        rid, n = as_int(args[0], "/sai/notes/open id"), as_int(args[1], "/sai/notes/open n")
        opts = options(args[2:], "/sai/notes/open")
        unknown = set(opts) - {"qpm", "numerator", "denominator"}
        if unknown:
            raise BadRequest(f"/sai/notes/open: unknown option(s) {', '.join(sorted(unknown))}; "
                             f"options are qpm, numerator, denominator")
        if n < 0:
            raise BadRequest(f"/sai/notes/open: n must be >= 0, got {n}")
        files.check_notes(n, self.config, f"note list {rid}")
        opts = {"qpm": as_float(opts.get("qpm", 120.0), "qpm"), "numerator": as_int(opts.get("numerator", 4), "numerator"),
                "denominator": as_int(opts.get("denominator", 4), "denominator")}
        piece_from_notes([], **opts)  # check the tempo and time signature now
        self._expire_frames()
        key = (target, rid)
        self.frames.pop(key, None)
        mine = sum(k[0] == target for k in self.frames)
        if mine >= MAX_FRAMES:
            raise Busy(f"this client has {mine} note lists open, the daemon's limit; finish or /sai/cancel one")
        if sum(f.n for f in self.frames.values()) + n > MAX_FRAME_NOTES * self.config.max_notes:
            raise Busy("too many notes are being received at once; retry in a moment")
        self.frames[key] = Frame(n, opts, np.zeros((n, 5)), np.zeros(n, dtype=bool))

    def note(self, args: list[Any], addr: Addr, target: Addr, progress: bool, token: Any) -> None:
        """`/sai/note id i pitch velocity start_beats duration_beats channel`: note i (0-based) of note
        list id; channel 1..16 (10: drums). Sending a note again replaces it."""
        if len(args) != 7:
            raise BadRequest(f"/sai/note takes id i pitch velocity start_beats duration_beats channel, "
                             f"got {len(args)} arguments")
        rid, i = as_int(args[0], "/sai/note id"), as_int(args[1], "/sai/note i")
        frame = self._frame(target, rid, "/sai/note")
        if not 0 <= i < frame.n:
            raise BadRequest(f"/sai/note: index {i} is outside note list {rid} of {frame.n} notes")
        frame.rows[i] = check_note(i, args[2:])
        frame.got[i] = True
        frame.closed = False
        frame.touched = time.monotonic()

    def notes_close(self, args: list[Any], addr: Addr, target: Addr, progress: bool, token: Any) -> None:
        """`/sai/notes/close id`: the note list is complete (else `/sai/error id bad_request` names the
        missing notes; send them and close again)."""
        rid = _one_id("/sai/notes/close", args)
        frame = self._frame(target, rid, "/sai/notes/close")
        missing = np.flatnonzero(~frame.got)
        if len(missing):
            raise BadRequest(f"note list {rid}: {len(missing)} of {frame.n} notes missing "
                             f"(indices {', '.join(map(str, missing[:10]))}{' ...' if len(missing) > 10 else ''}); "
                             f"send them and close again")
        frame.closed = True
        frame.touched = time.monotonic()

    def _frame(self, target: Addr, rid: int, where: str) -> Frame:
        frame = self.frames.get((target, rid))
        if frame is None:
            raise NotFound(f"{where}: no open note list with id {rid}; send /sai/notes/open {rid} n first")
        return frame

    def _expire_frames(self) -> None:
        now = time.monotonic()
        for key in [k for k, f in self.frames.items() if now - f.touched > FRAME_TTL_S]:
            log.info("note list %d from %s:%d expired unfinished", key[1], *key[0])
            del self.frames[key]

    # -- task requests -----------------------------------------------------------------------
    def task_notes(self, task: str, args: list[Any], addr: Addr, target: Addr, progress: bool, token: Any) -> None:
        """`/sai/<task>/notes id [param value ...]` runs <task> on the closed note list id → `/sai/<task>/progress
        id fraction`, result messages, `/sai/<task>/done id key value ...` or `/sai/error id code message`."""
        if not args:
            raise BadRequest(f"/sai/{task}/notes takes id [param value ...]")
        rid = as_int(args[0], f"/sai/{task}/notes id")
        params = options(args[1:], f"/sai/{task}/notes")
        frame = self._frame(target, rid, f"/sai/{task}/notes")
        if not frame.closed:
            raise BadRequest(f"/sai/{task}/notes: note list {rid} is not closed; send /sai/notes/close {rid}")
        load = functools.partial(piece_from_array, frame.rows, frame.opts)  # runs in a worker process
        self._submit(task, rid, params, load, None, target, progress, with_notes=True, notes=frame.n)
        del self.frames[(target, rid)]

    def task_file(self, task: str, args: list[Any], addr: Addr, target: Addr, progress: bool, token: Any) -> None:
        """`/sai/<task>/file id in_path out_path [param value ...]` runs <task> on a file and writes the result
        to out_path (.mid, .musicxml or .json; '' for none) → as for notes, without the notes."""
        if len(args) < 3:
            raise BadRequest(f"/sai/{task}/file takes id in_path out_path [param value ...]")
        rid = as_int(args[0], f"/sai/{task}/file id")
        src = files.input_path(args[1], self.config)
        out = files.output_path(args[2], self.config)
        params = options(args[3:], f"/sai/{task}/file")
        load, save = files.loader(src, self.config), files.saver(out, self.config)
        self._submit(task, rid, params, load, save, target, progress, with_notes=False)

    def task_recording(self, task: str, args: list[Any], addr: Addr, target: Addr, progress: bool,
                       token: Any) -> None:
        """`/sai/<task>/file id recording_path in_path out_path [param value ...]` for align and locate: the
        recording (an audio file; for locate also a MIDI clip) and the score → as for a file; out_path
        gets the result piece (align: the score on the recording's timeline, as .mid a DAW's tempo map)."""
        if len(args) < 4:
            raise BadRequest(f"/sai/{task}/file takes id recording_path in_path out_path [param value ...]")
        rid = as_int(args[0], f"/sai/{task}/file id")
        rec = files.recording_path(args[1], self.config)
        src = files.input_path(args[2], self.config)
        out = files.output_path(args[3], self.config)
        params = options(args[4:], f"/sai/{task}/file")
        load, save = files.loader(src, self.config), files.saver(out, self.config)
        self._submit(task, rid, params, load, save, target, progress, with_notes=False,
                     recording=files.recording_loader(rec, self.config))

    def _submit(self, task: str, rid: int, params: dict, load: Callable, save: Callable | None, target: Addr,
                progress: bool, with_notes: bool, notes: int = 0, recording: Callable | None = None) -> Job:
        spec = registry.get(task)

        def listener(job: Job, event: str) -> None:
            if event == "progress":
                if progress:
                    self.send(target, f"/sai/{task}/progress", [rid, float(job.progress)])
            elif event == "done" and job.result is not None:
                for address, args in result_messages(spec, rid, job.result, job.input_piece, with_notes):
                    self.send(target, address, args)
            elif job.error is not None:
                self.send_error(target, rid, *job.error)

        return self.engine.submit(task, params, load, save, client=_client(target), request_id=rid,
                                  listener=listener, keep_result=False, notify_progress=progress, notes=notes,
                                  recording=recording)


def piece_from_array(rows: np.ndarray, opts: dict) -> Piece:
    """The Piece of a closed note list (in a worker process)."""
    return piece_from_notes(rows.tolist(), **opts)


def _client(target: Addr) -> str:
    return f"osc:{target[0]}:{target[1]}"


def _rid_guess(args: list[Any]) -> int:
    v = args[0] if args else 0
    if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 31:
        return int(v)
    return v if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2 ** 31 else 0


def _strip_reserved(address: str, args: list[Any]) -> tuple[list[Any], int | None, Any, bool]:
    """Remove trailing `reply_port N`, `token T` and `progress 0|1` pairs (in any order)."""
    reply_port, token, progress = None, None, True
    while len(args) >= 2 and isinstance(args[-2], str) and args[-2] in RESERVED:
        k, v = args[-2], args[-1]
        args = args[:-2]
        if k == "reply_port":
            reply_port = as_int(v, f"{address} reply_port")
            if not 1 <= reply_port <= 65535:
                raise BadRequest(f"{address}: reply_port must be in 1..65535, got {reply_port}")
        elif k == "token":
            token = v
        else:
            progress = bool(as_int(v, f"{address} progress"))
    return args, reply_port, token, progress


def _no_args(address: str, args: list[Any]) -> None:
    if args:
        raise BadRequest(f"{address} takes no arguments (besides reply_port/token), got {len(args)}")


def _one_id(address: str, args: list[Any]) -> int:
    if len(args) != 1:
        raise BadRequest(f"{address} takes one argument, the request id; got {len(args)}")
    return as_int(args[0], f"{address} id")


def _redact(text: str, args: list[Any]) -> str:
    """`text` with the value after any `token` argument replaced by `***`."""
    for k, v in itertools.pairwise(args):
        if k == "token" and isinstance(v, str) and v:
            text = text.replace(repr(v), "'***'").replace(v, "***")
    return text


def _trim(table: OrderedDict) -> None:
    while len(table) > MAX_LIMITED:
        table.popitem(last=False)


def _remember(table: OrderedDict, key: Any, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > MAX_ROUTES:
        table.popitem(last=False)
