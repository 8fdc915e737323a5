"""A small blocking OSC client for the daemon (Python scripts, tests, benchmarks).

```python
with OscClient(("127.0.0.1", 9010)) as c:
    reply = c.run_notes("key", [(60, 90, 0.0, 1.0, 1), (64, 90, 1.0, 1.0, 1)], rid=1)
    print(reply.done)     # {'key': 'C major', 'tonic': 'C', ...}
```
"""
from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .osc import build, parse_packet


@dataclass
class Reply:
    """Everything a job sent back: `done` (key/value dict) or `error` ((code, message)), and the rest."""

    rid: int
    done: dict | None = None
    error: tuple[str, str] | None = None
    progress: list[float] = field(default_factory=list)
    messages: list[tuple[str, list[Any]]] = field(default_factory=list)

    def items(self, address: str) -> list[list[Any]]:
        """The arguments (after the id) of every message to `address`."""
        return [args[1:] for a, args in self.messages if a == address]


class OscClient:
    """One UDP socket that sends requests and receives the replies (it says hello with port 0)."""

    def __init__(self, daemon: tuple[str, int], timeout_s: float = 10.0, hello: bool = True) -> None:
        self.daemon = daemon
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.timeout_s = timeout_s
        self.pending: list[tuple[str, list[Any]]] = []
        self._ids = itertools.count(1)
        if hello:
            self.send("/sai/hello", 0, "python")
            self.expect("/sai/welcome")

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def __enter__(self) -> OscClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, address: str, *args: Any) -> None:
        self.sock.sendto(build(address, list(args)), self.daemon)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.daemon)

    def recv(self, timeout_s: float | None = None) -> tuple[str, list[Any]]:
        """The next message (TimeoutError if none comes in time)."""
        if self.pending:
            return self.pending.pop(0)
        self.sock.settimeout(self.timeout_s if timeout_s is None else timeout_s)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise TimeoutError("no reply from the daemon") from None
        return parse_packet(data)[0]

    def expect(self, address: str, timeout_s: float | None = None) -> list[Any]:
        """Wait for a message to `address` (others received meanwhile are kept for later)."""
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        kept = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {address} from the daemon")
                a, args = self.recv(left)
                if a == address:
                    return args
                kept.append((a, args))
        finally:
            self.pending = kept + self.pending

    def send_notes(self, rid: int, notes: Sequence[Sequence[Any]], **opts: Any) -> None:
        """Frame a note list: open, one /sai/note per note, close."""
        self.send("/sai/notes/open", rid, len(notes), *_flat(opts.items()))
        for i, n in enumerate(notes):
            self.send("/sai/note", rid, i, *n)
        self.send("/sai/notes/close", rid)

    def collect(self, task: str, rid: int, timeout_s: float | None = None) -> Reply:
        """Receive until job `rid` is done or failed."""
        reply = Reply(rid)
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        kept = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.pending = kept + self.pending
                raise TimeoutError(f"job {rid}: no done or error within the timeout")
            a, args = self.recv(left)
            if not args or args[0] != rid:
                kept.append((a, args))
                continue
            reply.messages.append((a, args))
            if a == f"/sai/{task}/progress":
                reply.progress.append(args[1])
            elif a == f"/sai/{task}/done":
                reply.done = dict(zip(args[1::2], args[2::2]))
                break
            elif a == "/sai/error":
                reply.error = (args[1], args[2])
                break
        self.pending = kept + self.pending
        return reply

    def run_notes(self, task: str, notes: Sequence[Sequence[Any]], rid: int | None = None,
                  timeout_s: float | None = None, **params: Any) -> Reply:
        rid = next(self._ids) if rid is None else rid
        self.send_notes(rid, notes)
        self.send(f"/sai/{task}/notes", rid, *_flat(params.items()))
        return self.collect(task, rid, timeout_s)

    def run_file(self, task: str, in_path: str, out_path: str = "", rid: int | None = None,
                 timeout_s: float | None = None, **params: Any) -> Reply:
        rid = next(self._ids) if rid is None else rid
        self.send(f"/sai/{task}/file", rid, str(in_path), str(out_path), *_flat(params.items()))
        return self.collect(task, rid, timeout_s)


def _flat(pairs: Iterable[tuple[str, Any]]) -> list[Any]:
    return [x for kv in pairs for x in kv]
