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

Control: `emotion` (a word or a Russell quadrant, or `valence`/`arousal` whose signs pick the
quadrant) and `style` (a word) ask for measurable window properties of the training performances
(`perform_features.CONTROL_WORDS`: tempo relative to the piece's mean, loudness, articulation,
velocity spread), with classifier-free guidance of strength `guidance`. Tempo
(`perform_rules.tempo_targets`): `qpm` when given (held within ±3 %), else the score's metronome
marks or tempo words, else a default; the words' tempo moves it within that range. Fermatas are
held, the end slows down (`ritardando`), dynamics marks set the loudness, and the pedal changes
only with the harmony. `keep` infills: the notes of the listed bars keep the input's own timing
and velocities (their expressive parameters are given to the model, which renders the rest around them).

Input: MusicXML/MXL/ABC/kern or MIDI (a MIDI score is taken as written, i.e. as deadpan); the
score's markings are read by `io.markings`.
Output (`timing="beats"`, the default): the score's bars, time signatures and beats with a tempo
map (a tempo at each quarter note that holds an onset) that follows the performance, notes placed against it (so their
small offsets from the grid are the performed timing) and the pedal as CC64 / `pedal` annotations:
bars line up in a DAW. `timing="absolute"`: seconds only (written to MIDI at a nominal 120 qpm, the
pedal in nominal beats). JSON `notes` give each score note's `score_id`, `pitch`, performed
`onset_sec`, `duration_sec` and `velocity`; `pedal` the sustain-pedal events `{"time_sec", "value"}`
(127 down, 0 up); `tempo` the target and the rendered tempo; `warnings` what was overridden. A kept
bar keeps the input's pedal too (its `pedal` annotations or CC64).
"""
from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

import numpy as np

from ..errors import InputError, ModelError, ParameterError
from ..metre import bar_lengths, nominal_beats, nominal_sec
from ..perform_features import (
    CONTROL_DIMS,
    CONTROL_WORDS,
    control_vector,
    decode_pedal,
    decode_performance,
    encode_pedal,
    encode_performance,
    group_features,
    onset_groups,
    params_to_targets,
    score_features,
    targets_to_params,
)
from ..perform_rules import (
    RIT_DEPTH,
    apply_dynamics,
    body_groups,
    dynamic_levels,
    mean_qpm,
    note_marks,
    pedal_change_ok,
    shape_tempo,
    tempo_map,
    tempo_targets,
)
from ..piece import Annotation, Piece, empty_notes
from ..registry import Arg, Output, task
from ..runtime import Model, load_model

MAX_NOTES = int(os.environ.get("SYMBOLIC_AI_PERFORM_MAX_NOTES", "20000"))
QUADRANT_WORDS = {"Q1": "happy", "Q2": "tense", "Q3": "sad", "Q4": "calm", "angry": "tense"}
EMOTIONS = ("none", "happy", "tense", "sad", "calm")
STYLES = ("none", "brisk", "broad", "loud", "gentle", "legato", "staccato")
HOP_FRACTION = 0.75  # windows overlap by a quarter of their length
DEFAULT_TEMPERATURE = 0.25  # scale of the initial noise (chosen on the valid split, docs/models/perform-v4.md)
DEFAULT_SAMPLES = 1  # seeded renders averaged
TREND_SHARE = 1.0  # share of the models' slow tempo changes kept around the target (`shape_tempo`; chosen on
# valid, docs/models/perform-v5.md)
DEFAULT_GUIDANCE = 1.0  # the smallest of 1, 2, 3 whose valid control test passes for every word (docs/models/perform-v4.md)
BRIGHT = ("happy", "tense", "brisk")  # words that halve the final ritardando
WORD_RULE = False  # also apply the words' loudness and articulation after the model (decided on valid)


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


def metre_of(piece: Piece, notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per note: bar length and notated beat unit in quarters, from the piece's time signatures."""
    sigs = piece.time_signatures
    if not sigs:
        return np.full(len(notes), 4.0), np.ones(len(notes))
    starts = np.array([ts.start_beat for ts in sigs])
    k = np.clip(np.searchsorted(starts, notes["onset_beat"] + 1e-9, side="right") - 1, 0, len(sigs) - 1)
    return bar_lengths(piece, notes["onset_beat"]), np.array([4.0 / ts.denominator for ts in sigs])[k]


