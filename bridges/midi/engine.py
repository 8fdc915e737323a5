"""The live MIDI bridge's engine: one MIDI thread, one inference worker, no stuck notes.

The MIDI thread owns the ports' output, the timers and the task behaviour (`behaviours.py`): it
waits on one queue fed by the input port's callback and by the worker, and on the next timer.
Model calls run on the worker thread; an answer that comes after its deadline is dropped and
counted (`Stats.dropped`), never played late. `OutNotes` remembers every note-on sent until its
note-off, so a stop, a panic (CC123/CC120 in), a vanished peer (`ports.JackWatch`) or closing
the bridge ends every sounding note and lifts the sustain pedal.
"""
from __future__ import annotations

import heapq
import itertools
import math
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import mido

from .clock import FixedTempo, MidiClock
from .ports import JackWatch

DRUM_CHANNEL = 9  # MIDI channel 10
PANIC_CONTROLS = (120, 123)  # all sound off, all notes off
WATCH_S = 0.25  # how often the JACK links are checked while notes sound
FLUSH_S = 0.05  # JACK sends in its process cycle: wait this long before closing a port


@dataclass
class Stats:
    """Counters for the status line and the benchmark."""

    notes_in: int = 0
    notes_out: int = 0
    answers: int = 0
    dropped: int = 0       # answers after their deadline: not played
    superseded: int = 0    # requests replaced by a newer one before the worker took them
    errors: int = 0
    panics: int = 0
    last_error: str = ""
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=4096))

    def line(self) -> str:
        lat = sorted(self.latencies_ms)
        p50 = f"{lat[len(lat) // 2]:.1f} ms" if lat else "-"
        return (f"notes in {self.notes_in}  out {self.notes_out}  latency p50 {p50}  dropped {self.dropped}"
                + (f"  errors {self.errors} ({self.last_error:.60})" if self.errors else ""))


class OutNotes:
    """The notes and pedals the bridge holds down at its output; `release_all` lets go of them all.

    A note struck again while it sounds is ended first; `off` with an `owner` ends the note only if
    that owner struck it last (a delayed note-off must not cut a newer note of the same pitch)."""

    def __init__(self, send: Callable[[Any], None]) -> None:
        self._send = send
        self._on: dict[tuple[int, int], object] = {}
        self._pedal: set[int] = set()
        self.sent_on = 0

    @property
    def sounding(self) -> int:
        return len(self._on) + len(self._pedal)

    def on(self, channel: int, pitch: int, velocity: int, owner: object = None) -> None:
        if (channel, pitch) in self._on:
            self._send(mido.Message("note_off", channel=channel, note=pitch, velocity=0))
        self._send(mido.Message("note_on", channel=channel, note=pitch, velocity=max(1, min(127, int(velocity)))))
        self._on[(channel, pitch)] = owner
        self.sent_on += 1

    def off(self, channel: int, pitch: int, owner: object = None) -> None:
        key = (channel, pitch)
        if key in self._on and (owner is None or self._on[key] is owner):
            del self._on[key]
            self._send(mido.Message("note_off", channel=channel, note=pitch, velocity=0))

    def pedal_down(self, channel: int) -> bool:
        return channel in self._pedal

    def control(self, channel: int, control: int, value: int) -> None:
        if control == 64:
            (self._pedal.add if value >= 64 else self._pedal.discard)(channel)
        self._send(mido.Message("control_change", channel=channel, control=control, value=value))

    def release_all(self) -> None:
        for channel, pitch in list(self._on):
            self._send(mido.Message("note_off", channel=channel, note=pitch, velocity=0))
        self._on.clear()
        for channel in sorted(self._pedal):
            self._send(mido.Message("control_change", channel=channel, control=64, value=0))
        self._pedal.clear()


@dataclass
class Job:
    """A model call for the worker: `run()` there; `done(answer)` back on the MIDI thread when it
    comes by `deadline` (monotonic seconds), else (or when `run` failed) `late()`. A waiting job of
    the same `kind` is replaced by a newer one."""

    run: Callable[[], Any]
    deadline: float
    done: Callable[[Any], None]
    late: Callable[[], None] | None = None
    kind: str = ""
    epoch: int = 0


