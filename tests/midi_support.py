"""A real MIDI system for the live-bridge tests and benchmark: a private JACK server on the dummy
driver, and a test peer that plays into `NAME in` and records what leaves `NAME out`."""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
JACK_APT = "jackd2"


def jack_missing() -> str | None:
    """Why JACK tests cannot run here, or None."""
    if shutil.which("jackd") is None:
        return f"jackd not installed (apt install {JACK_APT})"
    try:
        import rtmidi  # noqa: F401
    except ImportError:
        return "python-rtmidi not installed (pip install 'symbolic_ai[midi]')"
    return None


@contextmanager
def jack_server(log: Path, period: int = 1024) -> Iterator[str]:
    """Start `jackd --no-realtime --sync -d dummy` under a unique server name, point this process at
    it ($JACK_DEFAULT_SERVER, $MIDO_BACKEND), and stop it afterwards. `--sync`: a slow client delays
    the cycle instead of losing its events (a shared CI machine); a client killed with SIGKILL then
    stalls the engine for seconds, so tests remove ports instead. One server per process: libjack
    does not take two."""
    name = f"sai-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "MIDO_BACKEND", "JACK_NO_AUDIO_RESERVATION")}
    os.environ.update(JACK_DEFAULT_SERVER=name, MIDO_BACKEND=JACK_BACKEND, JACK_NO_AUDIO_RESERVATION="1")
    with open(log, "wb") as out:
        wait_us = str(round(period / 48000 * 1e6))  # the dummy driver sleeps this long per cycle
        proc = subprocess.Popen(["jackd", "--no-realtime", "--sync", "--timeout", "2000",
                                 "-d", "dummy", "-r", "48000", "-p", str(period), "-w", wait_us],
                                stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jackd exited with {proc.returncode}: {log.read_text()[-500:]}")
            ok = subprocess.run(["jack_lsp"], capture_output=True, env=os.environ.copy()).returncode == 0 \
                if shutil.which("jack_lsp") else True
            if ok:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"jackd did not start: {log.read_text()[-500:]}")
            time.sleep(0.1)
        time.sleep(0.3)
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _find(ports: list[str], name: str) -> int | None:
    hits = [i for i, p in enumerate(ports) if p.split(":")[-1] == name]
    return hits[0] if hits else None


class Peer:
    """The test's own JACK clients: `player` plays into `NAME in`, `listener` records `NAME out`
    as (monotonic time, message bytes)."""

    def __init__(self, name: str = "symbolic-ai", timeout: float = 20.0, tag: str = "") -> None:
        import rtmidi

        self.received: list[tuple[float, tuple[int, ...]]] = []
        self._lock = threading.Lock()
        self.player = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, f"sai-test-player{tag}")
        self.listener = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, f"sai-test-listener{tag}")
        self.listener.ignore_types(sysex=False, timing=True, active_sense=True)
        deadline = time.monotonic() + timeout
        while True:
            i, o = _find(self.player.get_ports(), f"{name} in"), _find(self.listener.get_ports(), f"{name} out")
            if i is not None and o is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"ports of {name!r} did not appear: {self.player.get_ports()}")
            time.sleep(0.05)
        self.listener.set_callback(self._got)
        self.listener.open_port(o, "listen")
        self.player.open_port(i, "play")
        time.sleep(0.2)

    def _got(self, event: tuple[list[int], float], _data: object = None) -> None:
        with self._lock:
            self.received.append((time.monotonic(), tuple(event[0])))

    def send(self, *data: int) -> float:
        t = time.monotonic()
        self.player.send_message(list(data))
        return t

    def messages(self) -> list[tuple[float, tuple[int, ...]]]:
        with self._lock:
            return list(self.received)

    def close_player(self) -> None:
        self.player.close_port()
        del self.player

    def close(self) -> None:
        if hasattr(self, "player"):
            self.close_player()
        self.listener.close_port()


def stuck_notes(messages: list[tuple[float, tuple[int, ...]]]) -> dict[tuple[int, int], int]:
    """(channel, pitch) → note-ons without their note-off, replaying the stream in order."""
    on: dict[tuple[int, int], int] = {}
    for _, m in messages:
        if len(m) == 3 and m[0] & 0xF0 in (0x80, 0x90):
            key = (m[0] & 0x0F, m[1])
            if m[0] & 0xF0 == 0x90 and m[2] > 0:
                on[key] = on.get(key, 0) + 1
            elif on.get(key):
                on[key] = 0
    return {k: v for k, v in on.items() if v}


def note_ons(messages: list[tuple[float, tuple[int, ...]]]) -> list[tuple[float, int, int, int]]:
    """(time, channel, pitch, velocity) of every note-on."""
    return [(t, m[0] & 0x0F, m[1], m[2]) for t, m in messages
            if len(m) == 3 and m[0] & 0xF0 == 0x90 and m[2] > 0]
