"""Accuracy of the shipped emotion model, run exactly as users run it: `symbolic_ai.run("emotion", piece)`.

Prints one JSON line with, per dataset split, 4Q / valence / arousal accuracy and macro-F1 (and the
confusion matrix); `--figures DIR` also saves the confusion matrices as PNGs (emotion_<set>.png).
Needs the datasets (../shared/data or $SYMBOLIC_AI_DATA) and matplotlib for the figures.

    python benchmarks/emotion_eval.py --sets emopia:test vgmidi:test --figures docs/figures
    python benchmarks/emotion_eval.py --model emotion-v4 --sets emopia:test
    python benchmarks/emotion_eval.py --sets emopia:test --render deadpan      # velocity 64, timing on a 16th grid
    python benchmarks/emotion_eval.py --sets checkset:test                     # arousal from tempo words (removed / kept)
    python benchmarks/emotion_eval.py --sets fresh:all                         # the fresh held-out check set (read once)
    python benchmarks/emotion_eval.py --sets emopia:test --invariance          # answers kept under changes

Sets: `emopia:<split>`, `vgmidi:<split>` (4Q labels), `checkset:<valid|test|all>` (the score check set
of `training/emotion/checkset.py`: arousal agreement, balanced arousal accuracy, P(sad)+P(calm), and
P(sad) and P(calm) on the slow-marked items in a minor key), `fresh:all` (the same figures on the
fresh held-out set of `training/emotion/fresh.py`). Without `--model` the task chooses its model by
`input_kind` (emotion-v5 performances, emotion-v6 scores); `models` counts which answered.
`--invariance`: the share of clips whose quadrant is unchanged when every velocity is scaled by 0.7
and 1.3 and when the music is transposed by −2 and +2 semitones.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the workbench, training/, is at the repo root

CHANGES = {"velocity x0.7": ("scale_velocity", 0.7), "velocity x1.3": ("scale_velocity", 1.3),
           "transpose -2": ("transpose", -2), "transpose +2": ("transpose", 2)}


def answer(piece: Any, model_name: str | None) -> dict[str, Any]:
    import symbolic_ai as sai

    data: dict[str, Any] = sai.run("emotion", piece, model=model_name).data
    return data


def render(piece: Any, how: str, velocity: int) -> Any:
    from training.emotion.data import flat_velocity, score_like

    if how == "deadpan":
        return score_like(piece)
    return flat_velocity(piece, velocity) if velocity else piece


def evaluate(dataset: str, split: str, model_name: str | None, how: str = "as is", velocity: int = 0,
             invariance: bool = False) -> dict[str, Any]:
    from symbolic_ai.data import iter_examples
    from symbolic_ai.tasks.emotion import QUADRANTS
    from training.emotion import data as emo
    from training.emotion.eval import metrics

    y, probs, kinds, used = [], [], [], []
    same = {k: 0 for k in CHANGES}
    for ex in iter_examples(dataset, split=split):
        piece = render(ex.load(), how, velocity)
        data = answer(piece, model_name)
        y.append(QUADRANTS.index(ex.labels["quadrant"]))
        probs.append([data["probabilities"][q] for q in QUADRANTS])
        kinds.append(data.get("input_kind", "n/a"))
        used.append(data.get("model", model_name))
        if invariance:
            for name, (fn, arg) in CHANGES.items():
                same[name] += answer(getattr(emo, fn)(piece, arg), model_name)["quadrant"] == data["quadrant"]
    out = metrics(np.array(y), np.array(probs))
    out["input_kind"] = {k: kinds.count(k) for k in sorted(set(kinds))}
    out["models"] = {k: used.count(k) for k in sorted(set(used))}
    if invariance:
        out["unchanged"] = {k: round(v / len(y), 4) for k, v in same.items()}
    return out


def evaluate_checkset(split: str, model_name: str | None, keep_markings: bool = False,
                      fresh: bool = False) -> dict[str, Any]:
    """Arousal agreement on the check set (`fresh`: the fresh held-out one); `keep_markings`: each
    excerpt carries its tempo words as a `tempo` marking at beat 0 (as a user's MusicXML with its
    Adagio would), else the notes alone."""
    from symbolic_ai.piece import Annotation
    from training.emotion.checkset import EXCERPT_BEATS, load_checkset
    from training.emotion.fresh import load_fresh

    items = [i for i in (load_fresh() if fresh else load_checkset()) if split in ("all", i.split)]
    rows, used = [], []
    for it in items:
        piece = it.piece.annotate([Annotation("tempo", 0.0, EXCERPT_BEATS, {"text": it.marking, "qpm": None})]) \
            if keep_markings else it.piece
        d = answer(piece, model_name)
        p = d["probabilities"]
        rows.append((it.arousal, d["arousal"], p["Q3"] + p["Q4"], it.id, d["quadrant"], d["mode"], p["Q3"], p["Q4"]))
        used.append(d.get("model", model_name))
    a = np.array([r[0] for r in rows])
    slow_minor = [r for r in rows if r[0] < 0 and r[5] == "minor"]
    pred = np.where(np.array([r[1] for r in rows]) >= 0, 1, -1)
    low = a < 0
    recall = [float((pred[a == v] == v).mean()) for v in (1, -1) if (a == v).any()]
    p_low = np.array([r[2] for r in rows])
    return {"n": len(rows), "n_low": int(low.sum()), "arousal_agreement": float((pred == a).mean()),
            "arousal_balanced": float(np.mean(recall)),
            "mean_p_sad_plus_calm": {"low_marked": float(p_low[low].mean()) if low.any() else None,
                                     "high_marked": float(p_low[~low].mean()) if (~low).any() else None},
            "slow_minor": {"n": len(slow_minor),
                           "mean_p_sad": float(np.mean([r[6] for r in slow_minor])) if slow_minor else None,
                           "mean_p_calm": float(np.mean([r[7] for r in slow_minor])) if slow_minor else None},
            "models": {k: used.count(k) for k in sorted(set(used))},
            "answers": [[r[3], int(r[0]), round(float(r[1]), 3), r[4]] for r in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", default=["emopia:test", "vgmidi:test"], help="dataset:split ...")
    ap.add_argument("--model", default=None, help="a model for the task (default: the task's choice by input_kind)")
    ap.add_argument("--figures", default=None, help="directory for confusion-matrix PNGs")
    ap.add_argument("--render", default="as is", choices=["as is", "deadpan"],
                    help="deadpan: every velocity 64 and timing quantized to a 16th (as a score looks)")
    ap.add_argument("--velocity", type=int, default=0, choices=range(0, 128), metavar="1..127",
                    help="set every note's velocity to this before the task (flat dynamics); 0: as is")
    ap.add_argument("--invariance", action="store_true", help="also count answers kept under velocity/transposition")
    ap.add_argument("--record", type=Path, default=None, metavar="ONNX",
                    help="merge the results into this model's card under metrics.through_task (release step)")
    ap.add_argument("--record-key", default="through_task",
                    help="the card's metrics key to merge under; another than through_task (e.g. routed_task: "
                         "the task's figures with its choice of model) sets no top-level figures")
    args = ap.parse_args()
    from symbolic_ai.tasks.emotion import ROUTES

    out: dict[str, Any] = {"benchmark": "emotion_eval", "model": args.model or f"routed by input_kind: {ROUTES}",
                           "render": args.render,
                           "velocity": args.velocity or "as is", "results": {}}
    t = time.time()
    for s in args.sets:
        dataset, split = s.split(":")
        if dataset in ("checkset", "fresh"):
            out["results"][s] = evaluate_checkset(split, args.model, fresh=dataset == "fresh")
            out["results"][f"{s} (markings kept)"] = evaluate_checkset(split, args.model, True, dataset == "fresh")
            continue
        m = evaluate(dataset, split, args.model, args.render, args.velocity, args.invariance)
        out["results"][s] = m
        if args.figures:
            from training.emotion.eval import plot_confusion

            suffix = f"_velocity{args.velocity}" if args.velocity else "_deadpan" if args.render == "deadpan" else ""
            plot_confusion(np.array(m["confusion"]), f"{args.model or 'emotion (routed)'} on {dataset} {split}"
                           + (f", every velocity {args.velocity}" if args.velocity else "")
                           + (", deadpan" if args.render == "deadpan" else "")
                           + f" (acc {m['acc_4q']:.3f}, n={m['n']})",
                           f"{args.figures}/emotion_{dataset}_{split}{suffix}.png")
    out["seconds"] = round(time.time() - t, 1)
    print(json.dumps(out))
    if args.record:
        from training.emotion.fuse import record

        key = "" if args.render == "as is" and not args.velocity else f" ({args.render}, velocity {args.velocity or 'as is'})"
        card = json.loads(args.record.with_suffix(".json").read_text())
        through = dict(card["metrics"].get(args.record_key, {}))
        through |= {f"{s}{key}": {k: v for k, v in m.items() if k != "answers"} for s, m in out["results"].items()}
        top = {f"{s.replace(':', '_')}": through[s] for s in out["results"]
               if not key and not s.startswith(("checkset", "fresh")) and args.record_key == "through_task"}
        record(args.record, {args.record_key: through} | top)


if __name__ == "__main__":
    main()
