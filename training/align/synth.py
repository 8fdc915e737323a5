"""Synthesize held-out performances for evaluating `align` and `locate` (audio goes to runs/, never to git).

    python -m training align synth [--data-root DIR] [--out runs/align/eval] [--crop-sec 180] [--max-asap 24]
    python -m training align synth --split valid --out runs/align/valid --max-asap 8     # for tuning
    python -m training align synth --split valid --out runs/align/valid_hard --max-asap 21 --only Scherzos,Liszt

For the test splits of ASAP (one performance per piece, up to --max-asap) and Batik-plays-Mozart, the
performance MIDI is cut at the first matched note played after --crop-sec and rendered with FluidSynth
twice: with FluidR3_GM (the soundfont used for development) and with MuseScore_General_Lite (a soundfont
never looked at while tuning: the robustness check). Each rendering gets a random gain (-12..0 dB),
reverb room (none, small, large) and 0..2 s of silence at either end (seeded by the piece's id, so a
rerun makes the same files). Beside each `<id>.<font>.flac` goes `<id>.npz`: the matched score notes
(onset and duration in quarter notes, pitch) and each one's true onset in the recording (seconds,
leading silence included, per font), read from the `.match` alignment with partitura. `index.json`
lists them. Existing files are kept, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from symbolic_ai.data import data_root
from symbolic_ai.errors import require

FONTS = {"fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
         "musescore": "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"}
SR = 22050
ROOMS = (None, 0.3, 0.8)  # reverb off, small room, large room


def test_performances(root: Path, max_asap: int, split: str = "test") -> list[dict]:
    """Performances of `split`: ASAP (first performance of each piece folder) then Batik."""
    rows, seen = [], set()
    with open(root / "asap" / "manifest.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["split"] == split and r["folder"] not in seen and len(seen) < max_asap:
                seen.add(r["folder"])
                rows.append({"id": f"asap_{r['folder'].replace('/', '_')}_{r['performance_id']}",
                             "dataset": "asap", "work_id": r["work_id"],
                             "match": str(root / "asap" / r["match_file"]),
                             "midi": str(root / "asap" / r["midi_performance"])})
    with open(root / "batik_mozart" / "manifest.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["split"] == split:
                stem = Path(r["match_file"]).stem
                rows.append({"id": f"batik_{stem}", "dataset": "batik_mozart", "work_id": r["work_id"],
                             "match": str(root / "batik_mozart" / r["match_file"]),
                             "midi": str(root / "batik_mozart" / r["midi_performance"])})
    return rows


def crop_midi(src: str, dst: Path, end_sec: float) -> None:
    """`src` cut at `end_sec` (notes sounding then are released there), as a type-0 file."""
    import mido
    mid = mido.MidiFile(src)
    out = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    out.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))  # 1 tick = 1/960 s
    t, last_tick, sounding = 0.0, 0, set()
    for msg in mid:  # delta times in seconds
        t += msg.time
        if t >= end_sec:
            break
        if msg.is_meta:
            continue
        if msg.type == "note_on" and msg.velocity > 0:
            sounding.add((msg.channel, msg.note))
        elif msg.type in ("note_off", "note_on"):
            sounding.discard((msg.channel, msg.note))
        tick = int(round(t * 960))
        track.append(msg.copy(time=tick - last_tick))
        last_tick = tick
    end_tick = int(round(end_sec * 960))
    for i, (ch, note) in enumerate(sorted(sounding)):
        track.append(mido.Message("note_off", channel=ch, note=note, velocity=0, time=end_tick - last_tick if i == 0 else 0))
    last_tick = max(last_tick, end_tick)
    for ch in range(16):
        track.append(mido.Message("control_change", channel=ch, control=64, value=0, time=0))
    out.save(str(dst))


def render(midi: Path, font: str, wav: Path, room: float | None) -> None:
    cmd = ["fluidsynth", "-ni", "-q", "-r", str(SR), "-g", "0.6", "-C", "0", "-R", "0" if room is None else "1",
           "-T", "wav", "-F", str(wav)]
    if room is not None:
        cmd += ["-o", f"synth.reverb.room-size={room}", "-o", "synth.reverb.level=0.6"]
    subprocess.run([*cmd, font, str(midi)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_one(row: dict, out: Path, crop_sec: float) -> dict:
    from training.perform.data import extract
    sf = require("soundfile", "audio")
    npz = out / f"{row['id']}.npz"
    a = extract(row["match"])
    order = np.argsort(a["perf_onset"], kind="stable")
    late = a["perf_onset"][order] >= crop_sec
    # cut in score time: keep the score up to the first beat played after crop_sec
    cut_beat = float(a["onset"][order][late].min()) if late.any() else np.inf
    keep = a["onset"] < cut_beat
    end_sec = float(a["perf_onset"][~keep].min()) if (~keep).any() else float(
        (a["perf_onset"] + a["perf_duration"]).max() + 1.0)
    seed = int(hashlib.sha256(row["id"].encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    info = {**row, "crop_end_sec": end_sec, "n_notes": int(keep.sum()), "renderings": {}}
    onsets = {}
    with tempfile.TemporaryDirectory() as tmp:
        cropped = Path(tmp) / "perf.mid"
        crop_midi(row["midi"], cropped, end_sec)
        for font, path in FONTS.items():
            lead, tail = (float(x) for x in rng.uniform(0.0, 2.0, 2))
            gain_db = float(rng.uniform(-12.0, 0.0))
            room = ROOMS[int(rng.integers(len(ROOMS)))]
            flac = out / f"{row['id']}.{font}.flac"
            if not flac.exists():
                wav = Path(tmp) / f"{font}.wav"
                render(cropped, path, wav, room)
                y, sr = sf.read(str(wav), dtype="float32", always_2d=True)
                y = y.mean(axis=1)[: int(end_sec * sr)]
                y = y / max(1e-9, float(np.abs(y).max())) * 10 ** (gain_db / 20) * 0.9
                y = np.concatenate([np.zeros(int(lead * sr), np.float32), y, np.zeros(int(tail * sr), np.float32)])
                sf.write(str(flac), y, sr, format="FLAC")
            onsets[font] = a["perf_onset"][keep] + lead
            info["renderings"][font] = {"audio": flac.name, "lead_sec": lead, "tail_sec": tail, "gain_db": gain_db,
                                        "room": room}
    np.savez_compressed(npz, onset_beat=a["onset"][keep], duration_beat=a["duration"][keep],
                        pitch=a["pitch"][keep], velocity=a["velocity"][keep],
                        **{f"true_onset_{f}": v for f, v in onsets.items()})
    return info


def main() -> int:
    ap = argparse.ArgumentParser(prog=sys.argv[0], description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default="runs/align/eval")
    ap.add_argument("--crop-sec", type=float, default=180.0)
    ap.add_argument("--max-asap", type=int, default=24)
    ap.add_argument("--split", default="test", help="test (the evaluation set) or valid (for tuning)")
    ap.add_argument("--only", default="", help="comma-separated parts of performance ids: render only those")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    rows = test_performances(data_root(args.data_root), args.max_asap, args.split)
    if args.only:
        rows = [r for r in rows if any(part in r["id"] for part in args.only.split(","))]
    for k, row in enumerate(rows):
        index.append(make_one(row, out, args.crop_sec))
        print(f"[{k + 1}/{len(rows)}] {row['id']} {index[-1]['n_notes']} notes", flush=True)
        (out / "index.json").write_text(json.dumps(index, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
