"""Regenerate the example files from the music21 corpus (public-domain works).

    python examples/make_examples.py

chorale_bwv66_6.musicxml  Bach, "Christ unser Herr zum Jordan kam" (BWV 66.6), 4 voices
maple_leaf_rag.mid        Joplin, Maple Leaf Rag, first 16 bars, piano (score MIDI, deadpan)
maple_leaf_rag.musicxml   the same bars as MusicXML
folk_melody.abc           an Essen folk song (melody only), as ABC
folk_melody.mid           the same melody as MIDI
"""
from __future__ import annotations

import shutil
from pathlib import Path

from music21 import corpus

import symbolic_ai as sai
from symbolic_ai.io.score import from_music21

HERE = Path(__file__).parent


def main() -> None:
    chorale = corpus.parse("bwv66.6")
    chorale.write("musicxml", fp=HERE / "chorale_bwv66_6.musicxml")

    rag = corpus.parse("joplin/maple_leaf_rag").measures(0, 16)
    rag.write("musicxml", fp=HERE / "maple_leaf_rag.musicxml")
    sai.save(from_music21(rag, source="maple_leaf_rag"), HERE / "maple_leaf_rag.mid")

    essen = Path(corpus.getWork("essenFolksong/altdeu10"))
    opus = corpus.parse(str(essen))
    tune = opus.scores[0] if hasattr(opus, "scores") else opus
    abc = essen.read_text(encoding="latin-1").split("\n\n")[0].strip() + "\n"
    (HERE / "folk_melody.abc").write_text(abc)
    sai.save(from_music21(tune, source="folk_melody"), HERE / "folk_melody.mid")
    print("\n".join(sorted(p.name for p in HERE.iterdir() if p.suffix in (".mid", ".musicxml", ".abc"))))


if __name__ == "__main__":
    shutil.rmtree(HERE / "__pycache__", ignore_errors=True)
    main()
