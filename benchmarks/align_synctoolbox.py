"""Sync Toolbox (`synctoolbox`, Müller et al.) used directly on `benchmarks/align.py`'s files.

    python3 -m venv /work/venv-sync && /work/venv-sync/bin/pip install synctoolbox 'music21<10' soundfile
    OMP_NUM_THREADS=1 /work/venv-sync/bin/python benchmarks/align_synctoolbox.py [--eval runs/align/eval]

Its own environment: `synctoolbox` needs `libfmp`, which needs music21 < 10, while the library uses a
current music21; so this script imports nothing from symbolic_ai and `benchmarks/align.py --synctoolbox
PYTHON` runs it as a subprocess. The pipeline is the toolbox's audio–score tutorial
(`sync_audio_score_full`): tuning estimated from the audio, quantized chroma and DLNCO onset features
at 50 Hz from the audio and from the score's notes, the score's chroma shifted to the audio's best
transposition, memory-restricted multi-scale DTW (`sync_via_mrmsdtw`, step weights 1.5 / 1.5 / 2,
`threshold_rec` 10^6) and a strictly monotonic path; each score note's onset is read off the path.
The score is laid out at one global tempo taken from the recording's length (its quarter notes
stretched to the whole recording, silence included), as the issue describes. The toolbox prints
progress on stdout: it goes to stderr here, so stdout has only JSON lines (per font, pooled over
notes: within 50 / 100 / 250 ms, MAE, CPU and wall seconds per audio minute; `--per-piece` adds a
line per piece). `--pad-sec S` adds S seconds of silence at both ends of every recording.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

THRESHOLDS = (0.05, 0.1, 0.25)
FS, FEATURE_RATE = 22050, 50
STEP_WEIGHTS = np.array([1.5, 1.5, 2.0])
THRESHOLD_REC = 10 ** 6


def load_mono(path: Path) -> np.ndarray:
    import librosa
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    return librosa.resample(y, orig_sr=sr, target_sr=FS) if sr != FS else y


def _features(f_pitch: np.ndarray, f_onset: object) -> tuple[np.ndarray, np.ndarray]:
    from synctoolbox.feature.chroma import pitch_to_chroma, quantize_chroma
    from synctoolbox.feature.dlnco import pitch_onset_features_to_DLNCO

    chroma = quantize_chroma(f_chroma=pitch_to_chroma(f_pitch=f_pitch))
    dlnco = pitch_onset_features_to_DLNCO(f_peaks=f_onset, feature_rate=FEATURE_RATE,
                                          feature_sequence_length=chroma.shape[1], visualize=False)
    return chroma, dlnco


def sync(audio: np.ndarray, start: np.ndarray, duration: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Per score note (start/duration in seconds of the stretched score), its onset in the audio (s)."""
    import pandas as pd
    from synctoolbox.dtw.mrmsdtw import sync_via_mrmsdtw
    from synctoolbox.dtw.utils import compute_optimal_chroma_shift, make_path_strictly_monotonic, shift_chroma_vectors
    from synctoolbox.feature.chroma import quantized_chroma_to_CENS
    from synctoolbox.feature.csv_tools import df_to_pitch_features, df_to_pitch_onset_features
    from synctoolbox.feature.pitch import audio_to_pitch_features
    from synctoolbox.feature.pitch_onset import audio_to_pitch_onset_features
    from synctoolbox.feature.utils import estimate_tuning

    tuning = estimate_tuning(audio, FS)
    ca, oa = _features(audio_to_pitch_features(f_audio=audio, Fs=FS, tuning_offset=tuning,
                                               feature_rate=FEATURE_RATE, verbose=False),
                       audio_to_pitch_onset_features(f_audio=audio, Fs=FS, tuning_offset=tuning, verbose=False))
    df = pd.DataFrame({"start": start, "duration": duration, "pitch": pitch.astype(int), "velocity": 64,
                       "instrument": "piano"})
    cs, os_ = _features(df_to_pitch_features(df, feature_rate=FEATURE_RATE), df_to_pitch_onset_features(df))
    shift = compute_optimal_chroma_shift(quantized_chroma_to_CENS(ca, 201, 50, FEATURE_RATE)[0],
                                         quantized_chroma_to_CENS(cs, 201, 50, FEATURE_RATE)[0])
    cs, os_ = shift_chroma_vectors(cs, shift), shift_chroma_vectors(os_, shift)
    wp = sync_via_mrmsdtw(f_chroma1=ca, f_onset1=oa, f_chroma2=cs, f_onset2=os_, input_feature_rate=FEATURE_RATE,
                          step_weights=STEP_WEIGHTS, threshold_rec=THRESHOLD_REC, verbose=False)
    wp = make_path_strictly_monotonic(wp)
    return np.interp(start, wp[1] / FEATURE_RATE, wp[0] / FEATURE_RATE)


