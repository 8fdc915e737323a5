"""Score-side rules of `perform` (numpy only): what the markings ask for, and the tempo map.

The network renders the expressive parameters; these rules make the result keep what a score or a
user states outright, which a small model trained without such markings cannot learn:
- the tempo: `tempo_targets` (a `qpm` given, else the score's metronome marks, else its tempo words
  as ranges, else a default of DEFAULT_BEAT_BPM notated beats per minute) and `shape_tempo`, which
  keeps the model's local tempo shaping (within about two bars) around that target, so the
  performance neither drifts nor ignores the marking; fermatas held FERMATA_HOLD times the local
  beat; a final ritardando;
- dynamics marks and hairpins (`dynamic_levels`), which move the model's velocities to the marked
  level while keeping its note-to-note shaping;
- the pedal: changes only where the harmony (the bass) changes or a bar starts (`pedal_change_ok`),
  and only inside the score's pedal marks when it has any;
- `tempo_map`: a tempo at every quarter note that holds an onset, following the performance, so a
  MIDI file keeps the score's bars.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .perform_features import MARKS, onset_groups
from .piece import DEFAULT_QPM, Piece, Tempo

# notated beats per minute of common tempo words (ranges as in metronome tables)
TEMPO_WORDS: dict[str, tuple[float, float]] = {
    "grave": (25, 45), "largo": (40, 60), "lento": (45, 60), "larghetto": (60, 66), "adagio": (66, 76),
    "adagietto": (70, 80), "andante": (76, 108), "andantino": (80, 108), "marcia": (100, 120),
    "moderato": (108, 120), "allegretto": (112, 120), "allegro": (120, 156), "vivace": (156, 176),
    "presto": (168, 200), "prestissimo": (200, 240),
}
DEFAULT_BEAT_BPM = (72.0, 88.0)  # no tempo stated: this range of notated beats per minute, its middle by default
GIVEN_QPM_BAND = 0.03  # a qpm given by the user: words may move the tempo this far (fraction) around it
MARKED_QPM_BAND = 0.08  # a metronome mark in the score: this far
TREND_QUARTERS = 16.0  # the model's tempo is kept within this span (quarters); slower changes are the target's
TREND_LIMIT = math.log(1.25)  # the model's slow tempo changes kept (`trend_share`) stay within ±25 %
FERMATA_HOLD = 2.0  # a fermata's beat lasts this many local beats
RIT_BARS = 2  # the final ritardando spans this many bars (at least 4 quarters) ...
RIT_DEPTH = 0.6  # ... and ends this much slower (last beat 1 + RIT_DEPTH times the local beat)
DYNAMIC_VELOCITY = {"ppp": 24, "pp": 36, "p": 50, "mp": 62, "mf": 74, "f": 88, "ff": 100, "fff": 112}
ACCENT_DYNAMICS = {"sf": 18, "sfz": 20, "sffz": 24, "fz": 18, "rf": 12, "rfz": 14, "fp": 16, "sfp": 18}
HAIRPIN_STEP = 14  # a hairpin with no dynamic right after it changes the level by this much
SCORE_SUFFIXES = (".musicxml", ".xml", ".mxl", ".abc", ".krn", ".rntxt")


def beat_quarters(numerator: int, denominator: int) -> float:
    """The notated beat in quarter notes: a dotted beat in compound metres (6/8, 9/8, 12/8)."""
    unit = 4.0 / denominator
    return 3 * unit if numerator % 3 == 0 and numerator > 3 and denominator >= 8 else unit


def tempo_word_range(text: str) -> tuple[float, float] | None:
    """The bpm range of the first tempo word in `text` ('Allegro ma non troppo' → allegro), or None."""
    for w in re.findall(r"[a-zà-ü]+", text.lower()):
        for key, rng in TEMPO_WORDS.items():
            if w == key or (len(w) >= 5 and w.startswith(key[:5]) and key not in ("allegretto", "andantino")
                            and w not in ("allegretto", "andantino", "larghetto", "adagietto")):
                return rng
    return None


def _beat_at(piece: Piece, beat: float) -> float:
    sigs = [ts for ts in piece.time_signatures if ts.start_beat <= beat + 1e-9] or list(piece.time_signatures[:1])
    return beat_quarters(sigs[-1].numerator, sigs[-1].denominator) if sigs else 1.0


def tempo_targets(piece: Piece, onset: np.ndarray, qpm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, str,
                                                                         list[str]]:
    """Per note: target qpm and the allowed qpm range (lo, hi); the source; warnings.

    Sources in order: `qpm` given (±GIVEN_QPM_BAND), the score's metronome marks (±MARKED_QPM_BAND),
    its tempo words (their range, e.g. Adagio 66–76 notated beats per minute), a MIDI file's tempo
    map, else DEFAULT_BEAT_BPM. A `qpm` far from the score's marking gives a warning (the qpm wins).
    """
    n = len(onset)
    marks = piece.annotations_of("tempo")
    warnings: list[str] = []
    seg: list[tuple[float, float, float, float]] = []  # (start beat, target, lo, hi)
    for a in marks:  # metronome marks first
        v: dict[str, Any] = a.value if isinstance(a.value, dict) else {}
        if v.get("qpm"):
            q = float(v["qpm"])
            seg.append((a.start_beat, q, q * (1 - MARKED_QPM_BAND), q * (1 + MARKED_QPM_BAND)))
    if not seg:  # else tempo words, in marks or as text directions
        texts = [(a.start_beat, str(a.value.get("text", "")) if isinstance(a.value, dict) else str(a.value))
                 for a in marks + piece.annotations_of("words")]
        for start, text in sorted(texts):
            if (rng := tempo_word_range(text)) is not None:
                bq = _beat_at(piece, start)
                seg.append((start, bq * sum(rng) / 2, bq * rng[0], bq * rng[1]))
    marks = marks or piece.annotations_of("words")
    from_score = not marks and str(piece.metadata.get("source", "")).lower().endswith(SCORE_SUFFIXES)
    if not seg and not from_score and not (len(piece.tempos) == 1 and piece.tempos[0].qpm == DEFAULT_QPM):
        seg = [(t.start_beat, t.qpm, t.qpm * (1 - MARKED_QPM_BAND), t.qpm * (1 + MARKED_QPM_BAND)) for t in piece.tempos]
        source = "tempo map"
    else:
        source = "marking" if seg else "default"
    if not seg:
        bq = _beat_at(piece, 0.0)
        lo, hi = DEFAULT_BEAT_BPM
        seg = [(0.0, bq * (lo + hi) / 2, bq * lo, bq * hi)]
    starts = np.array([s[0] for s in seg])
    k = np.clip(np.searchsorted(starts, onset + 1e-9, side="right") - 1, 0, len(seg) - 1)
    table = np.array([s[1:] for s in seg], dtype=float)[k]
    if qpm > 0:
        marked = float(np.median(table[:, 0]))
        if source == "marking" and abs(math.log(qpm / marked)) > math.log(1.25):
            warnings.append(f"qpm={qpm:g} contradicts the score's tempo marking (about {marked:.0f} qpm); "
                            f"the qpm given was used")
        table = np.tile([qpm, qpm * (1 - GIVEN_QPM_BAND), qpm * (1 + GIVEN_QPM_BAND)], (n, 1))
        source = "qpm"
    return table[:, 0], table[:, 1], table[:, 2], source, warnings


def note_marks(piece: Piece, notes: np.ndarray) -> np.ndarray:
    """(N, len(MARKS)) 0/1 markings of `notes` from the piece's `articulation` and `fermata` annotations."""
    out = np.zeros((len(notes), len(MARKS)), dtype=np.float32)
    col = {"staccato": 0, "accent": 1, "marcato": 1, "tenuto": 2, "ornament": 4}
    index: dict[tuple[int, int], list[int]] = {}
    for i, (on, p) in enumerate(zip(notes["onset_beat"], notes["pitch"])):
        index.setdefault((int(round(on * 48)), int(p)), []).append(i)
    for a in piece.annotations_of("articulation"):
        mv: dict[str, Any] = a.value if isinstance(a.value, dict) else {}
        if mv.get("mark") in col:
            for i in index.get((int(round(a.start_beat * 48)), int(mv.get("pitch", -1))), []):
                out[i, col[mv["mark"]]] = 1
    on = notes["onset_beat"]
    for a in piece.annotations_of("fermata"):  # every note sounding at the fermata's onset
        out[(on >= a.start_beat - 1e-6) & (on < max(a.end_beat, a.start_beat + 1e-3) - 1e-6), 3] = 1
    return out


