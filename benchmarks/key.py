"""Benchmark of the `key` task against human key labels, side by side with music21.

    .venv/bin/python benchmarks/key.py [--split test] [--datasets pop909_cl,nottingham,bps_fh]
                                       [--no-music21] [--set profile=aarden --set switch_cost=4 ...]

Prints one JSON line per dataset and one summary line. References:
- pop909_cl: human-corrected key signatures of the piano part (chord track removed); the first
  one is the global key, all of them (where a song has changes) the local keys.
- nottingham: the first ABC `K:` of each tune (every one is major or minor: no modal keys occur,
  so no mode mapping is needed). The test split is reserved, so this dataset always reports `valid`.
- bps_fh: the key of the first chord is the global key; the chord-level keys are the local keys.
Local keys are scored frame by frame at beat (crotchet) resolution over the labelled span, pooled
over all frames of the split. `mirex` is the MIREX weighted score (1 same key, 0.5 a perfect fifth
above in the same mode, 0.3 relative, 0.2 parallel, else 0). Time: ours is `key.analyze(piece)`
on a loaded Piece (global and local keys together); music21's is `score.analyze('key')` on a
music21 Score already built from the same Piece (`to_music21`), and `WindowedAnalysis` for its
local keys. Loading and conversion are not timed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from symbolic_ai.data import iter_examples
from symbolic_ai.piece import Piece
from symbolic_ai.tasks.key import analyze, parse_key

DATASETS = ("pop909_cl", "nottingham", "bps_fh")


@dataclass
class Item:
    id: str
    piece: Piece
    key: int                                   # reference global key index 0..23
    local: list[tuple[float, float, int]]      # reference (start_beat, end_beat, key) spans


def mirex(ref: int, est: int) -> float:
    """MIREX weighted key score for two key indices (0–11 major, 12–23 minor)."""
    if ref == est:
        return 1.0
    rt, rm, et, em = ref % 12, ref >= 12, est % 12, est >= 12
    if rm == em and (et - rt) % 12 == 7:
        return 0.5
    if not rm and em and (rt - et) % 12 == 3 or rm and not em and (et - rt) % 12 == 3:
        return 0.3
    if rt == et:
        return 0.2
    return 0.0


def _spans(piece: Piece) -> list[tuple[float, float, int]]:
    return [(a.start_beat, a.end_beat, parse_key(str(a.value))) for a in piece.annotations_of("key")]


def items(dataset: str, split: str) -> tuple[list[Item], int]:
    """The benchmark items of a dataset split and how many examples had no usable label."""
    out, skipped = [], 0
    for ex in iter_examples(dataset, split):
        piece = ex.load()
        spans = _spans(piece)
        if dataset == "nottingham":
            spans = [(0.0, piece.duration_beat, parse_key(ex.labels["key"]))]
            piece = piece.replace(annotations=())
        if not spans or not len(piece.pitched()):
            skipped += 1
            continue
        # the analysers see notes only: no key signatures, no labels
        out.append(Item(ex.id, piece.replace(key_signatures=(), annotations=()), spans[0][2], spans))
    return out, skipped


def frames(spans: list[tuple[float, float, int]], end: float) -> tuple[np.ndarray, np.ndarray]:
    """Beat-centre times over [0, end) and the key of the span holding each (-1 if none)."""
    t = np.arange(0.0, max(end, 0.0)) + 0.5
    k = np.full(len(t), -1)
    for s, e, key in spans:
        k[(t >= s) & (t < e)] = key
    return t, k


def _m21_key_index(tonic, mode: str) -> int:
    """A music21 tonic Pitch and mode → key index (-1 for modes other than major/minor)."""
    return parse_key(f"{tonic.name.replace('-', 'b')} {mode}") if mode in ("major", "minor") else -1


def music21_local(score, window_beats: int) -> list[tuple[float, float, int]]:
    """music21's windowed Aarden–Essen keys (what `analyze('key')` uses). WindowedAnalysis cuts the
    flattened score into 1-quarter cells; each cell gets the key of the window centred on it."""
    from music21.analysis import discrete, windowed

    wa = windowed.WindowedAnalysis(score, discrete.AardenEssen())
    cells = wa._windowedStream
    bars = list(cells.getElementsByClass("Measure"))  # its 1/4 "bars"
    size = max(1, min(window_beats, len(bars)))
    solutions, _colors = wa.analyze(size, windowType="overlap")
    out = []
    for b, bar in enumerate(bars):
        tonic, mode, _corr = solutions[min(max(b - size // 2, 0), len(solutions) - 1)]
        start = float(bar.getOffsetBySite(cells))
        out.append((start, start + float(bar.duration.quarterLength), _m21_key_index(tonic, mode)))
    return out


def ours(its: list[Item], params: dict, local: bool) -> tuple[dict, list[np.ndarray]]:
    """Our scores on loaded items (global, and frame-level local when `local`), and the local frames."""
    keys, secs, lref, lest = [], [], [], []
    for it in its:
        t0 = time.perf_counter()
        out = analyze(it.piece, **params)
        secs.append(time.perf_counter() - t0)
        keys.append(out.key.index)
        if local:
            ref, est = _local_frames(it, [(s.start_beat, s.end_beat, s.key.index) for s in out.local])
            lref.append(ref)
            lest.append(est)
    res = _scores([it.key for it in its], keys, secs)
    if local:
        res["local"] = _frame_scores(lref, lest)
    return res, lref


def _local_frames(it: Item, est_spans: list[tuple[float, float, int]]) -> tuple[np.ndarray, np.ndarray]:
    end = max(e for _, e, _ in it.local)
    _, ref = frames(it.local, end)
    _, est = frames(est_spans, end)
    return ref[ref >= 0], est[ref >= 0]


def music21_scores(its: list[Item], local: bool, window_beats: int) -> dict:
    """music21's `analyze('key')` (and windowed local keys) on Scores built from the same Pieces."""
    from symbolic_ai.io.score import to_music21

    keys, secs, lsecs, lref, lest = [], [], [], [], []
    for it in its:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = to_music21(it.piece)
            t0 = time.perf_counter()
            k = score.analyze("key")
            secs.append(time.perf_counter() - t0)
            keys.append(_m21_key_index(k.tonic, k.mode))
            if local:
                t0 = time.perf_counter()
                spans = music21_local(score, window_beats)
                lsecs.append(time.perf_counter() - t0)
                ref, est = _local_frames(it, spans)
                lref.append(ref)
                lest.append(est)
    res = _scores([it.key for it in its], keys, secs)
    if local:
        res["local"] = {**_frame_scores(lref, lest), "window_beats": window_beats,
                        "ms_per_piece": round(1000 * statistics.mean(lsecs), 2)}
    return res


