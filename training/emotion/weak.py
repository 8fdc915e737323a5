"""Weak arousal labels for training: the opening tempo words of When-in-Rome scores (issue 16, lever 1).

A movement whose first two bars (first part) carry a tempo or character word of
`symbolic_ai.tasks.emotion.LOW_AROUSAL_WORDS` / `HIGH_AROUSAL_WORDS` (and not both) becomes one
training row of arousal only: its first WINDOW_BEATS quarter notes with the markings removed (velocity
64, 120 qpm, no text: `checkset.deadpan_score`), as the check set is built. Pieces that share a
composer and an opus (or Köchel) number with any check-set item (either half) are left out, so the
check set stays unseen. Source: `../shared/data/when_in_rome` (scores: OpenScore Lieder CC0, the
quartets and sonatas CC BY-SA 4.0 per the corpus README). `python -m training emotion weak` prints the set.
"""
from __future__ import annotations

import argparse
import json
import pickle
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from symbolic_ai.piece import Piece
from symbolic_ai.tasks.emotion import WINDOW_BEATS, arousal_of_words

CACHE = Path("runs/emotion6/weak.pkl")
MEASURES = 72  # parsed per score: enough for WINDOW_BEATS quarter notes in 2/4 and longer bars
# ASAP's Mozart sonata numbers in the check set → Köchel numbers
ASAP_MOZART_K = {"8": "310", "12": "332"}


@dataclass
class WeakItem:
    """One opening: id (When-in-Rome folder), group (composer + opus), words, arousal (+1 / −1), piece."""

    id: str
    group: str
    words: str
    arousal: int
    piece: Piece


def score_xml(path: Path) -> str:
    """The MusicXML text inside a .mxl archive."""
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith("xml") and not n.startswith("META"))
        return z.read(name).decode("utf8", "ignore")


def opening(text: str, measures: int = MEASURES) -> str:
    """The MusicXML `text` with every part cut to its first `measures` measures (a fast parse of the opening)."""
    def cut(m: re.Match[str]) -> str:
        starts = [x.start() for x in re.finditer(r"<measure[ >]", m.group(0))]
        return m.group(0) if len(starts) <= measures else m.group(0)[:starts[measures]] + "</part>"

    return re.sub(r"<part [^>]*>.*?</part>", cut, text, flags=re.S)


def opening_words_xml(path: Path) -> str:
    """The <words> of the first part's first two measures, read from the MusicXML text (no parse)."""
    text = score_xml(path)
    part = text[text.find("<part "):]
    starts = [m.start() for m in re.finditer(r"<measure[ >]", part)]
    head = part[:starts[2]] if len(starts) > 2 else part
    return " ".join(w.strip() for w in re.findall(r"<words[^>]*>([^<]*)</words>", head))


def work_key(composer: str, work: str) -> str:
    """composer surname + the first number of the work (opus or Köchel number): 'beethoven:59'."""
    nums = re.findall(r"\d+", work)
    return f"{composer.lower()}:{int(nums[0]) if nums else work.lower()}"


def checkset_works(items: list) -> set[str]:
    """Work keys of every check-set item (music21 corpus paths and ASAP folders)."""
    out = set()
    for i in items:
        src, rel = i.id.split(":", 1)
        parts = rel.split("/")
        if src == "asap" and parts[0] == "Mozart":
            out.add(f"mozart:{ASAP_MOZART_K.get(parts[2].split('-')[0], parts[2])}")
        elif src == "asap":
            out.add(work_key(parts[0], parts[1] + "/" + parts[2] if "Sonata" in parts[1] else parts[1]))
        else:
            out.add(work_key(parts[0], parts[1] if len(parts) > 1 else parts[0]))
    return out


def wir_key(folder: Path, root: Path) -> str:
    parts = folder.relative_to(root).parts  # genre, "Surname,_Given", work, [movement]
    return work_key(parts[1].split(",")[0], parts[2])


def load_weak(cache: Path = CACHE) -> list[WeakItem]:
    """Every weak item, parsed once and cached in runs/."""
    from symbolic_ai.data import data_root
    from symbolic_ai.io import load
    from training.emotion.checkset import deadpan_score, load_checkset

    if cache.exists():
        return pickle.loads(cache.read_bytes())
    root = Path(data_root()) / "when_in_rome" / "Corpus"
    banned = checkset_works(load_checkset(cache.parent / "checkset.pkl"))
    out = []
    for path in sorted(root.rglob("score.mxl")):
        if "Textbooks" in path.parts:
            continue
        words = opening_words_xml(path)
        a = arousal_of_words(words)
        key = wir_key(path.parent, root)
        if a is None or key in banned:
            continue
        try:
            with tempfile.TemporaryDirectory() as tmp:
                short = Path(tmp) / "opening.musicxml"
                short.write_text(opening(score_xml(path)))
                piece = deadpan_score(load(short), WINDOW_BEATS)
        except Exception as e:  # a score the reader cannot take is left out, and said so
            print(json.dumps({"skipped": str(path), "error": str(e)[:100]}), flush=True)
            continue
        out.append(WeakItem(str(path.parent.relative_to(root)), key, words[:80], a, piece))
        print(json.dumps({"weak": out[-1].id, "words": out[-1].words, "arousal": a}), flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(out))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=CACHE)
    a = ap.parse_args(argv)
    items = load_weak(a.cache)
    print(json.dumps({"n": len(items), "high": sum(i.arousal > 0 for i in items),
                      "groups": len({i.group for i in items})}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
