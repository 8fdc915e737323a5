"""`emotion` end to end on a 3-minute piano piece: total time, model (onnxruntime) time, peak memory.

The piece is the first ASAP performance MIDI (real piano playing) of at least 180 s, cut to its
first 180 s; without the datasets, the Maple Leaf Rag example looped to 180 s. One JSON line:
p50/p95 over `--runs` runs after one warm-up (the cold first call, model loading included, is
reported too), onnxruntime time summed over the model calls of one run (every model the task
calls: the emotion model and, for the harmony guide, chords-v1), the number of windows,
peak RSS of the process (MB), threads, and the load average (the CPU is shared).

    python benchmarks/emotion.py --runs 10 --threads 2
    python benchmarks/emotion.py --runs 10 --threads 2 --score   # the same notes as a score: velocity 64, on the beat grid

Without `--model` the task chooses its model by `input_kind` (the performance: emotion-v5; with `--score`:
emotion-v6); `models` lists every model called.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def three_minutes(seconds: float = 180.0):
    """(piece, description): a real piano piece cut (or looped) to `seconds`."""
    import symbolic_ai as sai
    from symbolic_ai.data import data_root

    root = data_root() / "asap"
    manifest = root / "manifest.csv"
    if manifest.exists():
        import csv

        for row in csv.DictReader(open(manifest)):
            if float(row["perf_duration_sec"] or 0) >= seconds:
                piece = sai.load(root / row["midi_performance"])
                notes = piece.notes[piece.notes["onset_sec"] < seconds]
                return piece.replace(notes=notes), f"ASAP {row['work_id']} {row['performance_id']}, first {seconds:g} s"
    piece = sai.load(REPO / "examples" / "maple_leaf_rag.mid")
    n, parts, shift = piece.notes, [], 0.0
    while shift < seconds:
        part = n.copy()
        part["onset_sec"] += shift
        part["onset_beat"] = np.nan
        part["bar"] = -1
        parts.append(part)
        shift += piece.duration_sec
    notes = np.concatenate(parts)
    notes["id"] = np.arange(len(notes))
    notes = notes[notes["onset_sec"] < seconds]
    return piece.replace(notes=notes), f"maple_leaf_rag.mid looped to {seconds:g} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None, help="default: the task's choice by input_kind")
    ap.add_argument("--score", action="store_true", help="time the piece as a score (velocity 64, quantized)")
    args = ap.parse_args()
    import symbolic_ai as sai
    from symbolic_ai import runtime

    runtime.set_threads(args.threads)
    piece, what = three_minutes()
    if args.score:
        import sys

        sys.path.insert(0, str(REPO))  # the workbench's score rendering
        from training.emotion.data import score_like

        piece, what = score_like(piece), what + ", as a score (velocity 64, onsets on a 16th grid)"
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    spent, used = [], set()
    real_run = runtime.Model.run

    def timed_run(self, **inputs):  # every onnxruntime call: the emotion model and chords-v1 (harmony guide)
        t = time.perf_counter()
        out = real_run(self, **inputs)
        spent.append(time.perf_counter() - t)
        used.add(self.name)
        return out

    runtime.Model.run = timed_run
    t = time.perf_counter()
    first = sai.run("emotion", piece, device="cpu", model=args.model)
    cold = time.perf_counter() - t
    total, onnx = [], []
    for _ in range(args.runs):
        spent.clear()
        t = time.perf_counter()
        sai.run("emotion", piece, device="cpu", model=args.model)
        total.append(time.perf_counter() - t)
        onnx.append(sum(spent))
    ms = lambda xs, q: round(float(np.percentile(xs, q)) * 1000, 1)  # noqa: E731
    print(json.dumps({
        "benchmark": "emotion", "piece": what, "duration_sec": round(piece.duration_sec, 1),
        "notes": int(len(piece.notes)), "windows": len(first.data["timeline"]), "threads": args.threads,
        "input_kind": first.data["input_kind"], "answered_by": first.data["model"],
        "runs": args.runs, "cold_first_call_ms": round(cold * 1000, 1),
        "end_to_end_ms": {"p50": ms(total, 50), "p95": ms(total, 95)},
        "model_ms": {"p50": ms(onnx, 50), "p95": ms(onnx, 95)}, "models": sorted(used),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_model_mb": round(rss0, 1),
        "model_file_mb": round(runtime.load_model(first.data["model"], device="cpu").path.stat().st_size / 1e6, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
