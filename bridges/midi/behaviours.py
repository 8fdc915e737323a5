"""What each task does live. Every answer comes from the task itself (`symbolic_ai.run`) on a
short window of what was played, built as a Piece on the bridge's beat grid; nothing here
re-implements a task.

- `Harmonize`: at each harmonic-rhythm point (bar, half bar, beat) the melody heard so far and the
  start of the new span → the chord of that span, voiced by the task's block accompaniment, sent
  by `latency_ms` after the point or not at all (the previous chord then holds).
- `Chords`: what sounds → the current chord symbol (OSC `/sai/midi/chord`), optionally as a held
  bass note or voiced chord on the output channel.
- `Perform`: notes in → the same notes out `lookahead_beats` later, with the perform model's
  velocities, timing (both ways, within half the look-ahead) and articulation, and its pedal as CC64.
  A late answer plays the notes as they came, delayed by the look-ahead.
- `Emotion`: a rolling estimate over the last `window_beats` → two CCs (valence, arousal, 0–127)
  and OSC `/sai/midi/emotion`, at most `max_rate` times a second.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import symbolic_ai as sai
from symbolic_ai import harmony
from symbolic_ai.piece import Piece, Tempo, TimeSignature, Track, notes_from_columns
from symbolic_ai.voicing import voice_progression

from .engine import DRUM_CHANNEL, Bridge, Job

MIN_BEATS = 0.05  # shortest note written into a window
Rendered = tuple[list[tuple["Heard", float, int, float]], list[tuple[float, int]]]


@dataclass
class Heard:
    """One note played into the bridge: beats on the bridge's grid (`end` None while held)."""

    onset: float
    end: float | None
    pitch: int
    velocity: int
    channel: int
    t_on: float
    t_off: float | None = None


class Live:
    """Shared by the behaviours: the log of heard notes, windows as Pieces, the task call."""

    task = ""
    echo = True  # --thru sends the played notes along

    def __init__(self, bridge: Bridge, time_signature: TimeSignature, params: dict[str, Any],
                 latency_ms: float = 30.0) -> None:
        self.bridge, self.ts, self.params = bridge, time_signature, params
        self.latency = latency_ms / 1000.0
        self.heard: list[Heard] = []
        self.held: dict[tuple[int, int], Heard] = {}
        self.last_note_t = -math.inf
        self.ticking = False  # the behaviour's timers run

    # -- input ---------------------------------------------------------------------------------
    @property
    def bar(self) -> float:
        return self.ts.bar_beats

    def beat_now(self) -> float:
        return self.bridge.timeline.beat(self.bridge.now())

    def on_note(self, channel: int, pitch: int, velocity: int, t: float) -> None:
        tl = self.bridge.timeline
        if velocity and not tl.running and tl.follows_notes:
            tl.start(t)
        if not tl.running:  # a clock that is stopped: nothing counts
            return
        if velocity and not self.ticking:  # the first note, or the first after a rest
            self.started(t)
        beat = max(tl.beat(t), 0.0)
        key = (channel, pitch)
        if velocity:
            if key in self.held:  # struck again without a note-off: the old one ends here
                self.note_off(self.held.pop(key), beat, t)
            note = Heard(beat, None, pitch, velocity, channel, t)
            self.held[key] = note
            self.heard.append(note)
            self.last_note_t = t
            self.note_on(note)
        elif key in self.held:  # a note-off without its note-on is ignored
            self.note_off(self.held.pop(key), beat, t)
        if self.bridge.thru and self.echo:
            self.bridge.out.on(channel, pitch, velocity, owner="thru") if velocity else \
                self.bridge.out.off(channel, pitch, owner="thru")

    def note_on(self, note: Heard) -> None:
        pass

    def note_off(self, note: Heard, beat: float, t: float) -> None:
        note.end, note.t_off = max(beat, note.onset + MIN_BEATS), t

    def on_other(self, msg: Any, t: float) -> None:
        """Drums (channel 10) and other messages: passed through untouched with --thru or for drums."""
        if self.bridge.thru or (getattr(msg, "channel", None) == DRUM_CHANNEL and msg.type.startswith("note")):
            self.bridge.send(msg)

    def started(self, t: float) -> None:
        """The first note since the start or a rest, at time t: start the behaviour's timers."""

    def on_clock_start(self, t: float) -> None:
        """Clock Start/Continue: the next note played starts the timers."""

    def reset(self) -> None:
        self.heard.clear()
        self.held.clear()
        self.ticking = False

    def active(self) -> bool:
        return bool(self.held)

    def warm_up(self) -> None:
        """One call on a tiny window, so the model is loaded before the first real answer."""
        notes = [Heard(float(i), i + 0.9, p, 80, 0, 0.0) for i, p in enumerate((60, 64, 67, 72, 67, 64, 62, 60))]
        self.call(self.window(notes, 0.0, 8.0))

    # -- windows -------------------------------------------------------------------------------
    def window(self, notes: list[Heard], start: float, hold_to: float) -> Piece | None:
        """`notes` sounding after beat `start` as a Piece on the bridge's grid, shifted so that beat
        `start` is 0 (held notes last until `hold_to`); None when no note is in it."""
        rows = []
        for n in notes:
            end = n.end if n.end is not None else max(hold_to, n.onset + MIN_BEATS)
            if end <= start:
                continue
            on = max(n.onset, start)
            rows.append((on - start, max(end - on, MIN_BEATS), n.pitch, n.velocity))
        if not rows:
            return None
        rows.sort()
        on, dur, pitch, vel = (list(c) for c in zip(*rows))
        notes_arr = notes_from_columns(onset_beat=on, duration_beat=dur, pitch=pitch, velocity=vel,
                                       id=np.arange(len(rows)))
        return Piece(notes=notes_arr, tracks=(Track(0, "live"),), tempos=(Tempo(0.0, self.bridge.timeline.bpm),),
                     time_signatures=(TimeSignature(0.0, self.ts.numerator, self.ts.denominator),),
                     metadata={"source": f"midi {self.task} window"})

    def call(self, piece: Piece | None) -> Any:
        return None if piece is None else sai.run(self.task, piece, **self.params)

    def forget_before(self, beat: float) -> None:
        self.heard = [n for n in self.heard if n.end is None or n.end > beat]

    def bar_start(self, beat: float) -> float:
        return math.floor(beat / self.bar + 1e-9) * self.bar