def run(dataset: str, split: str, params: dict, with_music21: bool, m21_window_beats: int) -> dict:
    its, skipped = items(dataset, split)
    local = dataset != "nottingham"
    res: dict = {"dataset": dataset, "split": split, "n": len(its), "skipped": skipped, "params": params,
                 "ours": ours(its, params, local)[0]}
    if with_music21:
        res["music21"] = music21_scores(its, local, m21_window_beats)
        res["speedup"] = round(res["music21"]["ms_per_piece"] / max(res["ours"]["ms_per_piece"], 1e-9), 1)
    return res


def _scores(refs: list[int], est: list[int], secs: list[float]) -> dict:
    return {"accuracy": round(float(np.mean([r == e for r, e in zip(refs, est)])), 4),
            "mirex": round(float(np.mean([mirex(r, e) for r, e in zip(refs, est)])), 4),
            "ms_per_piece": round(1000 * statistics.mean(secs), 2),
            "ms_median": round(1000 * statistics.median(secs), 2)}


def _frame_scores(refs: list[np.ndarray], ests: list[np.ndarray]) -> dict:
    r, e = np.concatenate(refs), np.concatenate(ests)
    return {"frames": int(len(r)), "accuracy": round(float(np.mean(r == e)), 4),
            "mirex": round(float(np.mean([mirex(int(a), int(b)) for a, b in zip(r, e)])), 4)}


def _value(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="test", choices=("valid", "test"))
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--no-music21", action="store_true", help="skip the music21 comparison")
    ap.add_argument("--m21-window-beats", type=int, default=16,
                    help="music21 local-key window in quarter notes (default: the key task's 16)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a key.analyze parameter")
    args = ap.parse_args(argv)
    params = {k: _value(v) for k, _, v in (s.partition("=") for s in args.set)}
    results = []
    for ds in args.datasets.split(","):
        split = "valid" if ds == "nottingham" else args.split  # Nottingham's test split is reserved
        r = run(ds, split, params, not args.no_music21, args.m21_window_beats)
        results.append(r)
        print(json.dumps(r), flush=True)
    summary: dict = {"summary": True, "split": args.split, "params": params}
    for who in ("ours", "music21"):
        if who in results[0]:
            n = sum(r["n"] for r in results)
            summary[who] = {
                "accuracy": round(sum(r[who]["accuracy"] * r["n"] for r in results) / n, 4),
                "mirex": round(sum(r[who]["mirex"] * r["n"] for r in results) / n, 4),
                "ms_per_piece": round(sum(r[who]["ms_per_piece"] * r["n"] for r in results) / n, 2)}
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
