"""Audio in: WAV, FLAC, OGG/Vorbis, MP3 (and the other formats libsndfile reads) → mono samples.

Needs the `audio` extra (soundfile, scipy; librosa for `align`'s DTW). Files are read in blocks and mixed down to mono
block by block, so a long multichannel file costs one mono copy, never the whole interleaved
file; then resampled (scipy) to the rate the caller asks for. Every failure is an
InputError that starts with the path: missing, unreadable, empty, too long, or silent.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, require

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".w64", ".rf64")
DEFAULT_SR = 22050
MAX_SECONDS = 2 * 3600.0      # longest recording read (two hours)
SILENCE_PEAK = 1e-4           # a file whose peak stays below this (-80 dBFS) is silent
BLOCK_FRAMES = 1 << 18        # frames read at a time


@dataclass(frozen=True)
class Audio:
    """Mono samples (float32, -1..1) at `sr` Hz; `source` names where they came from."""

    samples: np.ndarray
    sr: int
    source: str = ""

    def __post_init__(self) -> None:
        s = self.samples
        if not isinstance(s, np.ndarray) or s.ndim != 1:
            raise InputError(f"{self.source or 'audio'}: samples must be a 1-D numpy array (mono), "
                             f"got {type(s).__name__} {getattr(s, 'shape', '')}")
        if not (isinstance(self.sr, (int, np.integer)) and 1000 <= self.sr <= 384_000):
            raise InputError(f"{self.source or 'audio'}: sample rate must be an integer in 1000..384000 Hz, "
                             f"got {self.sr!r}")
        if s.size == 0:
            raise InputError(f"{self.source or 'audio'}: no samples")
        if not np.isfinite(s).all():
            raise InputError(f"{self.source or 'audio'}: samples contain NaN or infinity")
        object.__setattr__(self, "samples", np.ascontiguousarray(s, dtype=np.float32))

    @property
    def duration_sec(self) -> float:
        return len(self.samples) / self.sr

    @property
    def peak(self) -> float:
        return float(np.max(np.abs(self.samples)))

    def check_not_silent(self) -> Audio:
        """Self, or InputError if the peak is below -80 dBFS."""
        if self.peak < SILENCE_PEAK:
            raise InputError(f"{self.source or 'audio'}: the recording is silent (peak {self.peak:.1e}); "
                             f"check the file or its gain")
        return self

    def resampled(self, sr: int) -> Audio:
        """The same audio at `sr` Hz (scipy's polyphase filter; not soxr, whose OpenMP threads make
        processes forked afterwards, such as the daemon's workers, hang)."""
        if sr == self.sr:
            return self
        import math
        signal = require("scipy.signal", "audio")
        g = math.gcd(int(self.sr), int(sr))
        y = signal.resample_poly(self.samples, int(sr) // g, int(self.sr) // g)
        return Audio(np.asarray(y, dtype=np.float32), int(sr), self.source)


def is_audio_path(path: str | os.PathLike[str]) -> bool:
    """Whether the suffix is one the audio reader takes."""
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


def load_audio(path: str | os.PathLike[str], *, sr: int | None = DEFAULT_SR,
               max_seconds: float = MAX_SECONDS) -> Audio:
    """Read an audio file as mono float32, resampled to `sr` Hz (None keeps the file's rate).

    Refuses (InputError naming the path) a missing, empty, unreadable, over-long or silent file."""
    p = Path(path)
    from . import check_file
    check_file(p, AUDIO_SUFFIXES, "audio")
    sf = require("soundfile", "audio")
    try:
        with sf.SoundFile(str(p)) as f:
            rate, frames = int(f.samplerate), int(f.frames)
            if rate <= 0 or f.channels <= 0:
                raise InputError(f"{p}: sample rate {rate} Hz with {f.channels} channels cannot be read")
            if frames > max_seconds * rate:
                raise InputError(f"{p}: {frames / rate:.0f} s long, over the {max_seconds:g} s limit")
            blocks = [b.mean(axis=1) for b in f.blocks(blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True)]
    except InputError:
        raise
    except (RuntimeError, ValueError, TypeError, OSError, sf.LibsndfileError) as exc:
        raise InputError(f"{p}: not a readable audio file ({str(exc).splitlines()[0] if str(exc) else exc!r})") \
            from None
    samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise InputError(f"{p}: the audio has no samples")
    audio = Audio(np.nan_to_num(samples), rate, str(p)).check_not_silent()
    return audio if sr is None else audio.resampled(sr)
