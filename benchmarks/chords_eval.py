"""Chord recognition accuracy on BPS-FH test and POP909-CL test; prints one JSON line per method.

BPS-FH (the 7 official test sonatas): frame accuracy every 1/8 quarter note of key, degree
(BPS-FH degrees incl. applied 'x/y'), quality (BPS-FH classes), inversion, and the full Roman
numeral (all four right), as in Chen & Su 2018 / AugmentedNet. POP909-CL (86 test songs):
duration-weighted mir_eval accuracies (root, majmin, majmin_inv, sevenths, tetrads).
Needs the datasets and `pip install mir_eval` (benchmark-only dependency).

    python benchmarks/chords_eval.py [--methods template,model] [--split test]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the workbench, training/, is at the repo root

from symbolic_ai import harmony
from symbolic_ai.data import iter_examples
from symbolic_ai.tasks.chords import recognize
from training.common.chord_data import TO_BPS_QUALITY, chord_spans

STEP = 0.125


def _at(rows: list[dict], t: np.ndarray, field: str) -> list:
    starts = np.array([r["start_beat"] for r in rows])
    i = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(rows) - 1)
    return [rows[j].get(field) for j in i]


def bps(method: str, model, split: str, resolution: float = 1.0) -> dict:
    hits = {k: 0 for k in ("key", "degree", "quality", "inversion", "roman", "root")}
    n, secs = 0, 0.0
    for ex in iter_examples("bps_fh", split=split):
        piece = ex.load()
        t0 = time.perf_counter()
        rows = [seg.to_json(piece) for seg in recognize(piece, method=method, model=model, resolution_beats=resolution)[0]]
        secs += time.perf_counter() - t0
        ref = {k: sorted(piece.annotations_of(k), key=lambda a: a.start_beat)
               for k in ("degree", "quality", "inversion", "key")}
        spans = chord_spans(piece, "bps_fh")
        end = spans[-1][1]
        t = np.arange(spans[0][0], end, STEP) + STEP / 2
        r_start = np.array([a.start_beat for a in ref["degree"]])
        ri = np.clip(np.searchsorted(r_start, t, side="right") - 1, 0, len(r_start) - 1)
        k_start = np.array([a.start_beat for a in ref["key"]])
        ki = np.clip(np.searchsorted(k_start, t, side="right") - 1, 0, len(k_start) - 1)
        p_key, p_deg, p_q = _at(rows, t, "key"), _at(rows, t, "degree"), _at(rows, t, "quality")
        p_inv, p_root = _at(rows, t, "inversion"), _at(rows, t, "root")
        for j in range(len(t)):
            rk = harmony.key_tonic_mode(str(ref["key"][ki[j]].value))
            key_ok = p_key[j] is not None and harmony.key_tonic_mode(p_key[j]) == rk
            deg_ok = p_deg[j] == str(ref["degree"][ri[j]].value)
            q_ok = p_q[j] is not None and TO_BPS_QUALITY[p_q[j]] == str(ref["quality"][ri[j]].value)
            inv_ok = p_inv[j] is not None and int(p_inv[j]) == int(ref["inversion"][ri[j]].value)
            chord = spans[ri[j]][2]
            root_ok = p_root[j] is not None and chord is not None and harmony.pitch_class(p_root[j]) == chord.root
            for k, ok in (("key", key_ok), ("degree", deg_ok), ("quality", q_ok), ("inversion", inv_ok),
                          ("root", root_ok), ("roman", key_ok and deg_ok and q_ok and inv_ok)):
                hits[k] += bool(ok)
        n += len(t)
    return {k: round(100.0 * v / max(n, 1), 1) for k, v in hits.items()} | {"frames": n, "model_sec": round(secs, 2)}


def pop909(method: str, model, split: str, resolution: float = 1.0) -> dict:
    import mir_eval

    metrics = ("root", "majmin", "majmin_inv", "sevenths", "tetrads")
    num = {m: 0.0 for m in metrics}
    den = {m: 0.0 for m in metrics}
    songs, secs = 0, 0.0
    for ex in iter_examples("pop909_cl", split=split):
        piece = ex.load()
        t0 = time.perf_counter()
        rows = [seg.to_json(piece) for seg in recognize(piece, method=method, model=model, resolution_beats=resolution)[0]]
        secs += time.perf_counter() - t0
        ref = sorted(piece.annotations_of("chord"), key=lambda a: a.start_beat)
        if not ref:
            continue
        ref_iv, ref_lab, t = [], [], 0.0
        for a in ref:  # fill gaps with N so both sides cover the same span
            if a.start_beat > t:
                ref_iv.append([t, a.start_beat]), ref_lab.append("N")
            ref_iv.append([a.start_beat, max(a.end_beat, a.start_beat + 1e-3)]), ref_lab.append(str(a.value))
            t = max(t, a.end_beat)
        est_iv = np.array([[r["start_beat"], r["end_beat"]] for r in rows])
        est_lab = ["N" if r["symbol"] == "N" else harmony.parse_symbol(r["symbol"]).harte() for r in rows]
        ref_iv = np.array(ref_iv)
        est_iv, est_lab = mir_eval.util.adjust_intervals(est_iv, est_lab, ref_iv.min(), ref_iv.max(), "N", "N")
        iv, r_lab, e_lab = mir_eval.util.merge_labeled_intervals(ref_iv, ref_lab, est_iv, est_lab)
        dur = mir_eval.util.intervals_to_durations(iv)
        for m in metrics:
            comp = getattr(mir_eval.chord, m)(r_lab, e_lab)
            ok = comp >= 0
            num[m] += float((comp[ok] * dur[ok]).sum())
            den[m] += float(dur[ok].sum())
        songs += 1
    return {m: round(100.0 * num[m] / max(den[m], 1e-9), 1) for m in metrics} | {"songs": songs,
                                                                                 "model_sec": round(secs, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--methods", default="template,model")
    ap.add_argument("--split", default="test")
    ap.add_argument("--datasets", default="bps_fh,pop909_cl")
    ap.add_argument("--resolution", type=float, default=1.0, help="frame length in quarter notes")
    args = ap.parse_args()
    for method in args.methods.split(","):
        model = None
        if method == "model":
            from symbolic_ai.runtime import load_model
            model = load_model("chords-v1", device="cpu")
        for ds in args.datasets.split(","):
            fn = bps if ds == "bps_fh" else pop909
            res = fn(method, model, args.split, args.resolution)
            print(json.dumps({"benchmark": f"chords/{ds}", "split": args.split, "method": method,
                              "resolution_beats": args.resolution, **res}), flush=True)


if __name__ == "__main__":
    main()
