"""`key`: global and local key and mode from weighted pitch-class profiles.

Each note adds to a 12-bin pitch-class histogram its duration (capped at `duration_cap_beats`)
plus `onset_weight` for its attack, times `1 + bass_weight` when it is the lowest note of its
onset. Global key: the best Pearson correlation (plus `final_bass_bonus` for keys whose tonic
is the final bass note) of the whole piece's histogram with the 24
rotations of a key profile (Albrecht–Shanahan by default; Krumhansl–Kessler, Temperley,
Aarden–Essen, Bellman–Budge and Sapp as options). Local keys: the same correlation in sliding
windows (the global key gets `global_prior` extra), smoothed by Viterbi over the 24 keys with a
cost for changing key, then merged into segments; in a piece with bars each change is moved to the
nearest barline. Histograms of any window come from cumulative sums, so a piece costs O(n log n).
Defaults were tuned on the valid splits of POP909-CL, BPS-FH and Nottingham (benchmarks/key.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

import numpy as np

from ..errors import InputError
from ..harmony import Key
from ..metre import beat_axis, grid, span
from ..numeric import runs, softmax, switch_moves, viterbi
from ..piece import Annotation, Piece
from ..registry import Arg, Output, task

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


class KeyDefaults(TypedDict):
    """Types of the `key` task's tuned defaults."""

    profile: ProfileName
    window_beats: float
    hop_beats: float
    switch_cost: float
    onset_weight: float
    bass_weight: float
    duration_cap_beats: float
    final_bass_bonus: float
    global_prior: float


DEFAULTS: KeyDefaults = {"profile": "albrecht", "window_beats": 16.0, "hop_beats": 4.0, "switch_cost": 2.0,
                         "onset_weight": 0.25, "bass_weight": 0.0, "duration_cap_beats": 4.0, "final_bass_bonus": 0.1,
                         "global_prior": 0.1}  # tuned on valid splits: see benchmarks/key_tune.py and docs/benchmarks.md


TEMPERATURE = 0.05  # key probabilities: softmax of the 24 correlations / TEMPERATURE


def key_name(index: int) -> str:
    """Key index 0..23 (0–11 major on C..B, 12–23 minor) → 'F# minor'."""
    return Key.from_index(index).name


def parse_key(name: str) -> int:
    """'F# minor', 'f#', 'Gb:maj', 'Eb:min', 'g' → key index 0..23 (lower-case letter = minor)."""
    return Key.parse(name).index


def key_probabilities(r: np.ndarray) -> np.ndarray:
    """Probabilities of the 24 keys from their correlations (…, 24): softmax of r / TEMPERATURE."""
    return softmax(np.asarray(r, dtype=float) / TEMPERATURE)


@dataclass(frozen=True)
class KeySegment:
    """A local key over [start_beat, end_beat) on the piece's beat axis (`metre.beat_axis`: nominal
    beats for a performance without a beat grid); `confidence` is the key's mean probability over
    the windows of the segment."""

    start_beat: float
    end_beat: float
    tonic: int
    minor: bool
    confidence: float

    @property
    def key(self) -> Key:
        return Key(self.tonic, self.minor)


@dataclass(frozen=True)
class KeyAnalysis:
    """What `analyze` finds: the global key (`tonic` 0..11, `minor`) with its probability and
    correlation, the runner-up, the profile used, and the local keys in time order."""

    tonic: int
    minor: bool
    confidence: float
    correlation: float
    runner_up: Key
    profile: str
    local: tuple[KeySegment, ...]

    @property
    def key(self) -> Key:
        return Key(self.tonic, self.minor)

    def key_at(self, beat: float) -> Key:
        """The local key at `beat` on the beat axis (the last segment's past the end)."""
        for seg in self.local:
            if seg.start_beat <= beat < seg.end_beat:
                return seg.key
        return self.local[-1].key if self.local else self.key

    def to_json(self, piece: Piece) -> dict[str, Any]:
        """The `key` task's JSON (see `key`); `piece` gives the seconds of the segments."""
        segments = []
        for seg in self.local:
            s_beat, e_beat, s_sec, e_sec = span(piece, seg.start_beat, seg.end_beat)
            segments.append({"start_beat": s_beat, "end_beat": e_beat, "start_sec": s_sec, "end_sec": e_sec,
                             **_describe(seg.key)})
        return {**_describe(self.key), "confidence": self.confidence, "correlation": self.correlation,
                "runner_up": self.runner_up.name, "profile": self.profile, "local": segments}


def _describe(key: Key) -> dict[str, Any]:
    return {"key": key.name, "tonic": key.tonic_name, "mode": key.mode}


def key_templates(profile: str = "albrecht") -> np.ndarray:
    """(24, 12) z-scored templates, rows in key-index order."""
    if profile not in PROFILES:
        raise InputError(f"unknown key profile {profile!r}; profiles are {', '.join(PROFILES)}")
    major, minor = PROFILES[profile]
    rows = [np.roll(major, t) for t in range(12)] + [np.roll(minor, t) for t in range(12)]
    t = np.asarray(rows, dtype=float)
    t -= t.mean(axis=1, keepdims=True)
    out: np.ndarray = t / np.linalg.norm(t, axis=1, keepdims=True)
    return out


