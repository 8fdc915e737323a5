"""Worker processes that run the daemon's jobs, so that a job can be stopped and its memory bounded.

Each worker is a process forked from multiprocessing's fork server (a clean, single-threaded
process that imported the library once), so starting one costs a fork, not an interpreter. It
loads every task's model when it starts (with `Config.preload`), limits its own address space
(`RLIMIT_AS`) to what it holds then plus `Config.worker_memory_mb`, says `ready`, and runs one job
at a time: it reads the input, runs the task, writes the output file, and sends back the input
piece, the result and the output path. A job that needs more memory gets MemoryError and is
answered `too_large`, and the worker then exits so that a fresh one replaces it. The engine ends
a job past its timeout, or cancelled while it runs, by killing its worker (SIGKILL); a worker
also dies with the daemon (`PR_SET_PDEATHSIG` on Linux, and end of file on its socket).

The parent talks to a worker over a socketpair, non-blocking on the event loop's side: frames of
`>QI` (payload length, number of descriptors) then a pickle. An input file opened at submit time
(`files.InputFile`) travels as its open descriptor (SCM_RIGHTS), never as a path. Payloads over
`LARGE_PAYLOAD` bytes are unpickled in a thread so the event loop keeps answering meanwhile.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import io as _io
import logging
import os
import pickle
import resource
import signal
import socket
import struct
import sys
import traceback
from multiprocessing import context as mp_context
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from pathlib import Path
from typing import Any

from symbolic_ai import registry
from symbolic_ai.errors import SymbolicAIError

from .config import Config
from .errors import error_code
from .files import InputFile

log = logging.getLogger("symbolic_ai.daemon.workers")

HEADER = struct.Struct(">QI")
LARGE_PAYLOAD = 1 << 20        # replies larger than this are unpickled off the event loop
MAX_FDS = 4                    # descriptors one job may carry
STOP_GRACE_S = 2.0             # a stopping worker gets this long to exit before SIGKILL
START_TIMEOUT_S = 300.0        # a worker that has not loaded its models by then is killed (and retried)
PRELOAD_MODULES = ["symbolic_ai.bridges.workers", "symbolic_ai.bridges.wire", "symbolic_ai.io",
                   "symbolic_ai.tasks", "onnxruntime", "music21"]
_preloaded = False


class _Popen(popen_forkserver.Popen):
    """The fork server's Popen, without the parent's `__main__`: a worker needs only the library,
    and a script that embeds the daemon (no `if __name__ == "__main__"` guard) must not run again
    in each worker. Otherwise as `multiprocessing.popen_forkserver.Popen._launch`."""

    def _launch(self, process_obj: Any) -> None:
        prep = {k: v for k, v in spawn.get_preparation_data(process_obj._name).items()
                if not k.startswith("init_main")}
        buf = _io.BytesIO()
        mp_context.set_spawning_popen(self)
        try:
            reduction.dump(prep, buf)
            reduction.dump(process_obj, buf)
        finally:
            mp_context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class WorkerProcess(mp_context.ForkServerProcess):
    """A process forked from the fork server, which has the library imported (`PRELOAD_MODULES`)."""

    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:
        global _preloaded
        if not _preloaded:
            forkserver.set_forkserver_preload(PRELOAD_MODULES)
            _preloaded = True
        return _Popen(process_obj)


class WorkerDied(Exception):
    """The worker process ended (killed, crashed or out of memory) before it answered."""


# -- pickling with descriptors -----------------------------------------------------------------
class _Pickler(pickle.Pickler):
    """Pickles open input files as an index into the descriptors sent alongside."""

    def __init__(self, buf: _io.BytesIO) -> None:
        super().__init__(buf, protocol=pickle.HIGHEST_PROTOCOL)
        self.fds: list[int] = []

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, InputFile):
            if obj.fd < 0:
                raise ValueError(f"{obj.text}: the input was closed before the job ran")
            self.fds.append(obj.fd)
            return _received_input, (obj.text, str(obj.path), len(self.fds) - 1)
        return NotImplemented


_received: list[int] = []  # in a worker: the descriptors that came with the job being unpickled


def _received_input(text: str, path: str, index: int) -> InputFile:
    fd, _received[index] = _received[index], -1  # the InputFile owns it now (and closes it)
    return InputFile(text, fd, Path(path))


def dumps(obj: Any) -> tuple[bytes, list[int]]:
    buf = _io.BytesIO()
    p = _Pickler(buf)
    p.dump(obj)
    if len(p.fds) > MAX_FDS:
        raise ValueError(f"a job may carry at most {MAX_FDS} open files")
    return buf.getvalue(), p.fds


# -- the worker process --------------------------------------------------------------------------
def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _send(sock: socket.socket, msg: Any) -> None:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(HEADER.pack(len(data), 0) + data)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent (the fork server, which ends with the daemon) dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def vm_bytes() -> int | None:
    """This process's address-space size (Linux), or None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _limit_memory(budget_mb: int) -> int | None:
    """Cap the address space at its current size plus the job budget; the cap, or None if unknown."""
    now = vm_bytes()
    if now is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = now + budget_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return cap


