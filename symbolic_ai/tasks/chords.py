"""`chords`: chord recognition at beat resolution, with inversions and Roman numerals.

Each frame (`resolution_beats` quarter notes, one beat by default) is described by its
duration-weighted pitch-class profile, its lowest sounding pitch class and the pitch classes
that start in it (`frame_features`). The `chords-v1` model (a small dilated 1-D convolution
network over those frames, trained on POP909-CL, BPS-FH, When-in-Rome and Nottingham) gives
per-frame probabilities of 133 chord classes (12 roots × 11 qualities + no chord) and of the
bass; Viterbi smoothing with a cost per chord change turns them into segments. `method="template"`
is the model-free baseline: cosine similarity to binary pitch-class templates, the same smoothing.
Roman numerals come from the local keys of the `key` task.
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np

from .. import harmony
from ..errors import InputError
from ..piece import Annotation, Piece
from ..registry import Arg, Result, task
from .key import analyze, viterbi

N_FEATURES = 37  # chroma 12, bass 12, onsets 12, sounding flag 1
# Local keys for Roman numerals: the `key` task's defaults (tuned on valid splits). Local-key
# accuracy on BPS-FH valid + 8 train pieces 0.78 and POP909-CL valid 0.97; Temperley profiles in
# 8-beat windows gave 0.79 and 0.79.
KEY_SETTINGS: dict = {}
MAX_FRAMES = 20000


def frame_grid(piece: Piece, resolution_beats: float) -> tuple[np.ndarray, np.ndarray, str]:
    """(onset, end) of the pitched notes on the piece's time axis (beats, or 2 × seconds), unit."""
    notes = piece.pitched()
    if piece.has_beats:
        on, dur, unit = notes["onset_beat"], notes["duration_beat"], "beat"
    else:
        on, dur, unit = notes["onset_sec"] * 2.0, notes["duration_sec"] * 2.0, "sec"
    return on / resolution_beats, (on + np.maximum(dur, 1e-3)) / resolution_beats, unit


def frame_features(piece: Piece, resolution_beats: float = 1.0) -> np.ndarray:
    """(T, 37) float32 per-frame features: chroma, bass one-hot, onset chroma, a sounding flag."""
    notes = piece.pitched()
    if not len(notes):
        raise InputError(f"{piece.metadata.get('source') or 'piece'}: no pitched notes to find chords in")
    on, off, _ = frame_grid(piece, resolution_beats)
    n_frames = int(np.ceil(off.max() - 1e-9))
    if n_frames > MAX_FRAMES:
        raise InputError(f"{piece.metadata.get('source') or 'piece'}: {n_frames} frames of "
                         f"{resolution_beats} beats is more than {MAX_FRAMES}; use a coarser resolution_beats")
    first = np.floor(on).astype(np.int64)
    last = np.minimum(np.ceil(off - 1e-9).astype(np.int64) - 1, n_frames - 1)
    counts = np.maximum(last - first + 1, 1)
    idx = np.repeat(np.arange(len(on)), counts)
    frame = first[idx] + (np.arange(len(idx)) - np.repeat(np.cumsum(counts) - counts, counts))
    overlap = np.clip(np.minimum(off[idx], frame + 1.0) - np.maximum(on[idx], frame), 0.0, 1.0)
    pc = notes["pitch"][idx].astype(np.int64) % 12
    feats = np.zeros((n_frames, N_FEATURES), dtype=np.float64)
    np.add.at(feats, (frame, pc), overlap)
    # bass: lowest pitch sounding for at least a quarter of the frame
    pitch = notes["pitch"][idx].astype(np.int64)
    ok = overlap >= 0.25
    low = np.full(n_frames, 999)
    np.minimum.at(low, frame[ok], pitch[ok])
    has = low < 999
    feats[np.flatnonzero(has), 12 + low[has] % 12] = 1.0
    starts = (np.abs(on[idx] - frame) < 1.0) & (on[idx] >= frame)
    np.add.at(feats, (frame[starts], 24 + pc[starts]), np.minimum(off[idx][starts] - on[idx][starts], 1.0))
    chroma = feats[:, :12]
    peak = chroma.max(axis=1, keepdims=True)
    feats[:, :12] = np.divide(chroma, peak, out=np.zeros_like(chroma), where=peak > 0)
    op = feats[:, 24:36].max(axis=1, keepdims=True)
    feats[:, 24:36] = np.divide(feats[:, 24:36], op, out=np.zeros_like(chroma), where=op > 0)
    feats[:, 36] = peak[:, 0] > 0
    return feats.astype(np.float32)


def template_scores(feats: np.ndarray) -> np.ndarray:
    """(T, 133) baseline scores: cosine of chroma with each template, a bonus for the root in the
    bass, and the no-chord class winning on silent frames."""
    t, _ = harmony.templates()
    tn = t / np.linalg.norm(t, axis=1, keepdims=True)
    chroma = feats[:, :12].astype(np.float64)
    norm = np.linalg.norm(chroma, axis=1, keepdims=True)
    cos = np.divide(chroma, norm, out=np.zeros_like(chroma), where=norm > 0) @ tn.T
    roots = np.repeat(np.arange(12), harmony.N_QUALITIES)
    cos += 0.15 * feats[:, 12:24][:, roots]
    # tetrads only when the seventh is really there: small prior for triads
    sizes = t.sum(axis=1)
    cos -= 0.02 * (sizes > 3)
    silent = feats[:, 36] <= 0
    out = np.concatenate([cos, np.where(silent, 1.0, 0.0)[:, None]], axis=1)
    out[silent, :-1] = -1.0
    return out


