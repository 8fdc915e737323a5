"""Access to the training and evaluation datasets (never copied into the repository).

The data root is, in order: the `root` argument (CLI `--data-root`), `$SYMBOLIC_AI_DATA`, then
`../shared/data` beside the repository or the current directory.

    from symbolic_ai.data import iter_examples
    for ex in iter_examples("emopia", split="train"):
        ex.id, ex.split, ex.work_id, ex.labels   # cheap: only the index files are read
        piece = ex.load()                        # parses the music (InputError naming the file on failure)

`work_id` identifies a piece across datasets (same work → same split); examples whose files are
absent (reserved test splits) are skipped by `iter_examples` and counted by `check`.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import classical, emotion, leadsheet, performance, pop909
from .base import SPLITS, Dataset, Example, check_split

ENV = "SYMBOLIC_AI_DATA"
_REPO = Path(__file__).resolve().parents[2]

__all__ = ["DATASETS", "SPLITS", "Dataset", "Example", "check", "data_root", "iter_examples"]


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The dataset directory to use (it may not exist: callers check)."""
    if root:
        return Path(root).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    for base in (_REPO, Path.cwd()):
        candidate = base.parent / "shared" / "data"
        if candidate.exists():
            return candidate
    return _REPO.parent / "shared" / "data"


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("emopia", "emopia", "CC BY-NC-SA 4.0", "pop-piano clips, Russell quadrant (song-level split)",
            "labels.csv", emotion.emopia),
    Dataset("vgmidi", "vgmidi", "not stated (research use)", "video-game piano phrases, quadrant",
            "splits.csv", emotion.vgmidi),
    Dataset("pop909", "pop909", "MIT", "pop songs: melody/bridge/piano, algorithmic chords and keys",
            "splits.csv", pop909.pop909),
    Dataset("pop909_cl", "pop909_cl", "MIT", "POP909 piano with human-corrected chords and keys",
            "../pop909/splits.csv", pop909.pop909_cl),
    Dataset("nottingham", "nottingham", "GPL-3.0", "folk tunes: melody + chord track, ABC key",
            "splits.csv", leadsheet.nottingham),
    Dataset("chord_melody_dataset", "chord_melody_dataset", "MIT", "lead sheets with chord symbols",
            "splits.csv", leadsheet.chord_melody_dataset),
    Dataset("when_in_rome", "when_in_rome", "CC BY-SA 4.0 (+ sources' licences)",
            "Roman-numeral analyses aligned to scores", "splits.csv", classical.when_in_rome),
    Dataset("bps_fh", "bps_fh", "GPL-3.0", "Beethoven sonata first movements, functional harmony",
            "splits.csv", classical.bps_fh),
    Dataset("asap", "asap", "CC BY-NC-SA 4.0", "piano performances aligned to score MIDI (.match)",
            "manifest.csv", performance.asap),
    Dataset("batik_mozart", "batik_mozart", "not stated (research use)",
            "Mozart sonatas played by R. Batik, aligned (.match)", "manifest.csv", performance.batik_mozart),
)}


def _dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def _folder(ds: Dataset, root: str | os.PathLike[str] | None) -> Path:
    base = data_root(root)
    folder = ds.path(base)
    if not folder.is_dir():
        raise InputError(f"dataset {ds.name!r} not found at {folder}: put the datasets in {base} "
                         f"or set ${ENV} / pass --data-root")
    return folder


def iter_examples(dataset: str, split: str | None = None,
                  root: str | os.PathLike[str] | None = None) -> Iterator[Example]:
    """The examples of `dataset` in `split` ('train', 'valid', 'test'; None = all) whose files exist."""
    ds = _dataset(dataset)
    check_split(split)
    folder = _folder(ds, root)
    for ex in ds.lister(folder):
        if (split is None or ex.split == split) and ex.path.exists():
            yield ex


def check(root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Which datasets are present under the data root, with example counts per split.

    Per dataset: `present`, `licence`, `examples` (files present, per split) and `listed` (rows of
    the split index, per split; more than `examples` where a split is reserved).
    """
    base = data_root(root)
    report: dict[str, Any] = {"root": str(base), "root_exists": base.is_dir(), "datasets": {}}
    if not base.is_dir():
        report["message"] = (f"data root {base} does not exist: put the datasets there, set ${ENV} "
                             f"or pass --data-root DIR")
        return report
    for name, ds in DATASETS.items():
        entry: dict[str, Any] = {"present": ds.path(base).is_dir(), "licence": ds.licence, "summary": ds.summary}
        if entry["present"]:
            listed = {s: 0 for s in SPLITS}
            present = {s: 0 for s in SPLITS}
            try:
                for ex in ds.lister(ds.path(base)):
                    listed[ex.split] = listed.get(ex.split, 0) + 1
                    present[ex.split] = present.get(ex.split, 0) + int(ex.path.exists())
            except (InputError, KeyError, ValueError) as exc:
                entry.update(present=False, error=str(exc))
            else:
                entry.update(examples=present, listed=listed, total=sum(present.values()))
        report["datasets"][name] = entry
    return report
