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

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np

from .. import harmony
from ..errors import InputError
from ..harmony import Chord, Key
from ..metre import beat_axis, grid, span
from ..numeric import log_softmax, runs, softmax, switch_moves, viterbi
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
TEMPLATE_WEIGHT = 0.0  # template cosine added to the model's log-probabilities, chosen on valid
THIRD_AS_HEARD = True  # see `third_as_heard`; chosen on valid
LOWEST_BASS = True  # bass = lowest sounding chord tone (vs the model's bass), chosen on BPS-FH and When-in-Rome valid
KEY_AT_MIDDLE = True  # a segment reads its Roman numeral in the local key at its middle (vs its start)


def frame_lead(piece: Piece, resolution_beats: float) -> float:
    """How far frame k starts before k · resolution_beats: frames meet the barlines of a piece with a
    pickup (`metre.Grid.lead`); 0 for a performance without a beat grid."""
    return grid(piece).lead(resolution_beats) if piece.has_beats and len(piece.notes) else 0.0


def frame_grid(piece: Piece, resolution_beats: float, lead: float = 0.0) -> tuple[np.ndarray, np.ndarray, str]:
    """(onset, end) of the pitched notes in frames on the piece's beat axis (`metre.beat_axis`), unit;
    frame k starts at k · resolution_beats − `lead`."""
    on, dur, unit = beat_axis(piece)
    return (on + lead) / resolution_beats, (on + lead + np.maximum(dur, 1e-3)) / resolution_beats, unit


def frame_features(piece: Piece, resolution_beats: float = 1.0, lead: float = 0.0) -> np.ndarray:
    """(T, 37) float32 per-frame features: chroma, bass one-hot, onset chroma, a sounding flag."""
    notes = piece.pitched()
    if not len(notes):
        raise InputError(f"{piece.metadata.get('source') or 'piece'}: no pitched notes to find chords in")
    on, off, _ = frame_grid(piece, resolution_beats, lead)
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
    confidence: float | None = field(default=None, compare=False)  # mean probability of the chord over the segment

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
        return "N" if self.chord is None else self.chord.symbol(self.spelling)

    @property
    def spelling(self) -> tuple[str, ...]:
        """`names` with the root spelled from its Roman degree in the key (F#dim7, not Gbdim7, as
        vii°7/V in C): see `harmony.spelled_root`."""
        if self.chord is None or self.key is None or self.degree is None:
            return self.names
        names = list(self.names)
        names[self.chord.root] = harmony.spelled_root(self.chord.root, self.key, self.degree) or names[self.chord.root]
        return tuple(names)

    def to_json(self, piece: Piece) -> dict[str, Any]:
        """The JSON row of the `chords` task (see `chords`); `piece` gives the seconds."""
        s_beat, e_beat, s_sec, e_sec = span(piece, self.start_beat, self.end_beat)
        row: dict[str, Any] = {"start_beat": s_beat, "end_beat": e_beat, "start_sec": s_sec, "end_sec": e_sec}
        if self.chord is None:
            row.update(symbol="N", root=None, quality=None, bass=None, roman=None)
            return row
        names = self.spelling
        if self.key is not None:
            row["key"] = self.key_name
            row["degree"] = self.degree
        symbol = self.symbol
        bass = symbol.rsplit("/", 1)[1] if "/" in symbol else names[self.chord.root]
        row.update(symbol=symbol, root=names[self.chord.root], quality=self.chord.quality,
                   bass=bass, inversion=self.chord.inversion, roman=self.roman)
        if self.confidence is not None:
            row["confidence"] = round(self.confidence, 3)
        return row


def label(decoded: list[tuple[Any, Any, int, int]], keys: KeyAnalysis | None, resolution_beats: float = 1.0,
          lead: float = 0.0, confidence: list[float] | None = None, bar_true: bool = True) -> list[ChordSegment]:
    """Segments from `decode` (frames of `resolution_beats`, frame k starting at k · resolution − `lead`)
    → ChordSegments in beats, each with its Roman numeral in the local key of `keys` (a diminished
    seventh takes the root that leads to a degree of that key, see `dim7_root`)."""
    out = []
    for k, (s, e, c, b) in enumerate(decoded):
        start, end = max(s * resolution_beats - lead, 0.0), e * resolution_beats - lead
        conf = confidence[k] if confidence is not None else None
        chord = harmony.from_index(c, b)
        if chord is None or keys is None:
            out.append(ChordSegment(start, end, chord, confidence=conf))
            continue
        key = keys.key_at((start + end) / 2 if KEY_AT_MIDDLE and bar_true else start)
        if chord.quality == "dim7" and bar_true:
            chord = dim7_root(chord, key)
        r = harmony.roman(chord, key.tonic, key.minor)
        out.append(ChordSegment(start, end, chord, key, r["figure"], r["degree"], conf))
    return out