class Harmonize(Live):
    task = "harmonize"

    def __init__(self, bridge: Bridge, time_signature: TimeSignature, params: dict[str, Any],
                 latency_ms: float = 30.0, context_bars: int = 4, idle_bars: int = 2) -> None:
        rhythm = params.get("rhythm", "bar")  # not "learned": MidiConfig refuses it
        if rhythm == "auto":  # live, the chord comes at fixed points: a bar unless asked otherwise
            rhythm = "bar"
        # track 0: its top line (chords played in)
        # cadence off: the window ends where the player is, not where the tune does
        params = {**params, "accompaniment": "block", "track": 0, "rhythm": rhythm, "cadence": False}
        super().__init__(bridge, time_signature, params, latency_ms)
        self.span = {"bar": self.bar, "half": self.bar / 2, "beat": 1.0}[rhythm]
        self.context, self.idle = context_bars * self.bar, idle_bars * self.bar
        self.grace = min(0.005, self.latency / 4)  # notes played on the point still count
        self.chord: list[int] = []
        self.symbol = ""
        self.waiting: float | None = None  # a point with no note yet: the next note asks for its chord

    def started(self, t: float) -> None:
        tl = self.bridge.timeline
        k = tl.beat(t) / self.span
        late = (k - math.floor(k)) * self.span * tl.seconds_per_beat  # played just after a point: that point
        self.schedule((math.floor(k) if late <= self.latency else math.ceil(k)) * self.span)

    def schedule(self, point: float) -> None:
        self.ticking = True
        self.bridge.at_beat(point, lambda: self.point(point), delay=self.grace)

    def release(self) -> None:
        for p in self.chord:
            self.bridge.out.off(self.bridge.channel, p, owner=self)
        self.chord, self.symbol = [], ""

    def reset(self) -> None:
        super().reset()
        self.chord, self.symbol, self.waiting = [], "", None

    def point(self, point: float) -> None:
        """A harmonic-rhythm point: ask for the new span's chord, due `latency` after the point. With
        no note sounding yet, the first note that comes before that deadline asks instead."""
        recent = [n for n in self.heard if n.end is None or n.end > point - self.span]
        if not self.held and not recent:  # a whole span of silence: let the chord go
            self.release()
            if not any(n.end is None or n.end > point - self.idle for n in self.heard):
                self.bridge.rest()  # the player stopped: count again from the next note
                return
        self.schedule(point + self.span)
        self.waiting = None if self.held else point
        if self.held:
            self.ask(point)

    def note_on(self, note: Heard) -> None:
        point = self.waiting
        if point is None:
            return
        t_point = self.bridge.timeline.time(point)
        if note.t_on <= t_point + self.latency:
            note.onset = max(note.onset, point) if note.onset - point < self.span else note.onset
            self.waiting = None
            self.ask(point)

    def ask(self, point: float) -> None:
        start = max(0.0, self.bar_start(point - self.context))
        self.forget_before(start)
        piece = self.window(self.heard, start, point + self.span)
        if piece is None:
            return
        x = point - start
        t_point = self.bridge.timeline.time(point)
        self.bridge.submit(Job(lambda: self.answer(piece, x), t_point + self.latency,
                               lambda ans: self.play(ans, t_point), kind="harmonize"))

    def answer(self, piece: Piece, x: float) -> tuple[str, list[int], int] | None:
        res = self.call(piece)
        row = next((c for c in res.data["chords"] if c["start_beat"] <= x + 1e-6 < c["end_beat"]), None)
        if row is None:  # the melody ended before the point: the chord holds
            return None
        acc = res.piece.notes[res.piece.notes["track"] == len(res.piece.tracks) - 1]
        here = acc[(acc["onset_beat"] <= x + 1e-6) & (acc["onset_beat"] + acc["duration_beat"] > x + 1e-6)]
        pitches = sorted({int(p) for p in here["pitch"]})
        return str(row["symbol"]), pitches, int(here["velocity"].max()) if len(here) else 64

    def play(self, answer: tuple[str, list[int], int] | None, t_point: float) -> None:
        if answer is None:
            return
        symbol, pitches, velocity = answer
        self.release()
        for p in pitches:
            self.bridge.out.on(self.bridge.channel, p, velocity, owner=self)
        self.chord, self.symbol = pitches, symbol
        self.bridge.stats.latencies_ms.append((self.bridge.now() - t_point) * 1000.0)
        self.bridge.osc("/sai/midi/chord", symbol, float(self.bridge.timeline.beat(t_point)))

    def active(self) -> bool:
        return bool(self.held or self.chord)


