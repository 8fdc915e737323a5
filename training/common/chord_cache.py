"""Parse the chord datasets once into `runs/chord_examples_<dataset>_<split>.pkl` (git-ignored).

Each file holds a list of (id, Piece, spans) from `chord_data.examples`; training and the
benchmarks then start in seconds. Resumable: existing files are kept.
`python -m training chords cache [--max-seconds S]` (harmonize reads these caches too)
"""
from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

from training.common.chord_data import examples

JOBS = [("pop909_cl", "train"), ("pop909_cl", "valid"), ("pop909_cl", "test"), ("bps_fh", "train"),
        ("bps_fh", "valid"), ("bps_fh", "test"), ("nottingham", "train"), ("nottingham", "valid"),
        ("when_in_rome", "valid"), ("when_in_rome", "train"), ("chord_melody_dataset", "train"),
        ("chord_melody_dataset", "valid"), ("chord_melody_dataset", "test")]


def cache_path(runs: Path, dataset: str, split: str) -> Path:
    return runs / f"chord_examples_{dataset}_{split}.pkl"


def load_cached(runs: Path, dataset: str, split: str) -> list:
    p = cache_path(runs, dataset, split)
    return pickle.loads(p.read_bytes()) if p.exists() else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--max-seconds", type=float, default=900.0, help="time budget per dataset split")
    args = ap.parse_args()
    runs = Path(args.runs)
    runs.mkdir(exist_ok=True)
    for ds, split in JOBS:
        out = cache_path(runs, ds, split)
        if out.exists():
            continue
        t0, items = time.time(), []
        for item in examples(ds, split):
            items.append(item)
            if time.time() - t0 > args.max_seconds:
                break
        out.write_bytes(pickle.dumps(items))
        print(f"{ds} {split}: {len(items)} examples in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
