"""`harmonize`: melody → chord progression, chord symbols and a voiced accompaniment track.

The `harmonize-v1` model reads the melody one beat at a time (`melody_features`: pitch classes
sounding and starting in the beat, metric position, the style) and gives, per beat, the
probability of each of 133 chord classes and of a chord change. The progression is decoded at
the chosen harmonic rhythm (bar, half bar, beat, or `learned` = where the model expects
changes) by an HMM whose transitions are chord-to-chord bigrams counted on the training data
(transposition-invariant, stored in the model card): Viterbi at temperature 0, forward
filtering–backward sampling otherwise; `n_best` adds distinct alternatives.
`method="rules"` is the baseline: diatonic triads (and V7) of the melody's key from the `key`
task, scored by how many strong-beat melody notes they contain, decoded by the same HMM with
flat transitions. `voicing.accompaniment_notes` voices the result.
"""
from __future__ import annotations

from itertools import product
from typing import Annotated, Any, Literal, cast

import numpy as np

from .. import harmony
from ..errors import InputError
from ..harmony import Key
from ..metre import grid, shifted
from ..numeric import hmm_moves, log_softmax, logsumexp, runs, softmax, viterbi
from ..piece import Piece, Track
from ..registry import Arg, Output, task
from ..runtime import Model
from ..voicing import accompaniment_notes
from .chords import MAX_FRAMES, ChordSegment, chord_annotations, label
from .harmonize_style import (
    auto_style,
    chord_tone_share,
    hold_viterbi,
    melody_weights,
    shape,
    style_rhythm,
    with_bass,
)
from .key import analyze

STYLES = ("pop", "folk", "chorale")
RHYTHMS = ("auto", "bar", "half", "beat", "learned")
N_FEATURES = 43  # melody chroma 12, onset chroma 12, metric 4, style 3, whole-melody chroma 12
NEG = -1e9
Slots = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # HMM emissions, transitions, stay and change log-probs


# -- the melody ---------------------------------------------------------------------------------
def select_melody(piece: Piece, track: int = -1) -> tuple[Piece, int, list[str]]:
    """The monophonic melody to harmonize as a one-track Piece, its track index and warnings.

    With `track=-1` the piece must have exactly one pitched track; a track with overlapping notes
    (grace notes, a second voice, legato) is reduced to its top line (highest note at each onset)
    and a warning says so."""
    where = piece.metadata.get("source") or "piece"
    if not piece.has_beats:
        raise InputError(f"{where}: harmonize needs a beat grid (a score or a MIDI file with tempo), "
                         f"not a performance known only in seconds")
    notes = piece.pitched()
    if not len(notes):
        raise InputError(f"{where}: no pitched notes; harmonize needs a melody")
    used = sorted({int(t) for t in notes["track"]})
    warnings: list[str] = []
    if track >= 0:
        if track >= len(piece.tracks) or track not in used:
            raise InputError(f"{where}: track {track} has no pitched notes; tracks with notes: "
                             + ", ".join(f"{t} ({piece.tracks[t].name or 'unnamed'})" for t in used))
        notes = notes[notes["track"] == track]
    else:
        if len(used) > 1:
            raise InputError(f"{where}: {len(used)} tracks have notes ("
                             + ", ".join(f"{t} {piece.tracks[t].name or 'unnamed'}" for t in used)
                             + "); harmonize needs one melody: choose it with --track N")
        track = used[0]
    overlapping = _overlaps(notes)
    if overlapping:
        warnings.append(f"the melody has {overlapping} of {len(notes)} notes overlapping another; "
                        f"its top line (highest note at each onset) was harmonized")
    mel = top_line(notes).copy()
    mel["track"] = 0
    return piece.replace(notes=mel, tracks=(Track(piece.tracks[track].program, "melody"),),
                         annotations=()), track, warnings


