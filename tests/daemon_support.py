"""Shared by the tests/test_daemon_*.py files: an in-process daemon, per-task inputs, reference runs."""
from __future__ import annotations

import math
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import DATA, EXAMPLES
from symbolic_ai import io, registry
from symbolic_ai.bridges.config import Config
from symbolic_ai.bridges.server import start_background
from symbolic_ai.bridges.wire import note_rows, piece_from_notes
from symbolic_ai.errors import SymbolicAIError

TASK_NAMES = sorted(registry.TASKS)
INPUTS = {"melody": EXAMPLES / "folk_melody.mid", "score": EXAMPLES / "chorale_bwv66_6.musicxml",
          "performance": EXAMPLES / "maple_leaf_rag.mid", "piece": EXAMPLES / "chorale_bwv66_6.musicxml"}


def input_file(task: str) -> Path:
    """An example file of the kind the task expects."""
    return INPUTS.get(registry.TASKS[task].input, INPUTS["piece"])


def input_rows(task: str, max_notes: int = 400) -> list[tuple]:
    """The task's example input as note records (as a client would send them)."""
    return note_rows(io.load(input_file(task)))[:max_notes]


def reference(task: str, piece: Any, **params: Any) -> tuple[str, Any]:
    """What running the task in this process gives: ('done', data) or ('error', code)."""
    try:
        return "done", registry.run(task, piece, device="cpu", **params).data
    except SymbolicAIError as exc:
        return "error", exc.code


def reference_for_rows(task: str, rows: list[tuple]) -> tuple[str, Any]:
    return reference(task, piece_from_notes(rows))


def same_scalars(done: dict, data: dict) -> None:
    """The scalar results in an OSC `done` equal the in-process ones (floats at OSC's 32-bit precision)."""
    for k, v in data.items():
        if isinstance(v, (dict, list, tuple)):
            continue
        assert k in done, f"{k} missing from done {done}"
        got = done[k]
        if isinstance(v, bool):
            assert got == int(v)
        elif isinstance(v, float) and not math.isfinite(v):
            assert got == "null"
        elif isinstance(v, float):
            assert got == pytest.approx(v, rel=1e-5, abs=1e-6), k
        elif v is None:
            assert got == "null"
        else:
            assert got == v, k


def daemon_fixture(tmp_path_factory: pytest.TempPathFactory, **overrides: Any):
    """Start an in-process daemon on free ports; files allowed under a fresh dir, examples and tests/data."""
    work = tmp_path_factory.mktemp("daemon")
    cfg = dict(osc_port=0, http_port=0, allow_dirs=(work, EXAMPLES, DATA), preload=False, device="cpu")
    cfg.update(overrides)
    bg = start_background(Config(**cfg))
    bg.work = work  # type: ignore[attr-defined]
    return bg


class Served:
    """`symbolic-ai serve` on free ports in a subprocess; the banner gives the addresses. `limits` are
    resource limits set in the daemon's process (e.g. {resource.RLIMIT_AS: 4 << 30}), so a regression
    fails there instead of swapping the machine."""

    def __init__(self, workdir: Path, *extra: str, limits: dict[int, int] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.log = workdir / "daemon.log"
        cmd = [sys.executable, "-m", "symbolic_ai.cli", "serve", "--osc-port", "0", "--http-port", "0",
               "--allow-dir", str(workdir), "--allow-dir", str(EXAMPLES), "--log-level", "info", *extra]

        def limit() -> None:
            for what, value in (limits or {}).items():
                resource.setrlimit(what, (value, value))

        self.proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=self.log.open("w"), text=True,
                                     preexec_fn=limit if limits else None, env=env)
        self.banner = self.proc.stdout.readline()
        m_osc = re.search(r"OSC udp://([\d.]+):(\d+)", self.banner)
        m_http = re.search(r"HTTP (http://[\d.]+:\d+)", self.banner)
        if not (m_osc and m_http):
            self.proc.kill()
            raise AssertionError(f"no start-up line: {self.banner!r}; log: {self.log.read_text()[-2000:]}")
        self.osc = (m_osc.group(1), int(m_osc.group(2)))
        self.url = m_http.group(1)
        self.http = (m_http.group(1).split("//")[1].split(":")[0], int(m_http.group(1).rsplit(":", 1)[1]))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
