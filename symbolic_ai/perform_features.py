"""Numpy feature code shared by the `perform` task and its training (no torch, no partitura).

Score side: one feature row per score note (`score_features`). Performance side: the four
per-note expressive parameters of partitura's performance codec (Cancino-Chacón's "basis
mixer" parameters), here in quarter notes rather than notated beats:

- `beat_period`: seconds per quarter note at the note's score onset (local tempo),
- `velocity`: MIDI velocity / 127,
- `timing`: seconds the note is played *before* its tempo-curve position (onset deviation),
- `articulation_log`: log2 of performed duration over the duration the tempo predicts.

`encode_performance` and `decode_performance` mirror partitura's `encode_performance`
(average tempo per score onset, monotonised) and `decode_performance` so that runtime needs only
numpy; tests compare them with partitura on real match files.
"""
from __future__ import annotations

import numpy as np

TARGETS = ("beat_period", "velocity", "timing", "articulation_log")
MIN_PERF_DURATION_SEC = 60 / 200 * 0.25  # partitura's floor for performed durations
ONSET_EPS = 1e-6


# -- onset groups ------------------------------------------------------------------------------
def onset_groups(onsets: np.ndarray, eps: float = ONSET_EPS) -> list[np.ndarray]:
    """Indices of the notes sharing each score onset, in onset order (stable within a group)."""
    onsets = np.asarray(onsets, dtype=float)
    order = np.argsort(onsets, kind="mergesort")
    split = np.flatnonzero(np.diff(onsets[order]) > eps) + 1
    return np.split(order, split)


def _group_index(groups: list[np.ndarray], n: int) -> np.ndarray:
    g = np.empty(n, dtype=np.int64)
    for i, idx in enumerate(groups):
        g[idx] = i
    return g


