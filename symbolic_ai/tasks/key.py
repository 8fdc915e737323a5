"""`key`: global and local key and mode from weighted pitch-class profiles.

Each note adds to a 12-bin pitch-class histogram its duration (capped at `duration_cap_beats`)
plus `onset_weight` for its attack, times `1 + bass_weight` when it is the lowest note of its
onset. Global key: the best Pearson correlation (plus `final_bass_bonus` for keys whose tonic
is the final bass note) of the whole piece's histogram with the 24
rotations of a key profile (Albrecht–Shanahan by default; Krumhansl–Kessler, Temperley,
Aarden–Essen, Bellman–Budge and Sapp as options). Local keys: the same correlation in sliding
windows (the global key gets `global_prior` extra), smoothed by Viterbi over the 24 keys with a
cost for changing key, then merged into segments. Histograms of any window come from cumulative sums, so a piece costs O(n log n).
Defaults were tuned on the valid splits of POP909-CL, BPS-FH and Nottingham (benchmarks/key.py).
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np

from ..errors import InputError
from ..piece import Annotation, Piece
from ..registry import Arg, Result, task

PROFILES = {  # (major, minor) weights for scale degrees 0..11 above the tonic
    "krumhansl": (np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
                  np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])),
    "temperley": (np.array([5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0]),
                  np.array([5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0])),
    "aarden": (np.array([17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062,
                         0.145624, 8.15494, 0.232998, 4.95122]),
               np.array([18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161,
                         4.56621, 1.93186, 7.37619, 1.75623])),
    "albrecht": (np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081]),
                 np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052])),
    "bellman": (np.array([16.80, 0.86, 12.95, 1.41, 13.49, 11.93, 1.25, 20.28, 1.80, 8.04, 0.62, 10.57]),
                np.array([18.16, 0.69, 12.99, 13.34, 1.07, 11.15, 1.38, 21.07, 7.49, 1.53, 0.92, 10.21])),
    "sapp": (np.array([2.0, 0, 1, 0, 1, 1, 0, 2, 0, 1, 0, 1]),
             np.array([2.0, 0, 1, 1, 0, 1, 0, 2, 1, 0, 0.5, 0.5])),
}
ProfileName = Literal["albrecht", "krumhansl", "temperley", "aarden", "bellman", "sapp"]
MAJOR_NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MINOR_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"]
PITCH_CLASS = {n: i for i, n in enumerate(["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"])}
PITCH_CLASS.update({"Db": 1, "Eb": 3, "Gb": 6, "Ab": 8, "Bb": 10, "Cb": 11, "Fb": 4, "E#": 5, "B#": 0})
DEFAULTS = {"profile": "albrecht", "window_beats": 16.0, "hop_beats": 4.0, "switch_cost": 2.0,
            "onset_weight": 0.25, "bass_weight": 0.0, "duration_cap_beats": 4.0, "final_bass_bonus": 0.1,
            "global_prior": 0.1}  # tuned on valid splits: see benchmarks/key_tune.py and docs/benchmarks.md


def key_name(index: int) -> str:
    """Key index 0..23 (0–11 major on C..B, 12–23 minor) → 'F# minor'."""
    tonic = index % 12
    return f"{MAJOR_NAMES[tonic]} major" if index < 12 else f"{MINOR_NAMES[tonic]} minor"


def parse_key(name: str) -> int:
    """'F# minor', 'f#', 'Gb:maj', 'Eb:min', 'g' → key index 0..23 (lower-case letter = minor)."""
    s = name.strip().replace(":", " ")
    parts = s.split()
    if not parts:
        raise ValueError(f"not a key name: {name!r}")
    tonic = parts[0]
    mode = parts[1].lower() if len(parts) > 1 else ("minor" if tonic[:1].islower() else "major")
    tonic = tonic[:1].upper() + tonic[1:].replace("-", "b")
    if tonic not in PITCH_CLASS or mode[:3] not in ("maj", "min"):
        raise ValueError(f"not a key name: {name!r}")
    return PITCH_CLASS[tonic] + (12 if mode.startswith("min") else 0)


def key_templates(profile: str = "albrecht") -> np.ndarray:
    """(24, 12) z-scored templates, rows in key-index order."""
    if profile not in PROFILES:
        raise InputError(f"unknown key profile {profile!r}; profiles are {', '.join(PROFILES)}")
    major, minor = PROFILES[profile]
    rows = [np.roll(major, t) for t in range(12)] + [np.roll(minor, t) for t in range(12)]
    t = np.asarray(rows, dtype=float)
    t -= t.mean(axis=1, keepdims=True)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def correlations(histograms: np.ndarray, profile: str = "albrecht") -> np.ndarray:
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


def cumulative_histograms(onset: np.ndarray, end: np.ndarray, pitch: np.ndarray, times: np.ndarray,
                          weight: np.ndarray | None = None, attack: float = 0.0) -> np.ndarray:
    """(len(times), 12): per pitch class, the weighted sounding time before each time, plus
    `attack` × weight for each onset before it. Window histograms are differences of two rows."""
    t = np.asarray(times, dtype=float)
    w = np.ones(len(pitch)) if weight is None else np.asarray(weight, dtype=float)
    out = np.zeros((len(t), 12))
    pc = np.asarray(pitch) % 12
    for c in np.unique(pc):
        sel = pc == c
        for edge, sign in ((onset[sel], 1.0), (end[sel], -1.0)):
            order = np.argsort(edge, kind="stable")
            e, we = edge[order], w[sel][order]
            cw = np.concatenate([[0.0], np.cumsum(we)])
            cwe = np.concatenate([[0.0], np.cumsum(we * e)])
            i = np.searchsorted(e, t, side="left")  # events strictly before t
            out[:, c] += sign * (t * cw[i] - cwe[i])
            if sign > 0 and attack:
                out[:, c] += attack * cw[i]
    return out


def window_histograms(onset: np.ndarray, duration: np.ndarray, pitch: np.ndarray,
                      starts: np.ndarray, length: float) -> np.ndarray:
    """Duration-weighted pitch-class histograms of each window [start, start + length)."""
    onset = np.asarray(onset, dtype=float)
    end = onset + np.maximum(np.asarray(duration, dtype=float), 1e-3)
    starts = np.asarray(starts, dtype=float)
    c = cumulative_histograms(onset, end, pitch, np.concatenate([starts, starts + length]))
    return np.maximum(c[len(starts):] - c[:len(starts)], 0.0)


def bass_mask(onset: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """True for the lowest note of each group of notes starting together."""
    order = np.lexsort((pitch, onset))
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.diff(onset[order]) > 1e-6
    mask = np.zeros(len(onset), dtype=bool)
    mask[order[first]] = True
    return mask


def final_bass(onset: np.ndarray, end: np.ndarray, pitch: np.ndarray) -> int:
    """Pitch class of the lowest note sounding at the last onset (pieces mostly end on the tonic)."""
    last = onset.max()
    sounding = (onset <= last + 1e-6) & (end > last)
    return int(pitch[sounding].min() % 12)


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


def analyze(piece: Piece, *, profile: str = DEFAULTS["profile"], window_beats: float = DEFAULTS["window_beats"],
            hop_beats: float = DEFAULTS["hop_beats"], switch_cost: float = DEFAULTS["switch_cost"],
            onset_weight: float = DEFAULTS["onset_weight"], bass_weight: float = DEFAULTS["bass_weight"],
            duration_cap_beats: float = DEFAULTS["duration_cap_beats"],
            final_bass_bonus: float = DEFAULTS["final_bass_bonus"],
            global_prior: float = DEFAULTS["global_prior"]) -> dict:
    """The key JSON (see `key`) without building a Result; used by other tasks."""
    notes = piece.pitched()
    if not len(notes):
        raise InputError(f"{piece.metadata.get('source', 'piece')}: no pitched notes to find a key in")
    if window_beats <= 0 or hop_beats <= 0:
        raise InputError(f"window_beats and hop_beats must be > 0, got {window_beats!r} and {hop_beats!r}")
    onset, dur, unit = _time_axis(piece, notes)
    onset = onset.astype(float)
    pitch = notes["pitch"].astype(np.int64)
    sounding_end = onset + np.maximum(dur, 1e-3)
    end = float(sounding_end.max())
    weighted_end = onset + np.clip(dur, 1e-3, duration_cap_beats)
    weight = np.where(bass_mask(onset, pitch), 1.0 + bass_weight, 1.0) if bass_weight else None
    # one window centred on each hop cell [i·hop, (i+1)·hop); windows at the edges reach past them
    starts = np.arange(0.0, max(end, hop_beats), hop_beats) + (hop_beats - window_beats) / 2.0
    times = np.concatenate([[onset.min() - 1.0, end + 1.0], starts, starts + window_beats])
    cum = cumulative_histograms(onset, weighted_end, pitch, times, weight, onset_weight)
    total = cum[1] - cum[0]
    r = correlations(total, profile) + final_bass_bonus * (np.arange(24) % 12 == final_bass(onset, sounding_end, pitch))
    order = np.argsort(r)[::-1]
    best = int(order[0])
    probs = _softmax(r / 0.05)
    hist = np.maximum(cum[2 + len(starts):] - cum[2:2 + len(starts)], 0.0)
    local_r = correlations(hist, profile)
    local_r[~(hist > 1e-9).any(axis=1)] = r  # silent windows follow the global key
    local_r[:, best] += global_prior
    path = viterbi(local_r * (0.5 * hop_beats), switch_cost)  # scores per beat: the cost is hop-independent
    local: list[dict] = []
    for i, k in enumerate(path):
        seg_start = i * hop_beats
        if local and local[-1]["index"] == k:
            continue
        if local:
            local[-1]["end"] = seg_start
        local.append({"index": int(k), "start": seg_start})
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


@task("key", summary="Global and local key and mode (pitch-class profiles, Viterbi-smoothed)")
def key(
    piece: Piece,
    *,
    profile: Annotated[ProfileName, Arg("pitch-class key profile (Albrecht–Shanahan, Krumhansl–Kessler, …)")]
    = DEFAULTS["profile"],
    window_beats: Annotated[float, Arg("local-key window length in quarter notes", ge=2, le=512)]
    = DEFAULTS["window_beats"],
    hop_beats: Annotated[float, Arg("hop between local windows in quarter notes", ge=0.5, le=128)]
    = DEFAULTS["hop_beats"],
    switch_cost: Annotated[float, Arg("cost of a key change; higher gives fewer modulations", ge=0, le=100)]
    = DEFAULTS["switch_cost"],
    onset_weight: Annotated[float, Arg("weight of each note attack, in quarter notes of duration", ge=0, le=16)]
    = DEFAULTS["onset_weight"],
    bass_weight: Annotated[float, Arg("extra weight of the lowest note of each onset (0 = none)", ge=0, le=16)]
    = DEFAULTS["bass_weight"],
    duration_cap_beats: Annotated[float, Arg("longest duration a note counts with, in quarter notes", ge=0.25,
                                             le=1024)] = DEFAULTS["duration_cap_beats"],
    final_bass_bonus: Annotated[float, Arg("correlation bonus for keys on the final bass note", ge=0, le=1)]
    = DEFAULTS["final_bass_bonus"],
    global_prior: Annotated[float, Arg("local-key bonus for the global key; higher gives fewer modulations", ge=0,
                                       le=1)] = DEFAULTS["global_prior"],
) -> Result:
    """Find the global key and mode with a confidence, and the local keys over time.

    JSON: `key` ("F# minor"), `tonic`, `mode`, `confidence` (0..1), `correlation`, `runner_up`,
    `profile`, and `local`: a list of segments with `start_beat`, `end_beat`, `start_sec`,
    `end_sec`, `key`, `tonic`, `mode`. The returned Piece carries `key` annotations (local keys).
    """
    data = analyze(piece, profile=profile, window_beats=window_beats, hop_beats=hop_beats,
                   switch_cost=switch_cost, onset_weight=onset_weight, bass_weight=bass_weight,
                   duration_cap_beats=duration_cap_beats, final_bass_bonus=final_bass_bonus,
                   global_prior=global_prior)
    if piece.has_beats:
        anns = [Annotation("key", s["start_beat"], s["end_beat"], s["key"]) for s in data["local"]]
        piece = piece.annotate(anns, replace_kinds=("key",))
    return Result("key", piece, data)
