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
from ..numeric import hmm_moves, log_softmax, logsumexp, runs, softmax, viterbi
from ..piece import Piece, Track
from ..registry import Arg, Output, task
from ..runtime import Model
from ..voicing import accompaniment_notes
from .chords import ChordSegment, chord_annotations, label
from .key import analyze

STYLES = ("pop", "folk", "chorale")
RHYTHMS = ("bar", "half", "beat", "learned")
N_FEATURES = 43  # melody chroma 12, onset chroma 12, metric 4, style 3, whole-melody chroma 12
NEG = -1e9
Slots = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # HMM emissions, transitions, stay and change log-probs


# -- the melody ---------------------------------------------------------------------------------
def select_melody(piece: Piece, track: int = -1) -> tuple[Piece, int]:
    """The monophonic melody to harmonize as a one-track Piece, and its track index.

    With `track=-1` the piece must have exactly one pitched track holding a single line;
    a chosen track is reduced to its top line (highest note at each onset)."""
    where = piece.metadata.get("source") or "piece"
    if not piece.has_beats:
        raise InputError(f"{where}: harmonize needs a beat grid (a score or a MIDI file with tempo), "
                         f"not a performance known only in seconds")
    notes = piece.pitched()
    if not len(notes):
        raise InputError(f"{where}: no pitched notes; harmonize needs a melody")
    used = sorted({int(t) for t in notes["track"]})
    if track >= 0:
        if track >= len(piece.tracks) or track not in used:
            raise InputError(f"{where}: track {track} has no pitched notes; tracks with notes: "
                             + ", ".join(f"{t} ({piece.tracks[t].name or 'unnamed'})" for t in used))
        mel = top_line(notes[notes["track"] == track])
    else:
        if len(used) > 1:
            raise InputError(f"{where}: {len(used)} tracks have notes ("
                             + ", ".join(f"{t} {piece.tracks[t].name or 'unnamed'}: "
                                         f"{int((notes['track'] == t).sum())} notes" for t in used)
                             + "); choose the melody with --track N")
        overlapping = _overlaps(notes)
        if overlapping > 0.1 * len(notes):
            raise InputError(f"{where}: the melody is polyphonic ({overlapping} of {len(notes)} notes overlap "
                             f"another); harmonize needs a single line: choose a track with --track N "
                             f"(its top line is used)")
        track = used[0]
        mel = top_line(notes)
    mel = mel.copy()
    mel["track"] = 0
    return piece.replace(notes=mel, tracks=(Track(piece.tracks[track].program, "melody"),),
                         annotations=()), track


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
    bar, pos = melody.bar_position(starts)
    bar_len = _bar_lengths(melody, starts)
    f[:, 24] = pos < 1e-6
    f[:, 25] = np.abs(pos - bar_len / 2) < 1e-6
    f[:, 26] = pos / bar_len
    f[:, 27] = f[:, :12].max(axis=1) > 0
    f[:, 28 + STYLES.index(style)] = 1.0
    whole = np.bincount(n["pitch"].astype(int) % 12, weights=off - on, minlength=12)
    f[:, 31:43] = whole / whole.max() if whole.max() > 0 else 0.0
    return f.astype(np.float32)


def _bar_lengths(piece: Piece, beats: np.ndarray) -> np.ndarray:
    sigs = piece.time_signatures
    starts = np.array([s.start_beat for s in sigs])
    i = np.clip(np.searchsorted(starts, beats, side="right") - 1, 0, len(sigs) - 1)
    return np.array([sigs[j].bar_beats for j in i])


def slot_bounds(melody: Piece, rhythm: str, frames: int) -> np.ndarray:
    """Start beats of the harmonic-rhythm slots (integers: frames) plus the end."""
    if rhythm in ("beat", "learned"):
        return np.arange(frames + 1)
    bars = melody.bar_starts(float(frames))
    b = list(bars)
    if rhythm == "half":
        lens = _bar_lengths(melody, bars)
        b += [s + ln / 2 for s, ln in zip(bars, lens) if ln >= 2]
    edges = np.unique(np.clip(np.round(np.asarray(b)), 0, frames))
    return np.unique(np.concatenate([edges, [0, frames]])).astype(int)


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


