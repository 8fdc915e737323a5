"""Melody + reference chords per style, for training and evaluating `harmonize`.

- pop: the POP909 MELODY track shifted onto the POP909-CL beat grid (the CL score is the
  original quantised and shifted by a constant per song; the shift is the commonest onset
  difference of same-pitch notes), with the human-corrected CL chords and time signatures;
- folk: Nottingham track 0 (melody) with its chord track;
- chorale: the soprano (first part) of Bach chorales with their When-in-Rome analyses;
- leadsheet (trained with pop, not benchmarked): Chord Melody Dataset lead sheets.
Each item is (id, melody Piece, spans) with spans as in `training.common.chord_data`. Parsed items are cached
in `runs/harmonize_<style>_<split>.pkl` by `python -m training harmonize data`.
"""
from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from symbolic_ai.errors import InputError
from symbolic_ai.piece import Piece, Track
from training.common.chord_cache import cache_path, load_cached
from training.common.chord_data import Span

STYLES = ("pop", "folk", "chorale")


def melody_only(piece: Piece, track: int = 0, name: str = "melody") -> Piece:
    """The notes of one track as a one-track Piece (time system and annotations kept)."""
    notes = piece.notes[piece.notes["track"] == track].copy()
    notes["track"] = 0
    return piece.replace(notes=notes, tracks=(Track(piece.tracks[track].program, name),))


def pop_shift(melody: np.ndarray, cl: np.ndarray) -> float | None:
    """Beat shift that maps original POP909 onsets onto POP909-CL onsets (None if no clear match)."""
    diffs = []
    cl_by_pitch: dict[int, np.ndarray] = {}
    for p in np.unique(cl["pitch"]):
        cl_by_pitch[int(p)] = cl["onset_beat"][cl["pitch"] == p]
    for n in melody[:300]:
        on = cl_by_pitch.get(int(n["pitch"]))
        if on is not None:
            diffs.append(np.round((on - n["onset_beat"]) * 24) / 24)
    if not diffs:
        return None
    vals, counts = np.unique(np.concatenate(diffs), return_counts=True)
    best = int(np.argmax(counts))
    return float(vals[best]) if counts[best] >= 0.5 * min(len(melody), 300) else None


def pop_items(split: str, runs: Path) -> Iterator[tuple[str, Piece, list[Span]]]:
    from symbolic_ai.data import iter_examples

    cl = {i: (p, s) for i, p, s in load_cached(runs, "pop909_cl", split)}
    for ex in iter_examples("pop909", split=split):
        if ex.id not in cl:
            continue
        try:
            orig = ex.load()
        except InputError:
            continue
        cl_piece, spans = cl[ex.id]
        mel = orig.notes[orig.notes["track"] == 0].copy()
        shift = pop_shift(mel, cl_piece.notes)
        if shift is None:
            continue
        mel["onset_beat"] = np.round((mel["onset_beat"] + shift) * 24) / 24
        mel["duration_beat"] = np.maximum(np.round(mel["duration_beat"] * 24) / 24, 1 / 24)
        keep = mel["onset_beat"] >= 0
        mel = mel[keep]
        for f in ("onset_sec", "duration_sec", "beat_in_bar"):
            mel[f] = np.nan
        mel["bar"], mel["track"] = -1, 0
        piece = cl_piece.replace(notes=mel, tracks=(Track(0, "melody"),))
        yield ex.id, piece, spans


def snap_half_bars(piece: Piece, spans: list[Span]) -> list[Span]:
    """Chord starts moved to the nearest half bar (the lead sheets have exactly two chords per 4/4
    bar, but music21 places some `<harmony>` elements a little off the beat)."""
    starts = [s for s, _, _, _ in spans]
    bar, pos = piece.bar_position(np.asarray(starts))
    bar_start = np.asarray(starts) - pos
    snapped = bar_start + np.clip(np.round(pos / 2.0) * 2.0, 0, 4)
    out = []
    for k, (_, _, chord, key) in enumerate(spans):
        end = snapped[k + 1] if k + 1 < len(spans) else spans[-1][1]
        if end > snapped[k]:
            out.append((float(snapped[k]), float(end), chord, key))
    return out


# style → the cached sources it is trained on; the first source is the style's held-out benchmark set
SOURCES = {"pop": ("pop", "leadsheet"), "folk": ("folk",), "chorale": ("chorale",)}
_CHORD_CACHE = {"pop": "pop909_cl", "leadsheet": "chord_melody_dataset", "folk": "nottingham",
                "chorale": "when_in_rome"}


def items(source: str, split: str, runs: Path) -> Iterator[tuple[str, Piece, list[Span]]]:
    if source == "pop":
        yield from pop_items(split, runs)
    elif source == "folk":
        for i, p, s in load_cached(runs, "nottingham", split):
            yield i, melody_only(p), s
    elif source == "leadsheet":
        for i, p, s in load_cached(runs, "chord_melody_dataset", split):
            yield i, melody_only(p), snap_half_bars(p, s)
    elif source == "chorale":
        for i, p, s in load_cached(runs, "when_in_rome", split):
            if "Chorales" in i and len(p.tracks) >= 4:
                yield i, melody_only(p, 0, "soprano"), s
    else:
        raise ValueError(f"unknown source {source!r}")


def load_source(source: str, split: str, runs: Path) -> list:
    p = runs / f"harmonize_{source}_{split}.pkl"
    return pickle.loads(p.read_bytes()) if p.exists() else []


def load_style(style: str, split: str, runs: Path, all_sources: bool = True) -> list:
    """Cached (id, melody, spans) of a style: every source, or only its benchmark source."""
    return [x for src in (SOURCES[style] if all_sources else SOURCES[style][:1]) for x in load_source(src, split, runs)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", default="runs")
    args = ap.parse_args()
    runs = Path(args.runs)
    for source in _CHORD_CACHE:
        for split in ("train", "valid", "test"):
            out = runs / f"harmonize_{source}_{split}.pkl"
            if out.exists() or not cache_path(runs, _CHORD_CACHE[source], split).exists():
                continue
            t0 = time.time()
            got = list(items(source, split, runs))
            out.write_bytes(pickle.dumps(got))
            print(f"{source} {split}: {len(got)} melodies in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
