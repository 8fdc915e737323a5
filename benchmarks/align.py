"""`align` (and `locate`) on held-out synthesized performances, next to plain chroma DTW.

    python -m training align synth            # first: renders runs/align/eval (ASAP + Batik test splits)
    OMP_NUM_THREADS=1 python benchmarks/align.py [--eval runs/align/eval] [--fonts fluidr3,musescore] [--limit N]
    OMP_NUM_THREADS=1 python benchmarks/align.py --locate [--font fluidr3]

For each performance, the score is its `.match` file's matched score notes (quarter notes, laid out
at 120 qpm: the benchmark gives no tempo), the recording its synthesized audio (random gain, room,
0-2 s of silence at both ends), the truth each matched note's performed onset. Reported per soundfont
and arm, pooled over notes: share of score notes within 50 / 100 / 250 ms of the truth, mean absolute
error, and seconds of computation (CPU time of this process; wall time too) per minute of audio,
audio decoding and library import excluded. Arms:
- `align`: the task as shipped (chroma + onset DTW, then onset refinement);
- `align_dtw_only`: the same DTW estimate before refinement (from the same run);
- `synctoolbox` (with `--synctoolbox PYTHON`): Sync Toolbox itself, run by `align_synctoolbox.py`;
- `chroma_dtw`: plain chroma DTW at the nominal tempo (librosa's `chroma_stft` at 46 ms hops
  against the score's pitch-class piano roll at 120 qpm, `librosa.sequence.dtw` with its defaults).
`fluidr3` is the soundfont used while developing; `musescore` (MuseScore_General_Lite) was never
looked at before this table (robustness to an unseen soundfont). Prints one JSON line per arm and
soundfont, then a summary line; `--per-piece` adds a line per piece.

`--pad-sec S` adds S seconds of digital silence at both ends of every recording (truth shifted by S):
the robustness-to-silence check, for Sync Toolbox too (`align_synctoolbox.py --pad-sec S`).

`--pool FILE ...` pools the summary lines of several runs (say, on the first 22 and the last 8
performances: `--limit 22`, `--skip 22`) by notes and audio minutes, per soundfont, arm and padding.

`--locate`: three 5-second clips of each recording (starting at 25, 50 and 75 % of it) are located in
their own score; a place is right when its start is within 2 beats (1 s at the nominal tempo) of the
score position played at the clip's start. Prints top-1 and top-5 accuracy and seconds per search.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from symbolic_ai.io.audio import Audio, load_audio
from symbolic_ai.piece import Piece, Tempo, empty_notes
from symbolic_ai.tasks.align import align_audio

THRESHOLDS = (0.05, 0.1, 0.25)


def score_piece(z: np.lib.npyio.NpzFile) -> Piece:
    n = empty_notes(len(z["pitch"]))
    n["onset_beat"] = z["onset_beat"] - z["onset_beat"].min()
    n["duration_beat"] = np.maximum(z["duration_beat"], 1 / 32)
    n["onset_sec"] = n["duration_sec"] = np.nan
    n["pitch"], n["velocity"], n["id"] = z["pitch"], 64, np.arange(len(n))
    n["bar"], n["beat_in_bar"] = -1, np.nan
    return Piece(notes=n, tempos=(Tempo(0.0, 120.0),))


def chroma_dtw(score: Piece, audio: Audio) -> np.ndarray:
    """Plain chroma DTW at the score's nominal tempo: per score note, its estimated onset (s)."""
    import librosa

    hop, sr = 1024, 22050
    y = audio.resampled(sr).samples
    ca = librosa.feature.chroma_stft(y=y, sr=sr, hop_length=hop) + 1e-6  # silent frames: no NaN cosine
    fps = sr / hop
    n = score.notes
    frames = int(np.ceil((n["onset_sec"] + n["duration_sec"]).max() * fps)) + 1
    cs = np.zeros((12, frames))
    for on, du, p in zip(n["onset_sec"], n["duration_sec"], n["pitch"]):
        a = int(on * fps)
        cs[int(p) % 12, a:max(a + 1, int((on + du) * fps))] += 1.0
    cs = librosa.util.normalize(cs + 1e-6, axis=0)
    _, wp = librosa.sequence.dtw(X=ca, Y=cs, metric="cosine")
    wp = wp[::-1]
    xs, first = np.unique(wp[:, 1], return_index=True)
    ys = np.array([wp[wp[:, 1] == wp[i, 1], 0].mean() for i in first])
    return np.interp(n["onset_sec"] * fps, xs, ys) / fps