def correlations(histograms: np.ndarray, profile: str = "albrecht") -> np.ndarray:
    """Pearson correlation of each 12-bin histogram (…, 12) with the 24 key templates → (…, 24)."""
    h = np.asarray(histograms, dtype=float)
    h = h - h.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(h, axis=-1, keepdims=True)
    h = np.divide(h, norm, out=np.zeros_like(h), where=norm > 0)
    r: np.ndarray = h @ key_templates(profile).T
    return r




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
    out: np.ndarray = np.maximum(c[len(starts):] - c[:len(starts)], 0.0)
    return out


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


def analyze(piece: Piece, *, profile: str = DEFAULTS["profile"], window_beats: float = DEFAULTS["window_beats"],
            hop_beats: float = DEFAULTS["hop_beats"], switch_cost: float = DEFAULTS["switch_cost"],
            onset_weight: float = DEFAULTS["onset_weight"], bass_weight: float = DEFAULTS["bass_weight"],
            duration_cap_beats: float = DEFAULTS["duration_cap_beats"],
            final_bass_bonus: float = DEFAULTS["final_bass_bonus"],
            global_prior: float = DEFAULTS["global_prior"]) -> KeyAnalysis:
    """The global and local keys of `piece` (see the module docstring); used by the `key` task and
    by the tasks that need keys (chords, harmonize)."""
    notes = piece.pitched()
    if not len(notes):
        raise InputError(f"{piece.metadata.get('source', 'piece')}: no pitched notes to find a key in")
    if window_beats <= 0 or hop_beats <= 0:
        raise InputError(f"window_beats and hop_beats must be > 0, got {window_beats!r} and {hop_beats!r}")
    onset, dur, _ = beat_axis(piece, notes)
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
    probs = key_probabilities(r)
    hist = np.maximum(cum[2 + len(starts):] - cum[2:2 + len(starts)], 0.0)
    local_r = correlations(hist, profile)
    local_r[~(hist > 1e-9).any(axis=1)] = r  # silent windows follow the global key
    local_p = key_probabilities(local_r)
    local_r[:, best] += global_prior
    # scores per beat, so that the cost of a change does not depend on the hop
    path, _ = viterbi(local_r * (0.5 * hop_beats), switch_moves(switch_cost))
    local = tuple(KeySegment(a * hop_beats, b * hop_beats if b < len(path) else end, k % 12, k >= 12,
                             float(local_p[a:b, k].mean())) for a, b, k in runs(path))
    if piece.has_beats:
        local = on_barlines(local, piece)
    top = Key.from_index(best)
    return KeyAnalysis(top.tonic, top.minor, float(probs[best]), float(r[best]), Key.from_index(int(order[1])),
                       profile, local)


def on_barlines(segments: tuple[KeySegment, ...], piece: Piece) -> tuple[KeySegment, ...]:
    """Each key change moved to the nearest barline (the hop grid counts quarter notes from 0, so in
    3/4, 6/8 or after a pickup a change fell inside a bar); segments left empty are dropped and
    neighbours in the same key joined. Unchanged when the piece's bars cannot be read."""
    if len(segments) < 2:
        return segments
    try:
        bars = grid(piece).bars
    except InputError:
        return segments
    cuts = [float(bars[np.argmin(np.abs(bars - s.start_beat))]) for s in segments[1:]]
    starts = [segments[0].start_beat, *cuts]
    ends = [*cuts, segments[-1].end_beat]
    out: list[KeySegment] = []
    for seg, a, b in zip(segments, starts, ends):  # the cuts never decrease, so the segments stay contiguous
        if b - a < 1e-6:
            continue
        if out and out[-1].key == seg.key:  # two segments of one key met over a dropped one: join them
            last = out[-1]
            length = b - last.start_beat
            confidence = (last.confidence * (last.end_beat - last.start_beat) + seg.confidence * (b - a)) / length
            out[-1] = KeySegment(last.start_beat, b, seg.tonic, seg.minor, confidence)
        else:
            out.append(KeySegment(a, b, seg.tonic, seg.minor, seg.confidence))
    return tuple(out)


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
) -> Output:
    """Find the global key and mode with a confidence, and the local keys over time.

    JSON: `key` ("F# minor"), `tonic`, `mode`, `confidence` (0..1), `correlation`, `runner_up`,
    `profile`, and `local`: a list of segments with `start_beat`, `end_beat`, `start_sec`,
    `end_sec`, `key`, `tonic`, `mode`. The returned Piece carries `key` annotations (local keys).
    """
    keys = analyze(piece, profile=profile, window_beats=window_beats, hop_beats=hop_beats,
                   switch_cost=switch_cost, onset_weight=onset_weight, bass_weight=bass_weight,
                   duration_cap_beats=duration_cap_beats, final_bass_bonus=final_bass_bonus,
                   global_prior=global_prior)
    if piece.has_beats:
        anns = [Annotation("key", s.start_beat, s.end_beat, s.key.name) for s in keys.local]
        piece = piece.annotate(anns, replace_kinds=("key",))
    return Output(piece, keys.to_json(piece))
