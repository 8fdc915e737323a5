"""Emotion datasets: EMOPIA (pop-piano clips) and VGMIDI (video-game piano phrases), Russell quadrants."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .base import Example, load_path, read_csv


def emopia(root: Path) -> Iterator[Example]:
    """EMOPIA clips; the split is the official song-level one (`split_song`)."""
    for r in read_csv(root / "labels.csv"):
        yield Example(
            id=r["clip_id"], dataset="emopia", split=r["split_song"], path=root / "midis" / r["file"],
            work_id=f"emopia:{r['song_id']}",
            labels={"quadrant": r["quadrant"], "valence": int(r["valence"]), "arousal": int(r["arousal"]),
                    "song_id": r["song_id"], "split_official_clip": r["split_official_clip"] or None},
            loader=load_path)


def vgmidi(root: Path) -> Iterator[Example]:
    """VGMIDI labelled phrases (`splits.csv`, grouped by game and theme)."""
    for r in read_csv(root / "splits.csv"):
        path = root / r["midi"]
        yield Example(
            id=path.stem, dataset="vgmidi", split=r["split"], path=path, work_id=f"vgmidi:{r['group']}",
            labels={"quadrant": r["quadrant"], "valence": int(r["valence"]), "arousal": int(r["arousal"]),
                    "game": r["game"], "piece": r["piece"], "series": r["series"]},
            loader=load_path)
