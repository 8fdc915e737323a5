"""The issue-17 observations re-measured on the shipped perform model (examples/; 3 seeds each).

    python benchmarks/perform_issue_checks.py

Per piece and emotion: duration, mean velocity, rendered tempo, last bar's beat over the body's median
(final ritardando > 1), first-half over second-half median beat (drift: 1 = none); and the pedal on
two music21 corpus scores the issue used (presses, median press, fraction of the time down).
Prints one JSON line.
"""
from __future__ import annotations

import json

import numpy as np

import symbolic_ai as sai
from symbolic_ai.perform_features import onset_groups

out: dict = {}
for name in ("chorale_bwv66_6", "maple_leaf_rag"):
    sc = sai.load(f"examples/{name}.musicxml")
    sn = sc.pitched()
    sn = sn[np.lexsort((sn["pitch"], sn["onset_beat"]))]
    for emo in ("none", "calm", "happy", "sad"):
        for seed in (0, 1, 2):
            r = sai.run("perform", sc, emotion=emo, seed=seed)
            pn = {int(i): k for k, i in enumerate(r.piece.notes["id"])}
            on = r.piece.notes["onset_sec"][[pn[int(i)] for i in sn["id"]]]
            g = onset_groups(sn["onset_beat"])
            gb = np.array([sn["onset_beat"][x[0]] for x in g])
            gt = np.array([on[x].mean() for x in g])
            spq = np.diff(gt) / np.diff(gb)
            end = gb[-1]
            bar = sc.time_signatures[0].bar_beats
            last = spq[gb[:-1] >= end - bar].mean()
            mid = np.median(spq[(gb[:-1] > bar) & (gb[:-1] < end - 3 * bar)])
            first_half = np.median(spq[gb[:-1] < end / 2])
            second_half = np.median(spq[(gb[:-1] >= end / 2) & (gb[:-1] < end - 2 * bar)])
            out.setdefault(name, {}).setdefault(emo, []).append({
                "sec": round(r.data["duration_sec"], 1), "vel": round(float(r.piece.notes["velocity"].mean()), 1),
                "qpm": r.data["tempo"]["rendered_qpm"], "last_bar_slowdown": round(float(last / mid), 2),
                "drift_2nd_vs_1st_half": round(float(first_half / second_half), 3)})
summary = {n: {e: {k: round(float(np.mean([x[k] for x in v])), 3) for k in v[0]} for e, v in d.items()}
           for n, d in out.items()}
import music21  # noqa: E402

from symbolic_ai.io.score import from_music21  # noqa: E402

for name in ("joplin/maple_leaf_rag.mxl", "mozart/k545/movement1_exposition.mxl"):
    score = from_music21(music21.corpus.parse(name), source=name)
    for emo in ("none", "calm"):
        r = sai.run("perform", score, emotion=emo, seed=0)
        ev = r.data["pedal"]
        presses = np.array([u["time_sec"] - d["time_sec"] for d, u in zip(ev[0::2], ev[1::2])])
        summary[f"{name} {emo}"] = {"notes": len(score.pitched()), "qpm": r.data["tempo"]["rendered_qpm"],
                                    "presses": len(presses),
                                    "median_press_sec": round(float(np.median(presses)), 2) if len(presses) else None,
                                    "down_fraction": round(float(presses.sum() / r.data["duration_sec"]), 2)}
print(json.dumps(summary))
