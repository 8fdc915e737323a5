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

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np

from .. import harmony
from ..errors import InputError
from ..harmony import Chord, Key
from ..metre import beat_axis, span
from ..numeric import log_softmax, runs, switch_moves, viterbi
from ..piece import Annotation, Piece
from ..registry import Arg, Output, task
from ..runtime import Model
from .key import KeyAnalysis, analyze

N_FEATURES = 37  # chroma 12, bass 12, onsets 12, sounding flag 1
# Local keys for Roman numerals: the `key` task's defaults (tuned on valid splits). Local-key
# accuracy on BPS-FH valid + 8 train pieces 0.78 and POP909-CL valid 0.97; Temperley profiles in
# 8-beat windows gave 0.79 and 0.79.
KEY_SETTINGS: dict[str, Any] = {}
MAX_FRAMES = 20000


def frame_grid(piece: Piece, resolution_beats: float) -> tuple[np.ndarray, np.ndarray, str]:
    """(onset, end) of the pitched notes in frames on the piece's beat axis (`metre.beat_axis`), unit."""
    on, dur, unit = beat_axis(piece)
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


def model_log_probs(model: Model, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 133) chord and (T, 12) bass log-probabilities from `chords-v1`."""
    out = model.run(features=feats[None].astype(np.float32))
    return log_softmax(out["chord_logits"][0]), log_softmax(out["bass_logits"][0])


def decode(scores: np.ndarray, bass_scores: np.ndarray, switch_cost: float,
           min_frames: int = 1) -> list[tuple[int, int, int, int]]:
    """Viterbi over chord classes → segments (start frame, end frame, class, bass pitch class).

    The bass of a segment is its most likely pitch class among the chord's tones."""
    path, _ = viterbi(scores, switch_moves(switch_cost))
    out = []
    for s, e, c in runs(path):
        chord = harmony.from_index(c)
        if chord is None:
            out.append((s, e, c, -1))
            continue
        tones = list(chord.pitch_classes)
        b = bass_scores[s:e].sum(axis=0)
        out.append((s, e, c, tones[int(np.argmax(b[tones]))]))
    return out


@dataclass(frozen=True)
class ChordSegment:
    """A chord over [start_beat, end_beat) on the piece's beat axis (`metre.beat_axis`: nominal beats
    for a performance without a beat grid); `chord` None is no chord. With a local `key`, `roman` is
    the Roman-numeral figure ('V65/V') and `degree` the scale degree ('5/5') in that key."""

    start_beat: float
    end_beat: float
    chord: Chord | None
    key: Key | None = None
    roman: str | None = None
    degree: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Pitch-class names that suit the local key (flats in flat keys)."""
        return harmony.pc_names(self.key.tonic, self.key.minor) if self.key else harmony.DEFAULT_NAMES

    @property
    def key_name(self) -> str | None:
        """The local key spelled with `names` ('F# minor'); None without a key."""
        return f"{self.names[self.key.tonic]} {self.key.mode}" if self.key else None

    @property
    def symbol(self) -> str:
        """Lead-sheet symbol spelled in the local key ('G7/B'); 'N' for no chord."""
        return "N" if self.chord is None else self.chord.symbol(self.names)

    def to_json(self, piece: Piece) -> dict[str, Any]:
        """The JSON row of the `chords` task (see `chords`); `piece` gives the seconds."""
        s_beat, e_beat, s_sec, e_sec = span(piece, self.start_beat, self.end_beat)
        row: dict[str, Any] = {"start_beat": s_beat, "end_beat": e_beat, "start_sec": s_sec, "end_sec": e_sec}
        if self.chord is None:
            row.update(symbol="N", root=None, quality=None, bass=None, roman=None)
            return row
        names = self.names
        if self.key is not None:
            row["key"] = self.key_name
            row["degree"] = self.degree
        row.update(symbol=self.symbol, root=names[self.chord.root], quality=self.chord.quality,
                   bass=names[self.chord.bass], inversion=self.chord.inversion, roman=self.roman)
        return row


def label(decoded: list[tuple[int, int, int, int]], keys: KeyAnalysis | None,
          resolution_beats: float = 1.0) -> list[ChordSegment]:
    """Segments from `decode` (frames of `resolution_beats`) → ChordSegments in beats, each with its
    Roman numeral in the local key of `keys`."""
    out = []
    for s, e, c, b in decoded:
        start, end = s * resolution_beats, e * resolution_beats
        chord = harmony.from_index(c, b)
        if chord is None or keys is None:
            out.append(ChordSegment(start, end, chord))
            continue
        key = keys.key_at(start)
        r = harmony.roman(chord, key.tonic, key.minor)
        out.append(ChordSegment(start, end, chord, key, r["figure"], r["degree"]))
    return out


def recognize(piece: Piece, *, method: str = "model", model: Model | None = None, resolution_beats: float = 1.0,
              switch_cost: float | None = None) -> tuple[list[ChordSegment], KeyAnalysis]:
    """The chord segments and the key analysis of `piece` (what the `chords` task reports)."""
    feats = frame_features(piece, resolution_beats)
    if method == "template":
        scores, bass = template_scores(feats), feats[:, 12:24].astype(np.float64)
        cost = 0.35 if switch_cost is None else switch_cost
    else:
        if model is None:
            raise InputError("chords: method 'model' needs the chords-v1 model")
        scores, bass = model_log_probs(model, feats)
        cost = float(model.card.get("switch_cost", 3.0)) if switch_cost is None else switch_cost
    keys = analyze(piece, **KEY_SETTINGS)
    return label(decode(scores, bass, cost), keys, resolution_beats), keys


def chord_annotations(segments: list[ChordSegment]) -> list[Annotation]:
    """`chord` and `roman` annotations of chord segments (for a piece with a beat grid)."""
    out = []
    for seg in segments:
        if seg.chord is None:
            continue
        out.append(Annotation("chord", seg.start_beat, seg.end_beat, seg.symbol))
        if seg.roman:
            out.append(Annotation("roman", seg.start_beat, seg.end_beat, f"{seg.key_name}: {seg.roman}"))
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
    model: Model | None = None,
) -> Output:
    """Recognise chords (root, quality, bass) and their Roman numerals in the local key.

    JSON: `chords`, a list of `start_beat`, `end_beat`, `start_sec`, `end_sec`, `symbol`
    ("G7/B"; "N" for no chord), `root`, `quality`, `bass`, `inversion`, `key`, `degree` and
    `roman` ("V65"); plus `key` (global) and `method`. The returned Piece carries `chord` and
    `roman` annotations.
    """
    segments, keys = recognize(piece, method=method, model=model, resolution_beats=resolution_beats,
                               switch_cost=None if switch_cost < 0 else switch_cost)
    out = piece.annotate(chord_annotations(segments), replace_kinds=("chord", "roman")) if piece.has_beats else piece
    return Output(out, {"key": keys.key.name, "method": method, "chords": [seg.to_json(piece) for seg in segments]})