def model_slots(model: Model, feats: np.ndarray, bounds: np.ndarray, rhythm: str) -> Slots:
    """Slot emissions (mean per-beat log-probabilities), transitions, stay and change log-probs."""
    out = model.run(features=feats[None].astype(np.float32))
    lp = log_softmax(out["chord_logits"][0], axis=1)
    card = model.card
    weight = float(card.get("emission_weight", {}).get(rhythm, 1.0))  # tuned on POP909 valid
    emit = weight * np.stack([logsumexp(lp[a:b], axis=0) - np.log(b - a) for a, b in zip(bounds[:-1], bounds[1:])])
    trans = transition_matrix(card)
    S = len(emit)
    if rhythm == "learned":
        p = 1.0 / (1.0 + np.exp(-out["change_logits"][0, :, 0].astype(np.float64)))
        p = np.clip(p, 1e-4, 1 - 1e-4)
        stay, change = np.log1p(-p), np.log(p)
    else:
        p_stay = float(card["stay"][rhythm])
        stay, change = np.full(S, np.log(p_stay)), np.full(S, np.log1p(-p_stay))
    return emit, trans, stay, change


DIATONIC = {False: [(0, "maj", 1.0), (2, "min", 0.6), (4, "min", 0.4), (5, "maj", 0.9), (7, "maj", 1.0),
                    (7, "7", 0.6), (9, "min", 0.7)],
            True: [(0, "min", 1.0), (5, "min", 0.8), (7, "maj", 0.9), (7, "7", 0.7), (8, "maj", 0.6),
                   (3, "maj", 0.6), (10, "maj", 0.5), (2, "dim", 0.3)]}


def rules_slots(melody: Piece, bounds: np.ndarray, key: Key | None = None) -> Slots:
    """Baseline emissions: chord-tone share of the melody in each slot (strong beats count double)
    for the diatonic chords of the melody's key (default: the `key` task's); flat transitions between them."""
    key = key or analyze(melody).key
    tonic, minor = key.tonic, key.minor
    n = melody.notes
    on, off = n["onset_beat"], n["onset_beat"] + n["duration_beat"]
    _, pos = melody.bar_position(on)
    weight_strong = np.where((np.abs(pos - np.round(pos)) < 1e-6), 1.0, 0.5)
    S = len(bounds) - 1
    emit = np.full((S, harmony.N_CLASSES), NEG)
    cands = [(harmony.Chord((tonic + r) % 12, q), w) for r, q, w in DIATONIC[minor]]
    for s, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        ov = np.clip(np.minimum(off, b) - np.maximum(on, a), 0, None) * weight_strong
        ov[(on >= a) & (on < b)] *= 2.0  # notes that start in the slot count double
        total = ov.sum()
        for chord, prior in cands:
            inside = np.isin(n["pitch"] % 12, chord.pitch_classes)
            share = (ov[inside].sum() / total) if total > 0 else 0.5
            emit[s, chord.index] = 4.0 * share + np.log(prior)
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
                key: Key | None = None) -> dict[str, Any]:
    """Decode the progression: {'bounds', 'paths': [(path, score), ...]} (best first). `key` is the
    melody's key for the rules (default: the `key` task's)."""
    if method == "model" and model is None:
        raise InputError("harmonize: method 'model' needs the harmonize-v1 model")
    feats = melody_features(melody, style)
    if rhythm == "learned" and method == "rules":
        rhythm = "beat"
    bounds = slot_bounds(melody, rhythm, len(feats))
    slots = (model_slots(model, feats, bounds, rhythm) if method == "model" and model is not None
             else rules_slots(melody, bounds, key))
    rng = np.random.default_rng(seed)
    best, score = hmm_decode(*slots, temperature=temperature, rng=rng)
    paths, seen = [(best, score)], {tuple(best)}
    tries = 0
    while len(paths) < n_best and tries < 20 * n_best:
        tries += 1
        p, sc = hmm_decode(*slots, temperature=max(temperature, 1.0), rng=rng)
        if tuple(p) not in seen:
            seen.add(tuple(p))
            paths.append((p, sc))
    paths[1:] = sorted(paths[1:], key=lambda x: -x[1])
    return {"bounds": bounds, "paths": paths, "slots": slots}


