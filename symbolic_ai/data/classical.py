"""Functional-harmony datasets: When in Rome (RomanText + score) and BPS-FH (Beethoven sonatas).

Both give `roman` and `key` annotations on the score's beat axis; BPS-FH adds `degree`,
`quality` and `inversion`. Keys are named like the `key` task's output ("F# minor", "Bb major").
"""
from __future__ import annotations

import re
import warnings
import zipfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..piece import Annotation, Piece, Tempo, TimeSignature, Track, notes_from_columns
from .base import Example, read_csv


# -- When in Rome -------------------------------------------------------------------------------
def _m21_key_name(k: Any) -> str:
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"


def _measure_offsets(score: Any) -> dict[tuple[int, str], float]:
    """(measure number, suffix) → offset in quarters, from the score's first part."""
    from music21 import stream

    part = score.parts[0] if hasattr(score, "parts") and len(score.parts) else score
    out: dict[tuple[int, str], float] = {}
    for m in part.getElementsByClass(stream.Measure):
        out.setdefault((int(m.number), m.numberSuffix or ""), float(m.offset))
    return out


def align_analysis(analysis: Any, score: Any, end_beat: float, name: str = "") -> list[Annotation]:
    """`roman` and `key` annotations from a parsed RomanText analysis, placed on the score by
    measure number and offset within the measure (so pickups and time signatures follow the score)."""
    from music21 import roman, stream

    where = _measure_offsets(score)
    points: list[tuple[float, str, str]] = []
    missing = 0
    for m in analysis.parts[0].getElementsByClass(stream.Measure) if analysis.parts else []:
        base = where.get((int(m.number), m.numberSuffix or ""))
        if base is None:
            missing += 1
            continue
        for rn in m.getElementsByClass(roman.RomanNumeral):
            points.append((base + float(rn.offset), rn.figure, _m21_key_name(rn.key) if rn.key is not None else ""))
    if not points:
        raise InputError(f"{name}: no Roman numerals could be placed on the score "
                         f"({missing} analysis measures have no counterpart)")
    points.sort(key=lambda p: p[0])
    out = []
    for i, (t, fig, _) in enumerate(points):
        stop = points[i + 1][0] if i + 1 < len(points) else max(end_beat, t)
        out.append(Annotation("roman", t, max(stop, t), fig))
    out += _runs([(t, k) for t, _, k in points if k], end_beat, "key")
    return out


def _runs(points: list[tuple[float, str]], end: float, kind: str) -> list[Annotation]:
    """Merge consecutive equal labels into spans that last until the next different one."""
    out: list[list[Any]] = []
    for t, v in points:
        if out and out[-1][2] == v:
            continue
        if out:
            out[-1][1] = t
        out.append([t, None, v])
    if out:
        out[-1][1] = max(end, out[-1][0])
    return [Annotation(kind, s, max(e, s), v) for s, e, v in out]


def _parse_without_harmony(path: Path) -> Any:
    """Parse a score.mxl whose `<harmony>` elements music21 rejects (`<function>Eb.I</function>`
    in some quartets) without them: the analysis file carries the harmony anyway."""
    import music21

    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith((".xml", ".musicxml")) and not n.startswith("META-INF"))
        xml = z.read(name).decode("utf-8")
    return music21.converter.parse(re.sub(r"<harmony\b.*?</harmony>", "", xml, flags=re.S), format="musicxml")


def _corpus_score(names: list[str], path: Path) -> tuple[Any, str]:
    import music21

    for name in names:
        try:
            return music21.corpus.parse(name.strip()), f"music21 corpus {name.strip()}"
        except music21.exceptions21.CorpusException:
            continue
    raise InputError(f"{path}: none of the music21 corpus scores {', '.join(names)} is installed")


def _load_when_in_rome(ex: Example) -> Piece:
    import music21

    from ..io.score import from_music21

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus_names = ex.labels.get("music21_corpus_score")
        if corpus_names:  # "a.mxl;b.mxl" lists versions of one chorale: the first one found is used
            score, source = _corpus_score(corpus_names.split(";"), ex.path)
        else:
            source = ex.labels["score"]
            try:
                score = music21.converter.parse(source, forceSource=True)
            except music21.harmony.HarmonyException:
                score = _parse_without_harmony(Path(source))
        analysis = music21.converter.parse(str(ex.path), format="romantext")
    piece = from_music21(score, source=source)
    anns = align_analysis(analysis, score, piece.duration_beat, str(ex.path))
    return piece.annotate(anns, replace_kinds=("roman", "key"))


def when_in_rome(root: Path) -> Iterator[Example]:
    """Analysed works with an offline score (local `score.mxl` or a music21-corpus chorale).
    `path` is the analysis; the test split is reserved (its folders are absent)."""
    for r in read_csv(root / "splits.csv"):
        folder = root / "Corpus" / r["folder"]
        analysis = folder / "analysis.txt"
        if not analysis.exists() and (folder / "analysis.rntxt").exists():
            analysis = folder / "analysis.rntxt"
        labels: dict[str, Any] = {"genre": r["genre"], "folder": r["folder"]}
        if r["music21_corpus_score"]:
            labels["music21_corpus_score"] = r["music21_corpus_score"]
        else:
            labels["score"] = str(folder / "score.mxl")
        yield Example(id=r["folder"], dataset="when_in_rome", split=r["split"], path=analysis,
                      work_id=f"when_in_rome:{r['group']}", labels=labels, loader=_load_when_in_rome)


