"""Audio ↔ MIDI pairs for the embeddings: performance MIDI rendered with FluidSynth, frames cached in runs/embed/data.

    python -m training embed data [--data-root DIR] [--out runs/embed/data] [--splits train,valid,test]

Performances (splits by piece as each dataset defines them): ASAP (every performance; valid/test one
per piece folder), Batik-plays-Mozart, POP909's PIANO track (`splits.csv`), EMOPIA clips (the song
split). Each is cut to a window of its notes (train: CROP_SEC["train"] s from a seeded random
start; valid/test: from the start, up to CROP_SEC for ASAP/Batik so one piece gives enough segments
for 64 hard negatives, POP_CROP_SEC for POP909/EMOPIA) and rendered with training/align/synth.py's
`render`. Timbres: train renders every window with each of TRAIN_FONTS (FluidR3_GM, TimGM6mb), each
time with a random piano program (PROGRAMS: acoustic, bright, electric grand, honky-tonk), gain
(-12..0 dB), room (none, small, large) and a smooth random equaliser (±EQ_DB at four log-spaced
frequencies); valid and test render with EVAL_FONTS (FluidR3 and the held-out font), program 0,
random gain and room, no equaliser. HELD_OUT (MuseScore_General_Lite, also the align/locate benchmarks' unseen font) is never
used in training. Stored per rendering, `<id>.<font>.npz`: `symbolic_ai.embed.audio_frames` (float16)
and the notes (seconds from the window's start, sustain pedal kept in the audio only), plus `piece`,
`composer`, `dataset`, `program`, `gain_db`, `room`; test FluidR3 renderings also keep the audio
(the transpose condition). Existing files are kept, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

from symbolic_ai.data import data_root
from symbolic_ai.embed import SR, audio_frames
from training.align.synth import FONTS, ROOMS, render

assert SR == 22050  # training/align/synth.py renders at this rate
RENDER_FONTS = {"fluidr3": FONTS["fluidr3"], "timgm6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2",
                "musescore": FONTS["musescore"]}
TRAIN_FONTS = ("fluidr3", "timgm6mb")
HELD_OUT = "musescore"
EVAL_FONTS = ("fluidr3", HELD_OUT)
assert HELD_OUT not in TRAIN_FONTS
PROGRAMS = (0, 1, 2, 3)      # General MIDI pianos: acoustic grand, bright, electric grand, honky-tonk
EQ_DB, EQ_HZ = 6.0, (60.0, 400.0, 2500.0, 10000.0)
GAP_SEC = 6.0        # silence between windows rendered in one run (reverb and release die out)
BATCH_ROWS = 24      # windows per batch (a batch's files are written together)
CROP_SEC = {"train": 30.0, "valid": 150.0, "test": 150.0}  # 150 s: 74 segments, 64 hard negatives
POP_CROP_SEC = 30.0          # POP909 / EMOPIA in valid and test (many songs, fewer seconds each)
LIMITS = {"train": {"pop909": 60, "emopia": 40}, "valid": {"pop909": 8, "emopia": 8},
          "test": {"pop909": 8, "emopia": 8}}


def performances(root: Path, split: str) -> list[dict]:
    """Rows {id, dataset, piece, composer, midi, track} of `split`."""
    rows: list[dict] = []
    seen: set[str] = set()
    with open(root / "asap" / "manifest.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["split"] != split or (split != "train" and r["folder"] in seen):
                continue
            seen.add(r["folder"])
            rows.append({"id": f"asap_{r['folder'].replace('/', '_')}_{r['performance_id']}", "dataset": "asap",
                         "piece": r["folder"], "composer": r["composer"],
                         "midi": str(root / "asap" / r["midi_performance"]), "track": ""})
    with open(root / "batik_mozart" / "manifest.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["split"] == split:
                rows.append({"id": f"batik_{Path(r['match_file']).stem}", "dataset": "batik_mozart",
                             "piece": r["work_id"], "composer": "Mozart",
                             "midi": str(root / "batik_mozart" / r["midi_performance"]), "track": ""})
    with open(root / "pop909" / "splits.csv", newline="") as fh:
        songs = [r["song_id"] for r in csv.DictReader(fh) if r["split"] == split][: LIMITS[split]["pop909"]]
    rows += [{"id": f"pop909_{s}", "dataset": "pop909", "piece": f"pop909_{s}", "composer": "",
              "midi": str(root / "pop909" / "POP909" / s / f"{s}.mid"), "track": "PIANO"} for s in songs]
    want = {"train": "train", "valid": "valid", "test": "test"}[split]
    with open(root / "emopia" / "labels.csv", newline="") as fh:
        clips = [r for r in csv.DictReader(fh) if r["split_song"] == want][: LIMITS[split]["emopia"]]
    rows += [{"id": f"emopia_{r['clip_id']}", "dataset": "emopia", "piece": f"emopia_{r['song_id']}",
              "composer": "", "midi": str(root / "emopia" / "midis" / r["file"]), "track": ""} for r in clips]
    return rows


def read_notes(path: str, track: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Notes (onset, offset, pitch, velocity) in seconds, and sustain-pedal events (time, value), of a
    MIDI file (only the track named `track` when given; tempo changes from every track)."""
    import mido

    mid = mido.MidiFile(path)
    if track:
        keep = [t for t in mid.tracks if t.name == track or not any(m.type == "note_on" for m in t)]
        mid = mido.MidiFile(type=1, ticks_per_beat=mid.ticks_per_beat, tracks=keep)
    t, notes, pedal, open_ = 0.0, [], [], {}
    for msg in mid:
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            open_.setdefault((msg.channel, msg.note), []).append((t, msg.velocity))
        elif msg.type in ("note_on", "note_off") and open_.get((msg.channel, msg.note)):
            on, vel = open_[(msg.channel, msg.note)].pop(0)
            notes.append((on, max(t, on + 0.01), msg.note, vel))
        elif msg.type == "control_change" and msg.control == 64:
            pedal.append((t, msg.value))
    n = np.array(sorted(notes), dtype=np.float64).reshape(-1, 4)
    return n, np.array(pedal, dtype=np.float64).reshape(-1, 2)