def piece_features(piece: Piece, notes: np.ndarray, n_features: int | None = None) -> np.ndarray:
    """Score features of `notes` (from `score_notes`): metre, staves, markings and structure.

    `n_features` cuts to a model's count (perform-v2 read the first 33)."""
    bar_len, unit = metre_of(piece, notes)
    pos = np.nan_to_num(notes["beat_in_bar"], nan=0.0)
    pitched_tracks = sorted({int(t) for t in notes["track"]})
    staff = np.full(len(notes), -1)
    if len(pitched_tracks) == 2:  # a piano score: first part/track = upper staff
        staff = (notes["track"] == pitched_tracks[1]).astype(int)
    f = score_features(notes["onset_beat"], notes["duration_beat"], notes["pitch"], pos, bar_len, unit, staff,
                       note_marks(piece, notes))
    return f[:, :n_features] if n_features else f


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


def tempo_input(qpm: float | None, stats: dict[str, Any]) -> np.ndarray:
    """[standardised log2 seconds per quarter, known flag] for the model's tempo input (None: unknown)."""
    if qpm is None:
        return np.zeros(2, dtype=np.float32)
    return np.array([(np.log2(60.0 / qpm) - stats["mean"][0]) / stats["std"][0], 1.0], dtype=np.float32)


# -- sampling -----------------------------------------------------------------------------------
def windows(n: int, size: int) -> list[tuple[int, int]]:
    """Overlapping [lo, hi) windows covering n notes (one window when n <= size)."""
    if n <= size:
        return [(0, n)]
    hop = max(1, int(size * HOP_FRACTION))
    starts = list(range(0, n - size, hop)) + [n - size]
    return [(s, s + size) for s in starts]