def _smooth(x: np.ndarray, at: np.ndarray, weight: np.ndarray, span: float) -> np.ndarray:
    """Weighted moving average of x over ±span/2 of position `at` (triangular kernel; rows in chunks,
    so memory stays bounded for long scores)."""
    out = np.empty(len(x))
    for lo in range(0, len(x), 256):
        d = np.abs(at[lo:lo + 256, None] - at[None, :]) / (span / 2)
        k = np.clip(1 - d, 0, None) * weight[None, :]
        out[lo:lo + 256] = (k @ x) / np.maximum(k.sum(axis=1), 1e-9)
    return out


def body_groups(onset: np.ndarray, duration: np.ndarray, fermata: np.ndarray,
                bar_len: float) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Onset groups, their score onsets and inter-onset intervals, and which are the piece's body:
    no fermata and before the final ritardando's RIT_BARS bars (where the mean tempo is measured)."""
    groups = onset_groups(onset)
    on = np.array([onset[g[0]] for g in groups])
    ioi = np.r_[np.diff(on), max(float(np.max(duration[groups[-1]])), 0.25)]
    ferm = np.array([bool(np.any(fermata[g])) for g in groups])
    body = ~ferm & (on < on[-1] + ioi[-1] - max(RIT_BARS * bar_len, 4.0))
    return groups, on, ioi, body if body.any() else ~ferm if (~ferm).any() else np.ones(len(on), bool)


