"""The pieces every dataset loader shares: `Example`, `Dataset`, CSV reading and safe loading.

Iterating a dataset reads only its small index files (CSV manifests, directory listings); music
files are parsed when `Example.load()` is called.
"""
from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..piece import Annotation, Piece

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Example:
    """One item of a dataset: where it is, which split and work it belongs to, and its labels.

    `load()` parses the file(s) into a Piece; a file that cannot be read raises InputError naming it.
    """

    id: str
    dataset: str
    split: str
    path: Path
    work_id: str
    labels: dict[str, Any] = field(default_factory=dict)
    loader: Callable[[Example], Piece] | None = field(default=None, repr=False, compare=False)

    def load(self) -> Piece:
        """The example as a Piece (with the dataset's labels as annotations where they have a time)."""
        if self.loader is None:
            raise InputError(f"{self.dataset} example {self.id!r}: no loader for {self.path}")
        try:
            piece = self.loader(self)
        except InputError:
            raise
        except Exception as exc:  # any parser failure becomes an InputError naming the file
            raise InputError(f"{self.path}: could not load {self.dataset} example {self.id!r} "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from exc
        meta = {**piece.metadata, "dataset": self.dataset, "example_id": self.id, "split": self.split,
                "work_id": self.work_id}
        return piece.replace(metadata=meta)


@dataclass(frozen=True)
class Dataset:
    """A dataset's descriptor: its folder under the data root, licence, tasks and example lister."""

    name: str
    folder: str
    licence: str
    summary: str
    split_file: str
    lister: Callable[[Path], Iterator[Example]] = field(repr=False, compare=False)

    def path(self, root: Path) -> Path:
        return root / self.folder


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file with a header; a missing or unreadable index raises InputError."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the dataset index ({exc.strerror or exc})") from None


def check_split(split: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise InputError(f"unknown split {split!r}; use one of {', '.join(SPLITS)} or None for all")


def load_file(path: Path) -> Piece:
    """`symbolic_ai.io.load` for dataset files (imported lazily to keep iteration cheap)."""
    from ..io import load

    return load(path)


def load_path(ex: Example) -> Piece:
    """The default loader: the example's own file."""
    return load_file(ex.path)


def sec_spans_to_beats(piece: Piece, spans: list[tuple[float, float, Any]], kind: str) -> list[Annotation]:
    """Annotations of `kind` from (start_sec, end_sec, value) spans, using the piece's tempo map."""
    if not spans:
        return []
    secs = np.array([[s, e] for s, e, _ in spans], dtype=float)
    beats = piece.sec_to_beat(np.clip(secs, 0.0, None))
    return [Annotation(kind, float(b[0]), float(max(b[1], b[0])), v) for b, (_, _, v) in zip(beats, spans)]

