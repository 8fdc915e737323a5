"""Accuracy of the shipped emotion model, run exactly as users run it: `symbolic_ai.run("emotion", piece)`.

Prints one JSON line with 4Q / valence / arousal accuracy and macro-F1 (and the confusion matrix)
per dataset split; `--figures DIR` also saves the confusion matrices as PNGs (emotion_<set>.png).
Needs the datasets (../shared/data or $SYMBOLIC_AI_DATA) and matplotlib for the figures.

    python benchmarks/emotion_eval.py --sets emopia:test vgmidi:test --figures docs/figures
    python benchmarks/emotion_eval.py --model emotion-v4 --sets emopia:test
    python benchmarks/emotion_eval.py --sets emopia:valid emopia:test --velocity 64   # as a score looks
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the workbench, training/, is at the repo root


def evaluate(dataset: str, split: str, model_name: str | None, velocity: int = 0) -> dict:
    import symbolic_ai as sai
    from symbolic_ai.data import iter_examples
    from symbolic_ai.tasks.emotion import QUADRANTS
    from training.emotion.data import flat_velocity
    from training.emotion.eval import metrics

    y, probs = [], []
    for ex in iter_examples(dataset, split=split):
        piece = flat_velocity(ex.load(), velocity) if velocity else ex.load()  # velocity: a deadpan score
        data = sai.run("emotion", piece, model=model_name).data
        y.append(QUADRANTS.index(ex.labels["quadrant"]))
        probs.append([data["probabilities"][q] for q in QUADRANTS])
    return metrics(np.array(y), np.array(probs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", default=["emopia:test", "vgmidi:test"], help="dataset:split ...")
    ap.add_argument("--model", default=None, help="a model for the task (default: the task's own)")
    ap.add_argument("--figures", default=None, help="directory for confusion-matrix PNGs")
    ap.add_argument("--velocity", type=int, default=0, choices=range(0, 128), metavar="1..127",
                    help="set every note's velocity to this before the task (a deadpan score); 0: as is")
    args = ap.parse_args()
    from symbolic_ai.registry import get

    args.model = args.model or get("emotion").model
    out = {"benchmark": "emotion_eval", "model": args.model, "velocity": args.velocity or "as is", "results": {}}
    t = time.time()
    for s in args.sets:
        dataset, split = s.split(":")
        m = evaluate(dataset, split, args.model, args.velocity)
        out["results"][s] = m
        if args.figures:
            from training.emotion.eval import plot_confusion

            suffix = f"_velocity{args.velocity}" if args.velocity else ""
            plot_confusion(np.array(m["confusion"]), f"{args.model} on {dataset} {split}"
                           + (f", every velocity {args.velocity}" if args.velocity else "")
                           + f" (acc {m['acc_4q']:.3f}, n={m['n']})",
                           f"{args.figures}/emotion_{dataset}_{split}{suffix}.png")
    out["seconds"] = round(time.time() - t, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
