"""`align`: a recording and its score → a time map, each score note's onset in the recording, a confidence.

The method is in `symbolic_ai.audio_sync`: DTW (librosa's) over chroma and onset-chroma features
shared by the recording and a piano-like rendering of the score laid over the recording's
non-silent span, then each score onset placed on its own pitches' onset evidence. The output
Piece is the score on the recording's timeline: the same notes at the same beats under a tempo
map that puts every score onset where it sounds in the recording (written as MIDI, it is both the
score played along the recording and the tempo map a DAW imports so its bars follow the
recording). When the recording starts with silence, whole bars of rest are put before the first
note so that bar lines still fall on the recording's beats (`lead_in_beats` in the result).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np

from .. import audio_sync as S
from .. import limits as L
from ..errors import InputError
from ..io.audio import Audio, load_audio
from ..metre import beat_axis
from ..piece import Annotation, KeySignature, Piece, Tempo, TimeSignature
from ..registry import Arg, Output, task

MAX_CELLS = 16_000_000      # DTW matrix size at most (audio frames × score frames): memory stays near 0.4 GB
SMOOTH_SEC = 1.0            # local tempo of the DTW estimate: straight lines over ±this (score seconds)
LENGTH_RATIO_WARN = 3.0     # recording / score length (at the score's own tempo) past which the result is suspect


@dataclass(frozen=True)
class Alignment:
    """Where a score sounds in a recording: per score note (in `notes` order) its onset (seconds)
    and confidence (0..1); `time_map` (K, 2) rows of [audio_sec, score_beat], one per distinct
    score onset; `confidence` overall; `warnings` what made it low."""

    notes: np.ndarray            # the score's pitched notes (NOTE_DTYPE), sorted by onset
    onset_sec: np.ndarray
    note_confidence: np.ndarray
    time_map: np.ndarray
    confidence: float
    warnings: tuple[str, ...] = ()
    unit: str = "beat"           # "beat" or, for a score without a beat grid, nominal beats ("sec")
    dtw_onset_sec: np.ndarray | None = None  # per note, the DTW's (smoothed) estimate before refinement


def _groups(onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct onset positions and, per note, the index of its position."""
    keys = np.round(onsets, 6)
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, inverse


