"""The live MIDI bridge on a real MIDI system: JACK's dummy driver (`jackd2`), a test peer playing
into `NAME in` and listening to `NAME out`. Skipped with the reason when jackd is not installed."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from midi_support import Peer, jack_missing, jack_server, note_ons, stuck_notes
from symbolic_ai.bridges.midi.app import MidiConfig, open_bridge
from symbolic_ai.bridges.midi.ports import MidiError

from symbolic_ai.cli import main

pytestmark = [pytest.mark.skipif(jack_missing() is not None, reason=jack_missing() or ""), pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
# C major, one bar each of C, F, G and C harmony (quarter notes)
MELODY = [60, 64, 67, 64, 65, 69, 72, 69, 67, 71, 74, 71, 72, 67, 64, 60]
TRIADS = [{0, 4, 7}, {5, 9, 0}, {7, 11, 2}, {0, 4, 7}]


@pytest.fixture(scope="module")
def jack(tmp_path_factory: pytest.TempPathFactory):
    with jack_server(tmp_path_factory.mktemp("jack") / "jackd.log") as server:
        yield server


def play(peer: Peer, pitches: list[int], beat_s: float = 0.5, hold: float = 0.8, channel: int = 0) -> float:
    """Quarter notes on the beat; returns the first note's send time."""
    start = time.monotonic() + 0.05
    first = 0.0
    for i, p in enumerate(pitches):
        while time.monotonic() < start + i * beat_s:
            time.sleep(0.0005)
        t = peer.send(0x90 | channel, p, 90)
        first = first or t
        time.sleep(beat_s * hold)
        peer.send(0x80 | channel, p, 0)
    return first


def chords_by_point(messages, t0: float, span: float) -> dict[int, tuple[float, set[int]]]:
    """Note-ons grouped by the nearest harmonic-rhythm point (t0 + k * span): k → (first time, pitches)."""
    out: dict[int, tuple[float, set[int]]] = {}
    for t, _, p, _ in note_ons(messages):
        k = round((t - t0) / span)
        first, pitches = out.get(k, (t, set()))
        out[k] = (min(first, t), pitches | {p})
    return out


@contextmanager
def live(task: str, name: str, **kw):
    """A bridge opened in this process and a peer on its ports; both closed after."""
    bridge = open_bridge(MidiConfig(task, name=name, **kw))
    peer = Peer(name)
    try:
        yield bridge, peer
    finally:
        bridge.close()
        time.sleep(0.1)
        peer.close()


