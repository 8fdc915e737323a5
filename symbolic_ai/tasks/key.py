"""`key`: global and local key and mode from duration-weighted pitch-class profiles.

Global key: the best Pearson correlation between the piece's pitch-class profile and the 24
rotations of a key profile (Krumhansl–Kessler by default; Temperley and Aarden–Essen as options).
Local keys: the same correlation in sliding windows, smoothed by Viterbi over the 24 keys with a
fixed cost for changing key, then merged into segments.
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np

from ..errors import InputError
from ..piece import Annotation, Piece
from ..registry import Arg, Result, task

PROFILES = {
    "krumhansl": (np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
                  np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])),
    "temperley": (np.array([5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0]),
                  np.array([5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0])),
    "aarden": (np.array([17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062,
                         0.145624, 8.15494, 0.232998, 4.95122]),
               np.array([18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161,
                         4.56621, 1.93186, 7.37619, 1.75623])),
}
MAJOR_NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MINOR_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"]
PITCH_CLASS = {n: i for i, n in enumerate(["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"])}
PITCH_CLASS.update({"Db": 1, "Eb": 3, "Gb": 6, "Ab": 8, "Bb": 10, "Cb": 11, "Fb": 4, "E#": 5, "B#": 0})


def key_name(index: int) -> str:
    """Key index 0..23 (0–11 major on C..B, 12–23 minor) → 'F# minor'."""
    tonic = index % 12
    return f"{MAJOR_NAMES[tonic]} major" if index < 12 else f"{MINOR_NAMES[tonic]} minor"


def parse_key(name: str) -> int:
    """'F# minor', 'f#', 'Gb:maj', 'Eb:min', 'g' → key index 0..23 (lower-case letter = minor)."""
    s = name.strip().replace(":", " ")
    parts = s.split()
    tonic = parts[0]
    mode = parts[1].lower() if len(parts) > 1 else ("minor" if tonic[:1].islower() else "major")
    tonic = tonic[:1].upper() + tonic[1:].replace("-", "b")
    if tonic not in PITCH_CLASS or mode[:3] not in ("maj", "min"):
        raise ValueError(f"not a key name: {name!r}")
    return PITCH_CLASS[tonic] + (12 if mode.startswith("min") else 0)


def key_templates(profile: str = "krumhansl") -> np.ndarray:
    """(24, 12) z-scored templates, rows in key-index order."""
    major, minor = PROFILES[profile]
    rows = [np.roll(major, t) for t in range(12)] + [np.roll(minor, t) for t in range(12)]
    t = np.asarray(rows, dtype=float)
    t -= t.mean(axis=1, keepdims=True)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def correlations(histograms: np.ndarray, profile: str = "krumhansl") -> np.ndarray:
    """Pearson correlation of each 12-bin histogram (…, 12) with the 24 key templates → (…, 24)."""
    h = np.asarray(histograms, dtype=float)
    h = h - h.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(h, axis=-1, keepdims=True)
    h = np.divide(h, norm, out=np.zeros_like(h), where=norm > 0)
    return h @ key_templates(profile).T


def _time_axis(piece: Piece, notes: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    if piece.has_beats:
        return notes["onset_beat"], notes["duration_beat"], "beat"
    return notes["onset_sec"] * 2.0, notes["duration_sec"] * 2.0, "sec"  # 120 qpm nominal grid


def window_histograms(onset: np.ndarray, duration: np.ndarray, pitch: np.ndarray,
                      starts: np.ndarray, length: float) -> np.ndarray:
    """Duration-weighted pitch-class histograms of each window [start, start + length)."""
    end = onset + np.maximum(duration, 1e-3)
    overlap = np.clip(np.minimum(end[None, :], starts[:, None] + length)
                      - np.maximum(onset[None, :], starts[:, None]), 0.0, None)
    onehot = np.zeros((len(pitch), 12))
    onehot[np.arange(len(pitch)), pitch % 12] = 1.0
    return overlap @ onehot


def viterbi(scores: np.ndarray, switch_cost: float) -> np.ndarray:
    """Best path through (T, K) scores with a constant cost for each change of state."""
    T, K = scores.shape
    back = np.zeros((T, K), dtype=np.int64)
    acc = scores[0].copy()
    for t in range(1, T):
        best_prev = int(np.argmax(acc))
        stay, switch = acc, acc[best_prev] - switch_cost
        back[t] = np.where(stay >= switch, np.arange(K), best_prev)
        acc = np.maximum(stay, switch) + scores[t]
    path = np.empty(T, dtype=np.int64)
    path[-1] = int(np.argmax(acc))
    for t in range(T - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def analyze(piece: Piece, *, profile: str = "krumhansl", window_beats: float = 16.0,
            hop_beats: float = 4.0, switch_cost: float = 2.0) -> dict:
    """The key JSON (see `key`) without building a Result; used by other tasks."""
    notes = piece.pitched()
    if not len(notes):
        raise InputError(f"{piece.metadata.get('source', 'piece')}: no pitched notes to find a key in")
    onset, dur, unit = _time_axis(piece, notes)
    pitch = notes["pitch"].astype(np.int64)
    total = window_histograms(onset, dur, pitch, np.array([0.0]), float((onset + dur).max()) + 1.0)[0]
    r = correlations(total, profile)
    order = np.argsort(r)[::-1]
    best = int(order[0])
    probs = _softmax(r / 0.05)
    end = float((onset + dur).max())
    starts = np.arange(0.0, max(end - window_beats, 0.0) + hop_beats, hop_beats)
    local_r = correlations(window_histograms(onset, dur, pitch, starts, window_beats), profile)
    empty = ~window_histograms(onset, dur, pitch, starts, window_beats).any(axis=1)
    local_r[empty] = r  # silent windows follow the global key
    path = viterbi(local_r / 0.05 * 0.1, switch_cost)
    local = []
    for i, k in enumerate(path):
        seg_start = 0.0 if i == 0 else starts[i] + (window_beats - hop_beats) / 2.0
        if local and local[-1]["index"] == k:
            continue
        if local:
            local[-1]["end"] = seg_start
        local.append({"index": int(k), "start": seg_start})
    if local:
        local[-1]["end"] = end
    segments = []
    for seg in local:
        s, e = seg["start"], seg["end"]
        if unit == "beat":
            s_sec, e_sec = piece.span_sec(s, e)
            s_beat, e_beat = s, e
        else:
            s_sec, e_sec, s_beat, e_beat = s / 2.0, e / 2.0, float("nan"), float("nan")
        segments.append({"start_beat": s_beat, "end_beat": e_beat, "start_sec": s_sec, "end_sec": e_sec,
                         **_describe(seg["index"])})
    return {**_describe(best), "confidence": float(probs[best]), "correlation": float(r[best]),
            "runner_up": key_name(int(order[1])), "profile": profile, "local": segments}


def _describe(index: int) -> dict:
    name = key_name(index)
    tonic, mode = name.split()
    return {"key": name, "tonic": tonic, "mode": mode}


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


@task("key", summary="Global and local key and mode (Krumhansl–Kessler profiles, Viterbi-smoothed)")
def key(
    piece: Piece,
    *,
    profile: Annotated[Literal["krumhansl", "temperley", "aarden"],
                       Arg("key profile: Krumhansl–Kessler, Temperley or Aarden–Essen")] = "krumhansl",
    window_beats: Annotated[float, Arg("local-key window length in quarter notes", ge=2, le=512)] = 16.0,
    hop_beats: Annotated[float, Arg("hop between local windows in quarter notes", ge=0.5, le=128)] = 4.0,
    switch_cost: Annotated[float, Arg("cost of a key change; higher gives fewer modulations", ge=0, le=100)] = 2.0,
) -> Result:
    """Find the global key and mode with a confidence, and the local keys over time.

    JSON: `key` ("F# minor"), `tonic`, `mode`, `confidence` (0..1), `correlation`, `runner_up`,
    `profile`, and `local`: a list of segments with `start_beat`, `end_beat`, `start_sec`,
    `end_sec`, `key`, `tonic`, `mode`. The returned Piece carries `key` annotations (local keys).
    """
    data = analyze(piece, profile=profile, window_beats=window_beats, hop_beats=hop_beats,
                   switch_cost=switch_cost)
    if piece.has_beats:
        anns = [Annotation("key", s["start_beat"], s["end_beat"], s["key"]) for s in data["local"]]
        piece = piece.annotate(anns, replace_kinds=("key",))
    return Result("key", piece, data)
