"""`perform` speed: a 1,000-note score rendered with 10 ODE steps on onnxruntime (CPU).

    .venv/bin/python benchmarks/perform.py [--notes 1000] [--steps 10] [--threads 2] [--repeat 5]

The score is examples/maple_leaf_rag.musicxml repeated end to end until it has `--notes` notes.
Times `tasks.perform.render` (features, windowed ODE sampling, decoding; not file loading),
unconditioned and with an emotion under classifier-free guidance (twice the batch). Prints one
JSON line with the median of `--repeat` runs after one warm-up: wall seconds, CPU seconds (all
threads; on an idle machine wall ≈ CPU / threads) and the load average, since a shared machine's
wall time says as much about the neighbours as about the model.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from symbolic_ai import io, runtime  # noqa: E402
from symbolic_ai.piece import Piece  # noqa: E402
from symbolic_ai.tasks.perform import render  # noqa: E402


def long_score(n_notes: int) -> Piece:
    base = io.load(ROOT / "examples" / "maple_leaf_rag.musicxml")
    span = float(np.ceil(base.duration_beat / 4.0) * 4.0)
    copies = -(-n_notes // len(base.notes))
    notes = np.concatenate([base.notes] * copies)[:n_notes].copy()
    k = np.repeat(np.arange(copies), len(base.notes))[:n_notes]
    notes["onset_beat"] += k * span
    notes["onset_sec"] = np.nan
    notes["bar"] = -1
    notes["id"] = np.arange(n_notes)
    return base.replace(notes=notes, annotations=())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notes", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--model", default="perform-v5")
    args = ap.parse_args()
    runtime.set_threads(args.threads)
    model = runtime.load_model(args.model, device="cpu")
    piece = long_score(args.notes)
    out = {"benchmark": "perform", "notes": len(piece.notes), "steps": args.steps, "threads": args.threads,
           "cpu_count": os.cpu_count(), "onnxruntime_threads": args.threads}
    cases = (("unconditioned", {}), ("emotion", {"emotion": "calm"}), ("emotion_cfg2", {"emotion": "calm", "guidance": 2.0}),
             ("absolute", {"timing": "absolute"}))
    for label, kw in cases:
        render(piece, model, steps=args.steps, **kw)  # warm-up
        times, cpu = [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            render(piece, model, steps=args.steps, **kw)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        out[f"{label}_sec"] = round(statistics.median(times), 3)
        out[f"{label}_cpu_sec"] = round(statistics.median(cpu), 3)  # CPU time over all threads
    out["load_average_1min"] = round(os.getloadavg()[0], 2)  # other processes on the machine
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
