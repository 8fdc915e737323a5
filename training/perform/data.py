"""Note-aligned performances (ASAP, Batik) → cached per-note arrays for `perform` training.

    python -m training perform data [--data-root DIR] [--out runs/perform_cache]

Each `.match` file is read with partitura (`load_match(create_score=True)`); matched score notes
(sorted by onset, pitch) keep their score position in quarter notes, staff, metre and the
performed onset, duration and velocity, plus the performance's sustain-pedal (CC64) events. The result is one `.npz` per performance plus
`index.json` (id, dataset, split, work_id, composer). Parsing all 244 files takes minutes, so it
is cached; `load_cache` reads it back.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from symbolic_ai.data import data_root
from symbolic_ai.errors import require

MARKS = ("staccato", "accent", "tenuto", "fermata", "ornament")  # score markings the match files carry
DATASETS = {"asap": "manifest.csv", "batik_mozart": "manifest.csv"}
ARRAYS = ("onset", "duration", "pitch", "pos_in_bar", "bar_len", "beat_unit", "staff",
          "perf_onset", "perf_duration", "velocity")
PEDAL_ARRAYS = ("pedal_time", "pedal_value")  # sustain pedal (CC64) events of the performance, seconds
MARK_WORDS = {"staccato": 0, "staccatissimo": 0, "accent": 1, "strong-accent": 1, "tenuto": 2, "fermata": 3,
              "trill-mark": 4, "trillmark": 4, "inverted-mordent": 4, "invertedmordent": 4, "mordent": 4, "turn": 4}
_SNOTE = re.compile(r"^snote\(([^,]+),.*,\[([^\]]*)\]\)-")


def match_marks(match_path: str) -> dict[str, np.ndarray]:
    """Score-note id → (5,) flags (staccato, accent, tenuto, fermata, ornament) from the snote lines."""
    out: dict[str, np.ndarray] = {}
    with open(match_path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = _SNOTE.match(line)
            if m:
                flags = np.zeros(len(MARKS), dtype=np.int8)
                for w in m.group(2).split(","):
                    if w.strip() in MARK_WORDS:
                        flags[MARK_WORDS[w.strip()]] = 1
                out[m.group(1)] = flags
    return out


def extract_pedal(match_path: str) -> dict[str, np.ndarray]:
    """The performance's sustain-pedal controller events (CC64), in the match file's clock."""
    pt = require("partitura", "train")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        perf, _ = pt.load_match(match_path)
    ev = sorted((float(c["time"]), int(c["value"])) for pp in perf.performedparts for c in pp.controls
                if c["number"] == 64)
    return {"pedal_time": np.array([e[0] for e in ev], dtype=float),
            "pedal_value": np.array([e[1] for e in ev], dtype=np.int16)}


def performances(root: Path) -> list[dict]:
    """One dict per staged performance: dataset, split, work_id, composer, match path."""
    rows = []
    for ds, manifest in DATASETS.items():
        with open(root / ds / manifest, newline="") as fh:
            for r in csv.DictReader(fh):
                pid = r.get("performance_id") or Path(r["match_file"]).stem
                folder = r.get("folder", "").replace("/", "_")
                rows.append({"id": f"{ds}:{folder + '_' if folder else ''}{pid}", "dataset": ds,
                             "split": r["split"], "work_id": r["work_id"],
                             "composer": r.get("composer") or "Mozart",
                             "match": str(root / ds / r["match_file"])})
    return rows


def extract(match_path: str) -> dict[str, np.ndarray]:
    """Matched notes of one match file as arrays (score in quarter notes, performance in seconds)."""
    pt = require("partitura", "train")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        perf, alignment, score = pt.load_match(match_path, create_score=True)
        sna = score.note_array(include_time_signature=True, include_metrical_position=True,
                               include_staff=True)
    pna = perf.note_array()
    s_by_id = {sid: i for i, sid in enumerate(sna["id"])}
    p_by_id = {pid: i for i, pid in enumerate(pna["id"])}
    pairs = [(s_by_id[a["score_id"]], p_by_id[a["performance_id"]]) for a in alignment
             if a["label"] == "match" and a["score_id"] in s_by_id and a["performance_id"] in p_by_id]
    si = np.array([p[0] for p in pairs], dtype=np.int64)
    pi = np.array([p[1] for p in pairs], dtype=np.int64)
    s, p = sna[si], pna[pi]
    order = np.lexsort((s["pitch"], s["onset_quarter"]))
    s, p = s[order], p[order]
    marks = match_marks(match_path)
    none = np.zeros(len(MARKS), dtype=np.int8)
    divs = np.maximum(s["divs_pq"], 1).astype(float)
    staff = np.where(s["staff"] == 1, 0, np.where(s["staff"] == 2, 1, -1))
    return {
        "onset": s["onset_quarter"].astype(float), "duration": s["duration_quarter"].astype(float),
        "pitch": s["pitch"].astype(np.int16), "pos_in_bar": s["rel_onset_div"] / divs,
        "bar_len": s["ts_beats"] * 4.0 / s["ts_beat_type"], "beat_unit": 4.0 / s["ts_beat_type"],
        "staff": staff.astype(np.int8), "perf_onset": p["onset_sec"].astype(float),
        "perf_duration": p["duration_sec"].astype(float), "velocity": p["velocity"].astype(np.int16),
        "marks": np.array([marks.get(str(i), none) for i in s["id"]], dtype=np.int8).reshape(-1, len(MARKS)),
    }


def build_cache(root: Path, out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    index = []
    rows = performances(root)
    t0 = time.time()
    for k, r in enumerate(rows):
        f = out / (r["id"].replace(":", "__").replace("|", "_") + ".npz")
        if not f.exists():
            arrays = extract(r["match"])
            np.savez_compressed(f, **arrays, **extract_pedal(r["match"]))
        else:
            with np.load(f) as z:
                arrays = {k: z[k] for k in z.files}
            if not all(k in arrays for k in PEDAL_ARRAYS) or "marks" not in arrays:  # older caches
                np.savez_compressed(f, **extract(r["match"]), **extract_pedal(r["match"]))
        r = {**r, "file": f.name}
        index.append(r)
        print(f"[{k + 1}/{len(rows)}] {r['id']} {time.time() - t0:.0f}s", flush=True)
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return index


def load_cache(cache: Path, split: str | None = None) -> list[dict]:
    """Index rows with their arrays loaded (`row["arrays"]`), optionally one split only."""
    index = json.loads((cache / "index.json").read_text())
    out = []
    for r in index:
        if split is None or r["split"] == split:
            with np.load(cache / r["file"]) as z:
                arrays = {k: z[k] for k in ARRAYS}
                arrays["marks"] = z["marks"] if "marks" in z.files else np.zeros((len(z["onset"]), len(MARKS)), np.int8)
                for k in PEDAL_ARRAYS:  # absent in caches built before the pedal was read
                    arrays[k] = z[k] if k in z.files else np.zeros(0)
                out.append({**r, "arrays": arrays})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root")
    ap.add_argument("--out", default="runs/perform_cache")
    args = ap.parse_args(argv)
    index = build_cache(data_root(args.data_root), Path(args.out))
    print(json.dumps({"performances": len(index)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