def preload(device: str) -> list[str]:
    """Load every task's model and the models it borrows once so each job runs warm; the names loaded."""
    from symbolic_ai.runtime import load_model
    loaded: list[str] = []
    for spec in registry.TASKS.values():
        for name in ([spec.model] if spec.model else []) + list(spec.borrows):
            if name in loaded:
                continue
            try:
                load_model(name, device=device)
                loaded.append(name)
            except SymbolicAIError as exc:
                log.warning("model %s for task %s not loaded: %s", name, spec.name, exc)
    return loaded


def _out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` or what caused it is a failed allocation (MemoryError, or onnxruntime's)."""
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 16:
        if isinstance(e, MemoryError) or "bad_alloc" in str(e)[:2000] or "Failed to allocate" in str(e)[:2000]:
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def worker_main(sock: socket.socket, config: Config, threads: int) -> None:
    """A worker's life: load the models, cap the memory, then run jobs until the socket closes."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole group; the daemon decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"symbolic-ai serve: worker {os.getpid()}: %(levelname)s %(name)s: %(message)s")
    from symbolic_ai import runtime
    runtime.set_threads(threads)
    sock.setblocking(True)
    loaded = preload(config.device) if config.preload else []
    cap = _limit_memory(config.worker_memory_mb)
    _send(sock, ("ready", os.getpid(), loaded, cap))
    while True:
        try:
            header = _recv_exact_fds(sock)
            if header is None:
                return
            size, fds = header
            data = _recv_exact(sock, size)
        except OSError:  # the daemon closed its end
            return
        if data is None:
            return
        _received[:] = fds
        reply = _run_job(sock, data, config)
        for fd in _received:  # any the job did not take
            if fd >= 0:
                os.close(fd)
        try:
            _send(sock, reply)
        except MemoryError:
            reply = _too_large("the result", config)
            _send(sock, reply)
        except OSError:
            return
        if reply[0] == "error" and reply[1] == "too_large":
            return  # a fresh worker replaces this one: its heap may be fragmented past the limit


def _recv_exact_fds(sock: socket.socket) -> tuple[int, list[int]] | None:
    """A frame header and the descriptors that came with it."""
    msg, fds, _flags, _addr = socket.recv_fds(sock, HEADER.size, MAX_FDS)
    if not msg:
        return None
    if len(msg) < HEADER.size:
        rest = _recv_exact(sock, HEADER.size - len(msg))
        if rest is None:
            return None
        msg += rest
    size, _n = HEADER.unpack(msg)
    return size, list(fds)


def _run_job(sock: socket.socket, data: bytes, config: Config) -> tuple[Any, ...]:
    """One job: ('done', input piece, result, output) or ('error', code, message, traceback)."""
    task = "the job"
    try:
        task, params, load, save, recording = pickle.loads(data)
        piece = load()
        clip = None if recording is None else recording()
        _send(sock, ("loaded",))
        result = registry.run(task, piece, device=config.device, recording=clip, **params)
        output = None if save is None else str(save(result))
        return ("done", piece, result, output)
    except Exception as exc:  # MemoryError included
        if _out_of_memory(exc):
            return _too_large(task, config)
        if isinstance(exc, SymbolicAIError):
            return ("error", error_code(exc), str(exc), "")
        return ("error", "internal", f"{task} failed: {type(exc).__name__}: {exc}"[:2000], traceback.format_exc())


def _too_large(what: str, config: Config) -> tuple[str, str, str, str]:
    return ("error", "too_large", f"{what} needed more memory than a worker may use ({config.worker_memory_mb} MB "
            f"beyond its models; the daemon's --worker-memory-mb)", "")


# -- the parent's side -------------------------------------------------------------------------
class Worker:
    """One worker process, seen from the event loop: `await start()`, `await run(...)`, `kill()`."""

    def __init__(self, config: Config, threads: int) -> None:
        self.config, self.threads = config, threads
        self.proc: Any = None
        self.sock: socket.socket | None = None
        self.pid: int | None = None
        self.memory_cap: int | None = None
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._buf = bytearray()
        self.alive = False

    async def start(self) -> None:
        """Start the process and wait until it has loaded its models."""
        loop = asyncio.get_running_loop()
        parent, child = socket.socketpair()
        self.proc = WorkerProcess(target=worker_main, args=(child, self.config, self.threads),
                                      name="sai-worker", daemon=True)
        try:
            await loop.run_in_executor(None, self.proc.start)
        finally:
            child.close()
        self.pid, self.sock, self.alive = self.proc.pid, parent, True
        parent.setblocking(False)
        loop.add_reader(parent.fileno(), self._readable)
        try:
            kind, _pid, _loaded, self.memory_cap = await asyncio.wait_for(self._next(), START_TIMEOUT_S)
        except asyncio.TimeoutError:
            self.kill()
            raise WorkerDied(f"worker {self.pid} was not ready within {START_TIMEOUT_S:g} s") from None
        if kind != "ready":
            raise WorkerDied(f"worker {self.pid} said {kind!r} instead of ready")

    async def run(self, task: str, params: dict, load: Any, save: Any, on_loaded: Any,
                  big: bool = False, recording: Any = None) -> tuple[Any, ...]:
        """Send one job (pickled in a thread if `big`) and wait for its answer; WorkerDied if the
        process ends first."""
        loop = asyncio.get_running_loop()
        job = (task, params, load, save, recording)
        data, fds = await loop.run_in_executor(None, dumps, job) if big else dumps(job)
        if self.sock is None:
            raise WorkerDied(await self.death())
        header = HEADER.pack(len(data), len(fds))
        if fds:  # 12 bytes and the descriptors, to an idle worker's empty socket
            socket.send_fds(self.sock, [header], fds)
            await loop.sock_sendall(self.sock, data)
        else:
            await loop.sock_sendall(self.sock, header + data)
        while True:
            msg = await self._next()
            if msg[0] == "loaded":
                on_loaded()
                continue
            return msg  # type: ignore[no-any-return]

    async def _next(self) -> Any:
        item = await self.inbox.get()
        if isinstance(item, asyncio.Future):
            item = await item
        if item is None:
            raise WorkerDied(f"worker {self.pid} ended")
        return item

    def _readable(self) -> None:
        """Read what the worker sent; whole frames go to the inbox, end of file as None."""
        assert self.sock is not None
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    self._closed()
                    return
                self._buf += chunk
                self._frames()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._closed()

    def _frames(self) -> None:
        while len(self._buf) >= HEADER.size:
            size, _ = HEADER.unpack_from(self._buf)
            if len(self._buf) < HEADER.size + size:
                return
            data = bytes(self._buf[HEADER.size:HEADER.size + size])
            del self._buf[:HEADER.size + size]
            if size > LARGE_PAYLOAD:
                self.inbox.put_nowait(asyncio.get_running_loop().run_in_executor(None, pickle.loads, data))
            else:
                self.inbox.put_nowait(pickle.loads(data))

    def _closed(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        if self.alive:
            self.alive = False
            self.inbox.put_nowait(None)

    async def death(self, wait_s: float = 1.0) -> str:
        """Why the process ended (its exit status is waited for up to wait_s)."""
        if self.proc is None:
            return "the worker process did not start"
        await asyncio.get_running_loop().run_in_executor(None, self.proc.join, wait_s)
        code = self.proc.exitcode
        if code is not None and code < 0:
            return f"the worker process was ended by signal {signal.Signals(-code).name}"
        return f"the worker process ended (exit status {code})" if code is not None else "the worker process ended"

    def kill(self) -> None:
        """End the process at once (SIGKILL); its job is not answered by it."""
        if self.proc is not None and self.proc.pid is not None:
            with contextlib.suppress(ProcessLookupError, OSError):
                os.kill(self.proc.pid, signal.SIGKILL)
        self._closed()

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Close its socket (it exits at end of file), then SIGKILL it if it has not gone within grace_s."""
        self._closed()
        if self.proc is None:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.proc.join, grace_s)
        if self.proc.exitcode is None:
            self.kill()
            await loop.run_in_executor(None, self.proc.join, grace_s)
