"""POP909 (original, algorithmic chord/key labels) and POP909-CL (human-corrected chords and keys).

Chord labels in both are Harte-like strings `root:quality[/bass]` with the bass as an interval
from the root (`C:maj/3` = C major over E), in the POP909 vocabulary (`QUALITIES`); `N` = no chord.
Key labels are `key` annotations such as "Eb minor".
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..piece import Annotation, Piece
from .base import Example, load_file, read_csv, sec_spans_to_beats

ROOTS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
BASS_DEGREES = ["1", "b2", "2", "b3", "3", "4", "b5", "5", "b6", "6", "b7", "7"]
QUALITIES: dict[str, tuple[int, ...]] = {  # the POP909 chord vocabulary, as interval sets
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "sus2": (0, 2, 7),
    "sus4": (0, 5, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10),
    "maj6": (0, 4, 7, 9), "min6": (0, 3, 7, 9), "hdim7": (0, 3, 6, 10), "dim7": (0, 3, 6, 9),
    "minmaj7": (0, 3, 7, 11), "sus4(b7)": (0, 5, 7, 10),
}
CL_EXCLUDED = ("367", "658")  # 367 has no chord track, 658 has no score (SOURCE.md)


def _splits(root: Path) -> list[dict[str, str]]:
    return read_csv(root.parent / "pop909" / "splits.csv")


def key_label(text: str) -> str:
    """'Eb:min' → 'Eb minor'; 'Gb:maj' → 'Gb major'."""
    tonic, _, mode = text.strip().partition(":")
    if not tonic or tonic[0] not in "ABCDEFG" or tonic[1:] not in ("", "#", "b") or mode[:3] not in ("maj", "min"):
        raise InputError(f"not a POP909 key label: {text!r}")
    return f"{tonic} {'minor' if mode.startswith('min') else 'major'}"


def _read_spans(path: Path) -> list[tuple[float, float, str]]:
    spans = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            spans.append((float(parts[0]), float(parts[1]), parts[2]))
        except (IndexError, ValueError):
            raise InputError(f"{path}:{i}: expected 'start_sec end_sec label', got {line!r}") from None
    return spans


def _load_pop909(ex: Example) -> Piece:
    piece = load_file(ex.path)
    chords = _read_spans(Path(ex.labels["chord_file"]))
    keys = [(s, e, key_label(k)) for s, e, k in _read_spans(Path(ex.labels["key_file"]))]
    return piece.annotate(sec_spans_to_beats(piece, chords, "chord") + sec_spans_to_beats(piece, keys, "key"),
                          replace_kinds=("chord", "key"))


def pop909(root: Path) -> Iterator[Example]:
    """POP909 songs: MIDI with MELODY/BRIDGE/PIANO tracks, `chord` and `key` annotations."""
    for r in _splits(root):
        sid = r["song_id"]
        folder = root / "POP909" / sid
        yield Example(id=sid, dataset="pop909", split=r["split"], path=folder / f"{sid}.mid",
                      work_id=f"pop909:{sid}",
                      labels={"chord_file": str(folder / "chord_midi.txt"), "key_file": str(folder / "key_audio.txt"),
                              "split_midibert": r["split_midibert"]},
                      loader=_load_pop909)


def decode_chord(pitches: Sequence[int]) -> str:
    """Harte-like label of a block of MIDI pitches: root and quality from the pitch-class set,
    bass from the lowest note. An exact match of a vocabulary chord wins (the one rooted on the
    bass first); otherwise the chord sharing the most pitch classes (fewest extra ones)."""
    if not len(pitches):
        return "N"
    pcs = {int(p) % 12 for p in pitches}
    bass = int(min(pitches)) % 12
    best: tuple[tuple[int, bool, bool, int], str] | None = None
    for r in range(12):
        rel = {(p - r) % 12 for p in pcs}
        for name, iv in QUALITIES.items():
            s = set(iv)
            score = (len(rel & s) - len(s - rel) - len(rel - s), r == bass, 0 in rel, -len(s))
            if best is None or score > best[0]:
                best = (score, f"{ROOTS[r]}:{name}")
    assert best is not None
    label = best[1]
    root = ROOTS.index(label.split(":")[0])
    return label if bass == root else f"{label}/{BASS_DEGREES[(bass - root) % 12]}"


def chord_track_spans(notes: np.ndarray) -> list[tuple[float, float, str]]:
    """(start_beat, end_beat, label) for each block of notes sharing an onset."""
    if not len(notes):
        return []
    onsets = np.round(notes["onset_beat"], 4)
    out = []
    for t in np.unique(onsets):
        block = notes[onsets == t]
        out.append((float(t), float((block["onset_beat"] + block["duration_beat"]).max()),
                    decode_chord(block["pitch"])))
    return out


def _load_pop909_cl(ex: Example) -> Piece:
    piece = load_file(ex.path)
    if len(piece.tracks) < 2:
        raise InputError(f"{ex.path}: expected a piano track and a chord track, found {len(piece.tracks)} track(s)")
    chord_track = len(piece.tracks) - 1  # always the last track (SOURCE.md)
    is_chord = piece.notes["track"] == chord_track
    spans = chord_track_spans(piece.notes[is_chord])
    chords = [Annotation("chord", s, e, v) for s, e, v in spans]
    end = max(piece.duration_beat, 0.0)
    ks = piece.key_signatures
    keys = []
    for i, k in enumerate(ks):
        stop = ks[i + 1].start_beat if i + 1 < len(ks) else max(end, k.start_beat)
        keys.append(Annotation("key", k.start_beat, stop, _fifths_key(k.fifths, k.mode)))
    rest = piece.replace(notes=piece.notes[~is_chord], tracks=piece.tracks[:chord_track])
    return rest.annotate(chords + keys, replace_kinds=("chord", "key"))


_MAJOR_BY_FIFTHS = ["Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"]
_MINOR_BY_FIFTHS = ["Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#", "G#", "D#", "A#"]


def _fifths_key(fifths: int, mode: str) -> str:
    minor = mode == "minor"
    return f"{(_MINOR_BY_FIFTHS if minor else _MAJOR_BY_FIFTHS)[fifths + 7]} {'minor' if minor else 'major'}"


def pop909_cl(root: Path) -> Iterator[Example]:
    """POP909-CL songs (without 367 and 658): piano part, decoded `chord` and `key` annotations."""
    for r in _splits(root):
        sid = r["song_id"]
        if sid in CL_EXCLUDED:
            continue
        path = root / "POP909_processed" / f"{sid}.mid"
        if not path.exists() and (root / "POP909_processed" / f"{sid} .mid").exists():
            path = root / "POP909_processed" / f"{sid} .mid"  # upstream names song 043 "043 .mid"
        yield Example(id=sid, dataset="pop909_cl", split=r["split"], path=path,
                      work_id=f"pop909:{sid}", labels={}, loader=_load_pop909_cl)
