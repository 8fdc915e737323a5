"""Live MIDI bridge on JACK's dummy driver: note-in → note-out latency per task, drops under load,
idle CPU. Prints one JSON line.

  python benchmarks/midi_bridge.py [--period 128] [--beats 24] [--load 2]

Targets (set before measuring, issue 19): harmonize p99 under 30 ms beyond the harmonic-rhythm
point; perform within the look-ahead (|timing move| <= half of it); idle CPU near zero.
Times are taken by the test peer (tests/midi_support.py): from the note it sends to the note it
receives, so they include JACK's two period waits (in and out).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from midi_support import Peer, jack_server, note_ons, stuck_notes  # noqa: E402

from symbolic_ai.bridges.midi.app import MidiConfig, open_bridge  # noqa: E402

BEAT = 0.5  # 120 bpm
MELODY = [60, 64, 67, 64, 65, 69, 72, 69, 67, 71, 74, 71, 72, 67, 64, 60]


def play(peer: Peer, pitches: list[int], hold: float = 0.9) -> list[float]:
    start, sent = time.monotonic() + 0.05, []
    for i, p in enumerate(pitches):
        while time.monotonic() < start + i * BEAT:
            time.sleep(0.0003)
        sent.append(peer.send(0x90, p, 90))
        time.sleep(BEAT * hold)
        peer.send(0x80, p, 0)
    return sent


def pct(values: list[float]) -> dict[str, float | int]:
    a = np.asarray(values, dtype=float) * 1000
    if not len(a):
        return {"n": 0}
    return {"n": len(a), "p50_ms": round(float(np.percentile(a, 50)), 1), "p99_ms": round(float(np.percentile(a, 99)), 1),
            "max_ms": round(float(a.max()), 1)}


def harmonize(beats: int, name: str = "bench-h") -> dict[str, object]:
    bridge = open_bridge(MidiConfig("harmonize", name=name, bpm=120, params={"rhythm": "beat"}))
    peer = Peer(name)
    try:
        sent = play(peer, (MELODY * 4)[:beats], hold=1.0)
        time.sleep(0.3)
        ons = note_ons(peer.messages())
        late = []
        for k, t_point in enumerate(sent):
            chord = [t for t, *_ in ons if -0.1 < t - t_point < BEAT / 2]
            if chord:
                late.append(min(chord) - (sent[0] + k * BEAT))
        return {**pct(late), "points": beats, "dropped": bridge.stats.dropped,
                "inside_bridge": pct([x / 1000 for x in bridge.stats.latencies_ms])}
    finally:
        bridge.close()
        stuck = stuck_notes(peer.messages())
        peer.close()
        assert not stuck, stuck


def harmonize_loaded(beats: int, burners: int) -> dict[str, object]:
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    try:
        out = harmonize(beats, "bench-hl")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return {"busy_processes": burners, **out}


def perform(beats: int) -> dict[str, object]:
    bridge = open_bridge(MidiConfig("perform", name="bench-p", bpm=120))
    peer = Peer("bench-p")
    try:
        pitches = (MELODY * 4)[:beats]
        sent = play(peer, pitches, hold=0.6)
        time.sleep(1.5)
        ons = note_ons(peer.messages())
        moves = [t - (s + BEAT) for (t, *_), s in zip(ons, sent)]  # look-ahead = 1 beat
        return {"notes_in": len(sent), "notes_out": len(ons), "timing_move": pct(moves),
                "within_half_lookahead": int(sum(abs(m) <= BEAT / 2 + 0.005 for m in moves)),
                "dropped": bridge.stats.dropped, "in_to_out_ms_inside": pct([x / 1000 for x in bridge.stats.latencies_ms])}
    finally:
        bridge.close()
        peer.close()


def chords(changes: int) -> dict[str, object]:
    bridge = open_bridge(MidiConfig("chords", name="bench-c", bpm=120, options={"output": "bass"}))
    peer = Peer("bench-c")
    triads = [(60, 64, 67), (65, 69, 72), (67, 71, 74), (57, 60, 64)]
    try:
        lat = []
        for k in range(changes):
            tri = triads[k % len(triads)]
            before = len(note_ons(peer.messages()))
            t = min(peer.send(0x90, p, 80) for p in tri)
            time.sleep(BEAT * 1.5)
            new = note_ons(peer.messages())[before:]
            if new:
                lat.append(new[0][0] - t)
            for p in tri:
                peer.send(0x80, p, 0)
            time.sleep(BEAT / 2)
        return {**pct(lat), "changes": changes, "dropped": bridge.stats.dropped}
    finally:
        bridge.close()
        peer.close()


def emotion(beats: int) -> dict[str, object]:
    bridge = open_bridge(MidiConfig("emotion", name="bench-e", bpm=120))
    peer = Peer("bench-e")
    try:
        sent = play(peer, (MELODY * 4)[:beats])
        ccs = [t for t, m in peer.messages() if m[0] == 0xB0 and m[1] == 20]
        span = time.monotonic() - sent[0]
        return {"answer_ms_inside": pct([x / 1000 for x in bridge.stats.latencies_ms]),
                "cc_updates_per_s": round(len(ccs) / span, 2), "dropped": bridge.stats.dropped}
    finally:
        bridge.close()
        peer.close()


def idle_cpu(seconds: float = 10.0) -> dict[str, object]:
    proc = subprocess.Popen([sys.executable, "-m", "symbolic_ai.cli", "midi", "harmonize", "--name", "bench-idle",
                             "--quiet"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=os.environ.copy())
    try:
        proc.stdout.readline()
        time.sleep(1.0)

        def cpu() -> float:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        c0 = cpu()
        time.sleep(seconds)
        return {"cpu_percent": round(100 * (cpu() - c0) / seconds, 2), "seconds": seconds}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--period", type=int, default=128, help="JACK period in frames at 48 kHz (default 128)")
    ap.add_argument("--beats", type=int, default=32)
    ap.add_argument("--load", type=int, default=2, help="busy processes for the drops-under-load run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, jack_server(Path(tmp) / "jackd.log", period=args.period):
        out = {"benchmark": "midi_bridge", "jack_period_ms": round(args.period / 48, 2),
               "load_average": os.getloadavg()[0],
               "harmonize": harmonize(args.beats), "harmonize_under_load": harmonize_loaded(args.beats, args.load),
               "perform": perform(args.beats // 2), "chords": chords(8), "emotion": emotion(16),
               "idle": idle_cpu()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
