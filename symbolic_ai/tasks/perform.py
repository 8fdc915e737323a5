"""`perform`: a score in, a human-sounding piano performance out.

Per score note the model predicts five expressive parameters (local beat period, onset timing
deviation, velocity, log articulation ratio and the sustain pedal; see
`symbolic_ai.perform_features`) which are decoded into seconds, velocities and pedal presses. The network is
a transformer vector field trained by conditional
flow matching (the PianoFlow / SyMuPe recipe): sampling integrates an ODE from Gaussian noise
(scaled by `temperature`) in `steps` Euler steps, seeded; `samples` > 1 averages that many seeded
renders in the model's parameter space (closer to the expected performance, less varied). Scores of any
length are rendered in overlapping windows whose
velocity fields are averaged on the shared notes at every step, so neighbouring windows agree.

Control: `emotion` (a Russell quadrant or a word for one, or `valence`/`arousal` whose signs pick the
quadrant) and `style` (a word) condition the model,
with classifier-free guidance of strength `guidance` (1 = plain conditional, larger = stronger).
`qpm` sets the intended tempo (default: the score's tempo marking; `free_tempo` lets the model
choose). `keep` infills: the notes of the listed bars keep the input's own timing and velocities
(their expressive parameters are given to the model, which renders the rest around them).

Input: MusicXML/MXL/ABC/kern or MIDI (a MIDI score is taken as written, i.e. as deadpan).
Output: a performance (seconds only; written to MIDI at a nominal 120 qpm, the pedal as CC64 and
as `pedal` annotations in nominal beats); JSON `notes` give each score note's `score_id`, `pitch`,
performed `onset_sec`, `duration_sec` and `velocity`, and `pedal` the sustain-pedal events
`{"time_sec", "value"}` (127 down, 0 up). A kept bar keeps the input's pedal too (its `pedal`
annotations or CC64).
"""
from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

import numpy as np

from ..errors import InputError, ModelError, ParameterError
from ..metre import bar_lengths, nominal_beats, nominal_sec
from ..perform_features import (
    decode_pedal,
    decode_performance,
    encode_pedal,
    encode_performance,
    params_to_targets,
    score_features,
    targets_to_params,
)
from ..piece import Annotation, Piece, empty_notes
from ..registry import Arg, Output, task
from ..runtime import Model

MAX_NOTES = int(os.environ.get("SYMBOLIC_AI_PERFORM_MAX_NOTES", "20000"))
EMOTION_WORDS = {"none": 0, "Q1": 1, "Q2": 2, "Q3": 3, "Q4": 4, "happy": 1, "tense": 2, "angry": 2,
                 "sad": 3, "calm": 4}
STYLES = ("none", "brisk", "broad", "loud", "gentle", "legato", "staccato")
HOP_FRACTION = 0.75  # windows overlap by a quarter of their length
DEFAULT_TEMPERATURE = 0.5  # scale of the initial noise (chosen on the valid split, docs/benchmarks.md)
DEFAULT_SAMPLES = 1  # seeded renders averaged


# -- score side ---------------------------------------------------------------------------------
def score_notes(piece: Piece) -> np.ndarray:
    """The pitched notes in (onset_beat, pitch) order; InputError when there are none or no beats."""
    if not piece.has_beats:
        raise InputError("perform needs a score with a beat grid; this piece has only seconds "
                         "(a performance). Give it a MusicXML/MIDI score")
    notes = piece.pitched()
    if len(notes) == 0:
        raise InputError("perform: the score has no pitched notes (empty or drums only)")
    if len(notes) > MAX_NOTES:
        raise InputError(f"perform: the score has {len(notes)} notes, over the limit of {MAX_NOTES} "
                         f"(set SYMBOLIC_AI_PERFORM_MAX_NOTES to raise it, or split the score)")
    return notes[np.lexsort((notes["pitch"], notes["onset_beat"]))]


def piece_features(piece: Piece, notes: np.ndarray) -> np.ndarray:
    """Score features of `notes` (from `score_notes`) with metre from the piece's time signatures."""
    sigs = piece.time_signatures
    if sigs:
        starts = np.array([ts.start_beat for ts in sigs])
        k = np.clip(np.searchsorted(starts, notes["onset_beat"] + 1e-9, side="right") - 1, 0, len(sigs) - 1)
        bar_len = bar_lengths(piece, notes["onset_beat"])
        unit = np.array([4.0 / ts.denominator for ts in sigs])[k]
    else:
        bar_len, unit = np.full(len(notes), 4.0), np.ones(len(notes))
    pos = np.nan_to_num(notes["beat_in_bar"], nan=0.0)
    pitched_tracks = sorted({int(t) for t in notes["track"]})
    staff = np.full(len(notes), -1)
    if len(pitched_tracks) == 2:  # a piano score: first part/track = upper staff
        staff = (notes["track"] == pitched_tracks[1]).astype(int)
    return score_features(notes["onset_beat"], notes["duration_beat"], notes["pitch"], pos, bar_len, unit, staff)


