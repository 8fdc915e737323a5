"""Bounds on notated input before music21 parses it, so that a small file cannot cost unbounded
time or memory: .mxl archives are inflated here within a size and entry-count limit, and each text
format's notes, measures and bar numbers are counted against `symbolic_ai.limits` first."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from .. import limits as L
from ..errors import InputError

_CHUNK = 1 << 20


def inflate_mxl(path: Path) -> bytes:
    """The score inside an .mxl (the container's rootfile, else its first .xml/.musicxml), read in
    chunks and refused once it passes `MAX_INFLATED_BYTES`, whatever the zip headers claim."""
    try:
        with zipfile.ZipFile(path) as z:
            entries = z.infolist()
            if len(entries) > L.MAX_ZIP_ENTRIES:
                raise InputError(f"{path}: the archive holds {len(entries)} entries, over the limit of "
                                 f"{L.MAX_ZIP_ENTRIES}")
            names = [e.filename for e in entries]
            root = _rootfile(z, names) or next(
                (n for n in names if not n.startswith("META-INF/") and n.lower().endswith((".xml", ".musicxml"))),
                None)
            if root is None:
                raise InputError(f"{path}: the archive holds no MusicXML score")
            return _read_bounded(z, root, path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .mxl archive ({exc})") from None


def _rootfile(z: zipfile.ZipFile, names: list[str]) -> str | None:
    if "META-INF/container.xml" not in names:
        return None
    text = _read_bounded(z, "META-INF/container.xml", Path(z.filename or ""), limit=65536)
    try:
        for el in ElementTree.fromstring(text).iter():
            if el.tag.rsplit("}", 1)[-1] == "rootfile" and el.get("full-path") in names:
                return el.get("full-path")
    except ElementTree.ParseError:
        return None
    return None


def _read_bounded(z: zipfile.ZipFile, name: str, path: Path, limit: int = L.MAX_INFLATED_BYTES) -> bytes:
    out = bytearray()
    with z.open(name) as fh:
        while chunk := fh.read(_CHUNK):
            out += chunk
            if len(out) > limit:
                raise InputError(f"{path}: {name} inflates to more than {limit / 2**20:g} MiB, over the limit "
                                 f"for a compressed score")
    return bytes(out)


_ABC_QUOTED = re.compile(rb'"[^"\n]*"|![^!\n]*!|\+[^+\n]*\+')
_ABC_NOTE = re.compile(rb"[_=^]*[A-Ga-gz][,']*")
_RN_MEASURE = re.compile(rb"^\s*m(\d+)", re.MULTILINE)


def check_score(data: bytes, fmt: str, name: str) -> None:
    """Refuse a notated file with more notes, measures or bar numbers than the limits allow."""
    if fmt == "musicxml":
        _most(data.count(b"<note"), L.MAX_SCORE_NOTES, "notes", name)
        _most(data.count(b"<measure"), L.MAX_SCORE_MEASURES, "measures", name)
    elif fmt == "abc":
        lines = [ln for ln in data.splitlines() if not re.match(rb"^\s*([A-Za-z]:|%)", ln)]
        body = _ABC_QUOTED.sub(b"", b"\n".join(lines))
        _most(len(_ABC_NOTE.findall(body)), L.MAX_SCORE_NOTES, "notes", name)
    elif fmt == "humdrum":
        rows = [ln for ln in data.splitlines() if ln and not ln.startswith((b"!", b"*"))]
        _most(sum(1 for ln in rows if ln.startswith(b"=")), L.MAX_SCORE_MEASURES, "barlines", name)
        _most(sum(ln.count(b"\t") + 1 for ln in rows if not ln.startswith(b"=")), L.MAX_SCORE_NOTES,
              "data tokens", name)
    elif fmt == "romantext":
        numbers = [int(m) for m in _RN_MEASURE.findall(data)]
        _most(len(numbers), L.MAX_ROMANTEXT_MEASURES, "measure lines", name)
        if numbers and max(numbers) > L.MAX_ROMANTEXT_MEASURES:
            raise InputError(f"{name}: measure number m{max(numbers)} is over the limit of "
                             f"{L.MAX_ROMANTEXT_MEASURES} measures for RomanText (split the analysis)")


def _most(count: int, limit: int, what: str, name: str) -> None:
    if count > limit:
        raise InputError(f"{name}: {count} {what}, over the limit of {limit} for a score read through music21 "
                         f"(split the file, or convert it to MIDI)")
