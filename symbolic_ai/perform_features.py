"""Numpy feature code shared by the `perform` task and its training (no torch, no partitura).

Score side: one feature row per score note (`score_features`). Performance side: the four
per-note expressive parameters of partitura's performance codec (Cancino-Chacón's "basis
mixer" parameters), here in quarter notes rather than notated beats:

- `beat_period`: seconds per quarter note at the note's score onset (local tempo),
- `velocity`: MIDI velocity / 127,
- `timing`: seconds the note is played *before* its tempo-curve position (onset deviation),
- `articulation_log`: log2 of performed duration over the duration the tempo predicts,
- `pedal`: the fraction of the note's onset span (from its onset group's first performed onset
  to the next group's) during which the sustain pedal (CC64 >= 64) is down (`encode_pedal`);
  `decode_pedal` turns it back into pedal presses and releases.

`encode_performance` and `decode_performance` mirror partitura's `encode_performance`
(average tempo per score onset, monotonised) and `decode_performance` so that runtime needs only
numpy; tests compare them with partitura on real match files.
"""
from __future__ import annotations

from typing import Any

import numpy as np

TARGETS = ("beat_period", "velocity", "timing", "articulation_log", "pedal")
PEDAL_THRESHOLD = 64  # CC64 values at or above this count as "pedal down" (the MIDI convention)
PEDAL_MIN_DOWN_SEC = 0.25  # shorter decoded presses are dropped (no flicker)
PEDAL_MIN_LIFT_SEC = 0.03  # a shorter lift between two presses is no lift: the pedal stays down
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
    seq: np.ndarray = np.r_[[onsets[g].mean() for g in groups], last]
    return seq