class Behaviour(Protocol):
    """What a task does live (see behaviours.py)."""

    def warm_up(self) -> None: ...
    def on_note(self, channel: int, pitch: int, velocity: int, t: float) -> None: ...
    def on_other(self, msg: Any, t: float) -> None: ...
    def on_clock_start(self, t: float) -> None: ...
    def reset(self) -> None: ...
    def active(self) -> bool: ...


class Worker:
    """One inference thread; at most one waiting job per kind (the newest)."""

    def __init__(self, post: Callable[[tuple[Any, ...]], None], stats: Stats) -> None:
        self._post, self._stats = post, stats
        self._cond = threading.Condition()
        self._waiting: dict[str, Job] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="symbolic-ai midi worker", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._cond:
            if job.kind in self._waiting:
                self._stats.superseded += 1
                self._waiting.pop(job.kind)
            self._waiting[job.kind] = job
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._waiting.pop(next(iter(self._waiting)))
            try:
                self._post(("answer", job, True, job.run()))
            except Exception as exc:  # a bad window is an error reply, never a crash of the bridge
                self._post(("answer", job, False, exc))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)


class Bridge:
    """Ports + timeline + behaviour. `start()` runs the MIDI thread; `close()` ends every note.

    Behaviours use: `now()`, `timeline`, `out` (OutNotes), `at(t, fn)`, `at_beat(beat, fn, delay)`,
    `submit(job)`, `osc(address, *args)`, `rest()`, `stats`, `channel`."""

    def __init__(self, ports: Any, timeline: FixedTempo | MidiClock, *, channel: int = 0, drums: bool = False,
                 thru: bool = False, osc: Any = None, watch: JackWatch | None = None, status: bool = False) -> None:
        self.ports, self.timeline, self.channel = ports, timeline, channel
        self.drums, self.thru, self._osc, self._watch, self._status = drums, thru, osc, watch, status
        self.stats = Stats()
        self.out = OutNotes(self._send)
        self.behaviour: Behaviour | None = None
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None], int]] = []
        self._beat_timers: list[tuple[float, float, int, Callable[[], None], int]] = []
        self._seq = itertools.count()
        self.epoch = 0
        self._links: tuple[int, int] | None = None
        self._next_watch = 0.0
        self._next_status = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.worker = Worker(self._queue.put, self.stats)

    # -- for behaviours ------------------------------------------------------------------------
    @staticmethod
    def now() -> float:
        return time.monotonic()

    def at(self, t: float, fn: Callable[[], None]) -> None:
        """Call fn on the MIDI thread at monotonic time t (dropped by a stop or panic before then)."""
        heapq.heappush(self._timers, (t, next(self._seq), fn, self.epoch))

    def at_beat(self, beat: float, fn: Callable[[], None], delay: float = 0.0) -> None:
        """Call fn `delay` seconds after beat `beat` comes (follows a MIDI clock's tempo)."""
        self._beat_timers.append((beat, delay, next(self._seq), fn, self.epoch))

    def submit(self, job: Job) -> None:
        job.epoch = self.epoch
        self.worker.submit(job)

    def osc(self, address: str, *args: Any) -> None:
        if self._osc is not None:
            try:
                self._osc.send_message(address, list(args))
            except OSError as exc:
                self._error(f"OSC {address}: {exc}")

    def send(self, msg: Any) -> None:
        """Pass a message to the output (note messages through `out`, so they are released too)."""
        if msg.type == "note_on" and msg.velocity > 0:
            self.out.on(msg.channel, msg.note, msg.velocity, owner="thru")
        elif msg.type in ("note_on", "note_off"):
            self.out.off(msg.channel, msg.note, owner="thru")
        elif msg.type == "control_change":
            self.out.control(msg.channel, msg.control, msg.value)
        else:
            self._send(msg)

    def rest(self) -> None:
        """Stop everything the behaviour started and wait for the next note to count beats again."""
        self.epoch += 1
        self._timers.clear()
        self._beat_timers.clear()
        self.out.release_all()
        if self.behaviour is not None:
            self.behaviour.reset()
        self.timeline.reset()

    def panic(self, reason: str) -> None:
        self.stats.panics += 1
        self.stats.last_error = reason
        self.rest()

    # -- the MIDI thread -----------------------------------------------------------------------
    def start(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        behaviour.warm_up()
        if self._watch is not None:
            self._links = self._watch.connections()
        self.ports.input.callback = lambda msg: self._queue.put(("midi", msg, time.monotonic()))
        self._thread = threading.Thread(target=self._loop, name="symbolic-ai midi", daemon=True)
        self._thread.start()

    def _send(self, msg: Any) -> None:
        if msg.type == "note_on" and msg.velocity > 0:
            self.stats.notes_out += 1
        try:
            self.ports.output.send(msg)
        except Exception as exc:
            self._error(f"sending to {self.ports.out_name!r}: {exc}")

    def _error(self, text: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = text

    def _next_deadline(self) -> float:
        t = self._timers[0][0] if self._timers else math.inf
        for beat, delay, *_ in self._beat_timers:
            t = min(t, self.timeline.time(beat) + delay)
        if self._watch is not None and (self.out.sounding or (self.behaviour and self.behaviour.active())):
            t = min(t, self._next_watch)
        if self._status:
            t = min(t, self._next_status)
        return t

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self._next_deadline() - time.monotonic()
            try:
                item = self._queue.get(timeout=None if wait == math.inf else max(wait, 0.0))
            except queue.Empty:
                item = None
            if item is not None:
                if item[0] == "stop":
                    break
                self._handle(item)
            self._run_timers()

    def _run_timers(self) -> None:
        now = time.monotonic()
        due = [bt for bt in self._beat_timers if self.timeline.time(bt[0]) + bt[1] <= now]
        if due:
            self._beat_timers = [bt for bt in self._beat_timers if bt not in due]
            for bt in sorted(due, key=lambda b: (b[0], b[2])):
                heapq.heappush(self._timers, (now, bt[2], bt[3], bt[4]))
        while self._timers and self._timers[0][0] <= now:
            _, _, fn, epoch = heapq.heappop(self._timers)
            if epoch == self.epoch:
                fn()
        if self._watch is not None and now >= self._next_watch:
            self._next_watch = now + WATCH_S
            self._check_links()
        if self._status and now >= self._next_status:
            self._next_status = now + 0.5
            sys.stderr.write("\r" + self.stats.line() + "\033[K")
            sys.stderr.flush()

    def _check_links(self) -> None:
        assert self._watch is not None
        links = self._watch.connections()
        before, self._links = self._links, links
        if before is None:
            return
        if (before[0] > 0 and links[0] == 0) or (before[1] > 0 and links[1] == 0):
            self.panic("a connected MIDI port went away")

    def _handle(self, item: tuple[Any, ...]) -> None:
        if item[0] == "answer":
            _, job, ok, value = item
            if job.epoch != self.epoch:
                return
            late = time.monotonic() > job.deadline
            if not ok or late:
                if ok:
                    self.stats.dropped += 1
                else:
                    self._error(str(value))
                if job.late is not None:  # e.g. perform plays the notes as they came
                    job.late()
            else:
                self.stats.answers += 1
                job.done(value)
            return
        _, msg, t = item
        assert self.behaviour is not None
        if self._watch is not None:  # something came in: the input is linked now (≈1 µs)
            self._links = self._watch.connections()
        kind = msg.type
        if kind in ("note_on", "note_off"):
            velocity = msg.velocity if kind == "note_on" else 0
            if msg.channel == DRUM_CHANNEL and not self.drums:
                self.behaviour.on_other(msg, t)
                return
            if velocity:
                self.stats.notes_in += 1
            self.behaviour.on_note(msg.channel, msg.note, velocity, t)
        elif kind == "control_change" and msg.control in PANIC_CONTROLS:
            self.panic(f"CC{msg.control} from the input")
        elif kind in ("clock", "start", "stop", "continue", "songpos"):
            if isinstance(self.timeline, MidiClock):
                what = self.timeline.message(kind, t, getattr(msg, "pos", 0))
                if what == "stop":
                    self.rest()
                elif what == "start":
                    self.behaviour.on_clock_start(t)
        elif kind not in ("active_sensing", "reset"):
            self.behaviour.on_other(msg, t)

    def close(self) -> None:
        """Stop the MIDI thread and the worker, end every note, close the ports."""
        self._stop.set()
        self._queue.put(("stop",))
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.worker.close()
        try:
            self.ports.input.callback = None
        except Exception:
            pass
        self.out.release_all()
        time.sleep(FLUSH_S)
        if self._watch is not None:
            self._watch.close()
        if self._status:
            sys.stderr.write("\r" + self.stats.line() + "\033[K\n")
        self.ports.close()
