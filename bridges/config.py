"""The daemon's settings: where it listens, what it may touch, and its limits.

Defaults are safe to leave running: loopback only, files only under the current directory and
the system temp directory, bounded notes, messages, files, queue and job time.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from symbolic_ai.errors import ParameterError

DEFAULT_OSC_PORT = 9010
DEFAULT_HTTP_PORT = 9011


def is_loopback(host: str, resolve: bool = True) -> bool:
    """True when `host` is a loopback name or address (127.0.0.0/8, ::1, localhost); other names are
    looked up only with `resolve` (never for names that clients send)."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        if not resolve:
            return False
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback
                       for a in socket.getaddrinfo(host, None))
        except (socket.gaierror, ValueError):
            return False


def default_allow_dirs() -> tuple[Path, ...]:
    """The current directory and the system temp directory."""
    return (Path.cwd(), Path(tempfile.gettempdir()))


TOKEN_ENV = "SYMBOLIC_AI_TOKEN"


def resolve_token(token: str | None = None, token_file: str | os.PathLike | None = None,
                  environ: dict[str, str] | None = None) -> str | None:
    """The daemon's token from `--token-file PATH` (first line), else `--token` (visible in `ps`),
    else `$SYMBOLIC_AI_TOKEN`; None when none is given. The value is never logged."""
    if token_file is not None:
        path = Path(token_file).expanduser()
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read(4096)
        except OSError as exc:
            raise ParameterError(f"--token-file {token_file}: cannot read it ({exc.strerror or exc})") from None
        lines = text.strip().splitlines()
        if not lines or not lines[0].strip():
            raise ParameterError(f"--token-file {token_file}: the file is empty; write the token on its first line")
        return lines[0].strip()
    if token:
        return token
    return (os.environ if environ is None else environ).get(TOKEN_ENV) or None


@dataclass(frozen=True)
class Config:
    """Everything `symbolic-ai serve` can be told. Port 0 picks a free port."""

    host: str = "127.0.0.1"
    osc_port: int | None = DEFAULT_OSC_PORT      # None: no OSC
    http_port: int | None = DEFAULT_HTTP_PORT    # None: no HTTP
    device: str = "auto"
    allow_dirs: tuple[Path, ...] = field(default_factory=default_allow_dirs)
    token: str | None = field(default=None, repr=False)  # never in a repr, a log line or an error
    workers: int = 0                  # 0: min(4, CPU count)
    max_queue: int = 256              # queued jobs before new ones are refused as 'busy'
    max_notes: int = 100_000          # per note list and per input file
    max_file_bytes: int = 16 * 1024 * 1024
    max_audio_bytes: int = 256 * 1024 * 1024  # a recording (align, locate): 25 min of CD-quality WAV
    max_body_bytes: int = 32 * 1024 * 1024    # HTTP request body
    job_timeout_s: float = 120.0
    drain_timeout_s: float = 30.0     # SIGTERM waits this long for running jobs
    keep_finished: int = 1000         # finished jobs kept for HTTP polling
    preload: bool = True              # load every task's model when a worker starts
    worker_memory_mb: int = 2048      # address space a worker's job may use beyond its models (RLIMIT_AS)

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise ParameterError(f"--host {self.host} is not a loopback address; binding it exposes the daemon "
                                 f"to the network, so give --token-file PATH or $SYMBOLIC_AI_TOKEN (clients send the token) "
                                 f"or use 127.0.0.1")
        if self.token is not None and len(self.token) < 8:
            raise ParameterError(f"--token must be at least 8 characters, got {len(self.token)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ParameterError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        for name in ("osc_port", "http_port"):
            port = getattr(self, name)
            if port is not None and not (isinstance(port, int) and 0 <= port <= 65535):
                raise ParameterError(f"--{name.replace('_', '-')} must be a port in 0..65535, got {port!r}")
        if self.osc_port is None and self.http_port is None:
            raise ParameterError("nothing to serve: give an OSC port, an HTTP port or both")
        for name in ("max_queue", "max_notes", "max_file_bytes", "max_audio_bytes", "max_body_bytes", "keep_finished",
                     "worker_memory_mb"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.job_timeout_s > 0:
            raise ParameterError(f"job timeout must be > 0 seconds, got {self.job_timeout_s!r}")
        if not self.drain_timeout_s >= 0:
            raise ParameterError(f"drain timeout must be >= 0 seconds, got {self.drain_timeout_s!r}")
        dirs = []
        for d in self.allow_dirs:
            p = Path(d).expanduser()
            if not p.is_dir():
                raise ParameterError(f"--allow-dir {d}: not an existing directory")
            dirs.append(p.resolve())
        object.__setattr__(self, "allow_dirs", tuple(dirs))

    @property
    def n_workers(self) -> int:
        return self.workers if self.workers > 0 else max(1, min(4, os.cpu_count() or 1))
