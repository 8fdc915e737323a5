"""The one set of limits on a Piece and on what the readers accept.

Every reader checks these before it does work that grows with them, the `Piece` constructor
enforces them, and the daemon's OSC checks and JSON/OpenAPI schemas are derived from them
(`bridges/wire.py`, `symbolic_ai/io/schema.py`). Change a limit here and every edge follows.
"""
from __future__ import annotations

MAX_BEATS = 100_000.0          # span of a piece in quarter notes: about 14 hours at 120 qpm
MAX_SECONDS = 100_000.0        # span of a piece in seconds (about 28 hours)
MAX_BARS = 200_000             # bars from the start to the end of the piece
MAX_NOTES = 1_000_000          # notes in one Piece
MIN_QPM, MAX_QPM = 1.0, 2000.0  # tempo range, quarter notes per minute
MIN_NUMERATOR, MAX_NUMERATOR = 1, 255  # time-signature numerator (MIDI stores one byte)
DENOMINATORS = (1, 2, 4, 8, 16, 32, 64)  # time-signature denominators
MIN_PITCH, MAX_PITCH = 0, 127
MIN_VELOCITY, MAX_VELOCITY = 0, 127
MIN_FIFTHS, MAX_FIFTHS = -7, 7
MIN_PROGRAM, MAX_PROGRAM = 0, 127
MAX_TRACKS = 4096
MAX_VALUE_DEPTH = 32           # nesting of an annotation value (lists and objects)

# archives (.mxl): what a zip may inflate to, however small it is
MAX_INFLATED_BYTES = 64 * 1024 * 1024
MAX_ZIP_ENTRIES = 256
# notated formats read through music21: the input is bounded (counted before music21 sees it) so
# that the parse is bounded; music21 takes ~1 ms a note, and RomanText grows with the square of its
# bars (1,000 bars: ~30 s on a loaded 2-core machine), hence its own, lower bound
MAX_SCORE_NOTES = 50_000       # notes (MusicXML <note>, ABC note letters, kern data tokens)
MAX_SCORE_MEASURES = 20_000    # measures over all parts (MusicXML <measure>, kern barlines)
MAX_ROMANTEXT_MEASURES = 1_000  # highest measure number and measure lines in a RomanText file


def check_span(what: str, beats: float | None = None, seconds: float | None = None) -> str | None:
    """The reason `beats`/`seconds` are over the span limits, or None (NaN counts as unknown)."""
    if beats is not None and beats > MAX_BEATS:
        return f"{what} reaches beat {beats:.6g}, over the limit of {MAX_BEATS:g} beats (about 14 hours at 120 qpm)"
    if seconds is not None and seconds > MAX_SECONDS:
        return f"{what} reaches {seconds:.6g} seconds, over the limit of {MAX_SECONDS:g} seconds"
    return None
