"""Time for the live bridge: where the beat is now and when a beat will come.

Beats are quarter notes, as everywhere in the library (`symbolic_ai.piece`). With a fixed tempo
(`--bpm`) beat 0 is the first note played after the bridge rests; with MIDI clock (`--clock`, 24
clocks per quarter note) beat 0 is the clock's start and song-position pointers move it. Both
give `beat(t)` and `time(beat)` on the `time.monotonic()` scale of the MIDI thread. Bars come
from the time signature (`TimeSignature.bar_beats`).
"""
from __future__ import annotations

import math

from symbolic_ai.errors import InputError
from symbolic_ai.piece import TimeSignature

CLOCKS_PER_BEAT = 24
SIXTEENTH_CLOCKS = 6  # a song-position unit (a MIDI beat) is a sixteenth note


def parse_time_signature(text: str) -> TimeSignature:
    """'3/4' → TimeSignature(0, 3, 4); InputError naming the text otherwise."""
    try:
        num, den = (int(x) for x in text.split("/"))
    except ValueError:
        raise InputError(f"--time-signature {text!r}: write it as N/D, e.g. 4/4 or 6/8") from None
    return TimeSignature(0.0, num, den)


class FixedTempo:
    """A steady tempo; `start(t)` puts beat 0 at time t (the first note), `reset()` waits for the next."""

    def __init__(self, bpm: float) -> None:
        if not (isinstance(bpm, (int, float)) and math.isfinite(bpm) and 20 <= bpm <= 400):
            raise InputError(f"--bpm {bpm!r}: give a tempo in 20..400 quarter notes per minute")
        self.bpm = float(bpm)
        self.origin: float | None = None

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.bpm

    @property
    def running(self) -> bool:
        return self.origin is not None

    @property
    def follows_notes(self) -> bool:
        """True: the first note starts the count."""
        return True

    def start(self, t: float) -> None:
        self.origin = t

    def reset(self) -> None:
        self.origin = None

    def beat(self, t: float) -> float:
        return math.nan if self.origin is None else (t - self.origin) / self.seconds_per_beat

    def time(self, beat: float) -> float:
        return math.inf if self.origin is None else self.origin + beat * self.seconds_per_beat


class MidiClock:
    """Tempo and position from MIDI clock: `message(kind, t, pos)` for clock/start/stop/continue/songpos.

    The tempo is a running mean of the tick intervals (first guess `bpm`); between ticks the beat
    is extrapolated, never past the next tick. `message` returns 'start', 'stop' or None."""

    def __init__(self, bpm: float = 120.0) -> None:
        self.period = 60.0 / bpm / CLOCKS_PER_BEAT
        self.ticks = 0
        self.last_tick: float | None = None
        self.running = False

    @property
    def follows_notes(self) -> bool:
        return False

    @property
    def seconds_per_beat(self) -> float:
        return self.period * CLOCKS_PER_BEAT

    @property
    def bpm(self) -> float:
        return 60.0 / self.seconds_per_beat

    def start(self, t: float) -> None:  # notes do not start a clock
        pass

    def reset(self) -> None:
        pass

    def message(self, kind: str, t: float, pos: int = 0) -> str | None:
        if kind == "clock":
            if not self.running:
                return None
            if self.last_tick is not None:
                dt = t - self.last_tick
                if 0 < dt < 4 * self.period:  # a gap (a stall) is not a tempo
                    self.period += 0.1 * (dt - self.period)
                self.ticks += 1
            self.last_tick = t
            return None
        if kind == "start":
            self.ticks, self.last_tick, self.running = 0, None, True
            return "start"
        if kind == "continue":
            self.last_tick, self.running = None, True
            return "start"
        if kind == "stop":
            self.running = False
            return "stop"
        if kind == "songpos":
            self.ticks = int(pos) * SIXTEENTH_CLOCKS
            return None
        return None

    def beat(self, t: float) -> float:
        if not self.running:
            return math.nan
        if self.last_tick is None:  # started, waiting for the first tick: that tick is this position
            return self.ticks / CLOCKS_PER_BEAT
        ahead = min(max(t - self.last_tick, 0.0) / self.period, 1.0)
        return (self.ticks + ahead) / CLOCKS_PER_BEAT

    def time(self, beat: float) -> float:
        if not self.running or self.last_tick is None:
            return math.inf
        return self.last_tick + (beat * CLOCKS_PER_BEAT - self.ticks) * self.period


Timeline = FixedTempo | MidiClock
