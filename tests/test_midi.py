"""The live MIDI bridge without a MIDI system: its clock, its note bookkeeping, its checks, and the
engine driven through stand-in ports (tests/test_midi_jack.py runs it on JACK)."""
from __future__ import annotations

import math
import time

import mido
import pytest
from symbolic_ai.bridges.midi.app import MidiConfig
from symbolic_ai.bridges.midi.behaviours import Harmonize, Perform
from symbolic_ai.bridges.midi.clock import FixedTempo, MidiClock, parse_time_signature
from symbolic_ai.bridges.midi.engine import Bridge, OutNotes
from symbolic_ai.bridges.midi.ports import MidiError, _find, backend_name

from symbolic_ai.cli import main
from symbolic_ai.errors import InputError, ParameterError


def test_fixed_tempo_counts_from_the_first_note():
    tl = FixedTempo(120)
    assert math.isnan(tl.beat(5.0)) and tl.time(1.0) == math.inf
    tl.start(10.0)
    assert tl.beat(11.0) == 2.0 and tl.time(4.0) == 12.0
    tl.reset()
    assert not tl.running


def test_midi_clock_start_ticks_song_position_and_stop():
    clock = MidiClock(100)
    assert clock.message("clock", 0.0) is None and math.isnan(clock.beat(0.0))  # not started: no beat
    assert clock.message("start", 1.0) == "start"
    for k in range(49):  # two beats at 24 clocks per beat, 0.5 s per beat
        clock.message("clock", 1.0 + k * 0.5 / 24)
    assert clock.beat(1.0 + 48 * 0.5 / 24) == pytest.approx(2.0)
    assert clock.bpm == pytest.approx(120, rel=0.05)  # the tempo follows the ticks
    assert clock.time(3.0) == pytest.approx(1.0 + 1.5, abs=0.01)
    clock.message("songpos", 2.0, pos=16)  # 16 sixteenths = beat 4
    assert clock.beat(2.0) == pytest.approx(4.0, abs=1 / 24)
    assert clock.message("stop", 3.0) == "stop" and math.isnan(clock.beat(3.0))


@pytest.mark.parametrize("text", ["4", "four/4", "4/5", "0/4"])
def test_bad_time_signature_is_named(text):
    with pytest.raises(InputError, match=r"time signature|--time-signature"):
        parse_time_signature(text)


def test_out_notes_end_every_note_and_the_pedal():
    sent: list[mido.Message] = []
    out = OutNotes(sent.append)
    a, b = object(), object()
    out.on(0, 60, 90, owner=a)
    out.on(0, 60, 80, owner=b)  # struck again: ended first
    assert [m.type for m in sent] == ["note_on", "note_off", "note_on"]
    out.off(0, 60, owner=a)  # a's late note-off must not end b's note
    assert out.sounding == 1
    out.on(1, 64, 200)  # velocity clamped
    out.control(1, 64, 127)
    out.release_all()
    assert out.sounding == 0
    tail = sent[-3:]
    assert {(m.type, m.channel, getattr(m, "note", getattr(m, "control", None))) for m in tail} == {
        ("note_off", 0, 60), ("note_off", 1, 64), ("control_change", 1, 64)}
    assert sent[3].velocity == 127


@pytest.mark.parametrize("kwargs, match", [
    ({"task": "key"}, "task 'key' has no live bridge"),
    ({"task": "harmonize", "bpm": 0}, "--bpm 0"),
    ({"task": "harmonize", "channel": 17}, "--channel 17"),
    ({"task": "harmonize", "latency_ms": float("nan")}, "--latency-ms nan"),
    ({"task": "harmonize", "osc_port": 70000}, "--osc-port 70000"),
    ({"task": "harmonize", "params": {"rhythm": "learned"}}, "rhythm learned needs the whole melody"),
    ({"task": "harmonize", "params": {"n_best": 3}}, "'n_best' is not used live"),
    ({"task": "chords", "options": {"output": "arpeggio"}}, "--chord-output 'arpeggio'"),
    ({"task": "perform", "options": {"lookahead_beats": 0}}, "--lookahead-beats 0"),
    ({"task": "emotion", "options": {"cc_valence": 7, "cc_arousal": 7}}, "same controller"),
    ({"task": "emotion", "options": {"colour": 1}}, "unknown option 'colour'"),
])
def test_config_quotes_the_bad_value(kwargs, match):
    with pytest.raises(InputError, match=match):
        MidiConfig(**kwargs)


def test_task_parameters_are_checked_by_the_registry():
    with pytest.raises(ParameterError, match="style"):
        MidiConfig("harmonize", params={"style": "polka"})
    assert MidiConfig("harmonize", params={"style": "folk"}).params["style"] == "folk"


