"""Melody-with-chords datasets: the Nottingham folk tunes and the Chord Melody Dataset lead sheets."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from ..piece import Annotation, Piece, Track
from .base import Example, load_file, load_path, read_csv
from .pop909 import chord_track_spans

ABC_MODES = {"": "major", "m": "minor", "min": "minor", "maj": "major", "ion": "ionian", "dor": "dorian",
             "phr": "phrygian", "lyd": "lydian", "mix": "mixolydian", "aeo": "minor", "loc": "locrian"}


def abc_key(text: str) -> str:
    """An ABC `K:` field as a key name: 'G' → 'G major', 'Am' → 'A minor', 'Ador' → 'A dorian'."""
    s = text.strip().split()[0] if text.strip() else ""
    if not s or s[0].upper() not in "ABCDEFG":
        raise InputError(f"not an ABC key: {text!r}")
    tonic, rest = s[0].upper(), s[1:]
    if rest[:1] in ("#", "b"):
        tonic, rest = tonic + rest[0], rest[1:]
    mode = ABC_MODES.get(rest[:3].lower())
    if mode is None:
        raise InputError(f"unknown mode {rest!r} in ABC key {text!r}")
    return f"{tonic} {'major' if mode == 'ionian' else mode}"


def _load_nottingham(ex: Example) -> Piece:
    piece = load_file(ex.path)
    if len(piece.tracks) > 2:
        raise InputError(f"{ex.path}: expected 2 tracks (melody, chords), found {len(piece.tracks)}")
    # 11 tunes have no chords: their chord track is empty, so the Piece has the melody only
    chords = [Annotation("chord", s, e, v) for s, e, v in chord_track_spans(piece.notes[piece.notes["track"] == 1])]
    key = Annotation("key", 0.0, piece.duration_beat, ex.labels["key"])
    tracks = tuple(Track(t.program, name) for t, name in zip(piece.tracks, ("melody", "chords")))
    return piece.replace(tracks=tracks).annotate(chords + [key], replace_kinds=("chord", "key"))


def nottingham(root: Path) -> Iterator[Example]:
    """Nottingham tunes: MIDI track 0 melody, track 1 chords (decoded to `chord` annotations);
    the first ABC `K:` as the `key` label. The test split is reserved (its files are absent)."""
    for r in read_csv(root / "splits.csv"):
        path = root / r["midi"]
        yield Example(id=path.stem, dataset="nottingham", split=r["split"], path=path,
                      work_id=f"nottingham:{r['group']}",
                      labels={"key": abc_key(r["abc_first_K"]), "abc_K": r["abc_first_K"], "title": r["title"],
                              "abc_file": str(root / "ABC_cleaned" / f"{r['abc_file']}.abc"), "abc_X": int(r["abc_X"])},
                      loader=_load_nottingham)



def chord_melody_dataset(root: Path) -> Iterator[Example]:
    """Lead sheets (.mxl): monophonic melody with `<harmony>` chord symbols (`chord` annotations)."""
    for r in read_csv(root / "splits.csv"):
        yield Example(id=r["song"], dataset="chord_melody_dataset", split=r["split"], path=root / "songs" / r["file"],
                      work_id=f"cmd:{r['song']}",
                      labels={"key_fifths": int(r["key_fifths"]), "n_measures": int(r["n_measures"]),
                              "n_harmony": int(r["n_harmony_tags"])},
                      loader=load_path)
