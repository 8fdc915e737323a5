"""Encoder latency, batch 1 at 128 / 512 / 1024 tokens: torch eager vs onnxruntime fp32 vs int8.

Each (backend, length) runs in a fresh subprocess so its peak memory (ru_maxrss) is its own.
Prints one JSON object: p50/p95 latency in ms over `--runs` runs (after warm-up), peak RSS in MB,
threads, and the machine's load average (the CPU is shared: a high load inflates latencies).

    python benchmarks/runtime.py --runs 50 --threads 2 > runs/encoder/runtime.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the workbench, training/, is at the repo root

LENGTHS = (128, 512, 1024)
BACKENDS = ("torch", "onnx-fp32", "onnx-int8")
# not shipped: rebuilt by `python -m training encoder export --out runs/encoder/export`
FP32 = Path(__file__).resolve().parents[1] / "runs" / "encoder" / "export" / "encoder-v2.onnx"


def tokens(n: int) -> np.ndarray:
    """A real token sequence of n tokens: the Maple Leaf Rag repeated."""
    from symbolic_ai import load
    from symbolic_ai.tokens import default_tokenizer

    t = default_tokenizer().encode(load(Path(__file__).resolve().parents[1] / "examples" / "maple_leaf_rag.mid"))
    body = np.concatenate([t[1:-1]] * (n // (len(t) - 2) + 1))[: n - 2]
    return np.concatenate([t[:1], body, t[-1:]])[None]


def one(backend: str, n: int, runs: int, threads: int) -> dict:
    tok = tokens(n)
    mask = np.ones(tok.shape[:2], dtype=bool)
    if backend == "torch":
        import torch

        from training.encoder.model import Encoder

        torch.set_num_threads(threads)
        enc = Encoder.from_pretrained()
        tt, mm = torch.from_numpy(tok), torch.from_numpy(mask)

        def call():
            with torch.no_grad():
                enc(tt, mm)
    else:
        from symbolic_ai import runtime

        runtime.set_threads(threads)
        m = runtime.load_model(str(FP32) if backend == "onnx-fp32" else "encoder-v2-int8", device="cpu")

        def call():
            m.run(tokens=tok, mask=mask)
    for _ in range(3):
        call()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"backend": backend, "tokens": n, "p50_ms": round(float(np.percentile(times, 50)), 2),
            "p95_ms": round(float(np.percentile(times, 95)), 2), "runs": runs,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    ap.add_argument("--one", nargs=2, metavar=("BACKEND", "TOKENS"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]), a.runs, a.threads)))
        return
    results = []
    load_before = os.getloadavg()
    for n in a.lengths:
        for b in a.backends:
            out = subprocess.run([sys.executable, __file__, "--one", b, str(n), "--runs", str(a.runs),
                                  "--threads", str(a.threads)], capture_output=True, text=True)
            if out.returncode:
                results.append({"backend": b, "tokens": n, "error": out.stderr.strip().splitlines()[-1:]})
            else:
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "encoder-runtime", "batch": 1, "threads": a.threads,
                      "cpu_count": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                      "loadavg_after": [round(x, 2) for x in os.getloadavg()], "results": results}, indent=1))


if __name__ == "__main__":
    main()