def write_midi(notes: np.ndarray, pedal: np.ndarray, dst: Path, program: int = 0) -> None:
    """Notes and pedal (seconds) as a type-0 MIDI file on channel 0 with `program`, 1 tick = 1/960 s."""
    import mido

    ev = [(on, 1, mido.Message("note_on", note=int(p), velocity=int(np.clip(v, 1, 127))))
          for on, _, p, v in notes]
    ev += [(off, 0, mido.Message("note_off", note=int(p), velocity=0)) for _, off, p, _ in notes]
    ev += [(t, 0, mido.Message("control_change", control=64, value=int(v))) for t, v in pedal]
    ev.sort(key=lambda e: (e[0], e[1]))
    out = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0),
                            mido.Message("program_change", program=program, time=0)])
    last = 0
    for t, _, msg in ev:
        tick = int(round(t * 960))
        track.append(msg.copy(time=tick - last))
        last = tick
    track.append(mido.Message("control_change", control=64, value=0, time=0))
    out.tracks.append(track)
    out.save(str(dst))


def window(row: dict, split: str) -> tuple[np.ndarray, np.ndarray, float]:
    """The performance's notes and pedal in its window, times from the window's start; and the window length."""
    notes, pedal = read_notes(row["midi"], row["track"])
    if not len(notes):
        return notes, pedal, 0.0
    t0 = float(notes[0, 0])
    end = float(notes[:, 1].max())
    length = CROP_SEC[split] if row["dataset"] in ("asap", "batik_mozart") or split == "train" else POP_CROP_SEC
    if split == "train" and end - t0 > length:
        seed = int(hashlib.sha256(row["id"].encode()).hexdigest()[:8], 16)
        t0 += float(np.random.default_rng(seed).uniform(0.0, end - t0 - length))
    t1 = min(end, t0 + length)
    keep = (notes[:, 0] >= t0) & (notes[:, 0] < t1)
    notes = notes[keep].copy()
    notes[:, :2] -= t0
    notes[:, 1] = np.minimum(notes[:, 1], t1 - t0)
    pedal = pedal[(pedal[:, 0] >= t0) & (pedal[:, 0] < t1)].copy()
    pedal[:, 0] -= t0
    return notes, pedal, t1 - t0