def dim7_root(chord: Chord, key: Key) -> Chord:
    """A diminished seventh (symmetric: four possible roots) named from the root a semitone below a
    degree of `key` that can be tonicized (the leading tone of I, ii, iii, IV, V or vi; of i, III,
    iv, V or VI in minor), the key's own leading tone first, then the bass."""
    targets = (0, 3, 5, 7, 8) if key.minor else (0, 2, 4, 5, 7, 9)

    def score(r: int) -> float:
        rel = (r + 1 - key.tonic) % 12
        return 2.0 * (rel in targets) + 1.5 * (rel == 0) + 1.0 * (r == chord.bass) + 0.5 * (rel == 7)

    root = max(((chord.root + 3 * k) % 12 for k in range(4)), key=score)
    return Chord(root, "dim7", chord.bass)


def lowest_bass(on: np.ndarray, off: np.ndarray, pitch: np.ndarray, start: float, end: float,
                chord: Chord) -> int | None:
    """Pitch class of the lowest chord tone sounding in [start, end) for at least a quarter of a frame
    (or half its length): the bass a listener hears under an Alberti figure; None if no chord tone sounds."""
    ov = np.minimum(off, end) - np.maximum(on, start)
    ok = (ov >= np.minimum(0.25, 0.5 * (off - on)) - 1e-9) & np.isin(pitch % 12, chord.pitch_classes)
    return int(pitch[ok].min()) % 12 if ok.any() else None


def third_as_heard(c: int, chroma: np.ndarray) -> int:
    """A major or minor triad whose third is not heard while the other third is (twice as much over
    the segment) takes the heard third: F–Ab–C is F minor whatever the context suggests."""
    if c == harmony.N_CLASS or harmony.QUALITIES[c % harmony.N_QUALITIES] not in ("maj", "min"):
        return c
    root, minor = c // harmony.N_QUALITIES, harmony.QUALITIES[c % harmony.N_QUALITIES] == "min"
    own, other = chroma[(root + (3 if minor else 4)) % 12], chroma[(root + (4 if minor else 3)) % 12]
    return harmony.Chord(root, "maj" if minor else "min").index if other > 2 * own + 1e-6 else c


def recognize(piece: Piece, *, method: str = "model", model: Model | None = None, resolution_beats: float = 1.0,
              switch_cost: float | None = None, bar_true: bool = True) -> tuple[list[ChordSegment], KeyAnalysis]:
    """The chord segments and the key analysis of `piece` (what the `chords` task reports). Frames
    meet the piece's barlines; each segment's bass is its lowest sounding chord tone (`lowest_bass`,
    the model's bass where none sounds) and its confidence the mean probability of its chord.
    `bar_true=False` reads as chords-v1 did before session 6 (frames from beat 0, the model's bass and
    thirds, keys at segment starts, dim7 roots as decoded): emotion-v4's harmony guide was trained on it."""
    lead = frame_lead(piece, resolution_beats) if bar_true else 0.0
    feats = frame_features(piece, resolution_beats, lead)
    if method == "template":
        scores, bass = template_scores(feats), feats[:, 12:24].astype(np.float64)
        cost = 0.35 if switch_cost is None else switch_cost
        probs = softmax(20.0 * scores, axis=1)
    else:
        if model is None:
            raise InputError("chords: method 'model' needs the chords-v1 model")
        scores, bass = model_log_probs(model, feats)
        scores = scores + TEMPLATE_WEIGHT * template_scores(feats)  # the frame's own notes: F–Ab–C is Fm
        cost = float(model.card.get("switch_cost", 3.0)) if switch_cost is None else switch_cost
        probs = np.exp(scores)
    keys = analyze(piece, **KEY_SETTINGS)
    on, off, _ = frame_grid(piece, resolution_beats, lead)
    pitch = piece.pitched()["pitch"].astype(np.int64)
    decoded: list[tuple[Any, Any, int, int]] = []
    confidence = []
    for s, e, c, b in decode(scores, bass, cost):
        c = third_as_heard(c, feats[s:e, :12].sum(axis=0)) if THIRD_AS_HEARD and bar_true else c
        chord = harmony.from_index(c)
        low = lowest_bass(on, off, pitch, s, e, chord) if chord is not None and LOWEST_BASS and bar_true else None
        decoded.append((s, e, c, b if low is None else low))
        confidence.append(float(probs[s:e, c].mean()))
    return label(decoded, keys, resolution_beats, lead, confidence, bar_true), keys


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
