"""Harmonization metrics on held-out melodies of each style; one JSON line per style × method × rhythm.

Held-out sets: pop = POP909 melody + POP909-CL chords (test songs; `--pop-split valid` for
selection), folk = Nottingham valid, chorale = Bach chorale sopranos + When-in-Rome valid (the
test splits of those two are reserved). Metrics per beat against the reference progression:
`exact` (root + quality class) and `root` accuracy; `chord_tone` = share of strong-beat melody
notes (downbeat and mid-bar) that are tones of the predicted chord (`ref_chord_tone` for the
reference); `rhythm_f1` = F1 of chord-change beats vs the reference's; `perplexity` of the
reference chords per beat (probabilities smoothed with 1 % uniform); `distinct` = distinct
chord symbols per song and `entropy_bits` of the chord-class distribution over the set.
Needs the caches from `python -m training harmonize data`.

    python benchmarks/harmonize_eval.py [--methods model,rules] [--rhythms bar,learned]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import sys
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the workbench, training/, is at the repo root

from symbolic_ai import harmony
from symbolic_ai.metre import bar_lengths
from symbolic_ai.numeric import softmax
from symbolic_ai.tasks import harmonize as H
from training.common.chord_data import frame_targets
from training.harmonize.data import load_style


def strong_notes(mel) -> tuple[np.ndarray, np.ndarray]:
    """(onset beat, pitch class) of melody notes on a downbeat or at mid-bar."""
    n = mel.notes
    _, pos = mel.bar_position(n["onset_beat"])
    bar_len = bar_lengths(mel, n["onset_beat"])
    strong = (np.abs(pos) < 1e-6) | (np.abs(pos - bar_len / 2) < 1e-6)
    return n["onset_beat"][strong], n["pitch"][strong].astype(int) % 12


def tone_share(classes: np.ndarray, beats: np.ndarray, pcs: np.ndarray) -> tuple[int, int]:
    hit = 0
    for b, pc in zip(beats, pcs):
        c = classes[min(int(b), len(classes) - 1)]
        hit += c != harmony.N_CLASS and pc in harmony.from_index(int(c)).pitch_classes
    return hit, len(beats)


def changes(c: np.ndarray) -> set[int]:
    return {i for i in range(1, len(c)) if c[i] != c[i - 1]}


def evaluate(style: str, split: str, method: str, rhythm: str, model, runs: Path, limit: int) -> dict:
    tot = {"n": 0, "exact": 0, "root": 0, "tone": 0, "tone_n": 0, "ref_tone": 0, "tp": 0, "fp": 0, "fn": 0,
           "nll": 0.0, "nll_n": 0}
    distinct, counts, secs, songs = [], np.zeros(harmony.N_CLASSES), 0.0, 0
    for _, mel, spans in load_style(style, split, runs, all_sources=False)[:limit or None]:
        if not len(mel.notes):
            continue
        t0 = time.perf_counter()
        res = H.progression(mel, style=style, rhythm=rhythm, method=method, model=model)
        secs += time.perf_counter() - t0
        frames = int(np.ceil(res["bounds"][-1] - 1e-6))
        ref, _ = frame_targets(spans, frames)
        pred = np.empty(frames, dtype=np.int64)
        pred[:] = harmony.N_CLASS
        for a, b, c, _ in H.segments_of(res["paths"][0][0], res["bounds"]):
            pred[int(round(a)):int(round(b))] = c
        sel = ref != harmony.N_CLASS
        tot["n"] += int(sel.sum())
        tot["exact"] += int((pred[sel] == ref[sel]).sum())
        tot["root"] += int((pred[sel] // harmony.N_QUALITIES == ref[sel] // harmony.N_QUALITIES).sum())
        beats, pcs = strong_notes(mel)
        h, n = tone_share(pred, beats, pcs)
        tot["tone"] += h
        tot["tone_n"] += n
        tot["ref_tone"] += tone_share(ref, beats, pcs)[0]
        pc, rc = changes(pred), changes(ref)
        tot["tp"] += len(pc & rc)
        tot["fp"] += len(pc - rc)
        tot["fn"] += len(rc - pc)
        # perplexity of the reference per beat: the model's own probabilities (no decoding shaping)
        if model is not None:
            emit = model.run(features=H.melody_features(mel, style)[None])["chord_logits"][0].astype(np.float64)
        else:
            emit = H.rules_slots(mel, np.arange(frames + 1.0))[0]
        emit = np.concatenate([emit, np.full((max(frames - len(emit), 0), emit.shape[1]), 0.0)])[:frames]
        p = softmax(emit, axis=1)
        p = 0.99 * p + 0.01 / harmony.N_CLASSES
        tot["nll"] += float(-np.log(p[np.arange(frames), ref][sel]).sum())
        tot["nll_n"] += int(sel.sum())
        syms = {int(c) for c in pred}
        distinct.append(len(syms))
        np.add.at(counts, pred, 1)
        songs += 1
    prec = tot["tp"] / max(tot["tp"] + tot["fp"], 1)
    rec = tot["tp"] / max(tot["tp"] + tot["fn"], 1)
    q = counts / max(counts.sum(), 1)
    q = q[q > 0]
    return {"songs": songs, "exact": round(100 * tot["exact"] / max(tot["n"], 1), 1),
            "root": round(100 * tot["root"] / max(tot["n"], 1), 1),
            "chord_tone": round(100 * tot["tone"] / max(tot["tone_n"], 1), 1),
            "ref_chord_tone": round(100 * tot["ref_tone"] / max(tot["tone_n"], 1), 1),
            "rhythm_f1": round(100 * 2 * prec * rec / max(prec + rec, 1e-9), 1),
            "perplexity": round(float(np.exp(tot["nll"] / max(tot["nll_n"], 1))), 1),
            "distinct": round(float(np.mean(distinct)) if distinct else 0.0, 1),
            "entropy_bits": round(float(-(q * np.log2(q)).sum()), 2),
            "ms_per_song": round(1000 * secs / max(songs, 1), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--methods", default="model,rules")
    ap.add_argument("--rhythms", default="bar,learned")
    ap.add_argument("--styles", default="pop,folk,chorale")
    ap.add_argument("--pop-split", default="test")
    ap.add_argument("--limit", type=int, default=0, help="at most this many melodies per style (0 = all)")
    ap.add_argument("--emission-weight", type=float, default=0.0,
                    help="override the card's emission weight for every rhythm (tuning on valid)")
    args = ap.parse_args()
    runs = Path(args.runs)
    for method in args.methods.split(","):
        model = None
        if method == "model":
            from symbolic_ai.runtime import load_model
            model = load_model("harmonize-v1", device="cpu")
            if args.emission_weight > 0:
                model.card["emission_weight"] = {r: args.emission_weight for r in H.RHYTHMS}
        for style in args.styles.split(","):
            split = args.pop_split if style == "pop" else "valid"
            for rhythm in args.rhythms.split(","):
                r = evaluate(style, split, method, rhythm, model, runs, args.limit)
                print(json.dumps({"benchmark": f"harmonize/{style}", "split": split, "method": method,
                                  "rhythm": rhythm, **r}), flush=True)


if __name__ == "__main__":
    main()