def stats(err: np.ndarray) -> dict:
    return {**{f"within_{int(t * 1000)}ms": round(float((err <= t).mean()), 4) for t in THRESHOLDS},
            "mae_ms": round(float(err.mean()) * 1000, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval", default="runs/align/eval")
    ap.add_argument("--fonts", default="fluidr3,musescore")
    ap.add_argument("--skip", type=int, default=0, help="leave out the first N performances")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--per-piece", action="store_true")
    ap.add_argument("--pad-sec", type=float, default=0.0, help="seconds of silence added at both ends")
    args = ap.parse_args()
    out = sys.stdout
    root = Path(args.eval)
    index = json.loads((root / "index.json").read_text())[args.skip: args.limit or None]
    with contextlib.redirect_stdout(sys.stderr):  # the toolbox's progress prints
        first = index[0]
        z = np.load(root / f"{first['id']}.npz")
        warm = load_mono(root / first["renderings"]["fluidr3"]["audio"])[: FS * 20]
        beat = z["onset_beat"] - z["onset_beat"].min()
        keep = beat < 30
        sync(warm, beat[keep] * 0.5, np.maximum(z["duration_beat"][keep], 1 / 32) * 0.5, z["pitch"][keep])  # JIT
        for font in args.fonts.split(","):
            errs, cpu, wall, minutes = [], 0.0, 0.0, 0.0
            for row in index:
                z = np.load(root / f"{row['id']}.npz")
                audio = load_mono(root / row["renderings"][font]["audio"])
                pad = np.zeros(int(round(args.pad_sec * FS)), np.float32)
                audio = np.concatenate([pad, audio, pad])
                seconds = len(audio) / FS
                beat = z["onset_beat"] - z["onset_beat"].min()
                dur = np.maximum(z["duration_beat"], 1 / 32)
                scale = seconds / float(np.max(beat + dur))  # one global tempo: the score spans the recording
                c0, w0 = time.process_time(), time.perf_counter()
                est = sync(audio, beat * scale, dur * scale, z["pitch"])
                cpu += time.process_time() - c0
                wall += time.perf_counter() - w0
                minutes += seconds / 60
                err = np.abs(est - (z[f"true_onset_{font}"] + args.pad_sec))
                errs.append(err)
                if args.per_piece:
                    print(json.dumps({"font": font, "arm": "synctoolbox", "id": row["id"], "notes": len(err),
                                      **stats(err)}), file=out, flush=True)
            err = np.concatenate(errs)
            print(json.dumps({"font": font, "arm": "synctoolbox", "pad_sec": args.pad_sec, "performances": len(errs),
                              "notes": len(err), "audio_min": round(minutes, 1), **stats(err),
                              "cpu_s_per_audio_min": round(cpu / minutes, 2),
                              "wall_s_per_audio_min": round(wall / minutes, 2)}), file=out, flush=True)
    print(json.dumps({"arm": "synctoolbox", "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                                  / 1024)}), file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