def mean_qpm(group_beat: np.ndarray, group_time: np.ndarray, body: np.ndarray) -> float:
    """Mean tempo over the body: its score quarters over its performed seconds (× 60)."""
    d_beat, d_time = np.diff(group_beat), np.diff(group_time)
    m = body[:-1]
    if not m.any() or d_time[m].sum() <= 0:
        return float("nan")
    return float(60 * d_beat[m].sum() / d_time[m].sum())


def shape_tempo(onset: np.ndarray, duration: np.ndarray, bp: np.ndarray, target_qpm: np.ndarray | None,
                fermata: np.ndarray, bar_len: float, rit: float, trend_share: float = 0.0) -> np.ndarray:
    """Per-note beat periods: the model's local shaping around the target, fermatas, final ritardando.

    `target_qpm` None keeps the model's own mean tempo (free tempo). The model's log beat period
    minus its TREND_QUARTERS moving average is kept; the moving average is replaced by the target.
    Groups with a fermata get FERMATA_HOLD times the local beat; the last RIT_BARS bars slow down
    smoothly to 1 + `rit` times the local beat. The body's mean tempo (`mean_qpm`) is the target's.
    `trend_share` keeps that share of the model's slow tempo changes (its moving average around its
    own mean, clipped to ±TREND_LIMIT), so phrase- and section-level tempo survives without drift.
    """
    groups, on, ioi, body = body_groups(onset, duration, fermata, bar_len)
    lbp = np.log(np.array([np.mean(bp[g]) for g in groups]))
    w = np.maximum(ioi, 1e-3)
    trend = _smooth(lbp, on, w, TREND_QUARTERS) if len(on) > 1 else lbp.copy()
    if target_qpm is None:
        base = np.full(len(on), float(np.sum(w * trend) / np.sum(w)))
    else:
        base = np.log(60.0 / np.array([float(np.mean(target_qpm[g])) for g in groups]))
    slow = np.clip(trend - np.sum(w * trend) / np.sum(w), -TREND_LIMIT, TREND_LIMIT)
    out = base + lbp - trend + trend_share * slow
    out -= math.log(np.sum((w * np.exp(out))[body]) / np.sum((w * np.exp(base))[body]))
    ferm = np.array([bool(np.any(fermata[g])) for g in groups])
    end = on[-1] + ioi[-1]
    rit_len = max(RIT_BARS * bar_len, 4.0)
    ramp = np.clip((on - (end - rit_len)) / rit_len, 0, 1) if rit > 0 else np.zeros(len(on))
    out = out + np.log1p(rit * ramp ** 1.5) + ferm * math.log(FERMATA_HOLD)
    res = np.empty(len(onset))
    for g, v in zip(groups, np.exp(out)):
        res[g] = v
    return res


