"""Emotion training data: EMOPIA / VGMIDI clips, random windows, augmentation, batches.

Training reads random windows of `window_beats` quarter notes (the task's window), transposed by
a few semitones (transposition keeps the mode and the key confidence, so the mode features stay
true) and time-stretched (tempo scaling of the beat grid). Evaluation reads every window of a clip
as the `emotion` task does and averages the probabilities, so valid/test figures are the task's.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic_ai.piece import Piece
from symbolic_ai.tasks.emotion import DEFAULT_MAX_TOKENS, QUADRANTS, clip, guide_features, pad_batch, windows
from symbolic_ai.metre import beat_axis
from symbolic_ai.tokens import Tokenizer

CACHE = Path("runs/emotion")
MAX_TOKENS = DEFAULT_MAX_TOKENS  # notes per window (set by `emotion train --max-tokens`)


@dataclass
class Item:
    """One labelled clip (a whole EMOPIA clip or VGMIDI phrase)."""

    id: str
    split: str
    group: str
    label: int
    piece: Piece


def load_items(dataset: str, cache_dir: Path = CACHE) -> list[Item]:
    """Every labelled clip of `dataset` ('emopia' or 'vgmidi'), parsed once and cached in runs/."""
    from symbolic_ai.data import iter_examples

    path = Path(cache_dir) / f"items_{dataset}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    items = [Item(ex.id, ex.split, ex.work_id, QUADRANTS.index(ex.labels["quadrant"]), ex.load())
             for ex in iter_examples(dataset)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(items))
    return items


def augment(piece: Piece, rng: np.random.Generator, transpose: int = 5,
            stretch: float = 0.15) -> Piece:
    """Transpose by a random k in [-transpose, transpose] (kept inside 21..108 where possible) and
    scale the beat grid by a random factor in [1 - stretch, 1 + stretch]."""
    n = piece.pitched().copy()
    lo, hi = int(n["pitch"].min()), int(n["pitch"].max())
    k = 0
    for low, high in ((max(-transpose, 21 - lo), min(transpose, 108 - hi)),  # piano range if it can
                      (max(-transpose, -lo), min(transpose, 127 - hi))):     # else MIDI range
        if transpose and low <= high:
            k = int(rng.integers(low, high + 1))
            break
    n["pitch"] = n["pitch"] + k
    f = float(rng.uniform(1 - stretch, 1 + stretch)) if stretch else 1.0
    if piece.has_beats:
        n["onset_beat"] *= f
        n["duration_beat"] *= f
        for name in ("onset_sec", "duration_sec", "beat_in_bar"):
            n[name] = np.nan
        n["bar"] = -1
    else:
        n["onset_sec"] *= f
        n["duration_sec"] *= f
    return piece.replace(notes=n, annotations=())


def flat_velocity(piece: Piece, velocity: int) -> Piece:
    """`piece` with every note at `velocity` (1..127): how a score (MusicXML, notation-program MIDI)
    looks to the model."""
    if not 1 <= velocity <= 127:
        raise ValueError(f"velocity must be in 1..127, got {velocity!r}")
    n = piece.notes.copy()
    n["velocity"] = velocity
    return piece.replace(notes=n)


def score_like(piece: Piece, velocity: int = 64, grid_beats: float = 0.25) -> Piece:
    """A deadpan rendering of `piece`: every note at `velocity`, onsets and durations quantized to
    `grid_beats` quarter notes of its beat grid (the nominal 120 qpm grid of a performance without
    one), so a performance looks like a score exported by a notation program."""
    n = flat_velocity(piece, velocity).notes.copy()
    if piece.has_beats:
        on = np.round(n["onset_beat"] / grid_beats) * grid_beats
        off = np.round((n["onset_beat"] + n["duration_beat"]) / grid_beats) * grid_beats
        n["onset_beat"], n["duration_beat"] = on, np.maximum(off - on, grid_beats)
        for name in ("onset_sec", "duration_sec", "beat_in_bar"):
            n[name] = np.nan
        n["bar"] = -1
    else:
        g = grid_beats * 0.5  # seconds per grid step at the nominal 120 qpm
        on = np.round(n["onset_sec"] / g) * g
        off = np.round((n["onset_sec"] + n["duration_sec"]) / g) * g
        n["onset_sec"], n["duration_sec"] = on, np.maximum(off - on, g)
    return piece.replace(notes=n, annotations=())


def scale_velocity(piece: Piece, factor: float) -> Piece:
    """Every velocity times `factor`, rounded and kept in 1..127 (a louder or softer take of the same music)."""
    n = piece.notes.copy()
    n["velocity"] = np.clip(np.round(n["velocity"] * factor), 1, 127)
    return piece.replace(notes=n)


def transpose(piece: Piece, k: int) -> Piece:
    """Pitched notes (not drums) moved by `k` semitones (kept in 0..127)."""
    n = piece.notes.copy()
    pitched = ~np.array([t.is_drum for t in piece.tracks], dtype=bool)[n["track"]]
    n["pitch"][pitched] = np.clip(n["pitch"][pitched].astype(int) + k, 0, 127)
    return piece.replace(notes=n)


def deadpan(piece: Piece, rng: np.random.Generator, low: int = 48, high: int = 96) -> Piece:
    """Every note at one velocity drawn from [low, high] (augmentation: the model learns not to
    read a flat dynamic as an emotion)."""
    return flat_velocity(piece, int(rng.integers(low, high + 1)))


def random_window(piece: Piece, rng: np.random.Generator, window_beats: float,
                  max_tokens: int | None = None) -> Piece:
    """A window of `window_beats` at a random start (the whole clip when it is shorter)."""
    max_tokens = max_tokens or MAX_TOKENS
    notes = piece.pitched()
    onset, dur, _ = beat_axis(piece, notes)
    end = float((onset + dur).max())
    for _ in range(8):
        s = float(rng.uniform(0.0, max(end - window_beats, 0.0)))
        c = clip(piece, s, s + window_beats, max_tokens)
        if c is not None:
            return c
    return clip(piece, 0.0, np.inf, max_tokens) or piece


def encode(pieces: list[Piece], tok: Tokenizer, guide: str = "mode") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tokens [B, S, F], mask [B, S], guide features [B, n] of a list of windows."""
    tokens, mask = pad_batch([tok.encode(p) for p in pieces])
    return tokens, mask, np.stack([guide_features(p, guide) for p in pieces])


def eval_set(items: list[Item], tok: Tokenizer, window_beats: float, hop_beats: float,
             max_tokens: int | None = None, guide: str = "mode") -> list[tuple[list[np.ndarray], np.ndarray, int]]:
    """Per clip: its windows' token arrays, their guide features and the label (computed once)."""
    max_tokens = max_tokens or MAX_TOKENS
    out = []
    for it in items:
        wins = [c for _, _, c in windows(it.piece, window_beats, hop_beats, max_tokens)]
        out.append(([tok.encode(w) for w in wins], np.stack([guide_features(w, guide) for w in wins]), it.label))
    return out
