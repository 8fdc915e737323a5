"""Putting the bridge together: `MidiConfig` (validated), `open_bridge`, `serve` (the command)."""
from __future__ import annotations

import math
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from symbolic_ai.cli_midi import LIVE_PARAMS
from symbolic_ai.errors import InputError
from symbolic_ai.registry import get

from .behaviours import BEHAVIOURS
from .clock import FixedTempo, MidiClock, parse_time_signature
from .engine import Bridge
from .ports import JackWatch, list_ports, open_backend, open_ports

# behaviour options: name → (default, minimum, maximum)
OPTIONS: dict[str, dict[str, tuple[Any, float, float]]] = {
    "harmonize": {"context_bars": (4, 1, 64), "idle_bars": (2, 1, 64)},
    "chords": {"output": ("none", 0, 0), "register_pitch": (60, 36, 84)},
    "perform": {"lookahead_beats": (1.0, 0.25, 8)},
    "emotion": {"window_beats": (16.0, 8, 128), "cc_valence": (20, 0, 119), "cc_arousal": (21, 0, 119),
                "max_rate": (4.0, 0.1, 10)},
}
CHORD_OUTPUTS = ("none", "bass", "chord")


def _check_range(what: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise InputError(f"{what} {value!r}: give a number in {lo:g}..{hi:g}")


@dataclass
class MidiConfig:
    """Everything `symbolic-ai midi TASK` takes; the constructor checks it and quotes a bad value."""

    task: str
    name: str = "symbolic-ai"
    in_port: str | None = None
    out_port: str | None = None
    api: str = "auto"
    bpm: float = 120.0
    clock: bool = False
    time_signature: str = "4/4"
    latency_ms: float = 30.0
    channel: int = 1
    drums: bool = False
    thru: bool = False
    osc_host: str = "127.0.0.1"
    osc_port: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    status: bool = False

    def __post_init__(self) -> None:
        if self.task not in BEHAVIOURS:
            raise InputError(f"midi: task {self.task!r} has no live bridge; choose one of {', '.join(BEHAVIOURS)}")
        FixedTempo(self.bpm)  # checks the tempo
        _check_range("--latency-ms", self.latency_ms, 1, 2000)
        _check_range("--channel", self.channel, 1, 16)
        if self.osc_port is not None:
            _check_range("--osc-port", self.osc_port, 1, 65535)
        parse_time_signature(self.time_signature)
        allowed = LIVE_PARAMS[self.task]
        unknown = [k for k in self.params if k not in allowed]
        if unknown:
            raise InputError(f"midi {self.task}: parameter {unknown[0]!r} is not used live; parameters are "
                             f"{', '.join(allowed) or 'none'}")
        self.params = get(self.task).validate(self.params)
        self.params = {k: v for k, v in self.params.items() if k in allowed}
        if self.task == "harmonize" and self.params.get("rhythm") == "learned":
            raise InputError("midi harmonize: --rhythm learned needs the whole melody; live, use auto (= bar), bar, half or beat")
        spec = OPTIONS[self.task]
        for key, value in self.options.items():
            if key not in spec:
                raise InputError(f"midi {self.task}: unknown option {key!r}; options are {', '.join(spec)}")
            if key == "output":
                if value not in CHORD_OUTPUTS:
                    raise InputError(f"--chord-output {value!r}: choose one of {', '.join(CHORD_OUTPUTS)}")
            else:
                _check_range("--" + key.replace("_", "-"), value, spec[key][1], spec[key][2])
        if self.task == "emotion" and self.options.get("cc_valence", 20) == self.options.get("cc_arousal", 21):
            raise InputError("--cc-valence and --cc-arousal are the same controller; give two numbers")


def open_bridge(cfg: MidiConfig) -> Bridge:
    """Open the ports and start the bridge (the model is loaded first); the caller closes it."""
    backend = open_backend(cfg.api)
    ports = open_ports(backend, cfg.name, cfg.in_port, cfg.out_port)
    try:
        osc = None
        if cfg.osc_port is not None:
            from pythonosc.udp_client import SimpleUDPClient

            osc = SimpleUDPClient(cfg.osc_host, int(cfg.osc_port))
        timeline = MidiClock(cfg.bpm) if cfg.clock else FixedTempo(cfg.bpm)
        bridge = Bridge(ports, timeline, channel=int(cfg.channel) - 1, drums=cfg.drums, thru=cfg.thru, osc=osc,
                        watch=JackWatch.open(ports), status=cfg.status)
        behaviour = BEHAVIOURS[cfg.task](bridge, parse_time_signature(cfg.time_signature), cfg.params,
                                         cfg.latency_ms, **cfg.options)
        bridge.start(behaviour)
    except BaseException:
        ports.close()
        raise
    return bridge


def ports_text(api: str = "auto") -> str:
    found = list_ports(open_backend(api))
    lines = ["inputs:"] + [f"  {n}" for n in found["inputs"]] + ["outputs:"] + [f"  {n}" for n in found["outputs"]]
    return "\n".join(lines)


def serve(cfg: MidiConfig) -> int:
    """Run until Ctrl-C or SIGTERM; every sounding note is ended on the way out."""
    stop = threading.Event()
    bridge = open_bridge(cfg)
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        timing = "MIDI clock" if cfg.clock else f"{cfg.bpm:g} bpm from the first note"
        osc = f", OSC to {cfg.osc_host}:{cfg.osc_port}" if cfg.osc_port else ""
        print(f"symbolic-ai midi {cfg.task}: ready on {bridge.ports.system}: in {bridge.ports.in_name!r}, "
              f"out {bridge.ports.out_name!r}, {timing}, {cfg.time_signature}{osc} (Ctrl-C stops)", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        bridge.close()
        signal.signal(signal.SIGTERM, previous)
        print(f"symbolic-ai midi {cfg.task}: stopped; {bridge.stats.line()}", file=sys.stderr)
    return 0
