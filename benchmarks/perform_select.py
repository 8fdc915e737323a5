"""perform-v5 selection on valid (docs/models/perform-v5.md): note models × tempo-curve models ×
curve weight × trend share, by the per-note beat-period r.

    python benchmarks/perform_select.py --notes perform-v4 [N.onnx] --curves C1.onnx [C2.onnx]
        [--weights 0 0.5 1] [--shares 0.5 1] [--split valid] [--renders runs/perform_select]
        [--out runs/perform_select.json]

Per ASAP folder of the split (`--min-performers 1`: valid has one performance per piece, the rule's
proxy): one render of each note model (seed 0, 10 steps, temperature 0.25, the performer's mean
tempo as `qpm`; `perform_eval.model_params`), then for each curve model, weight and share the
task's tempo (`perform_eval.task_tempo`: the curve mixed in, then the tempo rules); per-note r of the
beat period (and per quarter, `quarter_level`) with the performer(s') mean, and r of velocity
against the pitch rule's, averaged over folders. Weight 0 is the note model alone (no curve model).
Prints one JSON line: one row per candidate, best beat-period r first.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.perform_eval import (  # noqa: E402
    kept_render,
    model_params,
    pearson,
    performers_mean,
    quarter_level,
    task_tempo,
)
from symbolic_ai.runtime import load_model  # noqa: E402
from symbolic_ai.tasks.perform import DEFAULT_TEMPERATURE  # noqa: E402
from training.perform.data import load_cache  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default="runs/perform_cache")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--min-performers", type=int, default=1)
    ap.add_argument("--notes", nargs="+", default=["perform-v4"], help="note (flow) models")
    ap.add_argument("--curves", nargs="*", default=[], help="tempo-curve models (ONNX with a card)")
    ap.add_argument("--weights", nargs="+", type=float, default=[0.0, 0.5, 1.0])
    ap.add_argument("--shares", nargs="+", type=float, default=[0.5, 1.0])
    ap.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--renders", default="", help="a folder to keep the note models' renders in (reused)")
    ap.add_argument("--renders-only", action="store_true",
                    help="only compute and keep the note models' renders (no figure is computed)")
    ap.add_argument("--out")
    args = ap.parse_args()
    folders: dict[str, list[dict]] = defaultdict(list)
    for r in load_cache(Path(args.cache), args.split):
        if r["dataset"] == "asap":
            folders[str(Path(r["match"]).parent)].append(r)
    folders = {k: v for k, v in folders.items() if len(v) >= args.min_performers}
    res: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for folder, group in sorted(folders.items()):
        a, idx, human = performers_mean(group)
        on = a["onset"][idx]
        human_q = quarter_level(on, human[:, 0])
        qpm = float(60 / np.exp(np.mean(np.log(human[:, 0]))))
        for note in args.notes:
            m = load_model(note)
            p = model_params(m, a, qpm, 1, args.steps, args.temperature,
                             kept_render(folder, m, 1, args.steps, args.temperature, args.renders))
            if args.renders_only:
                continue
            r_pitch = pearson(a["pitch"][idx].astype(float), human[:, 1])
            r_vel = pearson(p[idx, 1], human[:, 1])
            for curve in [None, *args.curves]:
                mc = dataclasses.replace(m, card={**m.card, "tempo_model": curve}) if curve else m
                for w in [0.0] if curve is None else [w for w in args.weights if w > 0]:
                    for share in args.shares:
                        bp = task_tempo(mc, a, p[:, 0].copy(), qpm, share, w)[idx]
                        row = res[(note, curve, w, share)]
                        row["beat_period"].append(pearson(bp, human[:, 0]))
                        row["beat_period_quarter"].append(pearson(quarter_level(on, bp), human_q))
                        row["velocity_margin"].append(None if r_vel is None or r_pitch is None else r_vel - r_pitch)
    rows = []
    for (note, curve, w, share), d in res.items():
        rows.append({"notes": note, "curve": curve, "weight": w, "share": share,
                     **{f"r_{k}": round(float(np.mean([x for x in v if x is not None])), 4) for k, v in d.items()}})
    rows.sort(key=lambda r: -r["r_beat_period"])
    line = json.dumps({"split": args.split, "n_folders": len(folders), "temperature": args.temperature,
                       "candidates": rows})
    if args.out:
        Path(args.out).write_text(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
