"""`locate`: where a short clip (audio or MIDI, a few seconds) sits in a longer score or performance.

Clip and piece are turned into `audio_sync`'s chroma + onset-chroma features (an audio clip from its
sound, a MIDI clip and the piece from a piano-like rendering of their notes) at 10 frames a second.
Subsequence DTW (librosa's, steps (1,1), (1,2), (2,1), the last two at double cost: the clip may be
played half to twice as fast as the piece's own tempo, a steady tempo preferred) runs against the
piece laid out at 0.5, 1 and 2 times its tempo, so tempi from a quarter to four times the written
one are found. The best end points, at least a clip's
length apart, are traced back to their starts: the top `k` places, each with its span in the piece
(beats and seconds on the piece's own timeline) and a score (1 = the clip's features match exactly,
0 = no better than an average pairing). With `embed_weight` > 0 the learned embeddings
(symbolic_ai/embed.py, embed-v2) re-rank alignment's best CANDIDATES places (`embed_rerank`; over a
folder, `locate_in` weighs every file's candidates the same way): on valid 5-second clips top-1 rose
from 0.67 to 0.81 with the training soundfont and from 0.81 to 0.89 with one never trained on, at
the default weight 0.25 (docs/benchmarks.md, embed-v2).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from .. import audio_sync as S
from ..errors import InputError, SymbolicAIError, require
from ..io.audio import Audio, is_audio_path, load_audio
from ..piece import Piece
from ..registry import Arg, Output, task

FACTOR = 10                  # DTW frames: FPS / FACTOR ≈ 10 a second
SCALES = (0.5, 1.0, 2.0)     # the piece laid out at these multiples of its own duration
MAX_CLIP_SEC = 60.0
STEP_WEIGHTS = (1.0, 2.0, 2.0)  # weights of the steps (1,1), (1,2), (2,1): tempo changes cost (chosen on valid)
EMBED_WEIGHT = 0.25  # embed-v2 re-ranking, chosen on valid clips of two soundfonts (one never trained on):
                     # top-1 0.67 -> 0.81 (FluidR3), 0.81 -> 0.89 (MuseScore_General_Lite); docs/benchmarks.md
CANDIDATES = 20      # places alignment proposes for the re-ranking


@dataclass(frozen=True)
class Place:
    """One place a clip was found: seconds and beats of the piece's own timeline, and a score 0..1."""

    start_sec: float
    end_sec: float
    start_beat: float
    end_beat: float
    score: float

    def to_json(self) -> dict[str, float]:
        return {"start_sec": self.start_sec, "end_sec": self.end_sec, "start_beat": self.start_beat,
                "end_beat": self.end_beat, "score": self.score}


def _piece_features(piece: Piece, scale: float = 1.0) -> S.Features:
    """The piece's features on its own clock, times stretched by `scale`."""
    n = piece.pitched()
    if not len(n):
        raise InputError(f"{piece.metadata.get('source') or 'piece'}: no pitched notes to search")
    on, dur = n["onset_sec"] * scale, n["duration_sec"] * scale
    frames = int((float(np.max(on + dur)) + 0.5) * S.FPS) + 1
    return S.score_features(n["pitch"], on, dur, n["velocity"], frames)


def clip_features(clip: Any) -> tuple[S.Features, str]:
    """Features of a clip given as an Audio, a Piece, or the path of an audio or MIDI/score file."""
    from .. import io

    if isinstance(clip, (str, os.PathLike)):
        clip = load_audio(clip, sr=S.SR, max_seconds=MAX_CLIP_SEC) if is_audio_path(clip) else io.load(clip)
    if isinstance(clip, Audio):
        if clip.duration_sec > MAX_CLIP_SEC:
            raise InputError(f"{clip.source or 'clip'}: {clip.duration_sec:.0f} s long; a clip to locate is at most "
                             f"{MAX_CLIP_SEC:g} s (use align for a whole recording)")
        f = S.audio_features(clip.check_not_silent())
        a0, a1 = S.active_span(f)  # the clip's sound only: silence around it would match the piece's rests
        lo, hi = int(a0 * S.FPS), max(int(a1 * S.FPS), int(a0 * S.FPS) + 1)
        return S.Features(f.mag[:, lo:hi], f.pitch[:, lo:hi], f.onset[:, lo:hi], f.rms_db[lo:hi]), clip.source
    if isinstance(clip, Piece):
        n = clip.pitched()
        if not len(n):
            raise InputError(f"{clip.metadata.get('source') or 'clip'}: no pitched notes to locate")
        start = float(n["onset_sec"].min())
        moved = clip.replace(notes=_shifted(clip.notes, start))
        return _piece_features(moved), str(clip.metadata.get("source", ""))
    raise InputError(f"locate: needs a clip (an audio or MIDI file path, an Audio or a Piece), got {clip!r:.80}; "
                     f"on the command line: symbolic-ai run locate CLIP PIECE")