class Chords(Live):
    task = "chords"
    DEBOUNCE_S = 0.02
    CONTEXT_BEATS = 8.0

    def __init__(self, bridge: Bridge, time_signature: TimeSignature, params: dict[str, Any],
                 latency_ms: float = 30.0, output: str = "none", register_pitch: int = 60) -> None:
        super().__init__(bridge, time_signature, params, latency_ms)
        self.output, self.register = output, register_pitch
        self.symbol = ""
        self.sounding: list[int] = []
        self.pending = False

    def note_on(self, note: Heard) -> None:
        self.ask(note.t_on)

    def note_off(self, note: Heard, beat: float, t: float) -> None:
        super().note_off(note, beat, t)
        self.ask(t)

    def ask(self, t: float) -> None:
        if not self.pending:
            self.pending = True
            self.bridge.at(t + self.DEBOUNCE_S, lambda: self.evaluate(t))

    def evaluate(self, t_event: float) -> None:
        self.pending = False
        if not self.held:
            self.show("N", t_event)
            return
        now_beat = self.beat_now()
        start = max(0.0, math.floor(now_beat) - self.CONTEXT_BEATS + 1)
        self.forget_before(start)
        # what sounds now fills the current frame: the chord playing now, not the one before
        piece = self.window(self.heard, start, math.floor(now_beat) + 1.0)
        x = math.floor(now_beat) - start
        self.bridge.submit(Job(lambda: self.answer(piece, x), t_event + self.DEBOUNCE_S + self.latency,
                               lambda s: self.show(s, t_event), kind="chords"))

    def answer(self, piece: Piece | None, x: float) -> str:
        res = self.call(piece)
        if res is None:
            return "N"
        rows = [c for c in res.data["chords"] if c["start_beat"] <= x + 1e-6]
        return str(rows[-1]["symbol"]) if rows else "N"

    def show(self, symbol: str, t_event: float) -> None:
        if symbol == self.symbol:
            return
        self.symbol = symbol
        self.bridge.stats.latencies_ms.append((self.bridge.now() - t_event) * 1000.0)
        self.bridge.osc("/sai/midi/chord", symbol)
        if self.output == "none":
            return
        for p in self.sounding:
            self.bridge.out.off(self.bridge.channel, p, owner=self)
        chord = harmony.parse_symbol(symbol) if symbol != "N" else None
        self.sounding = []
        if chord is not None:
            bass, upper = voice_progression([chord], self.register)[0]
            self.sounding = [bass] if self.output == "bass" else [bass, *upper]
        for p in self.sounding:
            self.bridge.out.on(self.bridge.channel, p, 80, owner=self)

    def reset(self) -> None:
        super().reset()
        self.symbol, self.sounding, self.pending = "", [], False

    def active(self) -> bool:
        return bool(self.held or self.sounding)


