"""Decoding-side style for `harmonize`: each style's chord vocabulary, cadences at phrase ends,
the melody's fit to each chord, `style='auto'`, and a moving bass for chorales.

`shape` adds to the model's slot emissions (a) `FIT` × the share of the slot's melody (weighted
to notes on beats and downbeats) that are chord tones, (b) a penalty `OUTSIDE` for chords outside
the style's vocabulary in the melody's key, and (c) at phrase ends a bonus `CADENCE` for the tonic
from the final downbeat on and `APPROACH` × `CADENCE` for V, V7, vii°, IV or ii before it (and
half of it for I or V at the end of inner 8-bar phrases). Weights chosen on 120 Nottingham train
tunes with benchmarks/harmony_check.py's measures (docs/benchmarks.md).
"""
from __future__ import annotations

import numpy as np

from .. import harmony
from ..harmony import Chord, Key
from ..metre import grid
from ..piece import Piece

FIT = 32.0
OUTSIDE = 3.0
CADENCE = 40.0
BAR_CHANGE = 1.0  # added to the log-probability of changing chord on a barline
HOLD = 5.0  # cost of keeping a chord over a barline into its fourth bar or later (`hold_viterbi`)
APPROACH = 1.0  # share of CADENCE for the dominant (or IV) before the final tonic
_Q = tuple[tuple[int, str], ...]
_SECONDARY_MAJOR: _Q = ((9, "maj"), (9, "7"), (11, "maj"), (11, "7"), (0, "7"), (2, "maj"), (2, "7"), (4, "maj"),
                        (4, "7"), (1, "dim7"), (3, "dim7"), (6, "dim7"), (8, "dim7"), (6, "hdim7"))
_SECONDARY_MINOR: _Q = ((10, "maj"), (10, "7"), (0, "maj"), (0, "7"), (2, "maj"), (2, "7"), (3, "7"), (6, "dim7"),
                        (2, "dim7"), (7, "dim7"), (6, "hdim7"))
# (interval above the tonic, quality) of the chords each style uses, in major (False) and minor (True)
VOCABULARY: dict[str, dict[bool, _Q]] = {
    "folk": {False: ((0, "maj"), (5, "maj"), (7, "maj"), (7, "7"), (9, "min"), (2, "min"), (4, "min"), (2, "maj")),
             True: ((0, "min"), (5, "min"), (7, "maj"), (7, "7"), (3, "maj"), (8, "maj"), (10, "maj"), (7, "min"))},
    "pop": {False: ((0, "maj"), (0, "maj7"), (0, "sus2"), (2, "min"), (2, "min7"), (4, "min"), (4, "min7"),
                    (5, "maj"), (5, "maj7"), (5, "min"), (7, "maj"), (7, "7"), (7, "sus4"), (9, "min"), (9, "min7"),
                    (10, "maj"), (8, "maj"), (2, "maj"), (4, "maj")),
            True: ((0, "min"), (0, "min7"), (3, "maj"), (3, "maj7"), (5, "min"), (5, "min7"), (7, "maj"), (7, "7"),
                   (7, "min"), (8, "maj"), (8, "maj7"), (10, "maj"), (2, "dim"), (2, "hdim7"), (5, "maj"))},
    "chorale": {False: ((0, "maj"), (2, "min"), (2, "min7"), (4, "min"), (5, "maj"), (5, "maj7"), (7, "maj"), (7, "7"),
                        (9, "min"), (9, "min7"), (11, "dim"), (11, "hdim7"), (11, "dim7")) + _SECONDARY_MAJOR,
                True: ((0, "min"), (0, "maj"), (2, "dim"), (2, "hdim7"), (3, "maj"), (5, "min"), (5, "min7"),
                       (7, "maj"), (7, "7"), (8, "maj"), (10, "maj"), (11, "dim"), (11, "dim7"), (5, "maj"))
                + _SECONDARY_MINOR},
}
RHYTHM = {"chorale": "beat", "folk": "half", "pop": "half"}


def style_rhythm(style: str) -> str:
    """The harmonic-rhythm grid of `rhythm='auto'`: chorales move by the beat, songs and tunes by half bars."""
    return RHYTHM[style]


