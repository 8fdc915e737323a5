"""`symbolic-ai serve`: one process, one engine, OSC and HTTP listening on loopback.

SIGTERM (or Ctrl-C) drains: new requests are refused with `busy`, queued and running jobs finish
and are answered (up to `drain_timeout_s`; jobs still running then are cancelled and their worker
processes killed), then the workers stop and the sockets close. Outputs are written
atomically, so SIGKILL never leaves a partial output file.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from typing import Any

from symbolic_ai import __version__, registry
from symbolic_ai.errors import ParameterError

from .config import Config
from .engine import Engine
from .http import HttpServer
from .osc import OscServer

log = logging.getLogger("symbolic_ai.daemon")


class Daemon:
    """The engine and both adapters; `await start()`, then `await stop()`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.engine = Engine(config)
        self.osc: OscServer | None = None
        self.http: HttpServer | None = None
        self._osc_transport: asyncio.DatagramTransport | None = None
        self._http_server: asyncio.base_events.Server | None = None
        self.osc_address: tuple[str, int] | None = None
        self.http_address: tuple[str, int] | None = None

    async def start(self) -> None:
        await self.engine.start()
        loop = asyncio.get_running_loop()
        c = self.config
        try:
            if c.osc_port is not None:
                what = f"OSC on udp {c.host}:{c.osc_port}"
                self.osc = OscServer(self.engine, c)
                self._osc_transport, _ = await loop.create_datagram_endpoint(lambda: self.osc,
                                                                             local_addr=(c.host, c.osc_port))
                self.osc_address = self._osc_transport.get_extra_info("sockname")[:2]
            if c.http_port is not None:
                what = f"HTTP on tcp {c.host}:{c.http_port}"
                self.http = HttpServer(self.engine, c)
                self._http_server = await self.http.start(c.host, c.http_port)
                self.http_address = self._http_server.sockets[0].getsockname()[:2]
        except OSError as exc:
            await self.stop(0)
            raise ParameterError(f"cannot listen for {what}: {exc.strerror or exc}; is another daemon running? "
                                 f"choose another --osc-port/--http-port (0 = any free port)") from None

    @property
    def http_url(self) -> str | None:
        return None if self.http_address is None else f"http://{_host(self.http_address[0])}:{self.http_address[1]}"

    def banner(self) -> str:
        """The start-up line: what listens where."""
        parts = []
        if self.osc_address:
            parts.append(f"OSC udp://{_host(self.osc_address[0])}:{self.osc_address[1]}")
        if self.http_address:
            parts.append(f"HTTP {self.http_url}")
        c = self.config
        tasks = ", ".join(s.name for s in registry.all_tasks())
        return (f"symbolic-ai serve {__version__}: listening on {', '.join(parts)}; tasks: {tasks}; "
                f"device {c.device}; {c.n_workers} workers; files under {', '.join(map(str, c.allow_dirs))}"
                f"{'; token required' if c.token else ''}")

    async def stop(self, drain_timeout_s: float | None = None) -> int:
        """Refuse new jobs, finish the queued and running ones, close the sockets."""
        late = await self.engine.drain(drain_timeout_s)
        await asyncio.sleep(0)  # let the last replies go out
        if self._osc_transport is not None:
            self._osc_transport.close()
        if self._http_server is not None:
            self._http_server.close()
            await self.http.close()
        return late

    async def run_until_signalled(self) -> int:
        await self.start()
        print(self.banner(), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping: draining %d job(s)", len(self.engine.active))
        late = await self.stop()
        print(f"symbolic-ai serve: stopped ({self.engine.counts['done']} jobs done"
              f"{f', {late} cancelled by the shutdown' if late else ''})", flush=True)
        return 0


def serve(config: Config, log_level: str = "warning") -> int:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="symbolic-ai serve: %(levelname)s %(name)s: %(message)s")
    sys.setswitchinterval(0.001)  # quicker GIL hand-offs between the event loop and its helper threads
    return asyncio.run(Daemon(config).run_until_signalled())


class Background:
    """A daemon running in a thread with its own event loop (tests, benchmarks, embedding)."""

    def __init__(self, config: Config) -> None:
        self.daemon = Daemon(config)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="sai-daemon", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.daemon.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def __enter__(self) -> Background:
        self.thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` on the daemon's loop and return its result (a coroutine is awaited)."""
        async def run() -> Any:
            r = fn(*args)
            return await r if asyncio.iscoroutine(r) else r
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.daemon.stop(drain_timeout_s), self.loop).result(drain_timeout_s + 10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    @property
    def osc_address(self) -> tuple[str, int]:
        assert self.daemon.osc_address is not None
        return self.daemon.osc_address

    @property
    def http_url(self) -> str:
        assert self.daemon.http_url is not None
        return self.daemon.http_url


def start_background(config: Config) -> Background:
    """`with start_background(Config(osc_port=0, http_port=0)) as d: ...`"""
    return Background(config)


def _host(h: str) -> str:
    return f"[{h}]" if ":" in h else h