def _shifted(notes: np.ndarray, start: float) -> np.ndarray:
    n: np.ndarray = notes.copy()
    n["onset_sec"] = np.maximum(n["onset_sec"] - start, 0.0)
    return n


def search(clip: S.Features, piece: Piece, k: int) -> list[Place]:
    """The top `k` places of `clip` in `piece` (see the module docstring)."""
    librosa = require("librosa", "audio")
    cc, co = S.dtw_features(clip, FACTOR, onset=True)
    N = cc.shape[1]
    sigma = np.array([[1, 1], [1, 2], [2, 1]])
    found: list[tuple[float, float, float]] = []  # (score, start_sec, end_sec) on the piece's clock
    for scale in SCALES:
        pc, po = S.dtw_features(_piece_features(piece, scale=scale), FACTOR, onset=True)
        if pc.shape[1] < max(2, N // 2):
            continue
        assert co is not None and po is not None
        C = np.maximum(0.0, (1.0 - cc.T @ pc) + (1.0 - co.T @ po)).astype(np.float64)
        D, _, steps = librosa.sequence.dtw(C=C, step_sizes_sigma=sigma, subseq=True, backtrack=True,
                                           return_steps=True, weights_mul=np.array(STEP_WEIGHTS))
        end_cost = D[-1] / N
        base = max(float(C.mean()), 1e-9)
        order = np.argsort(end_cost)
        taken: list[int] = []
        for j in order:
            if not np.isfinite(end_cost[j]) or len(taken) >= k:
                break
            if any(abs(int(j) - t) < N // 2 for t in taken):
                continue
            taken.append(int(j))
            path = librosa.sequence.dtw_backtracking(steps, step_sizes_sigma=sigma, subseq=True, start=int(j))
            start_f, end_f = int(np.min(path[:, 1])), int(j)
            sec = np.array([start_f, end_f + 1]) * FACTOR / S.FPS / scale
            found.append((float(np.clip(1.0 - end_cost[j] / base, 0.0, 1.0)), float(sec[0]), float(sec[1])))
    found.sort(key=lambda f: -f[0])
    places: list[Place] = []
    for score, a, b in found:
        if any(min(b, p.end_sec) - max(a, p.start_sec) > 0.5 * (b - a) for p in places):
            continue  # the same place found at another tempo scale
        beats = piece.sec_to_beat(np.array([a, b])) if piece.tempos else np.array([np.nan, np.nan])
        places.append(Place(a, b, float(beats[0]), float(beats[1]), score))
        if len(places) == k:
            break
    return places


def clip_embedding(clip: Any, embedder: Any) -> tuple[np.ndarray, float] | None:
    """The clip's embedding (its first SEG_SEC seconds: audio through the audio encoder, notes through the
    MIDI encoder) and its length in seconds; None for a MIDI clip without notes."""
    from .. import embed as E
    from .. import io

    if isinstance(clip, (str, os.PathLike)) and is_audio_path(clip):
        clip = load_audio(clip, sr=E.SR, max_seconds=MAX_CLIP_SEC)
    if isinstance(clip, Audio):
        y = clip.resampled(E.SR).samples
        return embedder.audio_segments(y, np.array([0.0]))[0], len(y) / E.SR
    c = (clip if isinstance(clip, Piece) else io.load(clip)).pitched()
    if not len(c):
        return None
    t0 = float(c["onset_sec"].min())
    q = embedder.note_segments(c["pitch"], c["onset_sec"] - t0, c["duration_sec"], c["velocity"], np.array([0.0]))
    return q[0], float((c["onset_sec"] + c["duration_sec"]).max() - t0)


def embed_scores(query: tuple[np.ndarray, float], piece: Piece, places: list[Place], embedder: Any,
                 weight: float) -> list[float]:
    """Alignment score + `weight` × the cosine similarity between the clip's embedding (`clip_embedding`)
    and the piece's notes in each place, stretched to the clip's timeline (MIDI encoder)."""
    from .. import embed as E

    if not places:
        return []
    q, clip_sec = query
    n = piece.pitched()
    segs = []
    for p in places:
        r = clip_sec / max(p.end_sec - p.start_sec, 1e-3)  # piece seconds -> clip seconds
        segs.append(E.midi_inputs(n["pitch"], (n["onset_sec"] - p.start_sec) * r, n["duration_sec"] * r,
                                  n["velocity"], 0.0))
    e = embedder.midi(*(np.stack([s[i] for s in segs]) for i in range(3)))
    return [p.score + weight * float(s) for p, s in zip(places, e @ q)]


def embed_rerank(clip: Any, piece: Piece, places: list[Place], embedder: Any, weight: float) -> list[Place]:
    """`places` re-ranked by `embed_scores` (alignment score + `weight` × embedding similarity). Scores
    stay alignment's."""
    query = clip_embedding(clip, embedder) if places else None
    if query is None:
        return places
    fused = embed_scores(query, piece, places, embedder, weight)
    return [places[i] for i in np.argsort(fused, kind="stable")[::-1]]


def ranked_places(clip: Any, feats: S.Features, piece: Piece, k: int, embed_weight: float) -> list[Place]:
    """The top `k` places: alignment's CANDIDATES best re-ranked with the embeddings (`embed_rerank`),
    or alignment alone when `embed_weight` is 0."""
    if not embed_weight:
        return search(feats, piece, k)
    from ..embed import Embedder

    return embed_rerank(clip, piece, search(feats, piece, max(k, CANDIDATES)), Embedder.load(), embed_weight)[:k]


def locate_in(clip: Any, pieces: Sequence[str | os.PathLike[str]], k: int = 5,
              on_error: Callable[[Any, SymbolicAIError], None] | None = None,
              embed_weight: float = EMBED_WEIGHT) -> list[dict[str, Any]]:
    """Top `k` places of `clip` over several files (a folder's music files, say), best first: by
    alignment score, plus `embed_weight` × embedding similarity when that is > 0 (alignment's CANDIDATES
    best places of each file are then weighed; `score` stays alignment's). A file that cannot be read
    raises, or with `on_error` is reported to it and skipped."""
    from .. import io

    feats, _ = clip_features(clip)
    embedder, query = None, None
    if embed_weight:
        from ..embed import Embedder

        embedder = Embedder.load()
        query = clip_embedding(clip, embedder)
    out: list[tuple[float, dict[str, Any]]] = []
    for path in pieces:
        try:
            piece = io.load(path)
        except SymbolicAIError as exc:
            if on_error is None:
                raise
            on_error(path, exc)
            continue
        places = search(feats, piece, max(k, CANDIDATES) if query is not None else k)
        fused = embed_scores(query, piece, places, embedder, embed_weight) if query is not None else [
            p.score for p in places]
        out += [(f, {"path": str(path), **p.to_json()}) for f, p in zip(fused, places)]
    return [row for _, row in sorted(out, key=lambda r: -r[0])[:k]]


def music_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The files of `folder` (not recursive) that `io.load` reads, sorted."""
    from .. import io

    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in io.READ_SUFFIXES)


@task("locate", summary="Find where a short audio or MIDI clip sits in a longer piece: top-k places",
      input="piece", output="annotations")
def locate(piece: Piece, *, recording: Any = None,
           k: Annotated[int, Arg("how many places to return", ge=1, le=50)] = 5,
           embed_weight: Annotated[float, Arg("weight of the learned audio-MIDI embeddings (embed-v2) when ranking "
                                              "the places; 0 = alignment alone", ge=0, le=10)] = EMBED_WEIGHT
           ) -> Output:
    """Locate a clip (WAV, FLAC, OGG, MP3, or a MIDI/score file of a few seconds) in the piece.

    Result: `places`, best first, each with `start_sec`/`end_sec` and `start_beat`/`end_beat` on the
    piece's own timeline and a `score` (0..1, alignment's); `clip` names the clip. Places are ranked
    by that score plus `embed_weight` times the embeddings' similarity. The piece comes back with a
    `locate` annotation over each place (value: rank and score)."""
    from ..piece import Annotation

    feats, source = clip_features(recording)
    places = ranked_places(recording, feats, piece, k, embed_weight)
    notes = [Annotation("locate", p.start_beat, max(p.end_beat, p.start_beat), {"rank": i + 1, "score": p.score})
             for i, p in enumerate(places) if np.isfinite(p.start_beat)]
    return Output(piece.annotate(notes, replace_kinds=("locate",)),
                  {"clip": source, "best_score": places[0].score if places else 0.0,
                   "places": [p.to_json() for p in places]})