def auto_style(piece: Piece, melody: Piece) -> str:
    """'chorale' for a score with a chorale texture (three or more parts), else 'pop' for a
    syncopated melody (12 % or more of its notes start off the beat and are held over the next
    one) and 'folk' for the rest (fiddle tunes, airs, hymn tunes alone: one line cannot tell a
    chorale soprano from a slow air, so the texture decides)."""
    if len({int(t) for t in piece.pitched()["track"]}) >= 3:
        return "chorale"
    n = melody.notes
    on, dur = n["onset_beat"], n["duration_beat"]
    g = grid(melody)
    beat = g.beat[g.bar_index(on)]
    pos = g.position(on)[1]
    next_beat = on - pos % beat + beat
    syncopated = float(np.mean(~g.on(on, "beat") & (on + dur > next_beat + 1e-3)))
    return "pop" if syncopated >= 0.12 else "folk"


def melody_weights(melody: Piece, points: np.ndarray) -> np.ndarray:
    """(S, 12) weight of each pitch class in each slot: sounding time, doubled for notes on a beat
    of the metre and again for notes that start in the slot (what a listener hears against the chord)."""
    n = melody.notes
    on, off = n["onset_beat"], n["onset_beat"] + n["duration_beat"]
    g = grid(melody, float(points[-1]))
    strong = np.where(g.on(on, "beat"), 2.0, 1.0) * np.where(g.on(on, "bar"), 1.5, 1.0)
    S = len(points) - 1
    first = np.clip(np.searchsorted(points, on + 1e-6, side="right") - 1, 0, S - 1)
    last = np.clip(np.searchsorted(points, off - 1e-6, side="left") - 1, first, S - 1)
    counts = last - first + 1
    note = np.repeat(np.arange(len(on)), counts)  # one row per (note, slot it overlaps)
    slot = first[note] + np.arange(len(note)) - np.repeat(np.cumsum(counts) - counts, counts)
    a, b = points[slot], points[slot + 1]
    ov = np.clip(np.minimum(off[note], b) - np.maximum(on[note], a), 0, None) * strong[note]
    ov = ov * np.where((on[note] >= a - 1e-6) & (on[note] < b - 1e-6), 2.0, 1.0)
    out = np.zeros((S, 12))
    np.add.at(out, (slot, n["pitch"][note].astype(int) % 12), ov)
    return out


def chord_tone_share(weights: np.ndarray) -> np.ndarray:
    """(S, 133) share of each slot's melody weight on the tones of each chord class (0 for no chord)."""
    t, _ = harmony.templates()
    total = weights.sum(axis=1, keepdims=True)
    share = np.divide(weights @ t.T, total, out=np.zeros((len(weights), len(t))), where=total > 0)
    return np.concatenate([share, np.zeros((len(weights), 1))], axis=1)


def _classes(key: Key, pairs: _Q) -> list[int]:
    return [Chord((key.tonic + r) % 12, q).index for r, q in pairs]


