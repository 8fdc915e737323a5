"""Audio ↔ score synchronization: shared features, DTW (librosa's), and note-onset refinement.

The recording and the score are turned into the same two features (`pitch_features`): a
semitone spectrogram (88 piano pitches; for the score, a piano-like rendering of its notes with
five partials and a decay) is log-compressed, folded into 12-bin chroma, and its half-wave
rectified increase folded into 12-bin onset chroma (in the spirit of DLNCO). The score is laid
out at its own tempo map stretched over the recording's non-silent part, and padded with
silence to the recording's length, so leading and trailing silence match silence.
`librosa.sequence.dtw` aligns the two at `dtw_fps` frames a second over a cost of cosine
distances (chroma + `onset_weight` × onset chroma).

The DTW path gives each score onset a first estimate. `refine_onsets` then places each onset
(all notes sharing a score position) at 100 frames a second within ±`window_sec` of it, by
dynamic programming over the onsets in order: reward = the onset evidence of the notes' own
pitches (partials 1, 2, 3 included), minus a pull towards the DTW estimate, minus a cost for
inter-onset intervals that differ from the DTW's, with strictly increasing times (so a
repeated chord cannot take the next strike).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError, require
from .io.audio import Audio

SR = 22050
HOP = 221                      # ≈ 10 ms at 22.05 kHz: the fine frame rate (FPS)
FPS = SR / HOP
N_FFT = 4096
LOW_PITCH, N_PITCH = 21, 88 + 24  # A0 .. C8, plus two octaves of partials above the keyboard
PARTIALS = ((0, 1.0), (12, 0.5), (19, 0.33), (24, 0.25), (28, 0.2))  # semitones above f0, weight
DECAY_SEC = 1.5                # score rendering: a note's energy decays with this time constant
COMPRESS = 100.0               # log(1 + COMPRESS * x / max)
SILENCE_DB = -45.0             # frames this far below the loudest are silence (for the active span)


@dataclass(frozen=True)
class Features:
    """Fine-rate (FPS) features: `mag` semitone magnitude spectrogram (N_PITCH, T), `pitch` its log
    compression, `onset` that one's rectified increase (for the DTW), `attack` the rectified increase
    of the energy itself (for placing onsets: with a window this long, the increase of a log peaks
    as soon as a note enters the window, tens of ms early; the energy's peaks at its centre);
    `rms_db` frame level in dB below the peak."""

    mag: np.ndarray
    pitch: np.ndarray
    onset: np.ndarray
    rms_db: np.ndarray
    attack: np.ndarray | None = None

    @property
    def frames(self) -> int:
        return int(self.pitch.shape[1])


def _filterbank() -> Any:
    """(N_PITCH, N_FFT // 2 + 1) triangular semitone filters on the STFT bins (scipy sparse)."""
    sparse = require("scipy.sparse", "audio")
    freqs = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    midi = 69 + 12 * np.log2(np.maximum(freqs, 1e-3) / 440.0)
    centers = np.arange(LOW_PITCH, LOW_PITCH + N_PITCH)[:, None]
    fb = np.maximum(0.0, 1.0 - np.abs(midi[None, :] - centers))
    fb[:, freqs < 20] = 0.0
    return sparse.csr_matrix(fb.astype(np.float32))


def stft_power(y: np.ndarray) -> np.ndarray:
    """(N_FFT // 2 + 1, T) power spectrogram, Hann window, frames centred every HOP samples."""
    sfft = require("scipy.fft", "audio")
    half = N_FFT // 2
    y = np.pad(y.astype(np.float32), half)
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    out = np.empty((N_FFT // 2 + 1, len(frames)), dtype=np.float32)
    for i in range(0, len(frames), 2048):  # blocks: the complex spectrum never exists whole
        spec = sfft.rfft(frames[i:i + 2048] * window, axis=1, workers=1)
        out[:, i:i + 2048] = (spec.real ** 2 + spec.imag ** 2).T
    return out


def _compress(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    peak = max(float(x.max()), 1e-12)
    lp = np.log1p(COMPRESS * x / peak).astype(np.float32)
    onset = np.maximum(0.0, np.diff(lp, axis=1, prepend=lp[:, :1])).astype(np.float32)
    return lp, onset


def audio_features(audio: Audio) -> Features:
    """The recording's features (resampled to SR first)."""
    power = stft_power(audio.resampled(SR).samples)
    energy = np.asarray(_filterbank() @ power, dtype=np.float32)
    rms = np.sqrt(np.mean(power, axis=0))
    rms_db = 20 * np.log10(np.maximum(rms, 1e-10) / max(float(rms.max()), 1e-10))
    mag = np.sqrt(energy)
    lp, onset = _compress(mag)
    attack = np.maximum(0.0, np.diff(energy, axis=1, prepend=energy[:, :1]))
    return Features(mag, lp, onset, rms_db, attack / max(float(attack.max()), 1e-12))


def score_features(pitches: np.ndarray, onsets_sec: np.ndarray, durations_sec: np.ndarray,
                   velocities: np.ndarray, frames: int) -> Features:
    """Features of notes (seconds on the recording's clock) rendered like a piano, `frames` long."""
    x = np.zeros((N_PITCH, frames), dtype=np.float32)
    decay = np.exp(-np.arange(int(8 * FPS)) / (DECAY_SEC * FPS)).astype(np.float32)
    for p, on, dur, vel in zip(pitches, onsets_sec, durations_sec, velocities):
        a = int(round(on * FPS))
        if a >= frames:
            continue
        n = max(1, min(int(round(max(dur, 0.05) * FPS)) + 5, len(decay), frames - a))
        amp = (float(vel) / 127.0) ** 2
        for shift, w in PARTIALS:
            k = int(p) - LOW_PITCH + shift
            if 0 <= k < N_PITCH:
                x[k, a:a + n] += amp * w * decay[:n]
    mag = np.sqrt(x)
    lp, onset = _compress(mag)
    level = x.sum(axis=0)
    rms_db = 10 * np.log10(np.maximum(level, 1e-12) / max(float(level.max()), 1e-12))
    return Features(mag, lp, onset, rms_db)


def active_span(f: Features) -> tuple[float, float]:
    """(first, last) second where the level is within SILENCE_DB of the peak."""
    loud = np.flatnonzero(f.rms_db > SILENCE_DB)
    if not loud.size:
        return 0.0, f.frames / FPS
    return loud[0] / FPS, (loud[-1] + 1) / FPS


def chroma(x: np.ndarray) -> np.ndarray:
    """(N_PITCH, T) → (12, T) by pitch class (row 0 = A: the order only has to match)."""
    c = np.zeros((12, x.shape[1]), dtype=np.float32)
    for k in range(12):
        c[k] = x[k::12].sum(axis=0)
    return c


def pooled(x: np.ndarray, factor: int, how: str = "mean") -> np.ndarray:
    """Pool (D, T) over time by `factor` (mean or max); the last partial block included."""
    T = x.shape[1]
    pad = (-T) % factor
    if pad:
        x = np.concatenate([x, np.repeat(x[:, -1:], pad, axis=1) if how == "mean" else np.zeros_like(x[:, :pad])],
                           axis=1)
    blocks = x.reshape(x.shape[0], -1, factor)
    out: np.ndarray = blocks.mean(axis=2) if how == "mean" else blocks.max(axis=2)
    return out


def _unit(x: np.ndarray, floor: float) -> np.ndarray:
    """Columns (plus `floor`) scaled to unit length."""
    x = x + floor
    out: np.ndarray = (x / np.linalg.norm(x, axis=0, keepdims=True)).astype(np.float32)
    return out


def dtw_features(f: Features, factor: int, *, onset: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Unit chroma (plus a 13th 'silence' dimension) and, optionally, unit onset chroma at FPS / factor,
    for the cosine cost. Silence is its own direction, so quiet frames match only quiet frames."""
    ch = pooled(chroma(f.mag), factor)
    ch = ch / np.maximum(np.linalg.norm(ch, axis=0, keepdims=True), 1e-9)
    quiet = pooled((f.rms_db < SILENCE_DB).astype(np.float32)[None, :], factor)
    ch = np.vstack([ch * (1 - quiet), quiet])
    on = None
    if onset:
        o = pooled(chroma(f.onset), factor, "max")
        kernel = np.sqrt(np.linspace(1.0, 0.0, 6, endpoint=False))  # a slowly decaying tail, as DLNCO's
        o = np.stack([np.convolve(r, kernel)[: o.shape[1]] for r in o])
        on = _unit(o, 1e-2 * max(float(o.max()), 1e-9))
    return _unit(ch, 1e-3), on


def dtw_path(audio: Features, score: Features, factor: int, onset_weight: float,
             diagonal_weight: float = 1.0) -> tuple[np.ndarray, float, float]:
    """DTW path (L, 2) of (audio frame, score frame) at FPS / factor, its mean cost, and the cost
    matrix's mean (the cost of an unrelated pairing: the confidence compares the two)."""
    librosa = require("librosa", "audio")
    ca, oa = dtw_features(audio, factor, onset=onset_weight > 0)
    cs, os_ = dtw_features(score, factor, onset=onset_weight > 0)
    C = 1.0 - ca.T @ cs
    if oa is not None and os_ is not None:
        C += onset_weight * (1.0 - oa.T @ os_)
    C = np.maximum(C, 0.0).astype(np.float64)
    _, wp = librosa.sequence.dtw(C=C, step_sizes_sigma=np.array([[1, 1], [0, 1], [1, 0]]),
                                 weights_mul=np.array([diagonal_weight, 1.0, 1.0]))
    wp = wp[::-1]
    return wp, float(C[wp[:, 0], wp[:, 1]].mean()), float(C.mean())


def onset_evidence(f: Features, pitches: np.ndarray) -> np.ndarray:
    """(T,) mean over `pitches` of their partials' attack strength (partials 1, 2, 3)."""
    ev = np.zeros(f.frames, dtype=np.float32)
    attack = f.onset if f.attack is None else f.attack
    for p in pitches:
        for shift, w in PARTIALS[:3]:
            k = int(p) - LOW_PITCH + shift
            if 0 <= k < N_PITCH:
                ev += w * np.sqrt(attack[k])
    return ev / max(1, len(pitches))


def refine_onsets(f: Features, groups: list[np.ndarray], guess: np.ndarray, window_sec: float,
                  pull: float = 0.5, ioi_cost: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Refined times (seconds) of onset groups (each an array of pitches) near `guess`, and each
    group's evidence contrast (0..1: how much its chosen peak stands above its window's median)."""
    K, W = len(groups), int(round(window_sec * FPS))
    offsets = np.arange(-W, W + 1)
    centre = np.round(np.asarray(guess) * FPS).astype(int)
    cand = np.clip(centre[:, None] + offsets[None, :], 0, f.frames - 1)  # (K, 2W+1) frames
    ev = np.stack([onset_evidence(f, g)[c] for g, c in zip(groups, cand)])  # (K, 2W+1)
    scale = np.maximum(np.percentile(ev, 95, axis=1, keepdims=True), 1e-6)
    reward = ev / scale - pull * np.abs(offsets)[None, :] / max(W, 1)
    acc = reward[0].copy()
    back = np.zeros((K, len(offsets)), dtype=np.int64)
    for k in range(1, K):
        step = (cand[k][:, None] - cand[k - 1][None, :]).astype(float)  # (to, from) frames
        want = (centre[k] - centre[k - 1])
        trans = acc[None, :] - ioi_cost * np.abs(step - want) / max(W, 1)
        trans[step < 1] = -np.inf
        back[k] = np.argmax(trans, axis=1)
        best = trans[np.arange(len(offsets)), back[k]]
        acc = np.where(np.isfinite(best), best, -1e9) + reward[k]
    idx = np.empty(K, dtype=np.int64)
    idx[-1] = int(np.argmax(acc))
    for k in range(K - 1, 0, -1):
        idx[k - 1] = back[k, idx[k]]
    chosen = ev[np.arange(K), idx]
    med = np.median(ev, axis=1)
    contrast = np.clip((chosen - med) / np.maximum(chosen, 1e-6), 0.0, 1.0)
    return cand[np.arange(K), idx] / FPS, contrast


def check_score(pitches: np.ndarray, what: str) -> None:
    if not len(pitches):
        raise InputError(f"{what}: the score has no pitched notes to align")
