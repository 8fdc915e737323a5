"""Score ↔ performance datasets: (n)ASAP and Batik-plays-Mozart.

Labels carry the paths of the score MIDI, performance MIDI and `.match` alignment; `load()` gives
the score MIDI for ASAP and the performance MIDI for Batik (whose scores exist only in `.match`).
Reading `.match` files is left to the alignment code (partitura), not done here.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .base import Example, load_path, read_csv


def _flag(text: str) -> bool | None:
    return None if text in ("", "nan") else bool(float(text))


def asap(root: Path) -> Iterator[Example]:
    """(n)ASAP performances; `path` is the score MIDI (repeats unfolded), several per piece."""
    for r in read_csv(root / "manifest.csv"):
        yield Example(
            id=f"{r['folder']}/{r['performance_id']}", dataset="asap", split=r["split"], path=root / r["midi_score"],
            work_id=r["work_id"],
            labels={"score_midi": str(root / r["midi_score"]), "performance_midi": str(root / r["midi_performance"]),
                    "match": str(root / r["match_file"]),
                    "performance_annotations": str(root / r["performance_annotations"]),
                    "score_annotations": str(root / r["midi_score_annotations"]),
                    "composer": r["composer"], "title": r["title"], "performance_id": r["performance_id"],
                    "robust_note_alignment": _flag(r["robust_note_alignment"]),
                    "beat_counts_equal": _flag(r["beat_counts_equal"])},
            loader=load_path)


def batik_mozart(root: Path) -> Iterator[Example]:
    """Batik's Mozart sonata movements; `path` is the performance MIDI."""
    for r in read_csv(root / "manifest.csv"):
        perf = root / r["midi_performance"]
        yield Example(
            id=Path(r["match_file"]).stem, dataset="batik_mozart", split=r["split"], path=perf, work_id=r["work_id"],
            labels={"performance_midi": str(perf), "match": str(root / r["match_file"]), "sonata": r["sonata"],
                    "movement": int(r["movement"])},
            loader=load_path)