def test_backend_names_and_port_lookup():
    assert backend_name("jack") == "mido.backends.rtmidi/UNIX_JACK"
    with pytest.raises(MidiError, match="--api 'oss'"):
        backend_name("oss")
    assert _find("loop", ["loopMIDI Port 1", "Other"], "input", "--in") == "loopMIDI Port 1"
    with pytest.raises(MidiError, match="--out 'Port': matches 2 ports"):
        _find("Port", ["Port A", "Port B"], "output", "--out")


@pytest.mark.parametrize("argv, message", [
    (["midi"], "give a TASK"),
    (["midi", "harmonize", "--bpm", "1000"], "--bpm 1000.0: give a tempo"),
    (["midi", "emotion", "--cc-valence", "3", "--cc-arousal", "3"], "same controller"),
    (["midi", "perform", "--style", "polka"], "style"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


class StandInPorts:
    """What the engine needs of mido ports: an input whose callback the test calls, an output that records."""

    def __init__(self) -> None:
        self.sent: list[mido.Message] = []
        self.input = type("In", (), {"callback": None, "close": lambda self: None})()
        self.output = type("Out", (), {"send": lambda _, m: self.sent.append(m), "close": lambda self: None})()
        self.out_name, self.system = "stand-in", "none"

    def close(self) -> None:
        pass

    def play(self, *data: int) -> None:
        self.input.callback(mido.Message.from_bytes(list(data)))

    def sounding(self) -> set[tuple[int, int]]:
        on: set[tuple[int, int]] = set()
        for m in self.sent:
            if m.type == "note_on" and m.velocity:
                on.add((m.channel, m.note))
            elif m.type in ("note_on", "note_off"):
                on.discard((m.channel, m.note))
        return on


def wait(cond, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        time.sleep(0.01)
    return cond()


def test_engine_harmonizes_passes_drums_and_lets_go_on_panic_and_close():
    ports = StandInPorts()
    bridge = Bridge(ports, FixedTempo(120))
    ts = parse_time_signature("4/4")
    cfg = MidiConfig("harmonize", latency_ms=500)
    bridge.start(Harmonize(bridge, ts, cfg.params, cfg.latency_ms))
    try:
        ports.play(0x80, 50, 0)          # a note-off without its note-on: ignored
        ports.play(0xF0, 1, 2, 0xF7)     # sysex: ignored
        ports.play(0x99, 36, 100)        # drums: through, untouched
        ports.play(0x90, 60, 90)         # a held C: a chord
        assert wait(lambda: len(ports.sounding()) >= 4), ports.sent
        assert ports.sent[0] == mido.Message("note_on", channel=9, note=36, velocity=100)
        chord = {p % 12 for c, p in ports.sounding() if c == 0}
        assert 0 in chord and len(chord) >= 3
        ports.play(0xB0, 123, 0)         # panic
        assert wait(lambda: not ports.sounding())
        ports.play(0x89, 36, 0)
        ports.play(0x80, 60, 0)
        ports.play(0x90, 64, 90)         # a new phrase: counted from its first note again
        assert wait(lambda: len(ports.sounding()) >= 3)
    finally:
        bridge.close()
    assert not ports.sounding() and bridge.stats.errors == 0 and bridge.stats.panics == 1


@pytest.mark.parametrize("failure", ["late", "error"])
def test_perform_plays_the_notes_as_they_came_when_the_render_is_late_or_fails(failure, monkeypatch):
    real = Perform.call

    def render(self, piece):
        if failure == "error":
            raise InputError("no good")
        time.sleep(0.4)  # past the deadline: the first note's time out (one beat = 0.25 s at 240 bpm)
        return real(self, piece)

    ports = StandInPorts()
    bridge = Bridge(ports, FixedTempo(240))
    cfg = MidiConfig("perform", bpm=240)
    bridge.start(Perform(bridge, parse_time_signature("4/4"), cfg.params, cfg.latency_ms))
    monkeypatch.setattr(Perform, "call", render)  # after the warm-up
    try:
        t0 = time.monotonic()
        ports.play(0x90, 62, 70)
        time.sleep(0.05)
        ports.play(0x80, 62, 0)
        assert wait(lambda: any(m.type == "note_on" for m in ports.sent))
        assert time.monotonic() - t0 >= 0.25  # not before the look-ahead
        assert wait(lambda: not ports.sounding())
        on = next(m for m in ports.sent if m.type == "note_on")
        assert (on.note, on.velocity) == (62, 70)
        assert (bridge.stats.dropped, bridge.stats.errors) == ((1, 0) if failure == "late" else (0, 1))
    finally:
        bridge.close()
