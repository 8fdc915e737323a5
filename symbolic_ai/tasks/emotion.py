"""`emotion`: Russell-quadrant emotion of a piece, with a timeline of windows.

Q1 happy/excited (valence +, arousal +), Q2 angry/tense (−, +), Q3 sad (−, −), Q4 calm (+, −).
Two models answer, chosen by what the input is (`input_kind`, ROUTES): `emotion-v5` a performance,
`emotion-v6` a score or a quantized clip (`read_as` forces either). Both read one window of
`window_beats` quarter notes at a time through a guide built so that it means the same on a
performance and on a score (`invariant_features`): clip statistics with velocity read as ratios
only, and the harmony the `chords` task hears with every note at one velocity. A small head trained
on EMOPIA and VGMIDI, as played and as deadpan renderings (emotion-v6 also on the openings of scores
whose tempo word gives arousal), turns it into probabilities; the piece's answer is the mean of its
windows'. Older models (`emotion-v4`: the fine-tuned encoder fused with a linear model on the
`harmony` guide) still run when asked for. The reported key is the `key` task's (global, and the
local key under each window).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np

from ..errors import InputError, ParameterError
from ..harmony import QUALITIES, Key
from ..metre import beat_axis, span
from ..piece import Annotation, Piece
from ..registry import Arg, Models, Output, task
from ..runtime import Model
from .key import KeyAnalysis, KeySegment, analyze, correlations, key_probabilities, window_histograms

if TYPE_CHECKING:
    from ..tokens import Tokenizer

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
LABELS = {"Q1": "happy", "Q2": "tense", "Q3": "sad", "Q4": "calm"}
VALENCE = np.array([1, -1, -1, 1])
AROUSAL = np.array([1, 1, -1, -1])
MODE_FEATURES = ("p_major", "p_minor", "key_confidence", "major_minus_minor_r")
STAT_FEATURES = (
    ("pitch_mean", "pitch_std", "pitch_lo", "pitch_hi", "low_frac", "high_frac")
    + tuple(f"pc_rel_{i}" for i in range(12)) + MODE_FEATURES
    + ("vel_mean", "vel_std", "vel_hi_frac", "notes_per_sec", "onsets_per_sec", "polyphony",
       "log_dur_mean", "log_dur_std", "log_ioi_mean", "log_ioi_std", "staccato_frac", "chord_frac"))
HARMONY_FEATURES = (tuple(f"quality_{q}" for q in QUALITIES) + tuple(f"root_rel_{i}" for i in range(12))
                    + ("inversion_frac", "minor_key_frac", "chords_per_beat"))
# velocity read as ratios (a louder or softer take of the same music gives the same numbers), then the
# absolute level and share of loud notes, which a head may learn to read or ignore
INVARIANT_STATS = tuple({"vel_mean": "vel_cv", "vel_std": "vel_spread", "vel_hi_frac": "vel_pitch_r"}.get(f, f)
                        for f in STAT_FEATURES) + ("vel_level", "vel_loud_frac")
ENCODER_FEATURES = tuple(f"enc_{i}" for i in range(256))
# how the music is written, in quarter notes of its beat grid (the tempo estimate a reader makes from the
# page: an Adagio is written in 16ths and 32nds, an Allegro in 8ths, whatever the playback tempo)
NOTATION_FEATURES = ("ioi_q_log2_median", "ioi_q_log2_p10", "ioi_q_under_16th", "ioi_q_16th_or_less", "ioi_q_log2_std",
                     "dur_q_long_frac", "beat_q_log2", "bar_q_log2", "onsets_per_beat_log2", "offbeat_16th_frac")
GUIDES = {"mode": MODE_FEATURES, "stats": STAT_FEATURES, "harmony": STAT_FEATURES + HARMONY_FEATURES,
          "invariant": INVARIANT_STATS + HARMONY_FEATURES,
          "invariant+encoder": INVARIANT_STATS + HARMONY_FEATURES + ENCODER_FEATURES,
          "invariant+notation": INVARIANT_STATS + HARMONY_FEATURES + NOTATION_FEATURES}
ENCODER_MODEL = "encoder-v2-int8"  # what the `invariant` guide embeds windows with
FLAT_VELOCITY = 64  # the `invariant` guide reads harmony and embeddings at one velocity
INPUT_KINDS = ("performance", "score")
# input_kind → the model that answers it when the task runs its own models (valid figures and the
# rule: docs/models/emotion-v6.md); ROUTES["performance"] is the task's registered model
ROUTES = {"performance": "emotion-v5", "score": "emotion-v6"}
CHORDS_MODEL = "chords-v1"  # what the `harmony` guide reads chords with
PROFILE = "krumhansl"
DEFAULT_MAX_TOKENS = 384
WINDOW_BEATS = 128.0
HOP_BEATS = 128.0  # = the window: each note is read once (since emotion-v4, docs/benchmarks.md)
BATCH = 16
# tempo and character words printed in scores, as arousal evidence (the check set's labels, the weak
# training labels, and a score's own marking at inference): Andante, Moderato, Allegretto say too little
LOW_AROUSAL_WORDS = ("grave", "largo", "larghetto", "adagio", "adagietto", "lento", "mesto", "langsam")
HIGH_AROUSAL_WORDS = ("allegro", "vivace", "vivacissimo", "presto", "prestissimo", "agitato", "con fuoco", "con brio",
                      "rasch", "lebhaft", "aufgeregt")


def arousal_of_words(words: str) -> int | None:
    """+1 for text with a high-arousal word, −1 for a low one, None for neither or both."""
    w = words.lower()
    low = any(re.search(rf"\b{x}\b", w) for x in LOW_AROUSAL_WORDS)
    high = any(re.search(rf"\b{x}\b", w) for x in HIGH_AROUSAL_WORDS)
    return None if low == high else (1 if high else -1)


# a score's own tempo word moves the odds of high vs low arousal by this factor (fixed before any
# figure: "Adagio" on the page is strong evidence for arousal and none for valence)
MARKING_ODDS = 9.0


def marked_arousal(piece: Piece, start_beat: float) -> tuple[int, str] | None:
    """(+1 / −1, the words) of the last tempo or text marking with an arousal word that starts at or
    before `start_beat` (or in the window's first four beats: an opening marking after a pickup)."""
    marks = []
    for a in piece.annotations:
        if a.kind in ("tempo", "words") and a.start_beat <= start_beat + 4.0:
            text = a.value.get("text", "") if isinstance(a.value, dict) else str(a.value or "")
            sign = arousal_of_words(text) if text else None
            if sign is not None:
                marks.append((a.start_beat, sign, text))
    if not marks:
        return None
    _, sign, text = max(marks, key=lambda m: m[0])
    return sign, text


def with_marking(probs: np.ndarray, sign: int, odds: float = MARKING_ODDS) -> np.ndarray:
    """Probabilities with the arousal odds multiplied by `odds` towards `sign` (+1 high, −1 low)."""
    w = np.where(sign == AROUSAL, odds, 1.0)
    p = np.asarray(probs, dtype=float) * w
    return np.asarray(p / p.sum(), dtype=float)


def check_input(piece: Piece) -> np.ndarray:
    """The pitched notes of `piece`; InputError for empty, drum-only or single-pitch input."""
    where = piece.metadata.get("source") or "piece"
    if not len(piece.notes):
        raise InputError(f"{where}: the piece has no notes; emotion needs music with at least two pitches")
    notes = piece.pitched()
    if not len(notes):
        raise InputError(f"{where}: only drum tracks ({len(piece.notes)} notes); emotion needs pitched notes")
    if len(np.unique(notes["pitch"])) < 2:
        raise InputError(f"{where}: {len(notes)} note(s) all on pitch {int(notes['pitch'][0])}; emotion needs "
                         f"at least two different pitches to say anything about mode and melody")
    return notes


def key_mode(piece: Piece) -> tuple[np.ndarray, dict[str, Any]]:
    """Mode features and key of a piece with the `key` task's Krumhansl–Kessler correlations (profile
    pinned, so later changes to the key task's defaults do not move the model's inputs).

    Features: [P(major), P(minor), key confidence, best major r − best minor r], where P is the
    key probabilities of the 24 correlations (as the key task's confidence)."""
    notes = piece.pitched()
    onset, dur, _ = beat_axis(piece, notes)
    hist = window_histograms(onset, dur, notes["pitch"].astype(np.int64), np.array([float(onset.min())]),
                             float((onset + dur).max() - onset.min()) + 1.0)[0]
    r = correlations(hist, PROFILE)
    p = key_probabilities(r)
    best = int(np.argmax(r))
    feats = np.array([p[:12].sum(), p[12:].sum(), p[best], r[:12].max() - r[12:].max()], dtype=np.float32)
    key = Key.from_index(best)
    return feats, {"mode": key.mode, "key": key.name, "key_confidence": round(float(p[best]), 4)}


def mode_features(piece: Piece) -> np.ndarray:
    """The FiLM input of one window (see `key_mode`)."""
    return key_mode(piece)[0]


def clip_statistics(piece: Piece) -> np.ndarray:
    """Global statistics of a clip (see STAT_FEATURES): register, key-relative pitch-class profile,
    the mode features, velocity, density, polyphony and note lengths (in seconds)."""
    n = check_input(piece)
    pitch = n["pitch"].astype(float)
    on, dur = n["onset_sec"], np.maximum(n["duration_sec"], 1e-3)
    vel = n["velocity"].astype(float)
    span = max(float((on + dur).max() - on.min()), 1e-3)
    hist = window_histograms(on, dur, n["pitch"].astype(np.int64), np.array([on.min()]), span + 1.0)[0]
    tonic = int(np.argmax(correlations(hist, PROFILE))) % 12
    rel = np.roll(hist, -tonic)
    rel = rel / max(rel.sum(), 1e-9)
    onsets = np.unique(np.round(on, 2))
    ioi = np.diff(onsets)
    log_ioi = np.log(ioi[ioi > 0]) if (ioi > 0).any() else np.zeros(1)
    polyphony = float(dur.sum() / span)
    feats = [pitch.mean() / 127, pitch.std() / 24, np.percentile(pitch, 5) / 127,
             np.percentile(pitch, 95) / 127, (pitch < 48).mean(), (pitch > 72).mean(),
             *rel, *mode_features(piece),
             vel.mean() / 127, vel.std() / 32, (vel > 90).mean(), len(n) / span / 10,
             len(onsets) / span / 10, polyphony / 4, np.log(dur).mean(), np.log(dur).std(),
             log_ioi.mean(), log_ioi.std(), (dur < 0.15).mean(), 1 - len(onsets) / len(n)]
    return np.asarray(feats, dtype=np.float32)


def harmony_features(piece: Piece, chords_model: Model | None = None) -> np.ndarray:
    """What the `chords` task hears (see HARMONY_FEATURES): the share of the piece's beats under each
    chord quality, the share under each root relative to the local tonic, the share in inversion
    and in minor keys, and chord changes per beat. `chords_model`: chords-v1 as loaded by the caller
    (default: loaded here on the default device)."""
    from .chords import MAX_FRAMES, frame_grid, recognize

    check_input(piece)
    _, off, _ = frame_grid(piece, 1.0)  # chords' one-beat frames: say what an emotion user can do
    if len(off) and off.max() > MAX_FRAMES:
        raise InputError(f"{piece.metadata.get('source') or 'piece'}: the piece reaches beat {off.max():.0f}; emotion's "
                         f"harmony guide reads the first {MAX_FRAMES} beats only; analyse the piece in sections")
    segments, _ = recognize(piece, model=chords_model or Models().load(CHORDS_MODEL), bar_true=False)
    quality, root = np.zeros(len(QUALITIES)), np.zeros(12)
    inverted = minor = total = 0.0
    for seg in segments:
        beats = float(seg.end_beat - seg.start_beat)
        total += beats
        if seg.chord is None or seg.key is None:
            continue
        quality[QUALITIES.index(seg.chord.quality)] += beats
        root[(seg.chord.root - seg.key.tonic) % 12] += beats
        inverted += beats * (seg.chord.inversion > 0)
        minor += beats * seg.key.minor
    total = max(total, 1e-9)
    return np.concatenate([quality / total, root / total, [inverted / total, minor / total, len(segments) / total]]
                          ).astype(np.float32)


# what a score's onsets sit on, in divisions of a quarter note: 64ths, 32nds, triplets and sextuplets
# (48), quintuplets (20), septuplets (28); within SCORE_TOLERANCE quarter notes (a played onset lands
# within it of some grid point about a third of the time)
SCORE_GRIDS = (48, 20, 28)
SCORE_TOLERANCE = 0.002


def input_kind(piece: Piece) -> str:
    """'score' when the timing sits on a grid (95 % of onsets within SCORE_TOLERANCE of SCORE_GRIDS;
    nominal beats for a piece without a beat grid) and the dynamics have at most 8 levels (flat or
    from markings); 'performance' otherwise."""
    notes = check_input(piece)
    onset, _, _ = beat_axis(piece, notes)
    on_grid = np.zeros(len(onset), dtype=bool)
    for d in SCORE_GRIDS:
        on_grid |= np.abs(onset * d - np.round(onset * d)) / d < SCORE_TOLERANCE
    quantized = float(on_grid.mean()) >= 0.95
    return "score" if quantized and len(np.unique(notes["velocity"])) <= 8 else "performance"


def flat(piece: Piece, velocity: int = FLAT_VELOCITY) -> Piece:
    """`piece` with every note at one velocity."""
    n = piece.notes.copy()
    n["velocity"] = velocity
    return piece.replace(notes=n)


def invariant_statistics(piece: Piece) -> np.ndarray:
    """The clip statistics with velocity read as ratios (see INVARIANT_STATS): the coefficient of
    variation, the 5–95 % spread over the median, and the velocity–pitch correlation (all 0 when flat);
    then the mean velocity / 127 and the share of notes above 90 (the absolute loudness)."""
    feats = clip_statistics(piece)
    notes = check_input(piece)
    vel, pitch = notes["velocity"].astype(float), notes["pitch"].astype(float)
    sd = vel.std()
    r = float(np.corrcoef(vel, pitch)[0, 1]) if sd > 0 and pitch.std() > 0 else 0.0
    i = STAT_FEATURES.index("vel_mean")
    feats[i:i + 3] = [sd / max(vel.mean(), 1.0), (np.percentile(vel, 95) - np.percentile(vel, 5)) / max(np.median(vel), 1.0), r]
    return np.concatenate([feats, [vel.mean() / 127, (vel > 90).mean()]]).astype(np.float32)


def notation_features(piece: Piece) -> np.ndarray:
    """How the notes are written (see NOTATION_FEATURES), on the piece's beat axis in quarter notes:
    the median and 10th-percentile gap between onsets (log2), the share of gaps shorter than a 16th
    and of 16ths or shorter, their spread, the share of notes of two quarters or longer, the beat and
    bar length of the opening time signature (log2), onsets per beat (log2) and the share of onsets
    on odd 16ths. Velocity and the tempo map do not enter."""
    from ..metre import beat_length

    notes = check_input(piece)
    onset, dur, _ = beat_axis(piece, notes)
    onsets = np.unique(np.round(onset * 48) / 48)
    ioi = np.diff(onsets)
    ioi = ioi[ioi > 0] if (ioi > 0).any() else np.ones(1)
    log_ioi = np.log2(ioi)
    ts = piece.time_signatures[0] if piece.time_signatures else None
    beat = beat_length(ts.numerator, ts.denominator) if ts else 1.0
    bar = ts.numerator * 4.0 / ts.denominator if ts else 4.0
    span_q = max(float(onsets[-1] - onsets[0]) + float(np.median(ioi)), 1e-3)
    sixteenth = np.round(onsets * 4)
    on_grid = np.abs(onsets * 4 - sixteenth) < 0.05
    return np.array([np.median(log_ioi), np.percentile(log_ioi, 10), (ioi < 0.24).mean(), (ioi < 0.26).mean(),
                     log_ioi.std(), (dur >= 2.0).mean(), np.log2(beat), np.log2(bar),
                     np.log2(len(onsets) * beat / span_q), (on_grid & (sixteenth % 2 == 1)).mean()], dtype=np.float32)


def encoder_features(clips: list[Piece], encoder: Model) -> np.ndarray:
    """Pooled embeddings [n, d] of the shared encoder, one batch per call, each clip at one velocity."""
    from ..encoder import batch, tokenizer_for

    tok = tokenizer_for(encoder)
    tokens, mask = batch([tok.encode(flat(c)) for c in clips])
    return np.asarray(encoder.run(tokens=tokens, mask=mask)["pooled"], dtype=np.float32)


def invariant_features(clips: list[Piece], chords_model: Model | None = None, encoder: Model | None = None,
                       embed: bool = False, notation: bool = False) -> np.ndarray:
    """The `invariant` guide of each clip [n, 62]: ratio-velocity statistics and the harmony chords-v1
    hears at one velocity; with `notation` ('invariant+notation', [n, 72]) also how the notes are written
    (`notation_features`); with `embed` ('invariant+encoder', [n, 318]) the shared encoder's pooled
    embedding of the clip at one velocity instead."""
    chords_model = chords_model or Models().load(CHORDS_MODEL)
    rows = np.stack([np.concatenate([invariant_statistics(c), harmony_features(flat(c), chords_model)]
                                    + ([notation_features(c)] if notation else []))
                     for c in clips])
    if not embed:
        return rows.astype(np.float32)
    encoder = encoder or Models().load(ENCODER_MODEL)
    return np.concatenate([rows, encoder_features(clips, encoder)], axis=1).astype(np.float32)


def guide_features(piece: Piece, guide: str = "mode", chords_model: Model | None = None) -> np.ndarray:
    """The guide of one window: the mode features ('mode'), the clip statistics ('stats'), the clip
    statistics and the harmony features ('harmony'), or the velocity-invariant guide ('invariant',
    'invariant+encoder')."""
    if guide.startswith("invariant"):
        row: np.ndarray = invariant_features([piece], chords_model, embed=guide == "invariant+encoder",
                                                notation=guide == "invariant+notation")[0]
        return row
    if guide == "mode":
        return mode_features(piece)
    if guide == "stats":
        return clip_statistics(piece)
    if guide == "harmony":
        return np.concatenate([clip_statistics(piece), harmony_features(piece, chords_model)])
    raise ValueError(f"unknown emotion guide {guide!r}; expected one of {sorted(GUIDES)}")


def window_starts(end_beat: float, window_beats: float, hop_beats: float) -> np.ndarray:
    """Starts of windows [s, s + window) every hop; the last one is moved back to end at `end_beat`,
    so every window of a piece longer than one window is a full window."""
    n = int(np.ceil(max(end_beat - window_beats, 0.0) / hop_beats - 1e-9)) + 1
    starts = np.arange(n) * float(hop_beats)
    starts[-1] = max(0.0, min(starts[-1], end_beat - window_beats))
    return np.unique(starts)


def clip(piece: Piece, start_beat: float, end_beat: float, max_tokens: int = DEFAULT_MAX_TOKENS) -> Piece | None:
    """The pitched notes with onset in [start, end) (at most max_tokens − 2 of them, the first ones),
    as a Piece on the same time grid; None if fewer than two different pitches are left."""
    notes = piece.pitched()
    onset, _, _ = beat_axis(piece, notes)
    sel = notes[(onset >= start_beat - 1e-9) & (onset < end_beat - 1e-9)][: max_tokens - 2]
    if len(np.unique(sel["pitch"])) < 2:
        return None
    return piece.replace(notes=sel, annotations=())


def windows(piece: Piece, window_beats: float, hop_beats: float,
            max_tokens: int = DEFAULT_MAX_TOKENS) -> list[tuple[float, float, Piece]]:
    """(start, end, clip) of every window the model reads, in beats (nominal beats at 120 qpm for a
    performance without a beat grid); windows with fewer than two pitches are left out. When no
    window holds two pitches the whole piece (its first max_tokens − 2 notes) is the one window."""
    notes = check_input(piece)
    onset, dur, _ = beat_axis(piece, notes)
    end = float((onset + dur).max())
    out = []
    for s in window_starts(end, window_beats, hop_beats):
        c = clip(piece, s, s + window_beats, max_tokens)
        if c is not None:
            out.append((float(s), min(float(s) + window_beats, end), c))
    return out or [(0.0, end, clip(piece, 0.0, np.inf, max_tokens) or piece)]


def window_key(keys: KeyAnalysis, start: float, end: float) -> dict[str, Any]:
    """The `key` task's local key that covers most of [start, end), with its confidence."""
    def overlap(seg: KeySegment) -> float:
        return min(seg.end_beat, end) - max(seg.start_beat, start)

    seg = max(keys.local, key=overlap, default=None)
    if seg is None or overlap(seg) <= 0:
        return {"mode": keys.key.mode, "key": keys.key.name, "key_confidence": round(keys.confidence, 4)}
    return {"mode": seg.key.mode, "key": seg.key.name, "key_confidence": round(seg.confidence, 4)}


def pad_batch(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded tokens [B, S, F] (PAD = 0) and the mask [B, S] of real tokens."""
    s = max(len(t) for t in seqs)
    tokens = np.zeros((len(seqs), s, seqs[0].shape[1]), dtype=np.int64)
    mask = np.zeros((len(seqs), s), dtype=bool)
    for i, t in enumerate(seqs):
        tokens[i, :len(t)] = t
        mask[i, :len(t)] = True
    return tokens, mask


def summarize(probs: np.ndarray) -> dict[str, Any]:
    """Quadrant, probabilities, and valence/arousal in [-1, 1] as expectations over the quadrants."""
    p = np.asarray(probs, dtype=float)
    q = QUADRANTS[int(np.argmax(p))]
    return {"quadrant": q, "label": LABELS[q], "probabilities": {k: round(float(v), 4) for k, v in zip(QUADRANTS, p)},
            "valence": round(float(p @ VALENCE), 4), "arousal": round(float(p @ AROUSAL), 4)}


def _tokenizer(card: dict[str, Any]) -> Tokenizer:
    from ..tokens import Tokenizer, TokenizerConfig, default_tokenizer

    return Tokenizer(TokenizerConfig.from_dict(card["tokenizer"])) if "tokenizer" in card else default_tokenizer()


def predict(clips: list[Piece], model: Model, models: Models | None = None) -> np.ndarray:
    """Probabilities [n, 4] of each clip (one model call per batch of BATCH clips); `models` loads
    the chords model of the `harmony` guide (default: on the default device)."""
    guide = model.card.get("architecture", {}).get("guide", "mode")
    models = models or Models()
    chords_model = models.load(CHORDS_MODEL) if guide != "mode" and guide != "stats" else None
    out = []
    if guide.startswith("invariant"):  # a head on the guide alone: no tokens
        embed = guide == "invariant+encoder"
        encoder = models.load(ENCODER_MODEL) if embed else None
        for i in range(0, len(clips), BATCH):
            feats = invariant_features(clips[i:i + BATCH], chords_model, encoder, embed, guide == "invariant+notation")
            out.append(model.run(guide=feats)["probabilities"])
        return np.concatenate(out).astype(float)
    tok = _tokenizer(model.card)
    name = "guide" if "guide" in model.input_names else "mode"  # emotion-v1 called its input `mode`
    for i in range(0, len(clips), BATCH):
        part = clips[i:i + BATCH]
        tokens, mask = pad_batch([tok.encode(c) for c in part])
        feats = np.stack([guide_features(c, guide, chords_model) for c in part])
        out.append(model.run(tokens=tokens, mask=mask, **{name: feats})["probabilities"])
    return np.concatenate(out).astype(float)


def route(model: Model, models: Models | None, kind: str, read_as: str) -> Model:
    """The model that answers: ROUTES[`read_as`], or ROUTES[`kind`] for read_as 'auto', when `model` is
    the task's own (ROUTES["performance"]); any other model given to the task answers as is."""
    name = model.card.get("name")
    if name != ROUTES["performance"]:
        if read_as != "auto":
            raise ParameterError(f"emotion: read_as={read_as!r} chooses between {' and '.join(ROUTES.values())}; "
                                 f"model {name!r} was asked for, so leave read_as at 'auto' (or drop the model)")
        return model
    want = ROUTES[kind if read_as == "auto" else read_as]
    return model if want == name else (models or Models()).load(want)


@task("emotion", model=ROUTES["performance"], borrows=(ROUTES["score"], CHORDS_MODEL),
      summary="Russell-quadrant emotion (happy/tense/sad/calm) with a timeline")
def emotion(
    piece: Piece,
    *,
    window_beats: Annotated[float, Arg("window length in quarter notes (the models were trained on windows of up to 128)",
                                       ge=8, le=512)] = WINDOW_BEATS,
    hop_beats: Annotated[float, Arg("hop between windows in quarter notes (<= window_beats)", ge=1, le=512)] = HOP_BEATS,
    markings: Annotated[bool, Arg("read the score's own tempo words (Adagio, Allegro, ...) as arousal evidence")] = True,
    read_as: Annotated[Literal["auto", "performance", "score"],
                       Arg("which model answers: auto (by input_kind), performance (emotion-v5) or score (emotion-v6)")
                       ] = "auto",
    model: Model | None = None,
    models: Models | None = None,
) -> Output:
    """Say which of Russell's four quadrants the music is in, and how that changes over time.

    JSON: `quadrant` (Q1 happy/excited, Q2 angry/tense, Q3 sad, Q4 calm), `label`, `probabilities`
    {Q1..Q4}, `valence` and `arousal` in [-1, 1] (expectations over the quadrants), `mode`, `key` and
    `key_confidence` (the `key` task's global key), `input_kind` ('performance' or 'score'), `model`
    (the model that answered: with read_as 'auto', emotion-v5 for a performance and emotion-v6 for a
    score; a model asked for by name other than emotion-v5 answers every input), and `timeline`: one
    entry per window with `start_beat`, `end_beat`, `start_sec`, `end_sec` and the same fields, the key
    being the `key` task's local key under the window (beats are null for a
    performance without a beat grid), and `marking`: the score's tempo words read for the window
    (null when none). The whole piece's answer is the mean of its windows' probabilities. A tempo
    word the score prints (a `tempo` or `words` marking: Adagio, Allegro, langsam...) moves a window's
    arousal odds by MARKING_ODDS (`markings=False`: the notes alone). Windows with fewer than two
    pitches are left out. The returned Piece carries one `emotion` annotation per window.
    """
    if hop_beats > window_beats:
        raise ParameterError(f"emotion: hop_beats ({hop_beats:g}) must not exceed window_beats ({window_beats:g})")
    if model is None:
        raise InputError("emotion: needs an emotion model (symbolic_ai.run loads emotion-v5)")
    kind = input_kind(piece)
    model = route(model, models, kind, read_as)
    wins = windows(piece, window_beats, hop_beats, int(model.card.get("max_tokens", DEFAULT_MAX_TOKENS)))
    probs = predict([c for _, _, c in wins], model, models)
    marked = [marked_arousal(piece, s) if markings else None for s, _, _ in wins]
    probs = np.stack([p if m is None else with_marking(p, m[0]) for p, m in zip(probs, marked)])
    keys = analyze(piece)  # the `key` task's global and local keys, with its defaults
    timeline = []
    for (s, e, _), p, m in zip(wins, probs, marked):
        s_beat, e_beat, s_sec, e_sec = span(piece, s, e)
        timeline.append({"start_beat": s_beat if piece.has_beats else None,
                         "end_beat": e_beat if piece.has_beats else None, "start_sec": round(s_sec, 4),
                         "end_sec": round(e_sec, 4), **summarize(p), **window_key(keys, s, e),
                         "marking": m[1] if m else None})
    data = {**summarize(probs.mean(axis=0)), "mode": keys.key.mode, "key": keys.key.name,
            "key_confidence": round(keys.confidence, 4), "input_kind": kind, "model": model.card.get("name"),
            "window_beats": window_beats, "hop_beats": hop_beats, "timeline": timeline}
    if piece.has_beats:
        anns = [Annotation("emotion", w["start_beat"], w["end_beat"], f"{w['quadrant']} {w['label']}")
                for w in timeline]
        piece = piece.annotate(anns, replace_kinds=("emotion",))
    return Output(piece, data)
