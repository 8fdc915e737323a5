"""emotion-v6: emotion-v5's head on a guide that also reads how the music is written, trained with weak
arousal labels from classical scores (issue 16).

    python -m training emotion features6 [--only DS]   # guide features (runs/emotion6/, resumable)
    python -m training emotion head6 [--test] [--ship DIR]

The guide is `invariant+notation` (`symbolic_ai.tasks.emotion.invariant_features(..., notation=True)`):
emotion-v5's `invariant` guide plus `notation_features` (note values in quarter notes of the beat grid,
time signature), so a score carries the tempo a reader infers from the page. Renderings of the
EMOPIA and VGMIDI clips as in emotion-v5 (`training/emotion/v5.py`). Weak rows (`training/emotion/weak.py`):
the opening of When-in-Rome scores whose opening tempo word gives arousal, the word removed from the
input, pieces disjoint from the check set's; they enter the loss through P(Q1)+P(Q2) only.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training.emotion.v5 import CHANGED, DATASETS, RENDERINGS, clip_windows, input_kinds, rendering

OUT = Path("runs/emotion6")


def featurize(items: list, r: str, path: Path, chords) -> None:
    """Guide rows of every window of `items` ((id, split, group, label, piece)) in rendering `r`."""
    from symbolic_ai.tasks.emotion import invariant_features
    from training.emotion.data import transpose

    X, clip_of = [], []
    for k, (_, _, _, _, piece) in enumerate(items):  # "transposed": a score moved by ±1..3 semitones, nothing else
        p = transpose(piece, int(np.random.default_rng(k).choice([-3, -2, -1, 1, 2, 3]))) if r == "transposed" else None
        wins = clip_windows(p if p is not None else rendering(piece, r, seed=k))
        X.append(invariant_features(wins, chords, notation=True))
        clip_of += [k] * len(wins)
    np.savez(path, X=np.concatenate(X), clip_of=np.array(clip_of), ids=np.array([i[0] for i in items]),
             split=np.array([i[1] for i in items]), group=np.array([i[2] for i in items]),
             y=np.array([i[3] for i in items]))
    print(json.dumps({"wrote": str(path), "clips": len(items), "windows": len(clip_of)}), flush=True)


def velocity_rendering(out: Path, ds: str, r: str, items: list) -> None:
    """The guide of the valid/test clips with every velocity scaled (`r`: 'vel0.7'): only the statistics
    read velocity (as ratios); the harmony (read at one velocity) and notation columns are the as-is
    rendering's, as the windows are (they depend on the beats only)."""
    from symbolic_ai.tasks.emotion import INVARIANT_STATS, invariant_statistics

    base = dict(np.load(out / f"feats_{ds}_asis.npz"))
    keep = [k for k, i in enumerate(items) if i.split != "train"]
    X, clip_of = [], []
    for j, k in enumerate(keep):
        wins = clip_windows(rendering(items[k].piece, r, seed=k))
        rows = base["X"][base["clip_of"] == k].copy()
        assert len(rows) == len(wins), (ds, k)
        rows[:, :len(INVARIANT_STATS)] = np.stack([invariant_statistics(w) for w in wins])
        X.append(rows)
        clip_of += [j] * len(wins)
    sel = np.array(keep)
    np.savez(out / f"feats_{ds}_{r}.npz", X=np.concatenate(X), clip_of=np.array(clip_of), ids=base["ids"][sel],
             split=base["split"][sel], group=base["group"][sel], y=base["y"][sel])
    print(json.dumps({"wrote": f"feats_{ds}_{r}", "clips": len(keep)}), flush=True)


def features(argv: list[str] | None = None) -> int:
    import torch

    from symbolic_ai.registry import Models
    from symbolic_ai.tasks.emotion import CHORDS_MODEL
    from training.emotion.checkset import load_checkset
    from training.emotion.data import load_items

    ap = argparse.ArgumentParser(description="emotion-v6 guide features")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--only", choices=("clips", "checkset", "weak"), default=None)
    ap.add_argument("--jobs", nargs="+", default=None, metavar="DS:RENDERING",
                    help="only these (e.g. emopia:deadpan checkset:asis weak:asis), to run them side by side")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    chords = Models().load(CHORDS_MODEL)
    a.out.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, str]] = []
    if a.only in (None, "checkset"):
        jobs += [("checkset", "asis")]
    if a.only in (None, "clips"):
        jobs += ([(ds, r) for r in RENDERINGS[:2] for ds in DATASETS] + [("emopia", r) for r in CHANGED]
                 + [(ds, r) for r in RENDERINGS[2:] for ds in DATASETS])
    if a.only in (None, "weak"):
        jobs += [("weak", "asis"), ("weak", "transposed")]
    if a.jobs:
        jobs = [tuple(j.split(":")) for j in a.jobs]  # type: ignore[misc]
    for ds, r in jobs:
        path = a.out / f"feats_{ds}_{r}.npz"
        if path.exists():
            continue
        if r in CHANGED:
            velocity_rendering(a.out, ds, r, load_items(ds))
            continue
        if ds == "checkset":
            items = [(i.id, i.split, i.id, (i.arousal + 1) // 2, i.piece) for i in load_checkset(a.out / "checkset.pkl")]
        elif ds == "weak":
            from training.emotion.weak import load_weak

            items = [(i.id, "train", i.group, (i.arousal + 1) // 2, i.piece) for i in load_weak(a.out / "weak.pkl")]
        else:
            items = [(i.id, i.split, i.group, i.label, i.piece) for i in load_items(ds)
                     if r not in CHANGED or i.split != "train"]
        featurize(items, r, path, chords)
    if a.only in (None, "clips"):
        input_kinds(a.out)
    return 0


main = features
