"""`perform` accuracy on held-out performances: per-note Pearson r and KL divergence with humans.

    python benchmarks/perform_metrics.py [--split test] [--models perform-v2 runs/perform-reg.onnx]
                                         [--out runs/perform_metrics.json]

For each test performance of ASAP and Batik (from the `perform_data` cache), the score of its
matched notes is rendered (seed 0, 10 steps, no emotion or style; the tempo input is the human's mean tempo, as a
metronome mark would give it), and the four
parameters (beat period, velocity, timing, log articulation; partitura's codec in quarter notes)
and, for models that render it, the sustain pedal (`perform_features.encode_pedal`: the fraction of
each onset span with the pedal down) are compared with the human's: Pearson r per performance, averaged per piece
and then over pieces
(as the human–human figures are), and the KL divergence of the pooled distributions
(KL(human ‖ model), 64 bins over the human 1–99 % range, smoothed). A deadpan rendering (constant
tempo at the human's mean, velocity 64, no timing deviation, articulation 0) is scored alongside;
its r is undefined (constant) and printed as null. `--samples K` adds the first model's mean of K
seeded renders (the flow model's estimate of the expected performance); `--temperatures` adds the
first model at each initial-noise scale (with every `--samples` count). Use `--split valid` to
choose the task's defaults, `--split test` to report.
The control test, tempo, fermata and pedal figures, and agreement with the performers' mean are in
`benchmarks/perform_eval.py`. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from symbolic_ai.perform_features import TARGETS, encode_pedal, encode_performance, score_features, targets_to_params
from symbolic_ai.runtime import load_model
from symbolic_ai.tasks.perform import DEFAULT_TEMPERATURE, sample
from training.perform.data import load_cache

HUMAN_HUMAN = {"beat_period": 0.61, "velocity": 0.64, "timing": 0.31, "articulation_log": 0.58}


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.std() < 1e-9 or b.std() < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def kl(human: np.ndarray, model: np.ndarray, bins: int = 64) -> float:
    lo, hi = np.quantile(human, [0.01, 0.99])
    if hi <= lo:
        hi = lo + 1e-6
    edges = np.linspace(lo, hi, bins + 1)
    p = np.histogram(np.clip(human, lo, hi), edges)[0] + 0.5
    q = np.histogram(np.clip(model, lo, hi), edges)[0] + 0.5
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def features_of(a: dict) -> np.ndarray:
    return score_features(a["onset"], a["duration"], a["pitch"], a["pos_in_bar"], a["bar_len"], a["beat_unit"],
                          a["staff"], a["marks"])


def render_params(model, a: dict, samples: int = 1, **kw) -> np.ndarray:
    """Rendered parameters; with `samples` > 1 the mean (in model space) of that many seeds."""
    f = features_of(a)[:, :len(model.card["features"])]
    n = len(f)
    seed = kw.pop("seed", 0)
    P = len(model.card["stats"]["mean"])
    kw.setdefault("temperature", DEFAULT_TEMPERATURE)  # the task's default unless asked
    x = np.mean([sample(model, f, np.zeros((n, P), np.float32), np.zeros(n, np.float32), seed=seed + k, **kw)
                 for k in range(samples)], axis=0)
    return targets_to_params(x, model.card["stats"])


def evaluate(rows: list[dict], renderers: dict) -> dict:
    per_piece: dict = {name: defaultdict(lambda: defaultdict(list)) for name in renderers}
    pooled: dict = {name: defaultdict(list) for name in renderers}
    human_pool: dict = defaultdict(list)
    for r in rows:
        a = r["arrays"]
        human = encode_performance(a["onset"], a["duration"], a["perf_onset"], a["perf_duration"], a["velocity"])
        ok = np.isfinite(human).all(axis=1) & (human[:, 0] > 0)
        pedal = encode_pedal(a["onset"], a["perf_onset"], a["perf_duration"], a["pedal_time"], a["pedal_value"])
        human = np.concatenate([human, pedal[:, None]], axis=1)
        for j, k in enumerate(TARGETS):
            human_pool[k].append(human[ok, j])
        for name, fn in renderers.items():
            pred = fn(a, human)
            for j, k in enumerate(TARGETS[:pred.shape[1]]):  # perform-v1 and the baseline have no pedal
                per_piece[name][r["work_id"]][k].append(pearson(pred[ok, j], human[ok, j]))
                pooled[name][k].append(pred[ok, j])
    out = {}
    hp = {k: np.concatenate(v) for k, v in human_pool.items()}
    for name in renderers:
        res = {}
        for k in TARGETS:
            piece_means = [np.mean([x for x in v[k] if x is not None]) for v in per_piece[name].values()
                           if any(x is not None for x in v[k])]
            res[f"r_{k}"] = round(float(np.mean(piece_means)), 3) if piece_means else None
            res[f"kl_{k}"] = round(kl(hp[k], np.concatenate(pooled[name][k])), 3) if pooled[name][k] else None
        out[name] = res
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default="runs/perform_cache")
    ap.add_argument("--split", default="test")
    ap.add_argument("--models", nargs="+", default=["perform-v5"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--samples", type=int, nargs="+", default=[1],
                    help="also score the mean of this many renders (first model)")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[],
                    help="also score the first model at these initial-noise scales")
    ap.add_argument("--limit", type=int, default=0, help="first N performances per dataset (smoke runs)")
    ap.add_argument("--out")
    args = ap.parse_args()
    rows = load_cache(Path(args.cache), args.split)
    if args.limit:
        rows = [r for ds in ("asap", "batik_mozart") for r in [x for x in rows if x["dataset"] == ds][:args.limit]]
    models = {Path(m).stem: load_model(m) for m in args.models}
    def tempo_of(human: np.ndarray, stats: dict) -> np.ndarray:
        """The human's mean tempo as the model's tempo input (what a metronome mark gives)."""
        ok = human[:, 0] > 0
        return np.array([((np.log2(human[ok, 0]) - stats["mean"][0]) / stats["std"][0]).mean(), 1.0], np.float32)

    renderers = {name: (lambda a, h, m=m: render_params(m, a, steps=args.steps, seed=0,
                                                        tempo=tempo_of(h, m.card["stats"])))
                 for name, m in models.items()}
    name, m = next(iter(models.items()))
    for temp in args.temperatures:
        for k in args.samples:
            if temp == 0 and k > 1:
                continue  # temperature 0 is deterministic: every seed gives the same render
            renderers[f"{name} T={temp:g}" + (f" mean of {k}" if k > 1 else "")] = (
                lambda a, h, temp=temp, k=k: render_params(m, a, samples=k, steps=args.steps, seed=0,
                                                           temperature=temp, tempo=tempo_of(h, m.card["stats"])))

    def deadpan(a: dict, human: np.ndarray) -> np.ndarray:
        p = np.zeros_like(human)
        p[:, 0], p[:, 1] = np.exp(np.log(human[:, 0]).mean()), 64 / 127
        return p  # no pedal (its column is 0)

    for k in args.samples if not args.temperatures else []:
        if k > 1:
            renderers[f"{name} mean of {k}"] = (
                lambda a, h, k=k: render_params(m, a, samples=k, steps=args.steps, seed=0,
                                                tempo=tempo_of(h, m.card["stats"])))
    renderers["deadpan"] = deadpan
    result = {"split": args.split, "n_performances": len(rows), "steps": args.steps, "human_human_asap": HUMAN_HUMAN}
    for ds in ("asap", "batik_mozart"):
        sub = [r for r in rows if r["dataset"] == ds]
        if sub:
            result[ds] = {"n_performances": len(sub), "n_pieces": len({r["work_id"] for r in sub}),
                          "n_notes": int(sum(len(r["arrays"]["onset"]) for r in sub)), **evaluate(sub, renderers)}
    line = json.dumps(result)
    if args.out:
        Path(args.out).write_text(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