def sample(model: Model, features: np.ndarray, known: np.ndarray, mask: np.ndarray, *,
           control: np.ndarray | None = None, tempo: np.ndarray | None = None, guidance: float = 1.0,
           steps: int = 10, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """(N, P) standardised parameters: Euler ODE from noise (flow) or one pass (regression).

    P = known.shape[1] (the model's parameter count). `control` is the (2K,) control vector
    (`control_vector`; None = nothing asked). `temperature` scales the initial noise
    (0 = start from the mean, a deterministic render).

    `model.run(**inputs)` is the ONNX vector field; windows are batched into one call per step and
    their velocities averaged over shared notes. Guidance != 1 with a control doubles the batch
    with the unconditioned copy: v = v_u + guidance (v_c - v_u).
    """
    n = len(features)
    P = known.shape[1]
    size = int(model.card.get("window_notes", 256))
    wins = windows(n, size)
    tempo = np.zeros(2, np.float32) if tempo is None else tempo.astype(np.float32)
    none = np.zeros(2 * len(CONTROL_DIMS), np.float32)
    control = none if control is None else control.astype(np.float32)
    cfg = bool(control.any()) and guidance != 1.0
    conds = [control] + ([none] if cfg else [])
    W, C = len(wins), len(conds)
    idx = np.stack([np.arange(lo, hi) for lo, hi in wins])  # (W, L)
    feed: dict[str, np.ndarray] = {
        "features": np.tile(features[idx], (C, 1, 1)).astype(np.float32),
        "known": np.tile(known[idx], (C, 1, 1)).astype(np.float32),
        "mask": np.tile(mask[idx][..., None], (C, 1, 1)).astype(np.float32),
        "tempo": np.tile(tempo, (C * W, 1)).astype(np.float32),
    }
    if any(i.get("name") == "emotion" for i in model.card.get("inputs", [])):  # perform-v2 (benchmarks' "before")
        feed["emotion"] = feed["style"] = np.zeros(C * W, np.int64)
    else:
        feed["control"] = np.repeat(np.stack(conds), W, axis=0).astype(np.float32)
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


def tempo_curve(model: Model, features: np.ndarray, onset: np.ndarray, bp: np.ndarray,
                weight: float | None = None) -> np.ndarray:
    """Per-note beat periods with the tempo-curve model's shape mixed in.

    A model whose card names a `tempo_model` (perform-v5 on) has a second network that predicts each
    onset group's log2 beat period relative to the piece's mean from the score alone
    (`group_features`). The result's log curve is `weight` (None: the card's `curve_weight`, chosen on
    valid) times that curve plus (1 − `weight`) times the note model's own (`bp`), around the note
    model's mean; without a tempo model, `bp` as it is."""
    name = model.card.get("tempo_model")
    weight = float(model.card.get("curve_weight", 1.0)) if weight is None else weight
    if not name or weight == 0:
        return bp
    gf, groups = group_features(features, onset)
    curve = load_model(str(name)).run(groups=gf[None])["curve"][0].astype(float)
    size = np.array([len(g) for g in groups], dtype=float)
    own = np.log2(np.array([float(np.mean(bp[g])) for g in groups]))
    level = float(np.sum(size * own) / size.sum())
    mixed = level + weight * (curve - np.sum(size * curve) / size.sum()) + (1 - weight) * (own - level)
    out = np.empty(len(bp))
    for g, v in zip(groups, 2.0 ** mixed):
        out[g] = v
    return out


# -- the task -----------------------------------------------------------------------------------
def emotion_word(emotion: str, valence: float, arousal: float) -> str:
    """The emotion word asked for by name, quadrant or valence/arousal (0 counts as positive)."""
    if valence == 0 and arousal == 0:
        return QUADRANT_WORDS.get(emotion, emotion)
    if emotion != "none":
        raise ParameterError(f"perform: emotion={emotion!r} and valence/arousal ({valence:g}, {arousal:g}) "
                             f"contradict each other; give one of them")
    return ("happy" if valence >= 0 else "tense") if arousal >= 0 else ("calm" if valence >= 0 else "sad")


def word_shift(words: list[str], model: Model, dim: str) -> float:
    """The words' asked shift of one control property, in its natural units (z · training-window std).

    tempo: log2 beat period; loudness: velocity/127; articulation: log2 articulation."""
    cs = model.card.get("control_stats") or {}
    stats = model.card["stats"]
    i = CONTROL_DIMS.index(dim)
    z = 0.0
    for w in words:
        v = CONTROL_WORDS[w][i]
        z = v if v is not None else z
    col = {"tempo": 0, "loudness": 1, "articulation": 3}[dim]
    return float(z * cs.get("std", [0.0] * len(CONTROL_DIMS))[i] * stats["std"][col])


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


def _within_marks(events: list[tuple[float, int]], spans_sec: np.ndarray) -> list[tuple[float, int]]:
    """Pedal presses cut to the score's pedal-mark spans (seconds)."""
    out: list[tuple[float, int]] = []
    for (d, _), (u, _) in zip(events[0::2], events[1::2]):
        for a, b in spans_sec:
            lo, hi = max(d, a), min(u, b)
            if hi - lo > 0.05:
                out += [(lo, 127), (hi, 0)]
    return out


def render(piece: Piece, model: Model, *, emotion: str = "none", style: str = "none",
           guidance: float = DEFAULT_GUIDANCE,
           steps: int = 10, seed: int = 0, keep: str = "", qpm: float = 0.0, free_tempo: bool = False,
           valence: float = 0.0, arousal: float = 0.0, temperature: float = DEFAULT_TEMPERATURE,
           samples: int = DEFAULT_SAMPLES, ritardando: bool = True,
           timing: str = "beats") -> tuple[Piece, dict[str, Any]]:
    """The performance Piece and its JSON summary (what the `perform` task returns)."""
    if qpm > 0 and free_tempo:
        raise ParameterError(f"perform: qpm={qpm:g} and free_tempo contradict each other; give one of them")
    if temperature == 0 and samples > 1:
        raise ParameterError(f"perform: temperature=0 renders the same performance for every seed, so "
                             f"samples={samples} would average {samples} copies of it; give samples=1 or a "
                             f"temperature above 0")
    if timing not in ("beats", "absolute"):
        raise ParameterError(f"perform: timing must be 'beats' or 'absolute', got {timing!r}")
    word = emotion_word(emotion, valence, arousal)
    words = [w for w in (word, style) if w != "none"]
    stats = model.card.get("stats")
    if not stats or "control_stats" not in model.card:
        raise ModelError(f"{model.name}: its card has no 'stats' / 'control_stats'; use perform-v3 or later, or re-export")
    n_params = len(stats["mean"])
    notes = score_notes(piece)
    keep_mask = parse_keep(keep, piece, notes)
    features = piece_features(piece, notes, len(model.card.get("features", [])) or None)
    known = np.zeros((len(notes), n_params), dtype=np.float32)
    if keep_mask.any():
        given = encode_performance(notes["onset_beat"], notes["duration_beat"], notes["onset_sec"],
                                   notes["duration_sec"], notes["velocity"])
        pedal = encode_pedal(notes["onset_beat"], notes["onset_sec"], notes["duration_sec"], *pedal_events_of(piece))
        known[keep_mask] = params_to_targets(np.concatenate([given, pedal[:, None]], axis=1), stats)[keep_mask]
    onset = notes["onset_beat"]
    target, lo, hi, source, warnings = tempo_targets(piece, onset, qpm)
    factor = 2.0 ** -word_shift(words, model, "tempo")  # > 1: faster
    asked = float(np.median(target))
    tempo_in = None if free_tempo else tempo_input(asked * factor, stats)
    control = control_vector(words) if words else None
    x = np.mean([sample(model, features, known, keep_mask.astype(np.float32), control=control, tempo=tempo_in,
                        guidance=guidance, steps=steps, temperature=temperature, seed=seed + k)
                 for k in range(samples)], axis=0)
    params = targets_to_params(x, stats)
    bar_len, _unit = metre_of(piece, notes)
    marks = features[:, 33:38] if features.shape[1] >= 38 else np.zeros((len(notes), 5))
    rit = 0.0 if not ritardando else RIT_DEPTH / (2 if set(words) & set(BRIGHT) else 1)
    goal = None if free_tempo else np.clip(target * factor, lo, hi)
    if not keep_mask.any():  # kept bars keep their own tempo
        params[:, 0] = tempo_curve(model, features, onset, params[:, 0])
        params[:, 0] = shape_tempo(onset, notes["duration_beat"], params[:, 0], goal, marks[:, 3] > 0,
                                   float(np.median(bar_len)), rit, TREND_SHARE)
    fermata = marks[:, 3] > 0
    if WORD_RULE and words:
        params[:, 1] += word_shift(words, model, "loudness")
        params[:, 3] += word_shift(words, model, "articulation")
    params[fermata, 3] = np.maximum(params[fermata, 3], 0.0)  # a held note is held to its end
    level, accent = dynamic_levels(piece, onset)
    params[:, 1] = apply_dynamics(params[:, 1], onset, level, accent, 127 * word_shift(words, model, "loudness"))
    on_sec, duration, velocity = decode_performance(onset, notes["duration_beat"], params)
    duration = np.maximum(duration, 0.02)
    groups = onset_groups(onset)
    first_bp = float(np.mean(params[groups[0], 0]))
    lead = float(onset[groups[0][0]]) * first_bp  # the rest before the first note, at its tempo
    on_sec = on_sec + lead
    pedal_events = decode_pedal(onset, on_sec, duration, params[:, 4],
                                pedal_change_ok(notes, float(np.median(bar_len)))) if n_params > 4 else []
    group_time = np.array([float(np.mean(on_sec[g] + params[g, 2])) for g in groups])  # the tempo curve
    group_beat = np.array([onset[g[0]] for g in groups])
    marked = piece.annotations_of("pedal_mark")
    if marked and pedal_events:
        spans = np.interp(np.array([[a.start_beat, a.end_beat] for a in marked], float), group_beat, group_time)
        pedal_events = _within_marks(pedal_events, spans)
    body = body_groups(onset, notes["duration_beat"], fermata, float(np.median(bar_len)))[3]
    rendered_qpm = mean_qpm(group_beat, group_time, body)
    out = empty_notes(len(notes))
    out["onset_sec"], out["duration_sec"] = on_sec, duration
    out["pitch"], out["velocity"], out["track"] = notes["pitch"], velocity, notes["track"]
    out["id"], out["voice"] = notes["id"], notes["voice"]
    keep_kinds = [a for a in piece.annotations if a.kind != "pedal"]
    if timing == "beats":
        end = float(np.max(onset + notes["duration_beat"]))
        tempos = tempo_map(group_beat, group_time, end + 1)
        grid = Piece(tempos=tempos)
        out["onset_beat"] = grid.sec_to_beat(on_sec)
        out["duration_beat"] = np.maximum(grid.sec_to_beat(on_sec + duration) - out["onset_beat"], 1e-3)
        presses = [Annotation("pedal", float(grid.sec_to_beat(d[0])), float(grid.sec_to_beat(u[0])))
                   for d, u in zip(pedal_events[0::2], pedal_events[1::2])]
        perf = Piece(notes=out, tracks=piece.tracks, tempos=tempos, time_signatures=piece.time_signatures,
                     key_signatures=piece.key_signatures, annotations=tuple(keep_kinds + presses),
                     metadata={**piece.metadata, "performed_by": model.name}, pickup_beats=piece.pickup_beats)
    else:
        out["onset_beat"], out["duration_beat"] = np.nan, np.nan
        presses = [Annotation("pedal", nominal_beats(d[0]), nominal_beats(u[0]))  # as MIDI writes a performance
                   for d, u in zip(pedal_events[0::2], pedal_events[1::2])]
        perf = Piece(notes=out, tracks=piece.tracks, tempos=(), time_signatures=(),
                     key_signatures=tuple(k for k in piece.key_signatures if k.start_beat == 0),
                     annotations=tuple(presses), metadata={**piece.metadata, "performed_by": model.name})
    data = {
        "model": model.name, "n_notes": len(notes), "duration_sec": round(perf.duration_sec, 3),
        "emotion": word, "style": style, "guidance": guidance, "steps": steps, "seed": seed,
        "temperature": temperature, "samples": samples, "kept_notes": int(keep_mask.sum()), "timing": timing,
        "tempo": {"source": "free" if free_tempo else source, "asked_qpm": round(asked, 2),
                  "target_qpm": None if goal is None else round(float(np.median(goal)), 2),
                  "rendered_qpm": round(rendered_qpm, 2)},
        "warnings": warnings,
        "notes": [{"score_id": int(i), "pitch": int(p), "onset_sec": round(float(o), 4),
                   "duration_sec": round(float(d), 4), "velocity": int(v)}
                  for i, p, o, d, v in zip(out["id"], out["pitch"], out["onset_sec"], out["duration_sec"],
                                           out["velocity"])],
        "pedal": [{"time_sec": round(t, 4), "value": int(v)} for t, v in pedal_events],
    }
    return perf, data


@task("perform", model="perform-v5", input="score", output="piece",
      summary="Score → expressive piano performance (flow matching; markings, tempo map, emotion/style control)")
def perform(piece: Piece, *,
            emotion: Annotated[Literal["none", "happy", "tense", "angry", "sad", "calm", "Q1", "Q2", "Q3", "Q4"],
                               Arg("emotion to convey (measured properties: see CONTROL_WORDS); Q1..Q4 = "
                                   "happy, tense, sad, calm")] = "none",
            style: Annotated[Literal["none", "brisk", "broad", "loud", "gentle", "legato", "staccato"],
                             Arg("style word")] = "none",
            guidance: Annotated[float, Arg("classifier-free guidance strength for emotion/style "
                                           "(1 = plain conditional)", ge=0, le=8)] = DEFAULT_GUIDANCE,
            steps: Annotated[int, Arg("ODE steps", ge=1, le=100)] = 10,
            seed: Annotated[int, Arg("random seed", ge=0)] = 0,
            keep: Annotated[str, Arg("bars whose performance to keep from the input, e.g. '1-4,9'")] = "",
            qpm: Annotated[float, Arg("tempo in quarter notes per minute, held within 3 percent; 0 = the score's "
                                      "marking (or a default)", ge=0, le=400)] = 0.0,
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
            ritardando: Annotated[bool, Arg("slow down over the last two bars")] = True,
            timing: Annotated[Literal["beats", "absolute"],
                              Arg("beats: the score's bars with a tempo map; absolute: seconds only")] = "beats",
            model: Model | None = None) -> Output:
    """Score → expressive piano performance (see the module docstring)."""
    if model is None:
        raise InputError("perform: needs a perform model (symbolic_ai.run loads perform-v5)")
    perf, data = render(piece, model, emotion=emotion, style=style, guidance=guidance, steps=steps, seed=seed,
                        keep=keep, qpm=qpm, free_tempo=free_tempo, valence=valence, arousal=arousal,
                        temperature=temperature, samples=samples, ritardando=ritardando, timing=timing)
    return Output(perf, data)