class Emotion(Live):
    task = "emotion"

    def __init__(self, bridge: Bridge, time_signature: TimeSignature, params: dict[str, Any],
                 latency_ms: float = 30.0, window_beats: float = 16.0, cc_valence: int = 20, cc_arousal: int = 21,
                 max_rate: float = 4.0) -> None:
        params = {**params, "window_beats": window_beats, "hop_beats": window_beats}
        super().__init__(bridge, time_signature, params, latency_ms)
        self.window_beats, self.ccs = window_beats, (cc_valence, cc_arousal)
        self.period = 1.0 / max_rate
        self.sent: tuple[int, int] | None = None

    def note_on(self, note: Heard) -> None:
        if not self.ticking:
            self.ticking = True
            self.bridge.at(note.t_on + self.period, self.update)

    def update(self) -> None:
        now = self.bridge.now()
        if now - self.last_note_t > self.bridge.timeline.seconds_per_beat * self.window_beats and not self.held:
            self.ticking = False  # nothing played for a whole window: sleep until the next note
            return
        self.bridge.at(now + self.period, self.update)
        now_beat = self.beat_now()
        start = max(0.0, now_beat - self.window_beats)
        self.forget_before(start)
        piece = self.window(self.heard, start, now_beat)
        if piece is None or len(set(piece.notes["pitch"].tolist())) < 2:
            return
        self.bridge.submit(Job(lambda: self.call(piece), now + self.period, lambda res: self.send(res, now),
                               kind="emotion"))

    def send(self, res: Any, t_asked: float) -> None:
        v, a = float(res.data["valence"]), float(res.data["arousal"])
        values = (round((v + 1) * 63.5), round((a + 1) * 63.5))
        self.bridge.stats.latencies_ms.append((self.bridge.now() - t_asked) * 1000.0)
        if values != self.sent:
            self.sent = values
            for cc, value in zip(self.ccs, values):
                self.bridge.out.control(self.bridge.channel, cc, int(value))
        self.bridge.osc("/sai/midi/emotion", res.data["quadrant"], res.data["label"], v, a)