def _overlaps(notes: np.ndarray) -> int:
    on, end = notes["onset_beat"], notes["onset_beat"] + notes["duration_beat"]
    order = np.argsort(on, kind="stable")
    on, end = on[order], end[order]
    prev_end = np.maximum.accumulate(end)[:-1]
    return int((prev_end - on[1:] > 0.25).sum())


def top_line(notes: np.ndarray) -> np.ndarray:
    """The highest note at each onset, each cut where the next one starts."""
    n: np.ndarray = notes[np.lexsort((-notes["pitch"].astype(int), notes["onset_beat"]))]
    first = np.concatenate([[True], np.diff(n["onset_beat"]) > 1e-6])
    n = n[first].copy()
    if len(n) > 1:
        n["duration_beat"][:-1] = np.minimum(n["duration_beat"][:-1], np.diff(n["onset_beat"]))
    return n


def melody_features(melody: Piece, style: str) -> np.ndarray:
    """(T, 43) float32 per beat: chroma, onset chroma, [downbeat, half-bar, position in bar, sounding],
    style one-hot, and the whole melody's duration-weighted chroma (key context)."""
    n = melody.notes
    on, off = n["onset_beat"], n["onset_beat"] + np.maximum(n["duration_beat"], 1e-3)
    frames = int(np.ceil(off.max() - 1e-9))
    f = np.zeros((frames, N_FEATURES), dtype=np.float64)
    for o, e, p in zip(on, off, n["pitch"].astype(int)):
        for t in range(int(np.floor(o)), min(int(np.ceil(e - 1e-9)), frames)):
            f[t, p % 12] += min(e, t + 1) - max(o, t)
        t = int(np.floor(o))
        f[t, 12 + p % 12] += min(e - o, 1.0) + (0.5 if abs(o - t) < 1e-6 else 0.0)
    for a, b in ((0, 12), (12, 24)):
        peak = f[:, a:b].max(axis=1, keepdims=True)
        f[:, a:b] = np.divide(f[:, a:b], peak, out=np.zeros_like(f[:, a:b]), where=peak > 0)
    starts = np.arange(frames, dtype=float)
    g = grid(melody, float(frames))
    _, pos = g.position(starts)
    bar_len = g.bar_length(starts)
    f[:, 24] = pos < 1e-6
    f[:, 25] = np.abs(pos - bar_len / 2) < 1e-6
    f[:, 26] = pos / bar_len
    f[:, 27] = f[:, :12].max(axis=1) > 0
    f[:, 28 + STYLES.index(style)] = 1.0
    whole = np.bincount(n["pitch"].astype(int) % 12, weights=off - on, minlength=12)
    f[:, 31:43] = whole / whole.max() if whole.max() > 0 else 0.0
    return f.astype(np.float32)


def slot_bounds(melody: Piece, rhythm: str, frames: int) -> np.ndarray:
    """Whole-frame starts of the harmonic-rhythm slots plus the end (training counts chord stays on these)."""
    if rhythm in ("beat", "learned"):
        return np.arange(frames + 1)
    pts = grid(melody, float(frames)).points(rhythm)
    return np.unique(np.concatenate([np.clip(np.round(pts), 0, frames), [0, frames]])).astype(int)


def slot_points(melody: Piece, rhythm: str, frames: int) -> np.ndarray:
    """Start beats of the harmonic-rhythm slots on the melody's metrical grid (`metre.grid`) plus
    the end: barlines, half bars, beats (dotted quarters in 6/8), or every frame for `learned`."""
    if rhythm == "learned":
        return np.arange(frames + 1, dtype=float)
    pts = grid(melody, float(frames)).points(rhythm)
    return np.unique(np.round(np.concatenate([np.clip(pts, 0, frames), [0.0, float(frames)]]), 6))


