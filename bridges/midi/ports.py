"""MIDI ports for the live bridge: the backend (mido over python-rtmidi), virtual or named ports,
and a watch on JACK connections so that a vanished peer releases every sounding note.

`api` picks the MIDI system: `alsa`, `jack`, `coremidi`, `windows`, or `auto` ($MIDO_BACKEND when
set; else JACK on a Linux machine without an ALSA sequencer, else python-rtmidi's default).
Windows has no virtual ports: there `--in`/`--out` name existing ports (loopMIDI's, for example).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass
from typing import Any

from symbolic_ai.errors import SymbolicAIError, require

APIS = {"alsa": "LINUX_ALSA", "jack": "UNIX_JACK", "coremidi": "MACOSX_CORE", "windows": "WINDOWS_MM"}


class MidiError(SymbolicAIError, OSError):
    """A MIDI system or port that cannot be used; the message says what to do."""

    code = "midi"


def backend_name(api: str = "auto") -> str:
    """The mido backend string for `api` (see the module docstring)."""
    if api == "auto":
        env = os.environ.get("MIDO_BACKEND")
        if env:
            return env
        if sys.platform.startswith("linux") and not os.path.exists("/dev/snd/seq"):
            return "mido.backends.rtmidi/UNIX_JACK"
        return "mido.backends.rtmidi"
    if api not in APIS:
        raise MidiError(f"--api {api!r}: unknown MIDI system; choose one of auto, {', '.join(APIS)}")
    return f"mido.backends.rtmidi/{APIS[api]}"


def open_backend(api: str = "auto") -> Any:
    """The loaded mido Backend for `api`; MidiError when python-rtmidi is missing."""
    require("rtmidi", "midi")
    mido = require("mido", "midi")
    name = backend_name(api)
    try:
        return mido.Backend(name, load=True)
    except (ImportError, AttributeError, ValueError) as exc:
        raise MidiError(f"MIDI backend {name!r} cannot be loaded ({exc}); check $MIDO_BACKEND or --api") from None


def system_name(backend: Any) -> str:
    api = (getattr(backend, "api", None) or "").upper()
    return {"UNIX_JACK": "JACK", "LINUX_ALSA": "ALSA", "MACOSX_CORE": "CoreMIDI", "WINDOWS_MM": "Windows MM"}.get(
        api, api or "default")


def _explain(exc: Exception, backend: Any) -> str:
    text = str(exc)
    system = system_name(backend)
    if "JACK server not running" in text:
        return ("the JACK server is not running: start it (e.g. `jackd -d dummy` or your audio setup), "
                "or choose another MIDI system with --api")
    if "ALSA" in text or "sequencer" in text:
        return ("no ALSA sequencer (/dev/snd/seq; containers often lack it): load snd-seq, or run JACK and "
                "use --api jack")
    if "virtual" in text.lower():
        return (f"{system} has no virtual ports (Windows): create ports with loopMIDI and name them "
                f"with --in and --out")
    return f"{system}: {text}"


def list_ports(backend: Any) -> dict[str, list[str]]:
    """{'inputs': [...], 'outputs': [...]} of the MIDI system."""
    try:
        return {"inputs": list(backend.get_input_names()), "outputs": list(backend.get_output_names())}
    except Exception as exc:  # rtmidi raises its own SystemError subclasses
        raise MidiError(f"cannot list MIDI ports: {_explain(exc, backend)}") from None


def _find(name: str, names: list[str], kind: str, flag: str) -> str:
    if name in names:
        return name
    hits = [n for n in names if name in n]
    if len(hits) == 1:
        return hits[0]
    listing = ", ".join(repr(n) for n in names) or "none"
    why = f"matches {len(hits)} ports" if hits else "no such port"
    raise MidiError(f"{flag} {name!r}: {why}; MIDI {kind}s are: {listing} (see symbolic-ai midi --list)")


@dataclass
class Ports:
    """The bridge's open input and output and what they are called."""

    input: Any
    output: Any
    in_name: str
    out_name: str
    system: str
    virtual_in: bool
    virtual_out: bool

    def close(self) -> None:
        for port in (self.input, self.output):
            try:
                port.close()
            except Exception:
                pass


def open_ports(backend: Any, name: str, in_port: str | None = None, out_port: str | None = None) -> Ports:
    """Virtual ports `NAME in` / `NAME out` (client names the same), or the named existing ports."""
    if not name or ":" in name:
        raise MidiError(f"--name {name!r}: give a non-empty port name without ':'")
    opened: list[Any] = []
    if in_port is None or out_port is None:
        existing = list_ports(backend)
        taken = [n for n in existing["inputs"] + existing["outputs"] if n.split(":")[0] in (f"{name} in", f"{name} out")]
        if taken:
            raise MidiError(f"--name {name!r}: ports of that name exist already ({taken[0]!r}: another bridge?); "
                            f"give each bridge its own --name")
    try:
        if in_port is None:
            inp = backend.open_input(f"{name} in", client_name=f"{name} in")
        else:
            inp = backend.open_input(_find(in_port, list_ports(backend)["inputs"], "input", "--in"))
        opened.append(inp)
        if out_port is None:
            out = backend.open_output(f"{name} out", client_name=f"{name} out")
        else:
            out = backend.open_output(_find(out_port, list_ports(backend)["outputs"], "output", "--out"))
    except MidiError:
        for p in opened:
            p.close()
        raise
    except Exception as exc:
        for p in opened:
            p.close()
        raise MidiError(f"cannot open MIDI ports: {_explain(exc, backend)}") from None
    return Ports(inp, out, inp.name, out.name, system_name(backend), in_port is None, out_port is None)


class JackWatch:
    """Counts the connections of our own JACK ports (libjack through ctypes, one call ≈ 1 µs).

    `connections()` gives (input links, output links); the bridge polls it while notes sound and
    releases them when a peer vanishes. None of this exists outside JACK: `open` returns None."""

    def __init__(self, lib: Any, client: int, ports: tuple[int, int]) -> None:
        self._lib, self._client, self._ports = lib, client, ports

    @classmethod
    def open(cls, ports: Ports) -> JackWatch | None:
        if ports.system != "JACK":
            return None
        path = ctypes.util.find_library("jack") or "libjack.so.0"
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            return None
        lib.jack_client_open.restype = ctypes.c_void_p
        lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        lib.jack_port_by_name.restype = ctypes.c_void_p
        lib.jack_port_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.jack_port_connected.argtypes = [ctypes.c_void_p]
        lib.jack_client_close.argtypes = [ctypes.c_void_p]
        status = ctypes.c_int(0)
        client = lib.jack_client_open(b"symbolic-ai watch", 0x01, ctypes.byref(status))  # JackNoStartServer
        if not client:
            return None
        found = []
        for port_name, virtual in ((ports.in_name, ports.virtual_in), (ports.out_name, ports.virtual_out)):
            # only our virtual ports: JACK calls them CLIENT:PORT, and `open_ports` names both the same
            handle = lib.jack_port_by_name(client, f"{port_name}:{port_name}".encode()) if virtual else None
            found.append(handle or 0)
        if not any(found):
            lib.jack_client_close(client)
            return None
        return cls(lib, client, (found[0], found[1]))

    def connections(self) -> tuple[int, int]:
        return tuple(int(self._lib.jack_port_connected(p)) if p else -1 for p in self._ports)  # type: ignore[return-value]

    def close(self) -> None:
        if self._client:
            self._lib.jack_client_close(self._client)
            self._client = 0
