"""Learned audio ↔ MIDI embeddings (embed-v2): inputs of the two encoders, and the encoders through onnxruntime.

A segment is SEG_SEC seconds. Audio: log-mel frames (N_MEL bands, SR / HOP frames a second, the
segment's mean removed: gain does not matter) and the A4 descriptors: for 8 octave bands from 47 Hz
up (the top band ends at the Nyquist frequency, 11.0 kHz at SR), the band mean of the log-magnitude
STFT and its temporal delta, each z-scored over the segment's frames. MIDI: the segment's notes in
onset order (at most MAX_NOTES), each a pitch and (onset, duration, velocity) scaled to 0..1, with
the D4 descriptors: the intervals to the previous and the next note, in semitones / 24, clamped to
±0.5 (an octave). Both encoders map a segment to a unit vector of DIM values; audio and MIDI of the
same music lie close (cosine similarity). Training: training/embed (VICReg); card: docs/models/embed-v2.md.
Torch-free: numpy and onnxruntime only.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import InputError

SR = 22050
N_FFT = 2048
HOP = 512
FPS = SR / HOP                       # ≈ 43 frames a second
SEG_SEC = 4.0
SEG_FRAMES = int(round(SEG_SEC * FPS))  # 172
N_MEL = 64
BAND_EDGES_HZ = tuple(47.0 * 2.0 ** k for k in range(9))  # 47 Hz .. 12 kHz: 8 octave bands
MAX_NOTES = 128
DIM = 256                            # the embedding (the VICReg expander's output, L2-normalised)
AUDIO_MODEL, MIDI_MODEL = "embed-v2-audio", "embed-v2-midi"


@lru_cache(maxsize=1)
def _mel_bank() -> np.ndarray:
    """(N_MEL, N_FFT // 2 + 1) triangular mel filters, 30 Hz .. SR / 2 (HTK mel scale)."""
    freqs = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    mel = 2595.0 * np.log10(1.0 + freqs / 700.0)
    pts = np.linspace(2595.0 * np.log10(1.0 + 30.0 / 700.0), mel[-1], N_MEL + 2)
    lo, mid, hi = pts[:-2, None], pts[1:-1, None], pts[2:, None]
    bank = np.maximum(0.0, np.minimum((mel - lo) / (mid - lo), (hi - mel) / (hi - mid)))
    out: np.ndarray = (bank / np.maximum(bank.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)
    return out


@lru_cache(maxsize=1)
def _band_bins() -> list[np.ndarray]:
    freqs = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    return [np.flatnonzero((freqs >= a) & (freqs < b)) for a, b in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:])]