def equalise(y: np.ndarray, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """`y` through a smooth random equaliser: gains uniform in ±EQ_DB at EQ_HZ, linear in log-frequency between."""
    spec = np.fft.rfft(y)
    f = np.maximum(np.fft.rfftfreq(len(y), 1.0 / sr), EQ_HZ[0])
    db = np.interp(np.log(f), np.log(EQ_HZ), rng.uniform(-EQ_DB, EQ_DB, len(EQ_HZ)))
    out: np.ndarray = np.fft.irfft(spec * 10.0 ** (db / 20.0), n=len(y)).astype(np.float32)
    return out


def plan(row: dict, split: str, out: Path) -> list[dict]:
    """The renderings still to make of `row`'s window: one dict per font (notes, pedal, length, gain_db, room,
    program, eq seed), drawn from the row's own seed so a rerun plans the same."""
    fonts = TRAIN_FONTS if split == "train" else EVAL_FONTS
    if all((out / f"{row['id']}.{f}.npz").exists() for f in fonts):
        return []
    notes, pedal, length = window(row, split)
    if len(notes) < 8:
        return []
    rng = np.random.default_rng(int(hashlib.sha256(row["id"].encode()).hexdigest()[8:16], 16))
    todo = []
    for font in fonts:
        gain_db, room = float(rng.uniform(-12.0, 0.0)), ROOMS[int(rng.integers(len(ROOMS)))]
        program = int(rng.choice(PROGRAMS)) if split == "train" else 0
        eq_seed = int(rng.integers(2**32))
        if not (out / f"{row['id']}.{font}.npz").exists():
            todo.append({"row": row, "font": font, "notes": notes, "pedal": pedal, "length": length,
                         "gain_db": gain_db, "room": room, "program": program, "eq_seed": eq_seed})
    return todo


def store(r: dict, y: np.ndarray, split: str, out: Path) -> None:
    """Rendering `r` (a `plan` entry) of audio `y` at SR: equalised (train), gain, frames, saved."""
    y = y[: int((r["length"] + 1.0) * SR)]
    if split == "train":
        y = equalise(y, np.random.default_rng(r["eq_seed"]))
    y = y / max(1e-9, float(np.abs(y).max())) * 10 ** (r["gain_db"] / 20) * 0.9
    mel, bands = audio_frames(y)
    keep_audio = split == "test" and r["font"] == "fluidr3"
    notes, row = r["notes"], r["row"]
    dst = out / f"{row['id']}.{r['font']}.npz"
    tmp_npz = dst.with_suffix(".part.npz")  # complete files only under the final name
    np.savez(tmp_npz, mel=mel.astype(np.float16), bands=bands.astype(np.float16),
             audio=(y * 32767).astype(np.int16) if keep_audio else np.zeros(0, np.int16),
             onset=notes[:, 0], offset=notes[:, 1], pitch=notes[:, 2].astype(np.int16),
             velocity=notes[:, 3].astype(np.int16), piece=row["piece"], composer=row["composer"],
             dataset=row["dataset"], program=r["program"], gain_db=r["gain_db"],
             room=-1.0 if r["room"] is None else r["room"])
    tmp_npz.replace(dst)


def render_batch(plans: list[dict], split: str, out: Path) -> int:
    """Render `plans` with as few FluidSynth runs as possible (a soundfont's load, not the music, costs
    most: MuseScore's sf3 takes seconds to decompress): windows of one font, room and program are laid
    end to end, GAP_SEC apart, in one MIDI file, rendered once and cut apart. Returns files written."""
    sf = __import__("soundfile")
    groups: dict[tuple, list[dict]] = {}
    for r in plans:
        groups.setdefault((r["font"], r["room"], r["program"]), []).append(r)
    with tempfile.TemporaryDirectory() as tmp:
        for (font, room, program), group in groups.items():
            offsets = np.cumsum([0.0] + [r["length"] + GAP_SEC for r in group[:-1]])
            notes = np.concatenate([r["notes"] + [o, o, 0, 0] for r, o in zip(group, offsets)])
            pedal = np.concatenate([np.vstack([r["pedal"] + [o, 0], [[o + r["length"], 0]]])
                                    for r, o in zip(group, offsets)])
            mid, wav = Path(tmp) / "w.mid", Path(tmp) / "w.wav"
            write_midi(notes, pedal, mid, program)
            render(mid, RENDER_FONTS[font], wav, room)
            y, sr = sf.read(str(wav), dtype="float32", always_2d=True)
            assert sr == SR
            y = y.mean(axis=1)
            for r, o in zip(group, offsets):
                store(r, y[int(o * SR):], split, out)
    return len(plans)


def main() -> int:
    ap = argparse.ArgumentParser(prog=sys.argv[0], description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default="runs/embed/data")
    ap.add_argument("--splits", default="train,valid,test")
    ap.add_argument("--shard", default="0/1", help="I/N: only every N-th performance, from the I-th (parallel runs)")
    args = ap.parse_args()
    shard, shards = (int(x) for x in args.shard.split("/"))
    root = data_root(args.data_root)
    for split in args.splits.split(","):
        out = Path(args.out) / split
        out.mkdir(parents=True, exist_ok=True)
        rows = performances(root, split)
        if split == "train":  # a seeded order: a corpus cut short by time still mixes the datasets
            rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
        mine = [row for k, row in enumerate(rows) if k % shards == shard]
        for start in range(0, len(mine), BATCH_ROWS):  # a batch: one FluidSynth run per font, room, program
            batch = mine[start:start + BATCH_ROWS]
            wrote = render_batch([r for row in batch for r in plan(row, split, out)], split, out)
            print(f"[{split} {start + len(batch)}/{len(mine)}] wrote {wrote}", flush=True)
        (out / f"done-{shard}of{shards}").touch()
    return 0


def split_complete(folder: Path) -> bool:
    """Whether every shard of the run that renders `folder` has finished it (its done-IofN markers)."""
    marks = list(folder.glob("done-*of*"))
    return bool(marks) and len(marks) >= int(marks[0].name.rsplit("of", 1)[1])


if __name__ == "__main__":
    raise SystemExit(main())
