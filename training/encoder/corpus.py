"""The pre-training corpus: train splits of every dataset in the data root plus music21's Bach chorales.

Tokenized once into `runs/encoder/corpus-v1.npz` (tokens int16 [N, n_fields], piece offsets, sources):
parsing MusicXML with music21 is slow. Only `split == "train"` items are read; the chorales are
the When-in-Rome train chorales (by their `music21_corpus_score`), so no valid/test work leaks.
The music21 corpus's `nottingham-dataset` folder is never read (it holds the reserved test tunes).
Listing reads the split CSVs described in each SOURCE.md (the same files `symbolic_ai.data` reads),
with source ids such as `asap/<folder>` that `held_out_works` matches: that is how the shipped
corpus was built, so a rebuild gives the same corpus. Works that are train in one dataset but
valid/test in another are dropped (`held_out_works`).

    python -m training encoder corpus --out runs/encoder/corpus-v1.npz
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from symbolic_ai.data import data_root
from symbolic_ai.errors import InputError
from symbolic_ai.piece import Piece
from symbolic_ai.tokens import Tokenizer

Item = tuple[str, Callable[[], Piece]]  # (source id, loader)
# pop909_cl holds the same songs as pop909: pre-train on one copy only.
# BPS-FH (32 pieces) is left out: its 19 train pieces are kept for probes.
DATASETS = ("emopia", "vgmidi", "pop909", "nottingham", "chord_melody_dataset", "asap", "batik_mozart",
            "when_in_rome")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _loader(path: Path) -> Callable[[], Piece]:
    from symbolic_ai.io import load

    return lambda: load(path)


def _fallback(name: str, root: Path) -> Iterator[Item]:
    """Train items of `name` read straight from its split files (used until a loader is registered)."""
    d = root / name
    if name == "emopia":
        songs = {r["songID"] for r in _rows(d / "split" / "train_SL.csv")}
        for f in sorted((d / "midis").glob("*.mid")):
            if f.stem[3:].rsplit("_", 1)[0] in songs:
                yield f"emopia/{f.stem}", _loader(f)
    elif name == "vgmidi":
        for r in _rows(d / "splits.csv"):
            if r["split"] == "train":
                yield f"vgmidi/{r['id']}", _loader(d / r["midi"])
    elif name == "pop909":
        for r in _rows(d / "splits.csv"):
            if r["split"] == "train":
                yield f"pop909/{r['song_id']}", _loader(d / "POP909" / r["song_id"] / f"{r['song_id']}.mid")
    elif name == "nottingham":
        for r in _rows(d / "splits.csv"):
            if r["split"] == "train":
                yield f"nottingham/{r['midi']}", _loader(d / r["midi"])
    elif name == "chord_melody_dataset":
        for r in _rows(d / "splits.csv"):
            if r["split"] == "train":
                yield f"cmd/{r['file']}", _loader(d / "songs" / r["file"])
    elif name == "asap":
        seen = set()
        for r in _rows(d / "manifest.csv"):
            if r["split"] == "train" and r["midi_score"] not in seen:
                seen.add(r["midi_score"])
                yield f"asap/{r['folder']}", _loader(d / r["midi_score"])
    elif name == "batik_mozart":
        for r in _rows(d / "manifest.csv"):
            if r["split"] == "train":
                yield f"batik/{r['work_id']}", _loader(d / r["midi_performance"])
    elif name == "when_in_rome":  # the train chorales, from the music21 corpus
        for r in _rows(d / "splits.csv"):
            if r["split"] == "train" and r["music21_corpus_score"]:
                yield f"m21/{r['music21_corpus_score']}", _music21_loader(r["music21_corpus_score"])


def _music21_loader(name: str) -> Callable[[], Piece]:
    def load() -> Piece:
        from music21 import corpus

        from symbolic_ai.io.score import from_music21

        if "nottingham" in name.lower():
            raise InputError(f"{name}: the music21 nottingham-dataset is reserved test data")
        return from_music21(corpus.parse(name), source=name)
    return load


MOZART_K_TO_SONATA = {279: 1, 280: 2, 281: 3, 282: 4, 283: 5, 284: 6, 309: 7, 310: 8, 311: 9, 330: 10,
                      331: 11, 332: 12, 333: 13, 457: 14, 533: 15, 545: 16, 570: 17, 576: 18}


def held_out_works(root: Path) -> list[str]:
    """Source-id prefixes of train items that are valid/test works of *another* dataset.

    The per-dataset splits disagree across datasets for some works: ASAP's train split holds
    Beethoven sonatas that are BPS-FH valid/test pieces, Batik's holds Mozart movements that are
    When-in-Rome valid/test, ASAP's holds WTC I preludes/fugues and Chopin pieces that are
    When-in-Rome valid/test. Whole works (every movement) are excluded, to be safe.
    """
    out: list[str] = []
    bps = root / "bps_fh" / "splits.csv"
    if bps.exists():
        for r in _rows(bps):
            if r["split"] != "train":
                out.append(f"asap/Beethoven/Piano_Sonatas/{int(r['piece'])}-")
    wir = root / "when_in_rome" / "splits.csv"
    if wir.exists():
        import re

        for r in _rows(wir):
            if r["split"] == "train":
                continue
            f = r["folder"]
            if m := re.search(r"Mozart.*/K(\d+)/", f):
                k = int(m.group(1))
                out.append(f"batik/Mozart|K{k}-")
                if k in MOZART_K_TO_SONATA:
                    out.append(f"asap/Mozart/Piano_Sonatas/{MOZART_K_TO_SONATA[k]}-")
            elif m := re.search(r"Well-Tempered_Clavier_(I+)/(\d+)", f):
                bwv = (845 if m.group(1) == "I" else 869) + int(m.group(2))
                out += [f"asap/Bach/Prelude/bwv_{bwv}", f"asap/Bach/Fugue/bwv_{bwv}"]
            elif m := re.search(r"Chopin.*(Preludes|tudes),?_Op\.(\d+)/(\d+)", f):
                kind = "Preludes" if m.group(1) == "Preludes" else "Etudes"
                out.append(f"asap/Chopin/{kind}_op_{m.group(2)}/{int(m.group(3))}")
    return out


def is_held_out(source: str, prefixes: list[str]) -> bool:
    """True when `source` is (a movement of) a held-out work: exact match or prefix ending in '-',
    or the prefix followed by '/' or '_' (so '.../1' does not match '.../12')."""
    return any(source.startswith(p) if p.endswith("-") else
               (source == p or source.startswith(p + "/") or source.startswith(p + "_")) for p in prefixes)


def filter_cache(src: Path, dst: Path, root: Path | None = None) -> dict:
    """Copy a corpus cache without the held-out works (see `held_out_works`)."""
    z = np.load(src)
    all_tokens, all_offsets = z["tokens"], z["offsets"]  # an npz re-reads an array on every access
    prefixes = held_out_works(data_root(root))
    toks, offsets, sources, dropped = [], [0], [], []
    for i, sid in enumerate(z["sources"]):
        if is_held_out(str(sid), prefixes):
            dropped.append(str(sid))
            continue
        t = all_tokens[all_offsets[i]:all_offsets[i + 1]]
        toks.append(t)
        offsets.append(offsets[-1] + len(t))
        sources.append(str(sid))
    np.savez(dst, tokens=np.concatenate(toks), offsets=np.asarray(offsets, dtype=np.int64),
             sources=np.asarray(sources), config=z["config"])
    return {"pieces": len(sources), "tokens": int(offsets[-1]), "dropped": dropped}


def iter_train(root: Path) -> Iterator[Item]:
    """(source id, loader) for every pre-training item: train splits only, minus works that are
    valid/test in another dataset."""
    prefixes = held_out_works(root)
    for sid, load in _iter_train(root):
        if not is_held_out(sid, prefixes):
            yield sid, load


def _iter_train(root: Path) -> Iterator[Item]:
    for name in DATASETS:
        if (root / name).exists():
            yield from _fallback(name, root)


def build(out: Path, root: Path | None = None, tokenizer: Tokenizer | None = None,
          limit: int | None = None) -> dict:
    """Tokenize every train item into `out` (.npz); returns counts."""
    tk = tokenizer or Tokenizer()
    root = data_root(root)
    toks, offsets, sources, failed = [], [0], [], []
    t0 = time.time()
    for i, (sid, load) in enumerate(iter_train(root)):
        if limit and i >= limit:
            break
        try:
            t = tk.encode(load())
        except Exception as exc:  # a broken file is skipped and counted, never fatal
            failed.append(f"{sid}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        toks.append(t.astype(np.int16))
        offsets.append(offsets[-1] + len(t))
        sources.append(sid)
        if len(sources) % 200 == 0:
            print(f"{len(sources)} pieces, {offsets[-1]} tokens, {time.time() - t0:.0f} s", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, tokens=np.concatenate(toks), offsets=np.asarray(offsets, dtype=np.int64),
             sources=np.asarray(sources), config=np.asarray(str(tk.config.to_dict())))
    info = {"pieces": len(sources), "tokens": int(offsets[-1]), "failed": len(failed),
            "by_dataset": {}}
    for s, a, b in zip(sources, offsets[:-1], offsets[1:]):
        info["by_dataset"][s.split("/")[0]] = info["by_dataset"].get(s.split("/")[0], 0) + int(b - a)
    for f in failed[:20]:
        print("skipped", f, file=sys.stderr)
    return info


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/encoder/corpus-v1.npz"))
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args(argv)
    print(build(a.out, a.data_root, limit=a.limit), flush=True)


if __name__ == "__main__":
    main()