class Perform(Live):
    task = "perform"
    echo = False
    CONTEXT_BEATS = 8.0
    SAFETY_S = 0.003
    RATIO = (0.2, 2.0)  # articulation: performed / played duration (the pedal goes out as CC64 besides)

    def __init__(self, bridge: Bridge, time_signature: TimeSignature, params: dict[str, Any],
                 latency_ms: float = 30.0, lookahead_beats: float = 1.0) -> None:
        super().__init__(bridge, time_signature, params, latency_ms)
        self.lookahead = lookahead_beats
        self.hop = lookahead_beats / 2
        self.plan: dict[int, tuple[float, float]] = {}  # id(note) → (output onset time, duration ratio)

    @property
    def delay(self) -> float:
        return self.lookahead * self.bridge.timeline.seconds_per_beat

    def started(self, t: float) -> None:
        beat = self.bridge.timeline.beat(t)
        self.schedule(math.floor(beat / self.hop + 1e-6) * self.hop + self.hop)

    def schedule(self, edge: float) -> None:
        self.ticking = True
        self.bridge.at_beat(edge, lambda: self.chunk(edge), delay=0.002)

    def chunk(self, edge: float) -> None:
        """Notes that started in [edge - hop, edge): render them with the notes before as context."""
        if not self.held and not any(n.end is None or n.end > edge - self.CONTEXT_BEATS for n in self.heard):
            self.bridge.rest()
            return
        self.schedule(edge + self.hop)
        new = [n for n in self.heard if edge - self.hop <= n.onset < edge]
        if not new:
            return
        start = max(0.0, self.bar_start(edge - self.hop - self.CONTEXT_BEATS))
        self.forget_before(start)
        now_beat = self.beat_now()
        context = [n for n in self.heard if n.onset < edge]
        piece = self.window(context, start, now_beat)
        deadline = min(n.t_on for n in new) + self.delay - self.SAFETY_S  # the first note's time out
        self.bridge.submit(Job(lambda: self.answer(piece, new, start, edge), deadline, self.play,
                               lambda: self.play_plain(new), kind=f"perform {edge}"))

    def answer(self, piece: Piece | None, new: list[Heard], start: float, edge: float) -> Rendered:
        """For each new note (note, timing deviation in s, velocity, duration ratio), and the pedal
        (beat, value) in the chunk [edge - hop, edge)."""
        res = self.call(piece)
        assert piece is not None
        spb = self.bridge.timeline.seconds_per_beat
        score_on = piece.notes["onset_beat"] * spb
        score_dur = piece.notes["duration_beat"] * spb
        perf = {int(r["score_id"]): r for r in res.data["notes"]}
        perf_on = np.array([perf[i]["onset_sec"] for i in range(len(score_on))])
        slope, icpt = np.polyfit(score_on, perf_on, 1) if len(set(score_on.tolist())) > 1 else (1.0, float(
            np.mean(perf_on - score_on)))
        slope = slope if slope > 0.2 else 1.0
        # the window's rows are sorted by (onset, duration, pitch, velocity): find each new note's row
        rows = {(round(float(o), 6), int(p)): i for i, (o, p) in
                enumerate(zip(piece.notes["onset_beat"], piece.notes["pitch"]))}
        out = []
        for n in new:
            i = rows.get((round(max(n.onset, start) - start, 6), n.pitch))
            if i is None:
                continue
            dev = float(perf_on[i] - (icpt + slope * score_on[i])) / slope
            ratio = float(perf[i]["duration_sec"]) / max(float(slope * score_dur[i]), 1e-3)
            ratio = min(max(ratio, self.RATIO[0]), self.RATIO[1])  # a held note's duration is not known yet
            out.append((n, dev, int(perf[i]["velocity"]), ratio))
        pedal = []
        for event in res.data["pedal"]:
            beat = start + (float(event["time_sec"]) - icpt) / slope / spb
            if edge - self.hop <= beat < edge:
                pedal.append((beat, int(event["value"])))
        return out, pedal

    def play(self, rendered: Rendered) -> None:
        now = self.bridge.now()
        plan, pedal = rendered
        channel = plan[0][0].channel if plan else self.bridge.channel
        for beat, value in pedal:
            t = max(self.bridge.timeline.time(beat) + self.delay, now)
            self.bridge.at(t, lambda v=value: self.bridge.out.control(channel, 64, v))
        for n, dev, velocity, ratio in plan:
            nominal = n.t_on + self.delay
            dev = min(max(dev, now + self.SAFETY_S - nominal, -self.delay / 2), self.delay / 2)
            self.emit(n, nominal + dev, velocity, ratio)
            self.bridge.stats.latencies_ms.append((nominal + dev - n.t_on) * 1000.0)

    def play_plain(self, new: list[Heard]) -> None:
        out = self.bridge.out
        for n in new:
            t = max(n.t_on + self.delay, self.bridge.now())
            self.bridge.at(t, lambda ch=n.channel: out.control(ch, 64, 0) if out.pedal_down(ch) else None)
            self.emit(n, t, n.velocity, 1.0)

    def emit(self, n: Heard, t_on: float, velocity: int, ratio: float) -> None:
        self.bridge.at(t_on, lambda: self.bridge.out.on(n.channel, n.pitch, velocity, owner=n))
        self.plan[id(n)] = (t_on, ratio)
        if n.t_off is not None:
            self.end(n)

    def end(self, n: Heard) -> None:
        t_on, ratio = self.plan.pop(id(n))
        assert n.t_off is not None
        t_off = max(t_on + max(ratio * (n.t_off - n.t_on), 0.02), self.bridge.now())
        self.bridge.at(t_off, lambda: self.bridge.out.off(n.channel, n.pitch, owner=n))

    def note_off(self, note: Heard, beat: float, t: float) -> None:
        super().note_off(note, beat, t)
        if id(note) in self.plan:
            self.end(note)

    def on_other(self, msg: Any, t: float) -> None:
        """Other messages keep their place: delayed by the look-ahead (the input's pedal is replaced)."""
        if msg.type == "control_change" and msg.control == 64:
            return
        if self.bridge.timeline.running and hasattr(msg, "channel"):
            self.bridge.at(t + self.delay, lambda: self.bridge.send(msg))
        elif self.bridge.thru:
            self.bridge.send(msg)

    def reset(self) -> None:
        super().reset()
        self.plan.clear()

    def active(self) -> bool:
        return bool(self.held or self.plan)


BEHAVIOURS: dict[str, type[Live]] = {"harmonize": Harmonize, "chords": Chords, "perform": Perform, "emotion": Emotion}