def _unique_seq(onsets: np.ndarray, offsets: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Mean onset of each group plus a final time (as partitura's get_unique_seq)."""
    last = onsets.max() + 1 if onsets.max() == offsets.max() else offsets.max()
    return np.r_[[onsets[g].mean() for g in groups], last]


def _monotonize(s: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation over the running maxima of s(x) (partitura's monotonize_times)."""
    s_max = np.maximum.accumulate(s)
    keep = np.r_[True, np.diff(s_max) != 0]
    xk, sk = x[keep], s[keep]
    if len(xk) < 2:
        return np.full_like(s, sk[0])
    out = np.interp(x, xk, sk)
    lo, hi = x < xk[0], x > xk[-1]  # linear extrapolation at both ends, as scipy's "extrapolate"
    out[lo] = sk[0] + (x[lo] - xk[0]) * (sk[1] - sk[0]) / (xk[1] - xk[0])
    out[hi] = sk[-1] + (x[hi] - xk[-1]) * (sk[-1] - sk[-2]) / (xk[-1] - xk[-2])
    return out


# -- codec -------------------------------------------------------------------------------------
def encode_performance(score_onset: np.ndarray, score_duration: np.ndarray, perf_onset_sec: np.ndarray,
                       perf_duration_sec: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """(N, 4) parameters in TARGETS order for N matched notes (score in beats, performance in s)."""
    so = np.asarray(score_onset, dtype=float)
    sd = np.asarray(score_duration, dtype=float).copy()
    po = np.asarray(perf_onset_sec, dtype=float)
    pd = np.maximum(np.asarray(perf_duration_sec, dtype=float), MIN_PERF_DURATION_SEC)
    n = len(so)
    if n == 0:
        return np.zeros((0, 4))
    groups = onset_groups((1e4 * so).astype(np.int64).astype(float), eps=ONSET_EPS)
    u_s = _unique_seq(so, so + sd, groups)
    u_p = _unique_seq(po, po + pd, groups)
    u_p_mono = _monotonize(u_p, u_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.diff(u_p_mono) / np.diff(u_s)
    eq = np.cumsum(np.r_[0, bp[:-1] * np.diff(u_s[:-1])]) + po[groups[0]].mean()
    gi = _group_index(groups, n)
    out = np.zeros((n, 4))
    out[:, 0] = bp[gi]
    out[:, 1] = np.asarray(velocity, dtype=float) / 127.0
    out[:, 2] = eq[gi] - po
    grace = sd <= 0
    sd[grace] = 1.0
    pd = np.where(grace, bp[gi], pd)
    out[:, 3] = np.log2(pd / (bp[gi] * sd))
    return out


def decode_performance(score_onset: np.ndarray, score_duration: np.ndarray, params: np.ndarray,
                       *, grace_duration: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-note (onset_sec, duration_sec, velocity 1..127) from (N, 4) parameters.

    The tempo of each score onset is the mean beat period of its notes; onsets are the integral
    of that tempo minus each note's timing; the first note starts at 0. With `grace_duration`,
    notes of zero score duration are given one beat of articulation as the encoder assumes
    (partitura's decoder gives them zero length).
    """
    so = np.asarray(score_onset, dtype=float)
    sd = np.asarray(score_duration, dtype=float)
    p = np.asarray(params, dtype=float)
    n = len(so)
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    groups = onset_groups(so)
    u_s = _unique_seq(so, so + sd, groups)
    bp = np.array([p[g, 0].mean() for g in groups])
    eq = np.cumsum(np.r_[0, np.diff(u_s) * bp])
    gi = _group_index(groups, n)
    onset = eq[gi] - p[:, 2]
    dur_beats = np.where(sd <= 0, 1.0, sd) if grace_duration else sd
    duration = 2.0 ** p[:, 3] * dur_beats * bp[gi]
    onset = onset - onset.min()
    velocity = np.clip(np.round(p[:, 1] * 127.0), 1, 127).astype(np.int64)
    return onset, duration, velocity


# -- score features ----------------------------------------------------------------------------
FEATURE_NAMES = (
    ["pitch"] + [f"pc{i}" for i in range(12)]
    + ["log_dur", "grace", "log_ioi_next", "log_ioi_prev", "bar_phase", "phase_sin", "phase_cos",
       "downbeat", "on_beat", "on_half_beat", "bar_len", "beat_unit", "chord_size", "chord_rank",
       "chord_top", "chord_bottom", "staff_lower", "staff_known", "piece_pos", "density"]
)
N_FEATURES = len(FEATURE_NAMES)


def score_features(onset: np.ndarray, duration: np.ndarray, pitch: np.ndarray, pos_in_bar: np.ndarray,
                   bar_len: np.ndarray, beat_unit: np.ndarray, staff: np.ndarray) -> np.ndarray:
    """(N, N_FEATURES) float32 for notes sorted by (onset, pitch); times in quarter notes.

    `pos_in_bar` quarter notes since the bar line, `bar_len` the bar's length, `beat_unit` the
    notated beat (4 / time-signature denominator), `staff` 0 upper, 1 lower, -1 unknown (then the
    lower staff is guessed as pitch < 60 and `staff_known` is 0).
    """
    on = np.asarray(onset, dtype=float)
    dur = np.asarray(duration, dtype=float)
    pitch = np.asarray(pitch, dtype=float)
    n = len(on)
    f = np.zeros((n, N_FEATURES), dtype=np.float32)
    if n == 0:
        return f
    groups = onset_groups(on)
    gi = _group_index(groups, n)
    u_on = np.array([on[g[0]] for g in groups])
    ioi_next = np.r_[np.diff(u_on), max(dur[groups[-1]].max(), 0.25)]
    ioi_prev = np.r_[ioi_next[0], np.diff(u_on)]
    size = np.array([len(g) for g in groups], dtype=float)
    rank = np.zeros(n)
    for g in groups:
        rank[g[np.argsort(pitch[g], kind="mergesort")]] = np.arange(len(g))
    phase = np.clip(np.asarray(pos_in_bar, float) / np.maximum(bar_len, 1e-6), 0, 1)
    unit = np.asarray(beat_unit, dtype=float)
    pos = np.asarray(pos_in_bar, dtype=float)
    staff = np.asarray(staff)
    known = staff >= 0
    lower = np.where(known, staff == 1, pitch < 60)
    density = np.searchsorted(on, on + 2.0, side="right") - np.searchsorted(on, on - 2.0, side="left")
    span = max(on.max() + dur[np.argmax(on)], 1e-6)

    f[:, 0] = (pitch - 60.0) / 24.0
    f[np.arange(n), 1 + (pitch.astype(int) % 12)] = 1.0
    c = 13
    f[:, c] = np.clip(np.log2(np.maximum(dur, 1 / 64)), -6, 4) / 4
    f[:, c + 1] = dur <= 0
    f[:, c + 2] = np.clip(np.log2(np.maximum(ioi_next[gi], 1 / 64)), -6, 4) / 4
    f[:, c + 3] = np.clip(np.log2(np.maximum(ioi_prev[gi], 1 / 64)), -6, 4) / 4
    f[:, c + 4] = phase
    f[:, c + 5] = np.sin(2 * np.pi * phase)
    f[:, c + 6] = np.cos(2 * np.pi * phase)
    f[:, c + 7] = np.abs(pos) < 1e-3
    f[:, c + 8] = np.abs(pos / unit - np.round(pos / unit)) < 1e-3
    f[:, c + 9] = np.abs(2 * pos / unit - np.round(2 * pos / unit)) < 1e-3
    f[:, c + 10] = np.asarray(bar_len, dtype=float) / 4
    f[:, c + 11] = unit
    f[:, c + 12] = np.minimum(size[gi], 10) / 10
    f[:, c + 13] = rank / np.maximum(size[gi] - 1, 1)
    f[:, c + 14] = rank == size[gi] - 1
    f[:, c + 15] = rank == 0
    f[:, c + 16] = lower
    f[:, c + 17] = known
    f[:, c + 18] = on / span
    f[:, c + 19] = np.minimum(density, 40) / 20
    return f


# -- normalised model targets ------------------------------------------------------------------
def params_to_targets(params: np.ndarray, stats: dict) -> np.ndarray:
    """(N, 4) codec parameters → standardised model space (log2 beat period, clipped values)."""
    p = np.asarray(params, dtype=float)
    x = np.stack([np.log2(np.clip(p[:, 0], 0.05, 4.0)), p[:, 1], np.clip(p[:, 2], -0.5, 0.5),
                  np.clip(p[:, 3], -5.0, 3.0)], axis=1)
    return ((x - np.asarray(stats["mean"])) / np.asarray(stats["std"])).astype(np.float32)


def targets_to_params(x: np.ndarray, stats: dict) -> np.ndarray:
    """Inverse of `params_to_targets` (model space → codec parameters)."""
    v = np.asarray(x, dtype=float) * np.asarray(stats["std"]) + np.asarray(stats["mean"])
    return np.stack([2.0 ** np.clip(v[:, 0], -4.3, 2.0), np.clip(v[:, 1], 1 / 127, 1.0),
                     np.clip(v[:, 2], -0.5, 0.5), np.clip(v[:, 3], -5.0, 3.0)], axis=1)