def shape(melody: Piece, points: np.ndarray, slots: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
          style: str, key: Key, cadence: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The model's slots with the melody fit, the style's vocabulary and the cadences added (module docstring);
    `cadence=False` leaves out the final cadence (an unfinished melody, as in the live MIDI bridge)."""
    emit, trans, stay, change = slots
    weights = melody_weights(melody, points)
    emit = emit + FIT * chord_tone_share(weights)
    outside = np.ones(harmony.N_CLASSES, dtype=bool)
    outside[_classes(key, VOCABULARY[style][key.minor])] = False
    outside[harmony.N_CLASS] = False
    emit[:, outside] -= OUTSIDE
    sounding = weights.sum(axis=1) > 0
    emit[sounding, harmony.N_CLASS] -= OUTSIDE
    tonic = _classes(key, ((0, "min" if key.minor else "maj"),) + (((0, "maj"),) if key.minor else ()))
    dominant = _classes(key, ((7, "maj"), (7, "7"), (11, "dim"), (11, "dim7"), (5, "min" if key.minor else "maj"),
                              (2, "hdim7" if key.minor else "min"), (2, "min7")))
    g = grid(melody, float(points[-1]))
    n = melody.notes
    last_bar = int(g.bar_index(float(n["onset_beat"].max())))
    ends = [last_bar]
    full = [i for i in range(len(g.bars) - 1) if g.bars[i + 1] - g.bars[i] >= g.bar_beats[i] - 1e-6]
    if len(full) % 8 == 0 and len(full) > 8:
        ends += [full[k * 8 + 7] for k in range(len(full) // 8 - 1)]
    for k, bar in enumerate(ends):
        s = int(np.clip(np.searchsorted(points, g.bars[bar] + 1e-6, side="right") - 1, 0, len(emit) - 1))
        if k == 0 and not cadence:
            continue
        if k == 0:  # the final cadence: the tonic from the last downbeat on, approached by a dominant or IV
            emit[s:, tonic] += CADENCE
            if s > 0:
                emit[s - 1, dominant] += APPROACH * CADENCE
        else:  # inner phrase ends: a full or half cadence
            emit[s, tonic + _classes(key, ((7, "maj"), (7, "7")))] += CADENCE / 2
    change = change + BAR_CHANGE * g.on(points[:-1], "bar")
    return emit, trans, stay, change


def with_bass(segments: list[tuple[float, float, int, int]], style: str) -> list[tuple[float, float, int, int]]:
    """Segments with their bass: root position, except in chorales, where a dynamic programme over
    root, third and fifth in the bass prefers stepwise bass motion (inversions) and ends in root position."""
    if style != "chorale" or len(segments) < 2:
        return segments
    options: list[list[tuple[int, float]]] = []
    for k, (_, _, c, root) in enumerate(segments):
        chord = harmony.from_index(c)
        if chord is None:
            options.append([(root, 0.0)])
            continue
        pcs = chord.pitch_classes
        costs = (0.0, 0.45, 1.6, 0.9)
        end = k >= len(segments) - 2
        options.append([(pc, costs[i] + (5.0 if end and i else 0.0)) for i, pc in enumerate(pcs)])
    motion = {0: 0.6, 1: 0.0, 2: 0.0, 3: 0.5, 4: 0.5, 5: 0.3, 6: 1.0}
    best = [cost for _, cost in options[0]]
    back: list[list[int]] = []
    for k in range(1, len(options)):
        row, ptr = [], []
        for pc, cost in options[k]:
            cand = [best[j] + motion[min((pc - p) % 12, (p - pc) % 12)] for j, (p, _) in enumerate(options[k - 1])]
            j = int(np.argmin(cand))
            row.append(cand[j] + cost)
            ptr.append(j)
        best, back = row, back + [ptr]
    i = int(np.argmin(best))
    chosen = [i]
    for ptr in reversed(back):
        i = ptr[i]
        chosen.append(i)
    chosen.reverse()
    return [(s, e, c, options[k][chosen[k]][0]) for k, (s, e, c, _) in enumerate(segments)]


def hold_viterbi(emit: np.ndarray, trans: np.ndarray, stay: np.ndarray, change: np.ndarray,
                 barline: np.ndarray, hold: float | None = None) -> tuple[np.ndarray, float]:
    """Viterbi through the HMM of `harmonize` (see `hmm_decode`) with each chord's count of
    barlines held (0, 1, 2, 3+) in its state: keeping a chord over a barline into its fourth bar
    or later costs `hold`, so a chord is held that long only when the melody keeps fitting it.
    `barline[s]` says whether slot s starts on a barline; `hold` defaults to `HOLD`. Returns (path
    of chord classes, score)."""
    hold = HOLD if hold is None else hold
    S, K = emit.shape
    D = 4
    acc = np.full((D, K), -np.inf)
    acc[0] = emit[0]
    back_d = np.zeros((S, D, K), dtype=np.int8)
    back_k = np.zeros((S, D, K), dtype=np.int16)
    ks = np.arange(K)
    for s in range(1, S):
        best = acc.max(axis=0)
        into = best[:, None] + trans
        src = np.argmax(into, axis=0)
        moved = into[src, ks] + change[s]
        src_d = np.argmax(acc[:, src], axis=0)
        new = np.full((D, K), -np.inf)
        bd = np.zeros((D, K), dtype=np.int8)
        if barline[s]:
            kept = acc + stay[s] - hold * (np.arange(D) >= 2)[:, None]
            new[1:] = kept[:-1]
            bd[1:] = np.arange(D - 1)[:, None]
            last = kept[D - 1] > new[D - 1]
            new[D - 1] = np.where(last, kept[D - 1], new[D - 1])
            bd[D - 1] = np.where(last, D - 1, bd[D - 1])
        else:
            new = acc + stay[s]
            bd[:] = np.arange(D)[:, None]
        bk = np.broadcast_to(ks, (D, K)).copy()
        take = moved > new[0]
        new[0] = np.where(take, moved, new[0])
        bd[0] = np.where(take, src_d, bd[0])
        bk[0] = np.where(take, src, bk[0])
        back_d[s], back_k[s] = bd, bk
        acc = new + emit[s]
    best_d, best_k = np.unravel_index(int(np.argmax(acc)), acc.shape)
    d, k = int(best_d), int(best_k)
    score = float(acc[d, k])
    path = np.empty(S, dtype=np.int64)
    for s in range(S - 1, -1, -1):
        path[s] = k
        d, k = int(back_d[s, d, k]), int(back_k[s, d, k])
    return path, score
