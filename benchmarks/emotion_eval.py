"""Accuracy of the shipped emotion model, run exactly as users run it: `symbolic_ai.run("emotion", piece)`.

Prints one JSON line with 4Q / valence / arousal accuracy and macro-F1 (and the confusion matrix)
per dataset split; `--figures DIR` also saves the confusion matrices as PNGs (emotion_<set>.png).
Needs the datasets (../shared/data or $SYMBOLIC_AI_DATA) and matplotlib for the figures.

    python benchmarks/emotion_eval.py --sets emopia:test vgmidi:test --figures docs/figures
    python benchmarks/emotion_eval.py --model emotion-v4 --sets emopia:test
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def evaluate(dataset: str, split: str, model_name: str | None) -> dict:
    import symbolic_ai as sai
    from symbolic_ai.data import iter_examples
    from symbolic_ai.tasks.emotion import QUADRANTS
    from symbolic_ai.training.emotion_eval import metrics

    y, probs = [], []
    for ex in iter_examples(dataset, split=split):
        data = sai.run("emotion", ex.load(), model=model_name).data
        y.append(QUADRANTS.index(ex.labels["quadrant"]))
        probs.append([data["probabilities"][q] for q in QUADRANTS])
    return metrics(np.array(y), np.array(probs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", default=["emopia:test", "vgmidi:test"], help="dataset:split ...")
    ap.add_argument("--model", default=None, help="a model for the task (default: the task's own)")
    ap.add_argument("--figures", default=None, help="directory for confusion-matrix PNGs")
    args = ap.parse_args()
    from symbolic_ai.registry import get

    args.model = args.model or get("emotion").model
    out = {"benchmark": "emotion_eval", "model": args.model, "results": {}}
    t = time.time()
    for s in args.sets:
        dataset, split = s.split(":")
        m = evaluate(dataset, split, args.model)
        out["results"][s] = m
        if args.figures:
            from symbolic_ai.training.emotion_eval import plot_confusion

            plot_confusion(np.array(m["confusion"]), f"{args.model} on {dataset} {split} "
                           f"(acc {m['acc_4q']:.3f}, n={m['n']})",
                           f"{args.figures}/emotion_{dataset}_{split}.png")
    out["seconds"] = round(time.time() - t, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