def parse_keep(spec: str, piece: Piece, notes: np.ndarray) -> np.ndarray:
    """'1-4,9' (bar numbers as printed: the first full bar is 1, a pickup is 0) → note mask."""
    keep = np.zeros(len(notes), dtype=bool)
    spec = spec.strip()
    if not spec:
        return keep
    printed = notes["bar"] + (0 if piece.pickup_beats > 0 else 1)
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise ParameterError(f"perform: keep must list bars like '1-4,9', got {spec!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ParameterError(f"perform: keep range {part.strip()!r} runs backwards")
        hit = (printed >= lo) & (printed <= hi)
        if not hit.any():
            raise ParameterError(f"perform: keep names bars {part.strip()!r} but the score's bars are "
                                 f"{int(printed.min())}..{int(printed.max())}")
        keep |= hit
    if keep.all():
        raise ParameterError(f"perform: keep={spec!r} covers every note, so nothing is left to render")
    return keep


def tempo_condition(piece: Piece, notes: np.ndarray, qpm: float, free: bool, stats: dict[str, Any]) -> np.ndarray:
    """[standardised log2 seconds per quarter, known flag] for the model's tempo input."""
    if free:
        return np.zeros(2, dtype=np.float32)
    if qpm <= 0:
        beats = np.array([t.start_beat for t in piece.tempos])
        qpms = np.array([t.qpm for t in piece.tempos])
        k = np.clip(np.searchsorted(beats, notes["onset_beat"], side="right") - 1, 0, len(qpms) - 1)
        qpm = float(np.median(qpms[k]))
    return np.array([(np.log2(60.0 / qpm) - stats["mean"][0]) / stats["std"][0], 1.0], dtype=np.float32)


# -- sampling -----------------------------------------------------------------------------------
def windows(n: int, size: int) -> list[tuple[int, int]]:
    """Overlapping [lo, hi) windows covering n notes (one window when n <= size)."""
    if n <= size:
        return [(0, n)]
    hop = max(1, int(size * HOP_FRACTION))
    starts = list(range(0, n - size, hop)) + [n - size]
    return [(s, s + size) for s in starts]


def sample(model: Model, features: np.ndarray, known: np.ndarray, mask: np.ndarray, *, emotion: int = 0,
           style: int = 0, tempo: np.ndarray | None = None, guidance: float = 1.0, steps: int = 10,
           seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """(N, P) standardised parameters: Euler ODE from noise (flow) or one pass (regression).

    P = known.shape[1] (the model's parameter count). `temperature` scales the initial noise
    (0 = start from the mean, a deterministic render).

    `model.run(**inputs)` is the ONNX vector field; windows are batched into one call per step and
    their velocities averaged over shared notes. Guidance > 0 with a condition doubles the batch
    with the unconditioned copy: v = v_u + guidance (v_c - v_u).
    """
    n = len(features)
    P = known.shape[1]
    size = int(model.card.get("window_notes", 256))
    wins = windows(n, size)
    tempo = np.zeros(2, np.float32) if tempo is None else tempo.astype(np.float32)
    conditioned = emotion or style
    cfg = conditioned and guidance != 1.0
    conds = [(emotion, style)] + ([(0, 0)] if cfg else [])
    W, C = len(wins), len(conds)
    idx = np.stack([np.arange(lo, hi) for lo, hi in wins])  # (W, L)
    feed: dict[str, np.ndarray] = {
        "features": np.tile(features[idx], (C, 1, 1)).astype(np.float32),
        "known": np.tile(known[idx], (C, 1, 1)).astype(np.float32),
        "mask": np.tile(mask[idx][..., None], (C, 1, 1)).astype(np.float32),
        "emotion": np.repeat([c[0] for c in conds], W).astype(np.int64),
        "style": np.repeat([c[1] for c in conds], W).astype(np.int64),
        "tempo": np.tile(tempo, (C * W, 1)).astype(np.float32),
    }
    cover = np.zeros(n)
    np.add.at(cover, idx.ravel(), 1.0)
    m = mask[:, None].astype(np.float32)

    def field(x: np.ndarray, t: float) -> np.ndarray:
        out = model.run(x=np.tile(x[idx], (C, 1, 1)).astype(np.float32),
                        t=np.full(C * W, t, dtype=np.float32), **feed)["v"]
        v = out[:W] if not cfg else out[W:] + guidance * (out[:W] - out[W:])
        acc = np.zeros((n, P))
        np.add.at(acc, idx.ravel(), v.reshape(-1, P))
        return acc / cover[:, None]

    if model.card.get("objective") == "regression":
        once: np.ndarray = m * known + (1 - m) * field(np.zeros((n, P), np.float32), 0.0)
        return once
    x = (temperature * np.random.default_rng(seed).standard_normal((n, P))).astype(np.float32)
    for i in range(steps):
        x = m * known + (1 - m) * x
        x = x + field(x, i / steps) / steps
    res: np.ndarray = m * known + (1 - m) * x
    return res


# -- the task -----------------------------------------------------------------------------------
def quadrant_of(emotion: str, valence: float, arousal: float) -> str:
    """The emotion quadrant asked for by name or by valence/arousal (0 counts as positive)."""
    if valence == 0 and arousal == 0:
        return emotion
    if emotion != "none":
        raise ParameterError(f"perform: emotion={emotion!r} and valence/arousal ({valence:g}, {arousal:g}) "
                             f"contradict each other; give one of them")
    return ("Q1" if valence >= 0 else "Q2") if arousal >= 0 else ("Q4" if valence >= 0 else "Q3")


def pedal_events_of(piece: Piece) -> tuple[np.ndarray, np.ndarray]:
    """The piece's `pedal` annotations as CC64 events (seconds, 127/0), for `encode_pedal`."""
    spans = piece.annotations_of("pedal")
    if not spans:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    beats = np.array([[a.start_beat, a.end_beat] for a in spans], dtype=float)
    sec = piece.beat_to_sec(beats.ravel()).reshape(-1, 2) if piece.has_beats else nominal_sec(beats)
    order = np.argsort(sec[:, 0], kind="mergesort")
    times = sec[order].ravel()
    values = np.tile([127, 0], len(order))
    return times, values


def render(piece: Piece, model: Model, *, emotion: str = "none", style: str = "none", guidance: float = 2.0,
           steps: int = 10, seed: int = 0, keep: str = "", qpm: float = 0.0, free_tempo: bool = False,
           valence: float = 0.0, arousal: float = 0.0, temperature: float = DEFAULT_TEMPERATURE,
           samples: int = DEFAULT_SAMPLES) -> tuple[Piece, dict[str, Any]]:
    """The performance Piece and its JSON summary (what the `perform` task returns)."""
    if qpm > 0 and free_tempo:
        raise ParameterError(f"perform: qpm={qpm:g} and free_tempo contradict each other; give one of them")
    if temperature == 0 and samples > 1:
        raise ParameterError(f"perform: temperature=0 renders the same performance for every seed, so "
                             f"samples={samples} would average {samples} copies of it; give samples=1 or a "
                             f"temperature above 0")
    emotion = quadrant_of(emotion, valence, arousal)
    stats = model.card.get("stats")
    if not stats:
        raise ModelError(f"{model.name}: its card has no 'stats'; re-export the model")
    n_params = len(stats["mean"])
    notes = score_notes(piece)
    keep_mask = parse_keep(keep, piece, notes)
    features = piece_features(piece, notes)
    known = np.zeros((len(notes), n_params), dtype=np.float32)
    if keep_mask.any():
        given = encode_performance(notes["onset_beat"], notes["duration_beat"], notes["onset_sec"],
                                   notes["duration_sec"], notes["velocity"])
        if n_params > 4:
            pedal = encode_pedal(notes["onset_beat"], notes["onset_sec"], notes["duration_sec"], *pedal_events_of(piece))
            given = np.concatenate([given, pedal[:, None]], axis=1)
        known[keep_mask] = params_to_targets(given, stats)[keep_mask]
    kw: dict[str, Any] = dict(emotion=EMOTION_WORDS[emotion], style=STYLES.index(style),
              tempo=tempo_condition(piece, notes, qpm, free_tempo, stats), guidance=guidance, steps=steps,
              temperature=temperature)
    x = np.mean([sample(model, features, known, keep_mask.astype(np.float32), seed=seed + k, **kw)
                 for k in range(samples)], axis=0)
    params = targets_to_params(x, stats)
    onset, duration, velocity = decode_performance(notes["onset_beat"], notes["duration_beat"], params)
    duration = np.maximum(duration, 0.02)
    pedal_events = decode_pedal(notes["onset_beat"], onset, duration, params[:, 4]) if n_params > 4 else []
    out = empty_notes(len(notes))
    out["onset_sec"], out["duration_sec"] = onset, duration
    out["pitch"], out["velocity"], out["track"] = notes["pitch"], velocity, notes["track"]
    out["id"], out["voice"] = notes["id"], notes["voice"]
    out["onset_beat"], out["duration_beat"] = np.nan, np.nan
    presses = [Annotation("pedal", nominal_beats(d[0]), nominal_beats(u[0]))  # as MIDI writes a performance
               for d, u in zip(pedal_events[0::2], pedal_events[1::2])]
    perf = Piece(notes=out, tracks=piece.tracks, tempos=(), time_signatures=(),
                 key_signatures=tuple(k for k in piece.key_signatures if k.start_beat == 0),
                 annotations=tuple(presses), metadata={**piece.metadata, "performed_by": model.name})
    data = {
        "model": model.name, "n_notes": len(notes), "duration_sec": round(perf.duration_sec, 3),
        "emotion": emotion, "style": style, "guidance": guidance, "steps": steps, "seed": seed,
        "temperature": temperature, "samples": samples, "kept_notes": int(keep_mask.sum()),
        "notes": [{"score_id": int(i), "pitch": int(p), "onset_sec": round(float(o), 4),
                   "duration_sec": round(float(d), 4), "velocity": int(v)}
                  for i, p, o, d, v in zip(out["id"], out["pitch"], out["onset_sec"], out["duration_sec"],
                                           out["velocity"])],
        "pedal": [{"time_sec": round(t, 4), "value": int(v)} for t, v in pedal_events],
    }
    return perf, data


@task("perform", model="perform-v2", input="score", output="piece",
      summary="Score → expressive piano performance (flow matching; emotion/style control, infilling)")
def perform(piece: Piece, *,
            emotion: Annotated[Literal["none", "Q1", "Q2", "Q3", "Q4", "happy", "tense", "angry", "sad", "calm"],
                               Arg("emotion to convey: a Russell quadrant or happy=Q1, tense/angry=Q2, "
                                   "sad=Q3, calm=Q4")] = "none",
            style: Annotated[Literal["none", "brisk", "broad", "loud", "gentle", "legato", "staccato"],
                             Arg("style word")] = "none",
            guidance: Annotated[float, Arg("classifier-free guidance strength for emotion/style "
                                           "(1 = plain conditional)", ge=0, le=8)] = 2.0,
            steps: Annotated[int, Arg("ODE steps", ge=1, le=100)] = 10,
            seed: Annotated[int, Arg("random seed", ge=0)] = 0,
            keep: Annotated[str, Arg("bars whose performance to keep from the input, e.g. '1-4,9'")] = "",
            qpm: Annotated[float, Arg("intended tempo in quarter notes per minute; 0 = the score's tempo",
                                      ge=0, le=400)] = 0.0,
            free_tempo: Annotated[bool, Arg("let the model choose the tempo")] = False,
            valence: Annotated[float, Arg("instead of emotion: valence; its sign with arousal's picks the "
                                          "quadrant (0 and 0 = none)", ge=-1, le=1)] = 0.0,
            arousal: Annotated[float, Arg("instead of emotion: arousal (see valence)", ge=-1, le=1)] = 0.0,
            temperature: Annotated[float, Arg("scale of the starting noise: 0 = the model's most typical "
                                              "rendering, 1 = as trained (more varied)", ge=0, le=1.5)]
            = DEFAULT_TEMPERATURE,
            samples: Annotated[int, Arg("seeded renders averaged into one (smoother, closer to the "
                                        "expected performance; costs that many renders)", ge=1, le=16)]
            = DEFAULT_SAMPLES,
            model: Model | None = None) -> Output:
    """Score → expressive piano performance (see the module docstring)."""
    if model is None:
        raise InputError("perform: needs a perform model (symbolic_ai.run loads perform-v2)")
    perf, data = render(piece, model, emotion=emotion, style=style, guidance=guidance, steps=steps, seed=seed,
                        keep=keep, qpm=qpm, free_tempo=free_tempo, valence=valence, arousal=arousal,
                        temperature=temperature, samples=samples)
    return Output(perf, data)