def audio_frames(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames of mono audio at SR: (T, N_MEL) log-mel and (T, 8) octave-band means of the log-magnitude STFT."""
    y = np.pad(np.asarray(samples, dtype=np.float32), N_FFT // 2)
    if len(y) < N_FFT:
        y = np.pad(y, (0, N_FFT - len(y)))
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    mel = np.empty((len(frames), N_MEL), np.float32)
    bands = np.empty((len(frames), 8), np.float32)
    bank, bins = _mel_bank(), _band_bins()
    for i in range(0, len(frames), 1024):  # blocks: the complex spectrum never exists whole
        mag = np.abs(np.fft.rfft(frames[i:i + 1024] * window, axis=1)).astype(np.float32)
        mel[i:i + 1024] = np.log(mag ** 2 @ bank.T + 1e-6)
        logmag = np.log(mag + 1e-4)
        bands[i:i + 1024] = np.stack([logmag[:, b].mean(axis=1) for b in bins], axis=1)
    return mel, bands


def _zscore(x: np.ndarray, axis: int) -> np.ndarray:
    out: np.ndarray = ((x - x.mean(axis=axis, keepdims=True)) / (x.std(axis=axis, keepdims=True) + 1e-3)).astype(np.float32)
    return out


def audio_inputs(mel: np.ndarray, bands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A segment's encoder inputs from its frames: log-mel less its mean (T, N_MEL) and A4 (T, 16)."""
    a4 = np.concatenate([bands, np.diff(bands, axis=0, prepend=bands[:1])], axis=1)
    return (mel - mel.mean()).astype(np.float32), _zscore(a4, axis=0)


def midi_inputs(pitch: np.ndarray, onset_sec: np.ndarray, duration_sec: np.ndarray, velocity: np.ndarray,
                start_sec: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A segment's notes (those starting in [start_sec, start_sec + SEG_SEC)) as encoder inputs:
    pitches (MAX_NOTES,) int64 (0 = padding, else MIDI pitch + 1), (MAX_NOTES, 3) onset/duration/velocity
    in 0..1, and D4 (MAX_NOTES, 2)."""
    on = np.asarray(onset_sec, dtype=np.float64) - start_sec
    keep = np.flatnonzero((on >= 0) & (on < SEG_SEC))
    keep = keep[np.lexsort((np.asarray(pitch)[keep], on[keep]))][:MAX_NOTES]
    n = len(keep)
    p = np.zeros(MAX_NOTES, np.int64)
    num = np.zeros((MAX_NOTES, 3), np.float32)
    d4 = np.zeros((MAX_NOTES, 2), np.float32)
    if n:
        pk = np.asarray(pitch)[keep].astype(np.int64)
        p[:n] = np.clip(pk, 0, 127) + 1
        num[:n, 0] = on[keep] / SEG_SEC
        num[:n, 1] = np.minimum(np.asarray(duration_sec, dtype=np.float64)[keep], SEG_SEC) / SEG_SEC
        num[:n, 2] = np.asarray(velocity, dtype=np.float64)[keep] / 127.0
        step = np.diff(pk).astype(np.float32) / 24.0
        d4[1:n, 0] = step      # interval from the previous note
        d4[:n - 1, 1] = step   # interval to the next note
        np.clip(d4, -0.5, 0.5, out=d4)
    return p, num, d4


@dataclass
class Embedder:
    """The two ONNX encoders (embed-v2); `audio(...)` and `midi(...)` return (B, DIM) unit vectors."""

    audio_model: Any
    midi_model: Any

    @classmethod
    def load(cls, folder: str | None = None) -> Embedder:
        """The installed encoders, or those in `folder` (a folder holding both .onnx files and cards)."""
        from pathlib import Path

        from .runtime import load_model

        names = [AUDIO_MODEL, MIDI_MODEL] if folder is None else [
            str(Path(folder) / f"{n}.onnx") for n in (AUDIO_MODEL, MIDI_MODEL)]
        return cls(load_model(names[0]), load_model(names[1]))

    def audio(self, mel: np.ndarray, a4: np.ndarray) -> np.ndarray:
        """Embed (B, T, N_MEL) log-mel segments with their (B, T, 16) A4 descriptors."""
        if mel.ndim != 3 or mel.shape[2] != N_MEL or a4.shape != (*mel.shape[:2], 16):
            raise InputError(f"embed: audio inputs must be (B, T, {N_MEL}) and (B, T, 16), got "
                             f"{mel.shape} and {a4.shape}")
        out: np.ndarray = self.audio_model.run(mel=mel.astype(np.float32), a4=a4.astype(np.float32))["unit_embedding"]
        return out

    def midi(self, pitch: np.ndarray, num: np.ndarray, d4: np.ndarray) -> np.ndarray:
        """Embed (B, MAX_NOTES) pitch tokens with their (B, MAX_NOTES, 3) values and (B, MAX_NOTES, 2) D4."""
        if pitch.ndim != 2 or num.shape != (*pitch.shape, 3) or d4.shape != (*pitch.shape, 2):
            raise InputError(f"embed: MIDI inputs must be (B, N), (B, N, 3), (B, N, 2), got "
                             f"{pitch.shape}, {num.shape}, {d4.shape}")
        out: np.ndarray = self.midi_model.run(pitch=pitch.astype(np.int64), num=num.astype(np.float32),
                                              d4=d4.astype(np.float32))["unit_embedding"]
        return out

    def audio_segments(self, samples: np.ndarray, starts_sec: np.ndarray) -> np.ndarray:
        """Embeddings of the SEG_SEC segments of mono audio at SR starting at `starts_sec`."""
        mel, bands = audio_frames(samples)
        pad = max(0, int(max(starts_sec, default=0.0) * FPS) + SEG_FRAMES - len(mel))
        if pad:
            mel = np.concatenate([mel, np.full((pad, N_MEL), mel.min(), np.float32)])
            bands = np.concatenate([bands, np.repeat(bands[-1:], pad, axis=0)])
        segs = [audio_inputs(mel[s:s + SEG_FRAMES], bands[s:s + SEG_FRAMES])
                for s in (int(round(t * FPS)) for t in starts_sec)]
        return self.audio(np.stack([m for m, _ in segs]), np.stack([a for _, a in segs]))

    def note_segments(self, pitch: np.ndarray, onset_sec: np.ndarray, duration_sec: np.ndarray,
                      velocity: np.ndarray, starts_sec: np.ndarray) -> np.ndarray:
        """Embeddings of the SEG_SEC windows of notes (seconds) starting at `starts_sec`."""
        segs = [midi_inputs(pitch, onset_sec, duration_sec, velocity, float(t)) for t in starts_sec]
        return self.midi(np.stack([s[0] for s in segs]), np.stack([s[1] for s in segs]),
                         np.stack([s[2] for s in segs]))