# -- BPS-FH -------------------------------------------------------------------------------------
def bps_key(text: str) -> str:
    """BPS-FH key ('f', 'c+', 'B-', 'E') → 'F minor', 'C# minor', 'Bb major', 'E major'."""
    s = text.strip()
    if not s or s[0].upper() not in "ABCDEFG" or s[1:] not in ("", "+", "-"):
        raise InputError(f"not a BPS-FH key: {text!r}")
    tonic = s[0].upper() + {"": "", "+": "#", "-": "b"}[s[1:]]
    return f"{tonic} {'minor' if s[0].islower() else 'major'}"


def _floats(path: Path, columns: int, header: bool) -> np.ndarray:
    try:
        a = np.loadtxt(path, delimiter=",", skiprows=1 if header else 0, ndmin=2, usecols=range(columns))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable BPS-FH table ({str(exc)[:120]})") from None
    if not len(a):
        raise InputError(f"{path}: the table is empty")
    return a


def _time_signature(downbeats: np.ndarray) -> TimeSignature:
    """The commonest bar length between downbeats, as n/4 (or n/8 for half-crotchet lengths)."""
    d = np.diff(downbeats)
    d = d[d > 0]
    bar = Fraction(float(np.bincount(np.round(d * 2).astype(int)).argmax()) / 2).limit_denominator(2) if len(d) else Fraction(4)
    return TimeSignature(0.0, int(bar * 2), 8) if bar.denominator == 2 else TimeSignature(0.0, int(bar), 4)


_FORMULA = re.compile(r"^=([AB])(\d+)\+(-?[\d.]+)$")


def _resolve_formulas(rows: list[dict[str, str]], path: Path) -> list[dict[str, str]]:
    """Evaluate the spreadsheet formulas left in one export (piece 17: `=A38+888` is the onset of
    spreadsheet row 38, i.e. data row 37, plus 888 crotchets: a repeated passage)."""
    cols = {"A": "onset", "B": "offset"}

    def value(i: int, col: str, depth: int = 0) -> float:
        text = rows[i][col].strip()
        m = _FORMULA.match(text)
        if not m:
            return float(text)
        j = int(m.group(2)) - 1
        if depth > 50 or not 0 <= j < len(rows):
            raise InputError(f"{path}: row {i + 2}: cannot evaluate {text!r}")
        return value(j, cols[m.group(1)], depth + 1) + float(m.group(3))

    try:
        return [{**r, "onset": str(value(i, "onset")), "offset": str(value(i, "offset"))} for i, r in enumerate(rows)]
    except ValueError as exc:
        raise InputError(f"{path}: a chord row has a bad onset or offset ({exc})") from None


def _load_bps_fh(ex: Example) -> Piece:
    folder = ex.path.parent
    notes = _floats(ex.path, 6, header=False)
    chords_rows = _resolve_formulas(read_csv(folder / "chords.csv"), folder / "chords.csv")
    if not chords_rows:
        raise InputError(f"{folder / 'chords.csv'}: no chord rows")
    db_file = folder / "dBeats.csv" if (folder / "dBeats.csv").exists() else folder / "dbeats.csv"
    downbeats = _floats(db_file, 1, header=True)[:, 0]
    first = min(float(notes[:, 0].min()), float(chords_rows[0]["onset"]), 0.0)
    shift = -first  # the pickup starts at beat 0 in the Piece
    cols = notes_from_columns(onset_beat=notes[:, 0] + shift, duration_beat=notes[:, 3],
                              pitch=notes[:, 1].astype(int), track=notes[:, 4].astype(int))
    n_tracks = int(notes[:, 4].max()) + 1
    piece = Piece(notes=cols, tracks=tuple(Track(0, f"staff {i}") for i in range(n_tracks)),
                  tempos=(Tempo(0.0, 120.0),), time_signatures=(_time_signature(downbeats),),
                  pickup_beats=shift, metadata={"source": str(folder), "title": f"BPS-FH {folder.name}"})
    anns: list[Annotation] = []
    keys = []
    for r in chords_rows:
        s, e = float(r["onset"]) + shift, float(r["offset"]) + shift
        keys.append((s, bps_key(r["key"])))
        for kind, col in (("roman", "roman_numeral"), ("degree", "degree"), ("quality", "quality"),
                          ("inversion", "inversion")):
            anns.append(Annotation(kind, s, max(e, s), int(r[col]) if kind == "inversion" else r[col]))
    end = max(float(chords_rows[-1]["offset"]) + shift, piece.duration_beat)
    return piece.annotate(anns + _runs(keys, end, "key"))


def bps_fh(root: Path) -> Iterator[Example]:
    """BPS-FH first movements: `path` is `notes.csv`; the Piece has key/roman/degree/quality/inversion."""
    for r in read_csv(root / "splits.csv"):
        n = r["piece"]
        yield Example(id=n, dataset="bps_fh", split=r["split"], path=root / "BPS_FH_Dataset" / n / "notes.csv",
                      work_id=f"Beethoven|Piano_Sonatas_{n}-1", labels={"sonata": int(n), "movement": 1},
                      loader=_load_bps_fh)