def _monotonize(s: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation over the running maxima of s(x) (partitura's monotonize_times)."""
    s_max = np.maximum.accumulate(s)
    keep = np.r_[True, np.diff(s_max) != 0]
    xk, sk = x[keep], s[keep]
    if len(xk) < 2:
        return np.full_like(s, sk[0])
    out: np.ndarray = np.interp(x, xk, sk)
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


# -- sustain pedal ------------------------------------------------------------------------------
def pedal_spans(times: np.ndarray, values: np.ndarray, threshold: int = PEDAL_THRESHOLD) -> np.ndarray:
    """(K, 2) [down, up) seconds from controller events (time-sorted); up = inf if never released."""
    t = np.asarray(times, dtype=float)
    down = np.asarray(values) >= threshold
    spans, start = [], None
    for ti, d in zip(t, down):
        if d and start is None:
            start = ti
        elif not d and start is not None:
            spans.append((start, ti))
            start = None
    if start is not None:
        spans.append((start, np.inf))
    return np.asarray(spans, dtype=float).reshape(-1, 2)


def _group_spans(score_onset: np.ndarray, onset_sec: np.ndarray,
                 duration_sec: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Per onset group: first performed onset a and the end b of its span (next group's a)."""
    groups = onset_groups(score_onset)
    a = np.array([onset_sec[g].min() for g in groups])
    a = np.maximum.accumulate(a)  # chords played out of order still give forward spans
    last = a[-1] + max(float(np.max(duration_sec[groups[-1]])), 0.05)
    b = np.maximum(np.r_[a[1:], last], a + 0.01)
    return groups, a, b


def encode_pedal(score_onset: np.ndarray, perf_onset_sec: np.ndarray, perf_duration_sec: np.ndarray,
                 pedal_time: np.ndarray, pedal_value: np.ndarray) -> np.ndarray:
    """(N,) per note: fraction of its onset group's span [a_g, a_g+1) with the sustain pedal down.

    a_g is the first performed onset of the notes sharing score onset g (running maximum, so spans
    move forward). A pedal held across a chord change gives 1 to both chords; a pedal lifted at a new
    chord and pressed again shortly after (legato pedalling) gives that chord 1 - lift/span.
    """
    so = np.asarray(score_onset, dtype=float)
    n = len(so)
    out = np.zeros(n)
    if n == 0 or len(pedal_time) == 0:
        return out
    groups, a, b = _group_spans(so, np.asarray(perf_onset_sec, float), np.asarray(perf_duration_sec, float))
    spans = pedal_spans(pedal_time, pedal_value)
    if len(spans) == 0:
        return out
    s0, s1 = spans[:, 0][None, :], spans[:, 1][None, :]
    overlap = np.clip(np.minimum(b[:, None], s1) - np.maximum(a[:, None], s0), 0, None).sum(axis=1)
    frac = np.clip(overlap / (b - a), 0.0, 1.0)
    for g, f in zip(groups, frac):
        out[g] = f
    return out


def decode_pedal(score_onset: np.ndarray, onset_sec: np.ndarray, duration_sec: np.ndarray,
                 pedal: np.ndarray, change_ok: np.ndarray | None = None) -> list[tuple[float, int]]:
    """Sustain-pedal events [(time_sec, 127 down | 0 up)] from per-note fractions (`encode_pedal`).

    Each onset group's mean fraction f is read as "pressed (1 - f) of the way into the span, held to
    the next group's onset" (legato pedalling: lift at the new onset, press again just after). A lift
    shorter than PEDAL_MIN_LIFT_SEC merges two presses, and so does any lift at a group where
    `change_ok` (per onset group) is False (the harmony has not changed: the pedal is held through).
    Presses shorter than PEDAL_MIN_DOWN_SEC are dropped. Events alternate down/up and the last press
    is released at the end of the last span.
    """
    so = np.asarray(score_onset, dtype=float)
    if len(so) == 0:
        return []
    groups, a, b = _group_spans(so, np.asarray(onset_sec, float), np.asarray(duration_sec, float))
    f = np.clip(np.array([np.mean(np.asarray(pedal, float)[g]) for g in groups]), 0.0, 1.0)
    ok = np.ones(len(groups), dtype=bool) if change_ok is None else np.asarray(change_ok, dtype=bool)
    spans: list[list[float]] = []
    for ag, bg, fg, change in zip(a, b, f, ok):
        down = bg - fg * (bg - ag)
        if bg - down < 1e-3:
            continue
        held = spans and spans[-1][1] >= ag - 1e-6  # the previous press lasts to this onset
        if spans and (down - spans[-1][1] < PEDAL_MIN_LIFT_SEC or (held and not change and fg > 0.5)):
            spans[-1][1] = bg
        else:
            spans.append([down, bg])
    events: list[tuple[float, int]] = []
    for d, u in spans:
        if u - d >= PEDAL_MIN_DOWN_SEC:
            events += [(float(d), 127), (float(u), 0)]
    return events


# -- score features ----------------------------------------------------------------------------
MARKS = ("staccato", "accent", "tenuto", "fermata", "ornament")  # per-note score markings (0/1 columns)
FEATURE_NAMES = (
    ["pitch"] + [f"pc{i}" for i in range(12)]
    + ["log_dur", "grace", "log_ioi_next", "log_ioi_prev", "bar_phase", "phase_sin", "phase_cos",
       "downbeat", "on_beat", "on_half_beat", "bar_len", "beat_unit", "chord_size", "chord_rank",
       "chord_top", "chord_bottom", "staff_lower", "staff_known", "piece_pos", "density"]
    + list(MARKS) + ["top_sounding", "bottom_sounding", "to_fermata", "since_fermata", "phrase_end", "to_end"]
    + ["harmony_change", "dominant", "cadence", "to_cadence", "since_cadence", "to_phrase_end", "phrase_pos"]
)
N_FEATURES = len(FEATURE_NAMES)


def score_features(onset: np.ndarray, duration: np.ndarray, pitch: np.ndarray, pos_in_bar: np.ndarray,
                   bar_len: np.ndarray, beat_unit: np.ndarray, staff: np.ndarray,
                   marks: np.ndarray | None = None) -> np.ndarray:
    """(N, N_FEATURES) float32 for notes sorted by (onset, pitch); times in quarter notes.

    `pos_in_bar` quarter notes since the bar line, `bar_len` the bar's length, `beat_unit` the
    notated beat (4 / time-signature denominator), `staff` 0 upper, 1 lower, -1 unknown (then the
    lower staff is guessed as pitch < 60 and `staff_known` is 0). `marks` (N, len(MARKS)) 0/1 score
    markings per note (none when omitted). Structure: the highest / lowest sounding note at the
    onset (melody and bass roles), quarters to the next fermata (or the end) and since the last one,
    and phrase ends (a fermata, or an onset followed by a gap of at least twice the piece's median
    inter-onset interval and at least a quarter).
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
    c += 20
    mk = np.zeros((n, len(MARKS))) if marks is None else np.asarray(marks, dtype=float).reshape(n, len(MARKS))
    f[:, c:c + len(MARKS)] = mk
    c += len(MARKS)
    f[:, c], f[:, c + 1] = _sounding_extremes(on, dur, pitch)
    ferm_on = np.unique(on[mk[:, 3] > 0])
    stops = np.r_[ferm_on, span]
    k = np.searchsorted(stops, on - 1e-6)
    f[:, c + 2] = np.log2(1 + np.clip(stops[np.minimum(k, len(stops) - 1)] - on, 0, 127)) / 7
    prev = np.r_[0.0, ferm_on]
    j = np.searchsorted(prev, on - 1e-6) - 1
    f[:, c + 3] = np.log2(1 + np.clip(on - prev[np.maximum(j, 0)], 0, 127)) / 7
    gap = ioi_next[gi] >= max(2 * float(np.median(ioi_next)), 1.0)
    group_fermata = np.zeros(len(groups))
    np.maximum.at(group_fermata, gi, mk[:, 3])
    f[:, c + 4] = gap | (group_fermata[gi] > 0)
    f[:, c + 5] = np.log2(1 + np.clip(span - on, 0, 127)) / 7
    c += 6
    f[:, c:c + 5] = harmony_features(on, dur, pitch.astype(int), unit)
    ends = np.r_[np.unique(on[f[:, c - 2] > 0]), span]  # phrase ends (c - 2: phrase_end), then the end
    k = np.minimum(np.searchsorted(ends, on - 1e-6), len(ends) - 1)
    start = np.r_[0.0, ends][k]
    f[:, c + 5] = np.log2(1 + np.clip(ends[k] - on, 0, 127)) / 7
    f[:, c + 6] = np.clip((on - start) / np.maximum(ends[k] - start, 1e-6), 0, 1)
    return f


def harmony_features(on: np.ndarray, dur: np.ndarray, pitch: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """(N, 5) per note, from the chord of its notated beat (template matching, `harmony.templates`):
    the chord changed from the previous beat's; a dominant (major or 7th chord whose root moves down
    a fifth to the next chord); a cadence (the chord a dominant resolves to, arriving on an onset
    followed by at least a beat); log quarters to the next cadence and since the last one."""
    from .harmony import templates

    n = len(on)
    out = np.zeros((n, 5), dtype=np.float32)
    t, meta = templates()
    tn = t / np.linalg.norm(t, axis=1, keepdims=True)
    u = float(np.median(unit)) if n else 1.0
    seg = np.floor(on / u + 1e-6).astype(np.int64)
    first, last = int(seg.min()), int(np.floor((on + np.maximum(dur, 1e-3)) / u - 1e-6).max())
    n_seg = last - first + 1
    if n_seg > 200_000:  # a degenerate metre: no harmony features
        return out
    chroma = np.zeros((n_seg, 12))
    for j in range(n):  # duration-weighted pitch classes of each beat
        a, b = on[j] / u, (on[j] + max(dur[j], 1e-3)) / u
        for s in range(int(np.floor(a + 1e-6)), int(np.floor(b - 1e-6)) + 1):
            chroma[s - first, pitch[j] % 12] += min(b, s + 1) - max(a, s)
    norm = np.linalg.norm(chroma, axis=1, keepdims=True)
    sounding = norm[:, 0] > 0
    best = np.argmax(np.divide(chroma, norm, out=np.zeros_like(chroma), where=norm > 0) @ tn.T, axis=1)
    # carry the chord through silent beats; collapse repeats into changes
    for s in range(1, n_seg):
        if not sounding[s]:
            best[s] = best[s - 1]
    root = np.array([meta[b][0] for b in best])
    major = np.array([meta[b][2] in ("maj", "7") for b in best])
    change = np.r_[True, best[1:] != best[:-1]]
    starts = np.flatnonzero(change)  # chord spans
    nxt = np.r_[starts[1:], n_seg]
    dominant = np.zeros(n_seg, bool)
    cadence = np.zeros(n_seg, bool)
    for i, s in enumerate(starts[:-1]):
        s2 = starts[i + 1]
        if major[s] and (root[s] - root[s2]) % 12 == 7:
            dominant[s:s2] = True
            cadence[s2:nxt[i + 1]] = True
    ks = seg - first
    out[:, 0] = change[ks] & (np.abs(on / u - seg) < 1e-3)
    out[:, 1] = dominant[ks]
    arrive = np.r_[False, cadence[1:] & ~cadence[:-1]] | (cadence & change)
    hit = arrive[ks] & (np.abs(on / u - seg) < 1e-3)
    out[:, 2] = hit
    cad_on = np.unique(on[hit])
    span = float(on.max() + 1)
    stops = np.r_[cad_on, span]
    k = np.searchsorted(stops, on - 1e-6)
    out[:, 3] = np.log2(1 + np.clip(stops[np.minimum(k, len(stops) - 1)] - on, 0, 127)) / 7
    prev = np.r_[0.0, cad_on]
    back = np.searchsorted(prev, on - 1e-6) - 1
    out[:, 4] = np.log2(1 + np.clip(on - prev[np.maximum(back, 0)], 0, 127)) / 7
    return out


def _sounding_extremes(on: np.ndarray, dur: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per note: is it the highest / lowest of the notes sounding at its onset (ties count)?"""
    n = len(on)
    top, bottom = np.zeros(n, bool), np.zeros(n, bool)
    end = on + np.maximum(dur, 1e-3)
    order = np.argsort(on, kind="mergesort")
    active: list[int] = []
    for i in order:
        active = [j for j in active if end[j] > on[i] + 1e-6]
        active.append(int(i))
        ps = pitch[active]
        top[i], bottom[i] = pitch[i] >= ps.max(), pitch[i] <= ps.min()
    return top, bottom


# -- onset-group features (the tempo-curve model) ----------------------------------------------
N_GROUP_FEATURES = 2 * N_FEATURES + 1


def group_features(features: np.ndarray, onset: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(G, N_GROUP_FEATURES) per onset group: the mean and the max of its notes' `score_features`
    rows and log2 of its note count; and the groups (`onset_groups`), whose order the rows follow."""
    groups = onset_groups(onset)
    f = np.asarray(features, dtype=np.float32)
    gi = _group_index(groups, len(f))
    size = np.bincount(gi, minlength=len(groups)).astype(np.float32)
    mean = np.zeros((len(groups), f.shape[1]), np.float32)
    np.add.at(mean, gi, f)
    mean /= size[:, None]
    top = np.full((len(groups), f.shape[1]), -np.inf, np.float32)
    np.maximum.at(top, gi, f)
    out = np.concatenate([mean, top, np.log2(size)[:, None] / 4], axis=1).astype(np.float32)
    return out, groups


# -- controls ----------------------------------------------------------------------------------
CONTROL_DIMS = ("tempo", "loudness", "articulation", "accents")
# Each word asks for these window properties in standard deviations of the training windows
# (None = left to the model). tempo: log2 beat period relative to the performance's own mean
# (+ = slower); loudness: mean velocity; articulation: mean log2 articulation (+ = more legato);
# accents: the spread (std) of velocity. Directions from the music-psychology literature
# (Juslin & Laukka 2003; Bresin & Friberg 2000): sad slower, softer, legato; happy faster,
# louder, detached; tense faster, louder, detached, sharper accents; calm slower, softer, legato,
# smoother.
CONTROL_WORDS: dict[str, tuple[float | None, ...]] = {
    "happy": (-1.0, 0.5, -1.0, None), "tense": (-1.0, 1.0, -1.0, 1.0),
    "sad": (1.0, -1.0, 1.0, -0.5), "calm": (1.0, -1.0, 0.8, -1.0),
    "brisk": (-1.0, None, None, None), "broad": (1.0, None, None, None),
    "loud": (None, 1.0, None, None), "gentle": (None, -1.0, None, None),
    "legato": (None, None, 1.0, None), "staccato": (None, None, -1.0, None),
}


def window_control(x: np.ndarray, tempo_mean: float) -> np.ndarray:
    """(len(CONTROL_DIMS),) raw control values of a window of standardised targets (`params_to_targets`)."""
    return np.array([x[:, 0].mean() - tempo_mean, x[:, 1].mean(), x[:, 3].mean(), x[:, 1].std()])


def control_vector(words: list[str]) -> np.ndarray:
    """(2 · len(CONTROL_DIMS),) model input: z values then known flags; later words override earlier ones."""
    k = len(CONTROL_DIMS)
    v = np.zeros(2 * k, dtype=np.float32)
    for w in words:
        for i, z in enumerate(CONTROL_WORDS[w]):
            if z is not None:
                v[i], v[k + i] = z, 1.0
    return v


# -- normalised model targets ------------------------------------------------------------------
def params_to_targets(params: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """(N, K) codec parameters → standardised model space (log2 beat period, clipped values).

    K = len(stats["mean"]): 4 for models without the pedal (perform-v1), 5 with it.
    """
    p = np.asarray(params, dtype=float)
    k = len(stats["mean"])
    cols = [np.log2(np.clip(p[:, 0], 0.05, 4.0)), p[:, 1], np.clip(p[:, 2], -0.5, 0.5),
            np.clip(p[:, 3], -5.0, 3.0)]
    if k > 4:
        cols.append(np.clip(p[:, 4], 0.0, 1.0) if p.shape[1] > 4 else np.zeros(len(p)))
    x = np.stack(cols, axis=1)
    out: np.ndarray = ((x - np.asarray(stats["mean"])) / np.asarray(stats["std"])).astype(np.float32)
    return out


def targets_to_params(x: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """Inverse of `params_to_targets` (model space → codec parameters, 4 or 5 columns)."""
    v = np.asarray(x, dtype=float) * np.asarray(stats["std"]) + np.asarray(stats["mean"])
    cols = [2.0 ** np.clip(v[:, 0], -4.3, 2.0), np.clip(v[:, 1], 1 / 127, 1.0),
            np.clip(v[:, 2], -0.5, 0.5), np.clip(v[:, 3], -5.0, 3.0)]
    if v.shape[1] > 4:
        cols.append(np.clip(v[:, 4], 0.0, 1.0))
    return np.stack(cols, axis=1)