def padded(audio: Audio, sec: float) -> Audio:
    """`audio` with `sec` seconds of silence at both ends."""
    if sec <= 0:
        return audio
    pad = np.zeros(int(round(sec * audio.sr)), np.float32)
    return Audio(np.concatenate([pad, audio.samples, pad]), audio.sr, audio.source)


def stats(err: np.ndarray) -> dict:
    return {**{f"within_{int(t * 1000)}ms": round(float((err <= t).mean()), 4) for t in THRESHOLDS},
            "mae_ms": round(float(err.mean()) * 1000, 1)}


def locate_clips(root: Path, index: list[dict], font: str) -> Iterator[tuple[Piece, Audio, float]]:
    """(score, 5-second clip, the score beat played at the clip's start) for the clips at 25/50/75 % of each recording."""
    for row in index:
        z = np.load(root / f"{row['id']}.npz")
        score = score_piece(z)
        audio = load_audio(root / row["renderings"][font]["audio"])
        beats, truth = score.notes["onset_beat"], z[f"true_onset_{font}"]
        for frac in (0.25, 0.5, 0.75):
            start = frac * audio.duration_sec
            clip = Audio(audio.samples[int(start * audio.sr):int((start + 5) * audio.sr)], audio.sr, "clip")
            later = truth >= start
            yield score, clip, (float(beats[later][np.argmin(truth[later])]) if later.any() else float(beats.max()))


def bench_locate(root: Path, index: list[dict], font: str) -> None:
    from symbolic_ai.tasks.locate import clip_features, search

    hits1, hits5, secs = [], [], []
    for score, clip, true_beat in locate_clips(root, index, font):
        w0 = time.perf_counter()
        places = search(clip_features(clip)[0], score, 5)
        secs.append(time.perf_counter() - w0)
        ok = [abs(p.start_beat - true_beat) <= 2.0 for p in places]
        hits1.append(bool(ok[:1] and ok[0]))
        hits5.append(any(ok))
    print(json.dumps({"task": "locate", "font": font, "clips": len(hits1), "clip_sec": 5,
                      "top1": round(float(np.mean(hits1)), 3), "top5": round(float(np.mean(hits5)), 3),
                      "wall_s_per_search": round(float(np.mean(secs)), 2)}), flush=True)


