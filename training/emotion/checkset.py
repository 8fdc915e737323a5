"""The score check set: weak arousal labels from the tempo and character words printed in scores.

A movement marked Grave, Largo, Larghetto, Adagio, Lento or mesto is read as low arousal; one marked
Allegro, Vivace, Presto, agitato or con fuoco as high (German: langsam low; rasch, lebhaft,
aufgeregt high; a word of both kinds, or neither, leaves the
movement out: Andante, Moderato, Allegretto, Menuetto say too little). The input the model sees
has the markings removed: every note at velocity 64, one tempo of 120 quarter notes a minute (what
a notation program exports when there is no metronome mark) and no text, cut to the first
EXCERPT_BEATS quarter notes (where the opening marking holds).

Sources:
- the music21 corpus (installed with music21): the movements whose score carries such a word at the
  start (`music21` tempo marks and text expressions in the first two bars), found by a scan of the
  corpus files;
- ASAP (`../shared/data/asap`, CC BY-NC-SA 4.0): the score MIDI of the movements in ASAP_MARKINGS,
  whose score MIDI files carry no words (every one is at 120 qpm, velocities flat): the opening
  marking of each movement as printed in the standard editions is listed in the table below.

The set is split in two by a hash of the piece (`split`: "valid" for selection, "test" reported);
`python -m training emotion checkset` prints its size and the words.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symbolic_ai.piece import Piece, Tempo
from symbolic_ai.tasks.emotion import HIGH_AROUSAL_WORDS, LOW_AROUSAL_WORDS, arousal_of_words

EXCERPT_BEATS = 64.0
LOW, HIGH = LOW_AROUSAL_WORDS, HIGH_AROUSAL_WORDS
CACHE = Path("runs/emotion6/checkset.pkl")
# ASAP movements with an unambiguous opening marking (folder → printed tempo words)
ASAP_MARKINGS = {
    "Beethoven/Piano_Sonatas/1-1": "Allegro", "Beethoven/Piano_Sonatas/2-1": "Allegro vivace",
    "Beethoven/Piano_Sonatas/3-1": "Allegro con brio", "Beethoven/Piano_Sonatas/3-2": "Adagio",
    "Beethoven/Piano_Sonatas/5-1": "Allegro molto e con brio", "Beethoven/Piano_Sonatas/7-2": "Largo e mesto",
    "Beethoven/Piano_Sonatas/8-2": "Adagio cantabile", "Beethoven/Piano_Sonatas/8-3": "Rondo. Allegro",
    "Beethoven/Piano_Sonatas/9-1": "Allegro", "Beethoven/Piano_Sonatas/10-1": "Allegro",
    "Beethoven/Piano_Sonatas/11-2": "Adagio con molta espressione", "Beethoven/Piano_Sonatas/16-1": "Allegro vivace",
    "Beethoven/Piano_Sonatas/17-2": "Adagio", "Beethoven/Piano_Sonatas/18-1": "Allegro",
    "Beethoven/Piano_Sonatas/18-4": "Presto con fuoco", "Beethoven/Piano_Sonatas/21-2": "Introduzione. Adagio molto",
    "Beethoven/Piano_Sonatas/24-2": "Allegro vivace", "Beethoven/Piano_Sonatas/29-2": "Scherzo. Assai vivace",
    "Beethoven/Piano_Sonatas/31-2": "Allegro molto",
    "Chopin/Etudes_op_10/3": "Lento ma non troppo", "Chopin/Etudes_op_10/4": "Presto con fuoco",
    "Chopin/Etudes_op_10/5": "Vivace", "Chopin/Etudes_op_10/8": "Allegro", "Chopin/Etudes_op_10/12": "Allegro con fuoco",
    "Chopin/Etudes_op_25/2": "Presto", "Chopin/Etudes_op_25/4": "Agitato", "Chopin/Etudes_op_25/5": "Vivace",
    "Chopin/Etudes_op_25/7": "Lento", "Chopin/Etudes_op_25/8": "Vivace", "Chopin/Etudes_op_25/12": "Molto allegro, con fuoco",
    "Chopin/Etudes_op_10/1": "Allegro", "Chopin/Etudes_op_10/2": "Allegro", "Chopin/Etudes_op_10/7": "Vivace",
    "Chopin/Etudes_op_10/10": "Vivace assai", "Chopin/Etudes_op_25/1": "Allegro sostenuto",
    "Chopin/Etudes_op_25/10": "Allegro con fuoco",
    "Chopin/Scherzos/31": "Presto", "Chopin/Scherzos/39": "Presto con fuoco",
    "Chopin/Sonata_2/3rd": "Marche funèbre. Lento", "Chopin/Sonata_2/4th": "Finale. Presto",
    "Chopin/Sonata_3/2nd": "Scherzo. Molto vivace", "Chopin/Sonata_3/3rd": "Largo",
    "Chopin/Sonata_3/4th": "Finale. Presto non tanto", "Mozart/Piano_Sonatas/8-1": "Allegro maestoso",
    "Mozart/Piano_Sonatas/12-1": "Allegro", "Mozart/Piano_Sonatas/12-2": "Adagio",
    "Mozart/Piano_Sonatas/12-3": "Allegro assai", "Rachmaninoff/Preludes_op_32/10": "Lento",
    "Schubert/Impromptu_op.90_D.899/2": "Allegro", "Schubert/Moment_musical_no_3": "Allegro moderato",
    "Schubert/Piano_Sonatas/664-1": "Allegro moderato", "Schubert/Piano_Sonatas/664-3": "Allegro",
    "Schumann/Kreisleriana/3": "Sehr aufgeregt", "Schumann/Kreisleriana/4": "Sehr langsam",
    "Schumann/Kreisleriana/5": "Sehr lebhaft", "Schumann/Kreisleriana/6": "Sehr langsam",
    "Schumann/Kreisleriana/7": "Sehr rasch",
}


@dataclass
class CheckItem:
    """One excerpt: its id, source, the marking it was labelled from, arousal (+1 / −1) and split."""

    id: str
    source: str
    marking: str
    arousal: int
    split: str
    piece: Piece


arousal_of = arousal_of_words


def deadpan_score(piece: Piece, beats: float = EXCERPT_BEATS) -> Piece:
    """The first `beats` quarter notes of `piece` with the markings removed: velocity 64, 120 qpm, no text."""
    n = piece.notes[np.isfinite(piece.notes["onset_beat"]) & (piece.notes["onset_beat"] < beats)].copy()
    n["velocity"] = 64
    n["onset_sec"] = n["duration_sec"] = np.nan
    return piece.replace(notes=n, tempos=(Tempo(0.0, 120.0),), annotations=(),
                         metadata={"source": piece.metadata.get("source", "")})


def split_of(key: str) -> str:
    return "valid" if int(hashlib.md5(key.encode()).hexdigest(), 16) % 2 == 0 else "test"


def raw_text(path: Path) -> str:
    """The lower-cased text of a score file (the XML inside an .mxl archive)."""
    import zipfile

    if path.suffix != ".mxl":
        return path.read_bytes().decode("latin1").lower()
    with zipfile.ZipFile(path) as z:
        return " ".join(z.read(n).decode("utf8", "ignore") for n in z.namelist()
                        if n.endswith("xml") and not n.startswith("META")).lower()


def opening_words(path: Path) -> str:
    """The tempo and expression words in the first two bars of a corpus score (music21)."""
    import music21

    s = music21.converter.parse(str(path))
    if isinstance(s, music21.stream.Opus):
        return ""
    words = []
    for el in s.recurse().getElementsByClass((music21.tempo.TempoIndication, music21.expressions.TextExpression)):
        m = el.getContextByClass(music21.stream.Measure)
        if m is None or m.number <= 1:
            words.append(getattr(el, "text", None) or getattr(el, "content", None) or "")
    return " ".join(w for w in words if w)


def music21_items() -> list[CheckItem]:
    import music21

    from symbolic_ai.io import load

    root = Path(music21.__file__).parent / "corpus"
    out = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".mxl", ".xml", ".musicxml", ".krn") or "bach/bwv" in str(path):
            continue
        if not any(w in raw_text(path) for w in LOW + HIGH):  # a fast scan before music21 parses the file
            continue
        try:
            words = opening_words(path)
        except Exception:  # music21 cannot read every corpus file; they are left out
            continue
        a = arousal_of(words)
        if a is None:
            continue
        rel = str(path.relative_to(root))
        try:
            piece = deadpan_score(load(path))
        except Exception:
            continue
        if len(np.unique(piece.pitched()["pitch"])) >= 2:
            out.append(CheckItem(f"music21:{rel}", "music21 corpus", words.strip()[:80], a, split_of(rel), piece))
    return out


def asap_items(root: Path) -> list[CheckItem]:
    from symbolic_ai.io import load

    out = []
    for folder, words in ASAP_MARKINGS.items():
        path = root / "asap" / folder / "midi_score.mid"
        if not path.exists():
            continue
        a = arousal_of(words)
        assert a is not None, words
        out.append(CheckItem(f"asap:{folder}", "ASAP score MIDI", words, a, split_of(folder), deadpan_score(load(path))))
    return out


def load_checkset(cache: Path = CACHE) -> list[CheckItem]:
    """Every check item (music21 corpus + ASAP), built once and cached in runs/."""
    from symbolic_ai.data import data_root

    if cache.exists():
        return pickle.loads(cache.read_bytes())
    items = music21_items() + asap_items(Path(data_root()))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(items))
    return items


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=CACHE)
    a = ap.parse_args(argv)
    items = load_checkset(a.cache)
    print(json.dumps({"n": len(items), "by_split_and_arousal": {
        f"{s}:{v:+d}": sum(i.split == s and i.arousal == v for i in items) for s in ("valid", "test") for v in (1, -1)},
        "items": [[i.id, i.marking, i.arousal, i.split] for i in items]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
