"""A fresh held-out score check set (issue 16, third round): rule and target in docs/models/emotion-v6.md,
written before the set was built; read once, through `symbolic_ai.run` (`benchmarks/emotion_eval.py --sets fresh:all`).

Items are labelled as the old check set's (`checkset.arousal_of`, the opening tempo words) and cut the
same way (`checkset.deadpan_score`: the first 64 quarter notes, velocity 64, 120 qpm, no text):
- When-in-Rome movements with an opening arousal word that are not weak training items and whose work
  is in neither the old check set nor the weak training set (the late Beethoven quartets, which the
  weak set lost to a parse error: `without_analysis` removes the Roman-numeral `<harmony>` elements
  music21 cannot read); one whose excerpt also carries a marking of the other arousal kind is left out;
- ASAP score MIDI movements of other works whose printed heading gives an arousal (FRESH_ASAP).

    python -m training emotion fresh      # runs/emotion6/fresh.pkl; prints the items, not any answer
"""
from __future__ import annotations

import argparse
import json
import pickle
import re
import tempfile
from pathlib import Path

from symbolic_ai.piece import Piece
from training.emotion.checkset import EXCERPT_BEATS, CheckItem, arousal_of, deadpan_score, load_checkset
from training.emotion.weak import checkset_works, load_weak, opening, opening_words_xml, score_xml, wir_key

CACHE = Path("runs/emotion6/fresh.pkl")
# ASAP movements outside ASAP_MARKINGS and the old check set's works: heading as printed in the standard editions
FRESH_ASAP = {
    "Beethoven/Piano_Sonatas/15-4": "Rondo. Allegro ma non troppo",
    "Beethoven/Piano_Sonatas/28-1": "Etwas lebhaft und mit der innigsten Empfindung. Allegretto, ma non troppo",
    "Beethoven/Piano_Sonatas/28-2": "Lebhaft. Marschmässig. Vivace alla marcia",
    "Liszt/Concert_Etude_S145/1": "Vivace", "Liszt/Concert_Etude_S145/2": "Presto scherzando",
    "Liszt/Transcendental_Etudes/1": "Presto", "Liszt/Transcendental_Etudes/3": "Poco adagio",
}


def without_analysis(xml: str) -> str:
    """MusicXML text without its `<harmony>` elements (When in Rome's Roman numerals, which music21
    reads as chord symbols and refuses: "not a valid pitch specification")."""
    return re.sub(r"<harmony\b.*?</harmony>", "", xml, flags=re.S)


def contradicted(piece: Piece, arousal: int, beats: float = EXCERPT_BEATS) -> bool:
    """Whether a tempo or words marking in the first `beats` quarter notes gives the other arousal."""
    for a in piece.annotations:
        if a.kind in ("tempo", "words") and a.start_beat < beats:
            text = a.value.get("text", "") if isinstance(a.value, dict) else str(a.value or "")
            if text and arousal_of(text) == -arousal:
                return True
    return False


def wir_items(root: Path, banned: set[str], used: set[str]) -> list[CheckItem]:
    from symbolic_ai.io import load

    out = []
    for path in sorted(root.rglob("score.mxl")):
        rel = str(path.parent.relative_to(root))
        if "Textbooks" in path.parts or rel in used or wir_key(path.parent, root) in banned:
            continue
        words = opening_words_xml(path)
        a = arousal_of(words)
        if a is None:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            short = Path(tmp) / "opening.musicxml"
            short.write_text(without_analysis(opening(score_xml(path))))
            piece = load(short)
        if contradicted(piece, a):
            print(json.dumps({"left_out": rel, "words": words[:60], "why": "a marking of the other arousal in the excerpt"}))
            continue
        out.append(CheckItem(f"wir:{rel}", "When in Rome", words.strip()[:80], a, "fresh", deadpan_score(piece)))
    return out


def asap_items(root: Path) -> list[CheckItem]:
    from symbolic_ai.io import load

    out = []
    for folder, words in FRESH_ASAP.items():
        a = arousal_of(words)
        assert a is not None, words
        piece = deadpan_score(load(root / "asap" / folder / "midi_score.mid"))
        out.append(CheckItem(f"asap:{folder}", "ASAP score MIDI", words, a, "fresh", piece))
    return out


def load_fresh(cache: Path = CACHE) -> list[CheckItem]:
    """Every fresh item, built once and cached in runs/ (needs runs/emotion6/checkset.pkl and weak.pkl)."""
    from symbolic_ai.data import data_root

    if cache.exists():
        return pickle.loads(cache.read_bytes())
    weak = load_weak(cache.parent / "weak.pkl")
    banned = checkset_works(load_checkset(cache.parent / "checkset.pkl")) | {w.group for w in weak}
    root = Path(data_root())
    items = wir_items(root / "when_in_rome" / "Corpus", banned, {w.id for w in weak}) + asap_items(root)
    cache.write_bytes(pickle.dumps(items))
    return items


FRESH_DATA = {"dataset": "fresh held-out score check set (When in Rome: late Beethoven quartets op. 74-135; ASAP score "
                        "MIDI: Beethoven op. 28 and 101, Liszt S. 145 and Transcendental Etudes 1 and 3; arousal from "
                        "the opening tempo words, removed from the input)",
              "split": "test only, read once (rule and target written before it was built: docs/models/emotion-v6.md); "
                       "not trained on or selected with",
              "licence": "When in Rome: CC BY-SA 4.0 (new content), quartet scores per their sub-corpus (research use); "
                         "ASAP: CC BY-NC-SA 4.0"}
ROUTING = ("symbolic_ai.run('emotion', piece): the task answers with this model when the input reads as a score "
           "(input_kind 'score': onsets on a 1/12-beat grid, at most 8 velocities) and with emotion-v5 when it reads as "
           "a performance; read_as='performance' / 'score' forces either; windows of window_beats, probabilities averaged")


def describe(onnx_path: Path) -> dict:
    """Write the fresh set (dataset, split, licence) and the routing into the card of `onnx_path` (file and metadata)."""
    import onnx
    from symbolic_ai.exports import card as cards

    card = json.loads(onnx_path.with_suffix(".json").read_text())
    card["training_data"] = [d for d in card["training_data"] if d["dataset"] != FRESH_DATA["dataset"]] + [FRESH_DATA]
    card["splits"]["fresh"] = FRESH_DATA["split"]
    card["usage"] = ROUTING
    cards.write(onnx.load(str(onnx_path)), card, onnx_path)
    return dict(json.loads(onnx_path.with_suffix(".json").read_text()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--card", type=Path, default=None, metavar="ONNX",
                    help="write the fresh set and the routing into this model's card (emotion-v6 at release)")
    a = ap.parse_args(argv)
    if a.card:
        print(json.dumps({"described": str(a.card), "file_sha256": describe(a.card).get("file_sha256")}))
        return 0
    items = load_fresh(a.cache)
    print(json.dumps({"n": len(items), "high": sum(i.arousal > 0 for i in items), "low": sum(i.arousal < 0 for i in items),
                      "items": [[i.id, i.marking, i.arousal] for i in items]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