def smooth_guess(x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """y at each x from a straight line fitted to the points within ±radius of it: the DTW's
    times with the local tempo kept and the jitter (a repeated chord taken too early) removed."""
    out = np.empty_like(y)
    lo = np.searchsorted(x, x - radius)
    hi = np.searchsorted(x, x + radius, side="right")
    for k in range(len(x)):
        xs, ys = x[lo[k]:hi[k]], y[lo[k]:hi[k]]
        if len(xs) < 3 or np.ptp(xs) <= 0:
            out[k] = y[k]
            continue
        slope, icpt = np.polyfit(xs - x[k], ys, 1)
        out[k] = icpt
    return out


def align_audio(score: Piece, audio: Audio, *, onset_weight: float = 1.0, dtw_fps: float = 20.0,
                refine: bool = True, window_sec: float = 0.25, diagonal_weight: float = 1.0,
                smooth_sec: float = SMOOTH_SEC) -> Alignment:
    """Align `score` (any Piece with pitched notes) to `audio` (see the module docstring)."""
    what = str(score.metadata.get("source") or score.metadata.get("title") or "score")
    notes = score.pitched()
    S.check_score(notes["pitch"], what)
    beats, _, unit = beat_axis(score, notes)
    fa = S.audio_features(audio)
    a0, a1 = S.active_span(fa)
    sec = notes["onset_sec"] - float(notes["onset_sec"].min())  # pickups: count from the first onset
    length = float(np.max(sec + notes["duration_sec"]))
    stretch = (a1 - a0) / max(length, 1e-3)
    warnings = []
    if not (1 / LENGTH_RATIO_WARN <= stretch <= LENGTH_RATIO_WARN):
        warnings.append(f"the recording's sound lasts {a1 - a0:.1f} s, {stretch:.2f} times the score at its own "
                        f"tempo ({length:.1f} s): is it the same music, complete?")
    nominal = a0 + sec * stretch
    fs = S.score_features(notes["pitch"], nominal, notes["duration_sec"] * stretch, notes["velocity"], fa.frames)
    factor = max(1, int(round(S.FPS / dtw_fps)))
    while (fa.frames / factor) ** 2 > MAX_CELLS:
        factor += 1
    path, path_cost, mean_cost = S.dtw_path(fa, fs, factor, onset_weight, diagonal_weight)
    # score time → audio time along the path (block centres; repeated score blocks averaged)
    centre = (path * factor + (factor - 1) / 2) / S.FPS
    xs, first = np.unique(centre[:, 1], return_index=True)
    ys = np.array([centre[path[:, 1] == path[i, 1], 0].mean() for i in first])
    uniq, inverse = _groups(nominal)
    guess = smooth_guess(uniq, np.maximum.accumulate(np.interp(uniq, xs, ys)), smooth_sec * stretch)
    if refine:
        groups = [notes["pitch"][inverse == k] for k in range(len(uniq))]
        times, contrast = S.refine_onsets(fa, groups, guess, window_sec)
    else:
        times, contrast = guess, np.full(len(uniq), 0.5)
    separation = 1.0 - path_cost / max(mean_cost, 1e-9)  # 0: no better than an unrelated pairing
    global_conf = float(np.clip((separation - 0.2) / 0.4, 0.0, 1.0))
    if warnings:
        global_conf *= 0.5
    if global_conf < 0.3:
        warnings.append(f"low confidence: the recording matches the score little better than unrelated music "
                        f"(cost {path_cost:.2f} along the path against {mean_cost:.2f} on average)")
    note_conf = np.clip(global_conf * (0.5 + 0.5 * contrast[inverse]), 0.0, 1.0)
    beat_of_group = np.array([beats[inverse == k][0] for k in range(len(uniq))])
    return Alignment(notes, times[inverse], note_conf, np.column_stack([times, beat_of_group]),
                     float(np.mean(note_conf)), tuple(warnings), unit, guess[inverse])


def on_recording_timeline(score: Piece, al: Alignment) -> tuple[Piece, float]:
    """The score under a tempo map following the recording, and the lead-in (beats of rest added
    before the score so its bar lines stay on the recording's beats when it starts later)."""
    if not score.has_beats or al.unit != "beat":
        raise InputError("align: the score has no beat grid, so no tempo map can follow the recording")
    t, b = al.time_map[:, 0], al.time_map[:, 1]
    sig = next((ts for ts in reversed(score.time_signatures) if ts.start_beat <= b[0]), TimeSignature(0.0, 4, 4))
    bar = sig.bar_beats
    lead = 0.0
    local_qpm = (b[-1] - b[0]) * 60 / max(t[-1] - t[0], 1e-3) if len(t) > 1 else 120.0
    before = t[0] - b[0] * 60 / max(local_qpm, 1e-3)  # seconds left before beat 0 at the local tempo
    if before > 0.05:
        lead = bar * max(1, round(before / (bar * 60 / local_qpm)))
    bb, tt = [0.0], [0.0]
    for beat, sec in zip(b + lead, t):  # breakpoints whose segment tempo is in the library's range
        if beat > bb[-1] and sec > tt[-1] and L.MIN_QPM <= (beat - bb[-1]) * 60 / (sec - tt[-1]) <= L.MAX_QPM:
            bb.append(float(beat))
            tt.append(float(sec))
    if len(bb) < 2:
        bb, tt = [0.0, 1.0], [0.0, 0.5]
    qpm = np.diff(bb) * 60 / np.diff(tt)
    tempos = [Tempo(bb[i], float(qpm[i])) for i in range(len(qpm))]
    n = score.notes.copy()
    n["onset_beat"] += lead
    n["onset_sec"] = n["duration_sec"] = np.nan
    n["bar"], n["beat_in_bar"] = -1, np.nan
    shift_ts = tuple(TimeSignature(ts.start_beat + lead if i else 0.0, ts.numerator, ts.denominator)
                     for i, ts in enumerate(score.time_signatures))
    shift_ks = tuple(KeySignature(k.start_beat + lead, k.fifths, k.mode) for k in score.key_signatures)
    shift_an = tuple(Annotation(a.kind, a.start_beat + lead, a.end_beat + lead, a.value) for a in score.annotations)
    piece = score.replace(notes=n, tempos=tuple(tempos), time_signatures=shift_ts, key_signatures=shift_ks,
                          annotations=shift_an, pickup_beats=score.pickup_beats + lead if lead else score.pickup_beats,
                          metadata={**score.metadata, "aligned_to": score.metadata.get("recording", "")})
    return piece, lead


def recording_audio(recording: Any, task_name: str) -> Audio:
    """The recording a task was given: an Audio, or the path of an audio file (read with load_audio)."""
    if isinstance(recording, Audio):
        return recording.check_not_silent()
    if isinstance(recording, (str, os.PathLike)):
        return load_audio(recording, sr=S.SR)
    if isinstance(recording, Piece):  # the daemon loads a MIDI "recording" as a Piece (locate takes MIDI clips)
        raise InputError(f"{task_name}: the recording is MIDI, not audio; give it as an audio file (WAV, FLAC, OGG, "
                         f"MP3)")
    raise InputError(f"{task_name}: needs a recording (an audio file path or an Audio), got {recording!r:.80}; "
                     f"on the command line: symbolic-ai run {task_name} RECORDING SCORE")


@task("align", summary="Time a score in a recording: time map, note onsets, tempo-map MIDI", input="score",
      output="piece")
def align(piece: Piece, *, recording: Any = None,
          refine: Annotated[bool, Arg("place each onset on its own pitches' attacks after DTW")] = True,
          onset_weight: Annotated[float, Arg("weight of the onset features against chroma in the DTW cost",
                                             ge=0, le=10)] = 1.0,
          window_ms: Annotated[float, Arg("how far refinement may move an onset from the DTW's estimate, ms",
                                          ge=20, le=2000)] = 250.0) -> Output:
    """Align a recording (WAV, FLAC, OGG, MP3: the `audio` extra) to a score or MIDI file.

    Result: `time_map` ([audio_sec, score_beat] pairs, one per distinct score onset; score beats in
    quarter notes from the start of the score), `notes` (per score note: id, pitch, score_beat,
    onset_sec, confidence), `confidence` (0..1; below 0.3 the alignment should not be trusted and
    `warnings` says why), `lead_in_beats`. The output Piece (`-o out.mid`) is the score on the
    recording's timeline: its notes sound where the recording plays them and its tempo map makes a
    DAW's bars follow the recording."""
    audio = recording_audio(recording, "align")
    al = align_audio(piece, audio, onset_weight=onset_weight, refine=refine, window_sec=window_ms / 1000)
    beats, _, _ = beat_axis(piece, al.notes)
    out_piece, lead = on_recording_timeline(piece.replace(metadata={**piece.metadata,
                                                                    "recording": audio.source}), al) \
        if piece.has_beats else (piece, 0.0)
    data = {"recording": audio.source, "duration_sec": audio.duration_sec, "confidence": al.confidence,
            "warnings": list(al.warnings), "lead_in_beats": lead, "unit": al.unit,
            "time_map": al.time_map.tolist(),
            "notes": [{"id": int(n["id"]), "pitch": int(n["pitch"]), "score_beat": float(b), "onset_sec": float(t),
                       "confidence": float(c)}
                      for n, b, t, c in zip(al.notes, beats, al.onset_sec, al.note_confidence)]}
    return Output(out_piece, data)