def model_log_probs(model, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 133) chord and (T, 12) bass log-probabilities from `chords-v1`."""
    out = model.run(features=feats[None].astype(np.float32))
    return _log_softmax(out["chord_logits"][0]), _log_softmax(out["bass_logits"][0])


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def decode(scores: np.ndarray, bass_scores: np.ndarray, switch_cost: float,
           min_frames: int = 1) -> list[tuple[int, int, int, int]]:
    """Viterbi over chord classes → segments (start frame, end frame, class, bass pitch class).

    The bass of a segment is its most likely pitch class among the chord's tones."""
    path = viterbi(scores, switch_cost)
    segs: list[list[int]] = []
    for i, c in enumerate(path):
        if segs and segs[-1][2] == c:
            segs[-1][1] = i + 1
        else:
            segs.append([i, i + 1, int(c)])
    out = []
    for s, e, c in segs:
        chord = harmony.from_index(c)
        if chord is None:
            out.append((s, e, c, -1))
            continue
        tones = list(chord.pitch_classes)
        b = bass_scores[s:e].sum(axis=0)
        out.append((s, e, c, tones[int(np.argmax(b[tones]))]))
    return out


def recognize(piece: Piece, *, method: str = "model", model=None, resolution_beats: float = 1.0,
              switch_cost: float | None = None) -> tuple[list[dict], dict]:
    """The `chords` JSON list and the key analysis, without building a Result (used by benchmarks)."""
    feats = frame_features(piece, resolution_beats)
    if method == "template":
        scores, bass = template_scores(feats), feats[:, 12:24].astype(np.float64)
        cost = 0.35 if switch_cost is None else switch_cost
    else:
        if model is None:
            raise InputError("chords: method 'model' needs the chords-v1 model")
        scores, bass = model_log_probs(model, feats)
        cost = float(model.card.get("switch_cost", 3.0)) if switch_cost is None else switch_cost
    segments = decode(scores, bass, cost)
    keys = analyze(piece, **KEY_SETTINGS)
    return to_json(piece, segments, keys, resolution_beats), keys


def _key_at(keys: dict, t: float) -> tuple[int, bool]:
    for seg in keys["local"]:
        if seg["start_beat"] <= t < seg["end_beat"] or seg is keys["local"][-1]:
            return harmony.key_tonic_mode(seg["key"])
    return harmony.key_tonic_mode(keys["key"])


def to_json(piece: Piece, segments: list[tuple[int, int, int, int]], keys: dict | None,
            resolution_beats: float) -> list[dict]:
    """Chord segments as JSON rows with symbols spelled in the local key and Roman numerals."""
    rows = []
    for s, e, c, b in segments:
        start, end = s * resolution_beats, e * resolution_beats
        if piece.has_beats:
            s_sec, e_sec = piece.span_sec(start, end)
            s_beat, e_beat = start, end
        else:
            s_sec, e_sec, s_beat, e_beat = start / 2.0, end / 2.0, float("nan"), float("nan")
        chord = harmony.from_index(c, b)
        row = {"start_beat": s_beat, "end_beat": e_beat, "start_sec": s_sec, "end_sec": e_sec}
        if chord is None:
            row.update(symbol="N", root=None, quality=None, bass=None, roman=None)
        else:
            names = harmony.DEFAULT_NAMES
            rn = None
            if keys is not None:
                tonic, minor = _key_at(keys, start if piece.has_beats else start)
                names = harmony.pc_names(tonic, minor)
                r = harmony.roman(chord, tonic, minor)
                rn = r["figure"]
                row["key"] = f"{names[tonic]} {'minor' if minor else 'major'}"
                row["degree"] = r["degree"]
            row.update(symbol=chord.symbol(names), root=names[chord.root], quality=chord.quality,
                       bass=names[chord.bass], inversion=chord.inversion, roman=rn)
        rows.append(row)
    return rows


def annotations(rows: list[dict]) -> list[Annotation]:
    """`chord` and `roman` annotations from JSON rows (beats only)."""
    out = []
    for r in rows:
        if r["symbol"] == "N" or not np.isfinite(r["start_beat"]):
            continue
        out.append(Annotation("chord", r["start_beat"], r["end_beat"], r["symbol"]))
        if r.get("roman"):
            out.append(Annotation("roman", r["start_beat"], r["end_beat"], f"{r['key']}: {r['roman']}"))
    return out


@task("chords", model="chords-v1", summary="Chord recognition at beat resolution: symbols, bass, Roman numerals")
def chords(
    piece: Piece,
    *,
    method: Annotated[Literal["model", "template"],
                      Arg("chords-v1 model, or the template-matching baseline")] = "model",
    resolution_beats: Annotated[float, Arg("frame length in quarter notes", ge=0.25, le=8)] = 1.0,
    switch_cost: Annotated[float, Arg("cost of a chord change; higher gives fewer chords "
                                      "(-1 = the model's tuned value)", ge=-1, le=100)] = -1.0,
    model=None,
) -> Result:
    """Recognise chords (root, quality, bass) and their Roman numerals in the local key.

    JSON: `chords`, a list of `start_beat`, `end_beat`, `start_sec`, `end_sec`, `symbol`
    ("G7/B"; "N" for no chord), `root`, `quality`, `bass`, `inversion`, `key`, `degree` and
    `roman` ("V65"); plus `key` (global) and `method`. The returned Piece carries `chord` and
    `roman` annotations.
    """
    rows, keys = recognize(piece, method=method, model=model, resolution_beats=resolution_beats,
                           switch_cost=None if switch_cost < 0 else switch_cost)
    out = piece.annotate(annotations(rows), replace_kinds=("chord", "roman")) if piece.has_beats else piece
    return Result("chords", out, {"key": keys["key"], "method": method, "chords": rows})
