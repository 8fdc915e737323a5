"""MIDI channels for a Piece's tracks: the one rule that MIDI files (`io.midi`) and the OSC bridge's
note records share, so a track plays on the same channel everywhere."""
from __future__ import annotations

from collections.abc import Sequence

from .piece import Track

DRUM_CHANNEL = 9  # 0-based: General MIDI's channel 10


def assign_channels(tracks: Sequence[Track]) -> list[int]:
    """0-based MIDI channel of each track: drum tracks on DRUM_CHANNEL, the others cycling through
    the remaining 15 channels by track index."""
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    return [DRUM_CHANNEL if t.is_drum else free[i % len(free)] for i, t in enumerate(tracks)]