@pytest.fixture
def osc():
    """A UDP socket for the bridge's OSC."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def wait_for(cond, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


@contextmanager
def command(name: str, *args: str):
    """`symbolic-ai midi harmonize --name NAME ARGS` as a process, ready, with a peer on its ports."""
    proc = subprocess.Popen([sys.executable, "-m", "symbolic_ai.cli", "midi", "harmonize", "--name", name, "--quiet",
                             *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    try:
        assert "ready" in proc.stdout.readline()
        peer = Peer(name)
        yield proc, peer
        peer.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen, sig: int) -> str:
    """Send `sig`, check a clean exit, and return the last status line."""
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    time.sleep(0.1)
    return err


def test_cli_harmonize_at_120_bpm_gives_chords_on_the_bar_lines_and_stops_clean(jack):
    """The issue's done-when: `symbolic-ai midi harmonize --bpm 120` on a C-major melody. The test's JACK
    runs 21 ms periods on a shared CPU, so the deadline is widened to 150 ms here; the 30 ms default is
    measured by benchmarks/midi_bridge.py and tested for dropping below."""
    with command("sai-cli", "--bpm", "120", "--latency-ms", "150") as (proc, peer):
        t0 = play(peer, MELODY)
        time.sleep(0.3)
        got = chords_by_point(peer.messages(), t0, 2.0)
        assert sorted(got) == [0, 1, 2, 3], (got, stop(proc, signal.SIGTERM))
        for bar, triad in enumerate(TRIADS):
            t, pitches = got[bar]
            late = t - (t0 + bar * 2.0)
            assert 0 <= late < 0.15, (bar, late)  # on the bar line (target 30 ms: benchmarks/midi_bridge.py)
            assert len(pitches) >= 3 and {p % 12 for p in pitches} == triad, (bar, sorted(pitches))
        assert "notes in 16" in stop(proc, signal.SIGTERM)
        assert stuck_notes(peer.messages()) == {}


def test_harmonize_beat_rhythm_one_chord_per_beat_and_ctrl_c(jack):
    with command("sai-beat", "--bpm", "120", "--rhythm", "beat", "--latency-ms", "200") as (proc, peer):
        t0 = play(peer, MELODY[:8], hold=1.0)  # legato: a note sounds at every point
        got = chords_by_point(peer.messages(), t0, 0.5)
        assert sorted(got) == list(range(8)), (got, stop(proc, signal.SIGTERM))
        assert stuck_notes(peer.messages())  # the last chord sounds
        stop(proc, signal.SIGINT)  # Ctrl-C
        assert stuck_notes(peer.messages()) == {}


def test_harmonize_default_latency_plays_on_time_or_drops(jack):
    """With the default 30 ms deadline every bar gets its chord in time or a counted drop, never a late chord."""
    with live("harmonize", "sai-late", bpm=120) as (bridge, peer):
        t0 = play(peer, MELODY)
        time.sleep(0.2)
        got = chords_by_point(peer.messages(), t0, 2.0)
        period = 1024 / 48000  # the test server's JACK period: input and output each wait up to one
        for bar, (t, _) in got.items():
            assert t - (t0 + bar * 2.0) < 0.030 + 3 * period, (bar, t - t0)
        assert len(got) + bridge.stats.dropped == 4, (got, bridge.stats)
    assert stuck_notes(peer.messages()) == {}


def test_vanished_player_port_releases_every_note(jack):
    """The test client holds a note under a chord, then its port goes away without a note-off."""
    with live("harmonize", "sai-gone", bpm=120, latency_ms=200) as (bridge, peer):
        peer.send(0x90, 60, 90)
        peer.send(0x90, 64, 90)
        assert wait_for(lambda: len(note_ons(peer.messages())) >= 3), (peer.messages(), bridge.stats)
        assert stuck_notes(peer.messages())  # the chord sounds under the held melody
        peer.close_player()  # the port vanishes; the bridge checks its links every 0.25 s while notes sound
        assert wait_for(lambda: stuck_notes(peer.messages()) == {}, 3.0), (stuck_notes(peer.messages()), bridge.stats)
        assert bridge.stats.panics == 1


def test_panic_bad_messages_and_drums(jack):
    with live("harmonize", "sai-bad", bpm=120, latency_ms=200) as (bridge, peer):
        peer.send(0x80, 61, 0)                  # a note-off without its note-on
        peer.send(0x90, 62, 0)                  # a velocity-0 note-on (= note-off) without its note-on
        peer.send(0xF0, 0x7D, 0x01, 0x02, 0xF7)  # sysex
        peer.send(0xE0, 0x00, 0x50)             # pitch bend
        peer.send(0x99, 36, 100)                # kick on channel 10: passes through untouched
        peer.send(0x89, 36, 0)
        peer.send(0x90, 60, 90)                 # a held melody note: a chord comes
        assert wait_for(lambda: len(note_ons(peer.messages())) >= 4)
        drums = [m for _, m in peer.messages() if m[0] & 0x0F == 9]
        assert drums == [(0x99, 36, 100), (0x89, 36, 0)]
        peer.send(0xB0, 123, 0)                 # MIDI panic: all notes off
        assert wait_for(lambda: stuck_notes(peer.messages()) == {})
        assert bridge.stats.panics == 1 and bridge.stats.errors == 0
        peer.send(0x80, 60, 0)
        before = len(note_ons(peer.messages()))
        peer.send(0x90, 67, 90)                 # and it keeps working: the next note starts again
        assert wait_for(lambda: len(note_ons(peer.messages())) > before)
    assert stuck_notes(peer.messages()) == {}


def test_perform_delays_by_the_lookahead_and_keeps_every_note(jack):
    with live("perform", "sai-perf", bpm=120, options={"lookahead_beats": 1.0}) as (bridge, peer):
        pitches = [60, 62, 64, 65, 67, 65, 64, 62, 60]
        t0 = play(peer, pitches, hold=0.7)
        # every note has come back and been let go (nothing sounding between two notes is not the end:
        # the last note comes a look-ahead later, a little more under the final ritardando)
        assert wait_for(lambda: len(note_ons(peer.messages())) >= len(pitches) and bridge.out.sounding == 0
                        and stuck_notes(peer.messages()) == {}, 5.0), (note_ons(peer.messages()),
                                                                       stuck_notes(peer.messages()))
        time.sleep(0.1)  # nothing more comes
        ons = note_ons(peer.messages())
        assert [p for _, _, p, _ in ons] == pitches
        for i, (t, _, _, _) in enumerate(ons):
            shift = t - (t0 + i * 0.5) - 0.5  # the look-ahead is one beat = 0.5 s
            assert -0.25 - 0.01 <= shift <= 0.25 + 0.02, (i, shift)  # timing within half the look-ahead
        assert stuck_notes(peer.messages()) == {}
        pedal = [m[2] for _, m in peer.messages() if m[0] & 0xF0 == 0xB0 and m[1] == 64]
        assert not pedal or pedal[-1] == 0
        assert bridge.stats.errors == 0


def test_emotion_sends_two_ccs_and_osc(jack, osc):
    with live("emotion", "sai-emo", bpm=120, osc_port=osc.getsockname()[1],
              options={"cc_valence": 16, "cc_arousal": 17, "max_rate": 4.0}) as (bridge, peer):
        t0 = play(peer, [60, 64, 67, 72, 67, 64, 60, 55], beat_s=0.25)
        span = time.monotonic() - t0
        packet = osc.recv(1024)
        assert packet.startswith(b"/sai/midi/emotion")
        ccs = [(t, m) for t, m in peer.messages() if m[0] == 0xB0]
        assert {m[1] for _, m in ccs} == {16, 17}
        assert all(0 <= m[2] <= 127 for _, m in ccs)
        updates = sorted({round(t, 3) for t, m in ccs if m[1] == 16})
        assert len(updates) <= 4 * span + 2  # at most max_rate a second


def test_chords_name_the_chord_by_osc_and_hold_its_bass(jack, osc):
    with live("chords", "sai-chd", bpm=120, osc_port=osc.getsockname()[1], latency_ms=200, channel=2,
              options={"output": "bass"}) as (bridge, peer):
        for p in (53, 57, 60):  # F major, held
            peer.send(0x90, p, 80)
        assert b"/sai/midi/chord" in osc.recv(1024)
        assert wait_for(lambda: note_ons(peer.messages()))
        (_, channel, bass, _), = note_ons(peer.messages())
        assert channel == 1 and bass % 12 == 5
        for p in (53, 57, 60):
            peer.send(0x80, p, 0)
        assert wait_for(lambda: stuck_notes(peer.messages()) == {})  # no chord: the bass lets go


def test_midi_clock_stop_mid_bar_releases_the_chord(jack):
    with live("harmonize", "sai-clk", clock=True, latency_ms=200) as (bridge, peer):
        peer.send(0xFA)  # start
        tick = 0.5 / 24
        start = time.monotonic()
        for k in range(24 * 2 + 6):  # two beats and a bit, then stop mid-bar
            while time.monotonic() < start + k * tick:
                time.sleep(0.0005)
            peer.send(0xF8)
            if k == 0:
                peer.send(0x90, 60, 90)
        assert note_ons(peer.messages()), "a chord at the clock's first beat"
        peer.send(0xFC)  # stop
        assert wait_for(lambda: stuck_notes(peer.messages()) == {})
        assert bridge.timeline.bpm == pytest.approx(120, rel=0.1)


def test_missing_port_and_taken_name_are_clear_errors_and_list_shows_ports(jack, capsys):
    with pytest.raises(MidiError, match="--in 'no such port': no such port; MIDI inputs are"):
        open_bridge(MidiConfig("chords", in_port="no such port"))
    bridge = open_bridge(MidiConfig("chords", name="sai-twice"))
    try:
        with pytest.raises(MidiError, match="exist already"):
            open_bridge(MidiConfig("chords", name="sai-twice"))
        assert main(["midi", "--list"]) == 0
        listing = capsys.readouterr().out
        assert "inputs:\n" in listing and "sai-twice out:sai-twice out" in listing.split("outputs:")[0]
        assert "sai-twice in:sai-twice in" in listing.split("outputs:")[1]
    finally:
        bridge.close()


def test_no_jack_server_is_a_clear_error(tmp_path):
    env = {**os.environ, "JACK_DEFAULT_SERVER": "sai-nobody-here", "MIDO_BACKEND": "mido.backends.rtmidi/UNIX_JACK"}
    out = subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "midi", "harmonize"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]  # libjack prints its own lines before
    assert last.startswith("symbolic-ai: error: cannot ") and "the JACK server is not running" in last
    assert "Traceback" not in out.stderr