def segments_of(path: np.ndarray, bounds: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Merge equal consecutive slots → (start beat, end beat, class, bass) in root position."""
    return [(int(bounds[a]), int(bounds[b]), c, cast(harmony.Chord, harmony.from_index(c)).root
             if c != harmony.N_CLASS else -1)
            for a, b, c in runs(path)]


@task("harmonize", model="harmonize-v1", input="melody", output="piece",
      summary="Melody → chord progression, chord symbols and a voiced accompaniment track")
def harmonize(
    piece: Piece,
    *,
    style: Annotated[Literal["pop", "folk", "chorale"], Arg("style of the training sources to follow")] = "pop",
    rhythm: Annotated[Literal["bar", "half", "beat", "learned"],
                      Arg("harmonic rhythm: a chord per bar, half bar, beat, or where the model expects changes")] = "bar",
    accompaniment: Annotated[Literal["block", "arpeggio", "comping", "none"],
                             Arg("accompaniment pattern (none = chords only)")] = "block",
    register_pitch: Annotated[int, Arg("centre of the accompaniment's upper voices (MIDI pitch)", ge=36, le=84)] = 57,
    temperature: Annotated[float, Arg("0 = most likely progression; higher samples more freely", ge=0, le=5)] = 0.0,
    seed: Annotated[int, Arg("random seed for sampling", ge=0, le=2**31 - 1)] = 0,
    n_best: Annotated[int, Arg("number of progressions to return (alternatives in JSON)", ge=1, le=16)] = 1,
    track: Annotated[int, Arg("melody track in a multi-track file (-1 = the only one)", ge=-1, le=255)] = -1,
    method: Annotated[Literal["model", "rules"],
                      Arg("harmonize-v1 model, or the diatonic-template HMM baseline")] = "model",
    model: Model | None = None,
) -> Output:
    """Harmonize a monophonic melody: chords at the chosen harmonic rhythm plus an accompaniment.

    JSON: `chords` (list of `start_beat`, `end_beat`, `start_sec`, `end_sec`, `symbol`, `root`,
    `quality`, `bass`, `roman`, `key`, `degree`), `key`, `style`, `rhythm`, `method`, and
    `alternatives` (the n-best progressions as symbol lists with their log scores). The returned
    Piece is the input with `chord`/`roman` annotations and an `accompaniment` track.
    """
    melody, mel_track = select_melody(piece, track)
    keys = analyze(melody)
    res = progression(melody, style=style, rhythm=rhythm, method=method, model=model,
                      temperature=temperature, seed=seed, n_best=n_best, key=keys.key)
    progressions = [label(segments_of(p, res["bounds"]), keys) for p, _ in res["paths"]]
    segs = progressions[0]
    alternatives = [{"symbols": [seg.symbol for seg in prog], "log_score": round(sc, 3)}
                    for prog, (_, sc) in zip(progressions, res["paths"])]
    out = piece.annotate(chord_annotations(segs), replace_kinds=("chord", "roman"))
    if accompaniment != "none":
        out = out.replace(**accompany(piece, melody, segs, accompaniment, register_pitch))
    data = {"key": keys.key.name, "style": style, "rhythm": rhythm, "method": method, "melody_track": mel_track,
            "chords": [seg.to_json(piece) for seg in segs], "alternatives": alternatives}
    return Output(out, data)


def accompany(piece: Piece, melody: Piece, segments: list[ChordSegment], pattern: str, register_pitch: int) -> dict[str, Any]:
    """`notes` and `tracks` of `piece` with an accompaniment track playing `segments` under the melody."""
    chords = [(float(seg.start_beat), float(seg.end_beat), seg.chord) for seg in segments if seg.chord is not None]
    mel = melody.notes
    floors = []
    for a, b, _ in chords:
        inside = mel[(mel["onset_beat"] < b) & (mel["onset_beat"] + mel["duration_beat"] > a)]
        floors.append(float(inside["pitch"].min()) if len(inside) else float("nan"))
    bar_beats = piece.time_signatures[0].bar_beats if piece.time_signatures else 4.0
    vel = int(np.clip(np.mean(mel["velocity"]) * 0.8, 30, 110))
    acc = accompaniment_notes(chords, pattern=pattern, register_pitch=register_pitch, beats_per_bar=bar_beats,
                              velocity=vel, melody_floor=floors, track=len(piece.tracks))
    acc["id"] = np.arange(len(acc)) + (int(piece.notes["id"].max()) + 1 if len(piece.notes) else 0)
    return {"notes": np.concatenate([piece.notes, acc]), "tracks": piece.tracks + (Track(0, "accompaniment"),)}
