"""Time `chords` on a 3-minute piece (the Maple Leaf Rag example repeated to 180 s); prints JSON.

`model_ms` is the ONNX model alone; `task_ms` the whole task (features, model, Viterbi, local
keys, Roman numerals, JSON). Median of `--repeats` runs with onnxruntime limited to `--threads`.

    python benchmarks/chords_speed.py [--threads 2] [--repeats 20]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import symbolic_ai as sai
from symbolic_ai import runtime
from symbolic_ai.piece import Piece
from symbolic_ai.registry import run
from symbolic_ai.tasks.chords import frame_features

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "maple_leaf_rag.mid"


def tiled(piece: Piece, seconds: float) -> Piece:
    """`piece` repeated end to end until it lasts at least `seconds` (one tempo assumed)."""
    length = np.ceil(piece.duration_beat)
    copies = int(np.ceil(seconds / piece.duration_sec))
    parts = []
    for k in range(copies):
        n = piece.notes.copy()
        n["onset_beat"] += k * length
        n["onset_sec"] = n["duration_sec"] = np.nan
        n["bar"] = -1
        parts.append(n)
    notes = np.concatenate(parts)
    notes["id"] = np.arange(len(notes))
    return piece.replace(notes=notes, annotations=())


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(1000 * float(np.median(times)), 2)


def speed_args(doc: str) -> argparse.Namespace:
    """--threads (onnxruntime intra-op threads, applied here) and --repeats."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    runtime.set_threads(args.threads)
    return args


def main() -> None:
    args = speed_args(__doc__)
    piece = tiled(sai.load(EXAMPLE), 180.0)
    model = runtime.load_model("chords-v1", device="cpu")
    feats = frame_features(piece)[None]
    out = {"benchmark": "chords/speed", "piece_sec": round(piece.duration_sec, 1), "frames": feats.shape[1],
           "notes": len(piece.notes), "threads": args.threads,
           "model_ms": median_ms(lambda: model.run(features=feats), args.repeats),
           "task_ms": median_ms(lambda: run("chords", piece, device="cpu"), args.repeats),
           "template_task_ms": median_ms(lambda: run("chords", piece, device="cpu", method="template"), args.repeats),
           "cpu": platform.processor() or platform.machine(), "cpus_visible": os.cpu_count()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