def slot_means(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(S, K) mean of per-frame `values` (T, K) over each slot [points[s], points[s + 1]); frames cut
    by a slot edge count in proportion (cumulative sums: linear in S + T)."""
    T = len(values)
    cum = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])

    def upto(x: np.ndarray) -> np.ndarray:
        i = np.clip(np.floor(x).astype(int), 0, T)
        frac = np.clip(x - i, 0.0, 1.0)[:, None]
        out: np.ndarray = cum[i] + frac * values[np.minimum(i, T - 1)] * (i < T)[:, None]
        return out

    a, b = np.clip(points[:-1], 0, T), np.clip(points[1:], 0, T)
    width = np.maximum(b - a, 1e-9)[:, None]
    out: np.ndarray = (upto(b) - upto(a)) / width
    return out


# -- the HMM ------------------------------------------------------------------------------------
def transition_matrix(card: dict[str, Any]) -> np.ndarray:
    """(133, 133) log-probabilities of the next chord given a change, from the card's relative table."""
    rel = np.asarray(card["transitions"]["relative"], dtype=np.float64)  # (12 intervals, 11, 11)
    q = harmony.N_QUALITIES
    T = np.full((harmony.N_CLASSES, harmony.N_CLASSES), float(card["transitions"]["to_or_from_n"]))
    for r1 in range(12):
        for r2 in range(12):
            T[r1 * q:(r1 + 1) * q, r2 * q:(r2 + 1) * q] = rel[(r2 - r1) % 12]
    np.fill_diagonal(T, NEG)
    return T


def hmm_decode(emit: np.ndarray, trans: np.ndarray, stay: np.ndarray, change: np.ndarray,
               temperature: float = 0.0, rng: np.random.Generator | None = None) -> tuple[np.ndarray, float]:
    """Best (temperature 0) or sampled path through (S, K) emissions; `stay[s]`/`change[s]` are the
    log-probabilities of keeping / changing the chord entering slot s. Returns (path, log score)."""
    S, K = emit.shape
    if temperature <= 0:
        return viterbi(emit, hmm_moves(trans, stay, change))
    rng = rng or np.random.default_rng(0)
    e, tr = emit / temperature, trans / temperature
    alpha = np.zeros((S, K))
    alpha[0] = e[0]
    for s in range(1, S):
        moved = logsumexp(alpha[s - 1][:, None] + tr, axis=0) + change[s] / temperature
        alpha[s] = np.logaddexp(alpha[s - 1] + stay[s] / temperature, moved) + e[s]
    path = np.empty(S, dtype=np.int64)
    path[-1] = _draw(alpha[-1], rng)
    for s in range(S - 1, 0, -1):
        nxt = path[s]
        w = alpha[s - 1] + tr[:, nxt] + change[s] / temperature
        w[nxt] = alpha[s - 1][nxt] + stay[s] / temperature
        path[s - 1] = _draw(w, rng)
    return path, path_score(path, emit, trans, stay, change)


def path_score(path: np.ndarray, emit: np.ndarray, trans: np.ndarray, stay: np.ndarray, change: np.ndarray) -> float:
    total = float(emit[0, path[0]])
    for s in range(1, len(path)):
        a, b = path[s - 1], path[s]
        total += float(emit[s, b]) + (float(stay[s]) if a == b else float(trans[a, b] + change[s]))
    return total


def _draw(logw: np.ndarray, rng: np.random.Generator) -> int:
    p = softmax(logw)
    return int(rng.choice(len(p), p=p))


def model_slots(model: Model, feats: np.ndarray, points: np.ndarray, rhythm: str) -> Slots:
    """Slot emissions (log of the mean per-beat probability over the slot), transitions, stay and
    change log-probs. `learned` and `auto` take the change probability from the model at each slot
    start; the other rhythms a constant from the card."""
    out = model.run(features=feats[None].astype(np.float32))
    lp = log_softmax(out["chord_logits"][0], axis=1)
    card = model.card
    weight = float(card.get("emission_weight", {}).get(rhythm, 8.0))  # tuned on POP909 valid
    emit = weight * np.log(np.maximum(slot_means(np.exp(lp), points), 1e-12))
    trans = transition_matrix(card)
    S = len(emit)
    if rhythm in ("learned", "auto"):
        p = 1.0 / (1.0 + np.exp(-out["change_logits"][0, :, 0].astype(np.float64)))
        at = np.clip(np.floor(points[:-1] + 1e-6).astype(int), 0, len(p) - 1)
        p = np.clip(p[at], 1e-4, 1 - 1e-4)
        stay, change = np.log1p(-p), np.log(p)
    else:
        p_stay = float(card["stay"][rhythm])
        stay, change = np.full(S, np.log(p_stay)), np.full(S, np.log1p(-p_stay))
    return emit, trans, stay, change


DIATONIC = {False: [(0, "maj", 1.0), (2, "min", 0.6), (4, "min", 0.4), (5, "maj", 0.9), (7, "maj", 1.0),
                    (7, "7", 0.6), (9, "min", 0.7)],
            True: [(0, "min", 1.0), (5, "min", 0.8), (7, "maj", 0.9), (7, "7", 0.7), (8, "maj", 0.6),
                   (3, "maj", 0.6), (10, "maj", 0.5), (2, "dim", 0.3)]}


def rules_slots(melody: Piece, points: np.ndarray, key: Key | None = None) -> Slots:
    """Baseline emissions: chord-tone share of the melody in each slot (`melody_weights`) for the
    diatonic chords of the melody's key (default: the `key` task's); flat transitions between them."""
    key = key or analyze(melody).key
    tonic, minor = key.tonic, key.minor
    share = chord_tone_share(melody_weights(melody, points))
    S = len(points) - 1
    emit = np.full((S, harmony.N_CLASSES), NEG)
    cands = [(harmony.Chord((tonic + r) % 12, q), w) for r, q, w in DIATONIC[minor]]
    for chord, prior in cands:
        emit[:, chord.index] = 4.0 * np.where(share.sum(axis=1) > 0, share[:, chord.index], 0.5) + np.log(prior)
    trans = np.zeros((harmony.N_CLASSES, harmony.N_CLASSES))
    for (a, _), (b, _) in product(cands, cands):  # functional moves: down a fifth, IV-V, V-vi
        step = (b.root - a.root) % 12
        if step == 5 or (step == 2 and a.root == (tonic + 5) % 12) or (step == 2 and a.root == (tonic + 7) % 12):
            trans[a.index, b.index] = 0.5
    np.fill_diagonal(trans, NEG)
    stay, change = np.full(S, np.log(0.6)), np.full(S, np.log(0.4))
    emit[0, cands[0][0].index] += 1.0   # start and end on the tonic
    emit[-1, cands[0][0].index] += 1.0
    return emit, trans, stay, change


# -- the task -----------------------------------------------------------------------------------
def progression(melody: Piece, *, style: str = "pop", rhythm: str = "bar", method: str = "model",
                model: Model | None = None, temperature: float = 0.0, seed: int = 0, n_best: int = 1,
                key: Key | None = None, cadence: bool = True) -> dict[str, Any]:
    """Decode the progression: {'bounds' (slot start beats plus the end, on the melody's own beats),
    'paths': [(path, score), ...] (best first, distinct symbol sequences), 'slots'}. The melody is
    read on frames whose edges meet its barlines (`metre.Grid.lead`); `key` is the melody's key
    (default: the `key` task's), for the rules, the style's vocabulary and the cadences."""
    if method == "model" and model is None:
        raise InputError("harmonize: method 'model' needs the harmonize-v1 model")
    if style not in STYLES:
        raise InputError(f"harmonize: style must be one of {', '.join(STYLES)} here, got {style!r}")
    end = float(np.nanmax(melody.notes["onset_beat"] + melody.notes["duration_beat"]))
    if end > MAX_FRAMES:
        raise InputError(f"{melody.metadata.get('source') or 'melody'}: the melody reaches beat {end:.0f}, more than "
                         f"{MAX_FRAMES} beats; harmonize it in sections")
    key = key or analyze(melody).key
    lead = grid(melody).lead(1.0)
    mel = shifted(melody, lead)
    feats = melody_features(mel, style)
    if rhythm == "learned" and method == "rules":
        rhythm = "beat"
    grid_rhythm = style_rhythm(style) if rhythm == "auto" else rhythm
    points = slot_points(mel, grid_rhythm, len(feats))
    if method == "model" and model is not None:
        slots = model_slots(model, feats, points, rhythm)
        slots = shape(mel, points, slots, style, key, cadence)
    else:
        slots = rules_slots(mel, points, key)
    rng = np.random.default_rng(seed)
    if method == "model" and temperature <= 0:
        barline = grid(mel, float(points[-1])).on(points[:-1], "bar")
        best, score = hold_viterbi(*slots, barline=barline)
    else:
        best, score = hmm_decode(*slots, temperature=temperature, rng=rng)
    paths, seen = [(best, score)], {_sequence(best)}
    tries = 0
    while len(paths) < n_best and tries < 30 * n_best:
        tries += 1
        p, sc = hmm_decode(*slots, temperature=max(temperature, 1.0 + tries / (10.0 * n_best)), rng=rng)
        if _sequence(p) not in seen:
            seen.add(_sequence(p))
            paths.append((p, sc))
    paths[1:] = sorted(paths[1:], key=lambda x: -x[1])
    bounds = np.maximum(points - lead, 0.0)
    bounds[-1] = max(bounds[-1], melody.duration_beat)
    return {"bounds": bounds, "paths": paths, "slots": slots}


def _sequence(path: np.ndarray) -> tuple[int, ...]:
    """The chord classes of a path with repeats merged: what makes two progressions distinct."""
    return tuple(int(c) for _, _, c in runs(path))


def segments_of(path: np.ndarray, bounds: np.ndarray) -> list[tuple[float, float, int, int]]:
    """Merge equal consecutive slots → (start beat, end beat, class, bass) in root position; empty
    slots (a clipped pickup) are dropped."""
    return [(float(bounds[a]), float(bounds[b]), c, cast(harmony.Chord, harmony.from_index(c)).root
             if c != harmony.N_CLASS else -1)
            for a, b, c in runs(path) if bounds[b] - bounds[a] > 1e-6]


@task("harmonize", model="harmonize-v1", input="melody", output="piece",
      summary="Melody → chord progression, chord symbols and a voiced accompaniment track")
def harmonize(
    piece: Piece,
    *,
    style: Annotated[Literal["auto", "pop", "folk", "chorale"],
                     Arg("style to follow (auto = chosen from the input: chorale texture, fiddle tune, pop melody)")
                     ] = "auto",
    rhythm: Annotated[Literal["auto", "bar", "half", "beat", "learned"],
                      Arg("harmonic rhythm: auto (the style's grid, changes where the model expects them), "
                          "a chord per bar, half bar, beat, or wherever the model expects changes")] = "auto",
    accompaniment: Annotated[Literal["block", "arpeggio", "comping", "none"],
                             Arg("accompaniment pattern (none = chords only)")] = "block",
    register_pitch: Annotated[int, Arg("centre of the accompaniment's upper voices (MIDI pitch)", ge=36, le=84)] = 57,
    temperature: Annotated[float, Arg("0 = most likely progression; higher samples more freely", ge=0, le=5)] = 0.0,
    seed: Annotated[int, Arg("random seed for sampling", ge=0, le=2**31 - 1)] = 0,
    n_best: Annotated[int, Arg("number of distinct progressions to return (alternatives in JSON)", ge=1, le=16)] = 1,
    track: Annotated[int, Arg("melody track in a multi-track file (-1 = the only one)", ge=-1, le=255)] = -1,
    method: Annotated[Literal["model", "rules"],
                      Arg("harmonize-v1 model, or the diatonic-template HMM baseline")] = "model",
    cadence: Annotated[bool, Arg("end on a cadence (off for an unfinished melody, as the live MIDI bridge sends)")] = True,
    model: Model | None = None,
) -> Output:
    """Harmonize a melody: chords on its metrical grid plus an accompaniment.

    JSON: `chords` (list of `start_beat`, `end_beat`, `start_sec`, `end_sec`, `symbol`, `root`,
    `quality`, `bass`, `roman`, `key`, `degree`), `key`, `style` (the one used), `rhythm`,
    `method`, `warnings` (e.g. a polyphonic track reduced to its top line, a missing time
    signature) and `alternatives`: the n-best progressions, each with `symbols`, `chords`
    (`start_beat`, `end_beat`, `symbol`) and `log_score`; alternatives differ in their sequence of
    chords (fewer than `n_best` come back when the melody allows no more). The returned Piece is
    the input with `chord`/`roman` annotations and an `accompaniment` track.
    """
    melody, mel_track, warnings = select_melody(piece, track)
    if not piece.time_signatures or piece.metadata.get("time_signature_assumed"):
        warnings.append("no time signature in the input: 4/4 assumed")
    used = auto_style(piece, melody) if style == "auto" else style
    keys = analyze(melody)
    res = progression(melody, style=used, rhythm=rhythm, method=method, model=model,
                      temperature=temperature, seed=seed, n_best=n_best, key=keys.key, cadence=cadence)
    progressions = [label(with_bass(segments_of(p, res["bounds"]), used), keys) for p, _ in res["paths"]]
    segs = progressions[0]
    alternatives = [{"symbols": [seg.symbol for seg in prog],
                     "chords": [{"start_beat": seg.start_beat, "end_beat": seg.end_beat, "symbol": seg.symbol}
                                for seg in prog],
                     "log_score": round(sc, 3)}
                    for prog, (_, sc) in zip(progressions, res["paths"])]
    out = piece.annotate(chord_annotations(segs), replace_kinds=("chord", "roman"))
    if accompaniment != "none":
        out = out.replace(**accompany(piece, melody, segs, accompaniment, register_pitch))
    data = {"key": keys.key.name, "style": used, "rhythm": rhythm, "method": method, "melody_track": mel_track,
            "warnings": warnings, "chords": [seg.to_json(piece) for seg in segs], "alternatives": alternatives}
    return Output(out, data)


def accompany(piece: Piece, melody: Piece, segments: list[ChordSegment], pattern: str, register_pitch: int) -> dict[str, Any]:
    """`notes` and `tracks` of `piece` with an accompaniment track playing `segments` under the
    melody, struck on the barlines of the piece's metrical grid."""
    chords = [(float(seg.start_beat), float(seg.end_beat), seg.chord) for seg in segments if seg.chord is not None]
    mel = melody.notes
    floors = []
    for a, b, _ in chords:
        inside = mel[(mel["onset_beat"] < b) & (mel["onset_beat"] + mel["duration_beat"] > a)]
        floors.append(float(inside["pitch"].min()) if len(inside) else float("nan"))
    vel = int(np.clip(np.mean(mel["velocity"]) * 0.8, 30, 110))
    g = grid(piece, max(piece.duration_beat, max((b for _, b, _ in chords), default=0.0)))
    acc = accompaniment_notes(chords, pattern=pattern, register_pitch=register_pitch, metre=g,
                              velocity=vel, melody_floor=floors, track=len(piece.tracks))
    acc["id"] = np.arange(len(acc)) + (int(piece.notes["id"].max()) + 1 if len(piece.notes) else 0)
    return {"notes": np.concatenate([piece.notes, acc]), "tracks": piece.tracks + (Track(0, "accompaniment"),)}