def pool(paths: list[str]) -> None:
    """Print one line per (font, arm, pad_sec) pooling the summary lines of `paths` (JSON lines)."""
    groups: dict[tuple, list[dict]] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            row = json.loads(line) if line.startswith("{") else {}
            if "performances" in row:
                groups.setdefault((row["font"], row["arm"], row.get("pad_sec", 0.0)), []).append(row)
    for (font, arm, pad), rows in groups.items():
        notes, minutes = sum(r["notes"] for r in rows), sum(r["audio_min"] for r in rows)
        out = {"font": font, "arm": arm, "pad_sec": pad, "performances": sum(r["performances"] for r in rows),
               "notes": notes, "audio_min": round(minutes, 1)}
        for k in [f"within_{int(t * 1000)}ms" for t in THRESHOLDS] + ["mae_ms"]:
            out[k] = round(sum(r[k] * r["notes"] for r in rows) / notes, 4 if k != "mae_ms" else 1)
        for k in ("cpu_s_per_audio_min", "wall_s_per_audio_min"):
            have = [r for r in rows if r.get(k) is not None]
            out[k] = round(sum(r[k] * r["audio_min"] for r in have) / minutes, 2) if len(have) == len(rows) else None
        print(json.dumps(out), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval", default="runs/align/eval")
    ap.add_argument("--fonts", default="fluidr3,musescore")
    ap.add_argument("--skip", type=int, default=0, help="leave out the first N performances")
    ap.add_argument("--limit", type=int, default=0, help="first N performances only")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--per-piece", action="store_true")
    ap.add_argument("--locate", action="store_true", help="benchmark locate instead of align")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="an align_audio option (tuning on --eval runs/align/valid), e.g. onset_weight=0.5")
    ap.add_argument("--font", default="fluidr3", help="soundfont of the clips for --locate")
    ap.add_argument("--pad-sec", type=float, default=0.0, help="seconds of silence added at both ends")
    ap.add_argument("--pool", nargs="+", metavar="FILE", help="pool the summary lines of these runs' outputs")
    ap.add_argument("--synctoolbox", metavar="PYTHON", help="also run Sync Toolbox on the same files with this "
                    "interpreter (its own venv: benchmarks/align_synctoolbox.py says how to make it)")
    args = ap.parse_args()
    if args.pool:
        pool(args.pool)
        return 0
    root = Path(args.eval)
    index = json.loads((root / "index.json").read_text())[args.skip: args.limit or None]
    if args.synctoolbox:  # a subprocess: synctoolbox needs music21 < 10; its JSON lines are passed on
        import subprocess
        cmd = [args.synctoolbox, str(Path(__file__).with_name("align_synctoolbox.py")), "--eval", str(root),
               "--fonts", args.fonts, "--skip", str(args.skip), "--limit", str(args.limit), "--pad-sec", str(args.pad_sec)] + (
                  ["--per-piece"] if args.per_piece else [])
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    if args.locate:
        bench_locate(root, index, args.font)
        return 0
    options = {k: float(v) for k, v in (o.split("=", 1) for o in args.set)}
    pooled: dict[tuple[str, str], list[np.ndarray]] = {}
    cost: dict[tuple[str, str], list[float]] = {}
    minutes: dict[str, float] = {}
    warm = score_piece(np.load(root / f"{index[0]['id']}.npz"))  # imports and JIT caches: not timed
    clip = load_audio(root / index[0]["renderings"]["fluidr3"]["audio"])
    align_audio(warm, Audio(clip.samples[: clip.sr * 20], clip.sr))
    for font in args.fonts.split(","):
        for row in index:
            z = np.load(root / f"{row['id']}.npz")
            score = score_piece(z)
            truth_all = z[f"true_onset_{font}"] + args.pad_sec
            audio = padded(load_audio(root / row["renderings"][font]["audio"]), args.pad_sec)
            minutes[font] = minutes.get(font, 0.0) + audio.duration_sec / 60
            c0, w0 = time.process_time(), time.perf_counter()
            al = align_audio(score, audio, **options)
            c1, w1 = time.process_time(), time.perf_counter()
            truth = truth_all[al.notes["id"]]
            arms = {"align": (np.abs(al.onset_sec - truth), c1 - c0, w1 - w0),
                    "align_dtw_only": (np.abs(al.dtw_onset_sec - truth), None, None)}
            if not args.no_baseline:
                c0, w0 = time.process_time(), time.perf_counter()
                est = chroma_dtw(score, audio)
                arms["chroma_dtw"] = (np.abs(est - truth_all), time.process_time() - c0, time.perf_counter() - w0)
            for arm, (err, cpu, wall) in arms.items():
                pooled.setdefault((font, arm), []).append(err)
                cost.setdefault((font, arm), []).extend([np.nan if cpu is None else cpu, np.nan if wall is None else wall])
                if args.per_piece:
                    print(json.dumps({"font": font, "arm": arm, "id": row["id"], "notes": len(err), **stats(err),
                                      "confidence": round(al.confidence, 3),
                                      "cpu_s": None if cpu is None else round(cpu, 2)}), flush=True)
    for (font, arm), errs in pooled.items():
        err = np.concatenate(errs)
        c = np.array(cost[(font, arm)]).reshape(-1, 2)
        print(json.dumps({"font": font, "arm": arm, "pad_sec": args.pad_sec, "performances": len(errs), "notes": len(err),
                          "audio_min": round(minutes[font], 1), **stats(err),
                          **{f"{k}_s_per_audio_min": None if np.isnan(c[:, i]).any() else
                             round(float(c[:, i].sum()) / minutes[font], 2) for i, k in enumerate(("cpu", "wall"))}}),
              flush=True)
    print(json.dumps({"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "machine": "2 shared cores, load from other jobs"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