def dynamic_levels(piece: Piece, onset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per note: the marked loudness as a MIDI velocity (NaN before the first mark or with none),
    and an accent (velocity added) for sf/sfz/fp-type marks at the note's onset."""
    level = np.full(len(onset), np.nan)
    accent = np.zeros(len(onset))
    marks = sorted(piece.annotations_of("dynamic"), key=lambda a: a.start_beat)
    points: list[tuple[float, float]] = []  # (beat, level) steps
    for a in marks:
        v = str(a.value).lower()
        if v in DYNAMIC_VELOCITY:
            points.append((a.start_beat, DYNAMIC_VELOCITY[v]))
        elif v in ACCENT_DYNAMICS:
            accent[np.abs(onset - a.start_beat) < 1e-3] += ACCENT_DYNAMICS[v]
            if v in ("fp", "sfp"):
                points.append((a.start_beat + 1e-3, DYNAMIC_VELOCITY["p"]))
    if points:
        b = np.array([p[0] for p in points])
        lv = np.array([p[1] for p in points], dtype=float)
        k = np.searchsorted(b, onset + 1e-9, side="right") - 1
        level = np.where(k >= 0, lv[np.maximum(k, 0)], np.nan)
        for h in piece.annotations_of("hairpin"):
            inside = (onset >= h.start_beat) & (onset < h.end_beat)
            if not inside.any():
                continue
            j = np.searchsorted(b, h.start_beat + 1e-9, side="right") - 1
            start = lv[j] if j >= 0 else float(np.nanmean(level)) if np.isfinite(level).any() else 64.0
            after = [lv[i] for i in range(len(b)) if h.end_beat - 1e-6 <= b[i] <= h.end_beat + 4]
            sign = 1 if h.value == "crescendo" else -1
            stop = after[0] if after and (after[0] - start) * sign > 0 else start + sign * HAIRPIN_STEP
            frac = (onset[inside] - h.start_beat) / max(h.end_beat - h.start_beat, 1e-3)
            level[inside] = start + frac * (stop - start)
    return level, accent


def apply_dynamics(velocity01: np.ndarray, onset: np.ndarray, level: np.ndarray, accent: np.ndarray,
                   shift: float) -> np.ndarray:
    """Velocity/127 moved to the marked level: the model's deviation from its own 8-quarter moving
    average rides on the level (plus `shift`, the control words' loudness, in velocity units)."""
    v = velocity01 * 127.0
    trend = _smooth(v, onset, np.ones(len(v)), 8.0)
    marked = np.isfinite(level)
    out = np.where(marked, level + (v - trend) + shift, v) + accent
    res: np.ndarray = np.clip(out, 1, 127) / 127.0
    return res


def pedal_change_ok(notes: np.ndarray, bar_len: float) -> np.ndarray:
    """Per onset group: may the pedal change here? Yes at a bar line, where the lowest note sounding
    changes pitch class, and after a rest in all parts; elsewhere the pedal is held through."""
    groups = onset_groups(notes["onset_beat"])
    order = np.argsort(notes["onset_beat"], kind="mergesort")
    on, pitch = notes["onset_beat"][order], notes["pitch"][order]
    end = on + np.maximum(notes["duration_beat"][order], 1e-3)
    reach = float(np.max(end - on))
    out = np.zeros(len(groups), dtype=bool)
    prev_bass = -1
    for gi, g in enumerate(groups):
        t = float(notes["onset_beat"][g[0]])
        a, b = np.searchsorted(on, t - reach - 1e-6), np.searchsorted(on, t + 1e-6, side="right")
        sounding = end[a:b] > t + 1e-6
        bass = int(pitch[a:b][sounding].min()) % 12 if sounding.any() else -1
        bar_line = abs(t / bar_len - round(t / bar_len)) < 1e-6 if bar_len > 0 else False
        before = on[a:b] < t - 1e-6
        gap = gi > 0 and not (before & (end[a:b] > t - 1e-3)).any()
        out[gi] = gi == 0 or bass != prev_bass or bar_line or gap
        prev_bass = bass
    return out


def tempo_map(group_onset_beat: np.ndarray, group_time: np.ndarray, end_beat: float) -> tuple[Tempo, ...]:
    """Tempos through the performed times of the onset groups: one at the start of every quarter
    note that holds an onset (and at 0 and `end_beat`), linear in between, extended at the ends with
    the nearest segment's tempo. Long rests get one tempo, so the map stays as long as the score."""
    b, t = np.asarray(group_onset_beat, float), np.asarray(group_time, float)
    if len(b) == 1:
        b, t = np.r_[b, b + 1], np.r_[t, t + 0.5]
    beats = np.unique(np.r_[0.0, np.floor(b), math.ceil(end_beat)])
    times = np.interp(beats, b, t)
    lo, hi = beats < b[0], beats > b[-1]
    times[lo] = t[0] - (b[0] - beats[lo]) * (t[1] - t[0]) / (b[1] - b[0])
    times[hi] = t[-1] + (beats[hi] - b[-1]) * (t[-1] - t[-2]) / (b[-1] - b[-2])
    spq = np.maximum(np.diff(times) / np.diff(beats), 0.03)
    qpm = np.clip(60.0 / spq, 1.0, 2000.0)
    tempos = [Tempo(float(beats[0]), float(qpm[0]))]
    for bt, q in zip(beats[1:-1], qpm[1:]):
        if abs(q - tempos[-1].qpm) > 1e-3:
            tempos.append(Tempo(float(bt), float(q)))
    return tuple(tempos)


def summary_of(values: dict[str, Any]) -> dict[str, Any]:
    """Round floats for the JSON summary."""
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in values.items()}
