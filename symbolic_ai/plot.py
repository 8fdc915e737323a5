"""Pictures: a piano roll with a task's answer drawn on it (`result.plot()`, `piece.plot()`,
`symbolic-ai run TASK in.mid --plot out.png`). Needs matplotlib (`pip install 'symbolic_ai[plots]'`).

What is drawn comes from the Piece's annotations and the Result's data:
- `key` annotations: coloured bands behind the roll (one colour per key), named at the top;
- `chord` and `roman` annotations: chord symbols and Roman numerals in two rows over the roll;
- emotion: the result's timeline as valence and arousal curves in a panel below
  (a Piece alone shows its `emotion` labels as bands);
- perform: the performed velocities and the local tempo against the score's in panels below
  (the tempo needs the score: `result.plot(score=piece)`); `pedal` annotations as a bar under the roll.

The x axis is the piece's beats (quarter notes) when it has a beat grid, else seconds. Figures are
`matplotlib.figure.Figure` objects (no pyplot state, no GUI backend needed).
"""
from __future__ import annotations

import io
import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, require
from .io import output_stem
from .metre import nominal_sec
from .piece import Piece

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .registry import Result

ROLL_INCHES = 3.0   # height of the piano roll
PANEL_INCHES = 1.3  # height of each curve panel below it
LABEL_INCHES = 0.5  # height of the chord/Roman-numeral strip above it


def plot(obj: Piece | Result, path: str | os.PathLike[str] | None = None, *, score: Piece | None = None,
         width: float = 12.0, height: float | None = None, dpi: int = 100, title: str | None = None) -> Figure:
    """Draw a Piece, or a task Result over its Piece, as a `Figure` (`width` × `height` inches at
    `dpi`; the height grows with the panels when not given); with `path`, also save it (PNG, SVG or
    PDF by suffix, written atomically). `score` is the task's input, for `perform` curves."""
    require("matplotlib", "plots")
    from matplotlib.figure import Figure

    from .registry import Result

    if not isinstance(obj, (Piece, Result)):
        raise InputError(f"plot: expected a Piece or a Result, got {type(obj).__name__}")
    if not (isinstance(width, (int, float)) and 1 <= width <= 100 and isinstance(dpi, int) and 10 <= dpi <= 1000):
        raise InputError(f"plot: width must be 1..100 inches and dpi 10..1000, got width={width!r}, dpi={dpi!r}")
    result = obj if isinstance(obj, Result) else None
    piece = obj.piece if isinstance(obj, Result) else obj
    panels = _panels(piece, result, score)
    labels = bool(piece.annotations_of("chord") or piece.annotations_of("roman"))
    ratios = ([LABEL_INCHES] if labels else []) + [ROLL_INCHES] + [PANEL_INCHES] * len(panels)
    fig = Figure(figsize=(width, height or sum(ratios) + 0.8), dpi=dpi, layout="constrained")
    axes = fig.subplots(len(ratios), 1, sharex=True, height_ratios=ratios, squeeze=False)[:, 0]
    if labels:
        _label_strip(axes[0], piece)
        axes = axes[1:]
    roll = axes[0]
    _roll(roll, piece)
    for ax, draw in zip(axes[1:], panels):
        draw(ax)
    axes[-1].set_xlabel("beats (quarter notes)" if piece.has_beats else "seconds")
    name = title if title is not None else (f"{result.task}: " if result else "") + str(
        piece.metadata.get("title") or Path(str(piece.metadata.get("source") or "piece")).name)
    fig.suptitle(name + (f"  ({_headline(result)})" if result and _headline(result) else ""), fontsize="medium")
    if path is not None:
        save_figure(fig, path)
    return fig


def save_plot(obj: Piece | Result, path: str | os.PathLike[str], **options: Any) -> Path:
    """`plot(obj, **options)` written to `path`; the path."""
    plot(obj, path, **options)
    return Path(path)


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write a figure atomically (format from the suffix: .png, .svg, .pdf)."""
    from .io import write_atomic

    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in ("png", "svg", "pdf"):
        raise InputError(f"{path}: cannot draw a .{suffix or '(no suffix)'} picture; use .png, .svg or .pdf")
    buf = io.BytesIO()
    fig.savefig(buf, format=suffix)
    return write_atomic(path, buf.getvalue())


def plot_path(arg: str, src: Path, task: str, many: bool, clash: Collection[str] = ()) -> Path:
    """The picture of one input for `run --plot ARG`: ARG itself, or ARG/<stem>.<task>.png with several
    inputs (`<stem>_<suffix>` for the stems in `clash`, as `run -o DIR` names its outputs)."""
    out = Path(arg)
    if not many and not out.is_dir():
        return out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the folder for the pictures ({exc.strerror or exc})") from None
    return out / f"{output_stem(src, clash)}.{task}.png"


# -- the parts ---------------------------------------------------------------------------------
def _x(piece: Piece, beats: np.ndarray | float) -> np.ndarray:
    """Positions of annotation beats on the x axis (nominal beats → seconds without a beat grid)."""
    b = np.asarray(beats, dtype=float)
    return b if piece.has_beats else np.asarray(nominal_sec(b))


def _note_x(piece: Piece, notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if piece.has_beats:
        return notes["onset_beat"], notes["duration_beat"]
    return notes["onset_sec"], notes["duration_sec"]


def _roll(ax: Axes, piece: Piece) -> None:
    from matplotlib import colormaps

    n = piece.notes
    colors = colormaps["tab10"]
    for ti, track in enumerate(piece.tracks):
        sel = n[n["track"] == ti]
        if not len(sel):
            continue
        on, dur = _note_x(piece, sel)
        alpha = 0.35 + 0.65 * sel["velocity"] / 127.0
        rgba = np.tile(colors(ti % 10), (len(sel), 1))
        rgba[:, 3] = alpha
        ax.barh(sel["pitch"], np.maximum(dur, 1e-3), left=on, height=0.85, color=rgba, linewidth=0,
                label=track.name or f"track {ti}")
    for a in piece.annotations_of("key"):
        x0, x1 = _x(piece, np.array([a.start_beat, a.end_beat]))
        ax.axvspan(x0, x1, color=_key_colour(str(a.value)), alpha=0.18, linewidth=0, zorder=0)
        ax.text(x0, 1.0, f" {a.value}", transform=ax.get_xaxis_transform(), va="top", fontsize="small")
    for a in piece.annotations_of("emotion"):
        x0, x1 = _x(piece, np.array([a.start_beat, a.end_beat]))
        ax.axvspan(x0, x1, ymin=0.97, ymax=1.0, color=_quadrant_colour(str(a.value)), alpha=0.5, linewidth=0)
    for a in piece.annotations_of("pedal"):
        x0, x1 = _x(piece, np.array([a.start_beat, a.end_beat]))
        ax.axvspan(x0, x1, ymin=0.0, ymax=0.03, color="0.3", linewidth=0)
    if len(n):
        ax.set_ylim(int(n["pitch"].min()) - 2, int(n["pitch"].max()) + 3)
        on, dur = _note_x(piece, n)
        ax.set_xlim(0, float(np.nanmax(on + dur)) * 1.01 + 1e-6)
    ax.set_ylabel("pitch")
    if len(piece.tracks) > 1:
        ax.legend(loc="upper right", fontsize="x-small", ncols=min(4, len(piece.tracks)))


def _label_strip(ax: Axes, piece: Piece) -> None:
    """Chord symbols (upper row) and Roman numerals (lower row) at their starts."""
    for row, kind in ((0.7, "chord"), (0.2, "roman")):
        for a in piece.annotations_of(kind):
            text = str(a.value).split(": ")[-1] if kind == "roman" else str(a.value)
            ax.text(float(_x(piece, a.start_beat)), row, text, fontsize="x-small", clip_on=True,
                    color="black" if kind == "chord" else "0.35")
    ax.set_yticks([0.75, 0.25], ["chord", "roman"], fontsize="x-small")
    ax.set_ylim(0, 1)
    ax.tick_params(bottom=False)


def _panels(piece: Piece, result: Result | None, score: Piece | None) -> list[Any]:
    """Drawing functions for the panels under the roll, from the result's data."""
    if result is None:
        return []
    panels = []
    timeline = result.data.get("timeline")
    if result.task == "emotion" and isinstance(timeline, list) and timeline:
        panels.append(lambda ax: _emotion(ax, piece, timeline))
    if result.task == "perform":
        panels.append(lambda ax: _velocity(ax, piece, score))
        if score is not None and score.has_beats:
            panels.append(lambda ax: _tempo(ax, piece, score))
    return panels


def _emotion(ax: Axes, piece: Piece, timeline: list[dict[str, Any]]) -> None:
    mid = np.array([(w["start_beat"] + w["end_beat"]) / 2 if piece.has_beats else (w["start_sec"] + w["end_sec"]) / 2
                    for w in timeline], dtype=float)
    unit = "beat" if piece.has_beats else "sec"
    for key, colour in (("valence", "tab:orange"), ("arousal", "tab:blue")):
        values = [w[key] for w in timeline]
        ax.plot(mid, values, marker="o", color=colour, label=key)
        ax.hlines(values, [w[f"start_{unit}"] for w in timeline], [w[f"end_{unit}"] for w in timeline],
                  color=colour, alpha=0.35, linewidth=3)  # each window's span
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("emotion")
    ax.legend(loc="upper right", fontsize="x-small", ncols=2)


def _velocity(ax: Axes, perf: Piece, score: Piece | None) -> None:
    """Performed velocities (points and a running mean), the score's as a dashed line."""
    n = perf.notes[np.argsort(perf.notes["onset_sec"], kind="stable")]
    x = _note_x(perf, n)[0]
    ax.scatter(x, n["velocity"], s=4, color="tab:red", alpha=0.5, linewidths=0)
    k = max(1, min(len(n) // 10, 16))
    if len(n) >= k:
        ax.plot(x[k - 1:], np.convolve(n["velocity"], np.ones(k) / k, mode="valid"), color="tab:red", label="performed")
    if score is not None:
        sv = _by_id(score, n["id"], "velocity")
        ax.plot(x, sv, color="0.4", linestyle="--", linewidth=0.8, label="score")
    ax.set_ylim(0, 128)
    ax.set_ylabel("velocity")
    ax.legend(loc="upper right", fontsize="x-small", ncols=2)


def _tempo(ax: Axes, perf: Piece, score: Piece) -> None:
    """Local tempo (quarter notes per minute) of the performance between the score's onsets, and
    the score's tempo map dashed."""
    n = perf.notes
    beat = _by_id(score, n["id"], "onset_beat")
    ok = np.isfinite(beat)
    beats, secs = beat[ok], n["onset_sec"][ok]
    if len(beats) < 3:
        return
    uniq, first = np.unique(np.round(beats, 6), return_index=True)
    sec_at = np.array([secs[np.round(beats, 6) == b].mean() for b in uniq])
    step = max(1, len(uniq) // 40)  # about 40 points over the piece, so chords' spread does not dominate
    b, s = uniq[::step], sec_at[::step]
    with np.errstate(divide="ignore", invalid="ignore"):
        qpm = 60.0 * np.diff(b) / np.diff(s)
    good = np.isfinite(qpm) & (qpm > 0) & (qpm < 1000)
    ax.plot(((s[1:] + s[:-1]) / 2)[good], qpm[good], color="tab:green", label="performed")
    at = np.array([t.start_beat for t in score.tempos] + [float(uniq[-1])])
    ax.step(np.interp(at, uniq, sec_at), [t.qpm for t in score.tempos] + [score.tempos[-1].qpm],
            where="post", color="0.4", linestyle="--", linewidth=0.8, label="score")
    ax.set_ylabel("tempo (qpm)")
    ax.legend(loc="upper right", fontsize="x-small", ncols=2)


def _by_id(score: Piece, ids: np.ndarray, field: str) -> np.ndarray:
    """`field` of the score note with each id (NaN where the score has no such note)."""
    order = np.argsort(score.notes["id"])
    sid = score.notes["id"][order]
    pos = np.clip(np.searchsorted(sid, ids), 0, max(len(sid) - 1, 0))
    out = np.full(len(ids), np.nan)
    if len(sid):
        hit = sid[pos] == ids
        out[hit] = score.notes[field][order][pos[hit]]
    return out


def _headline(result: Result) -> str:
    """The result's main scalar answers, for the title."""
    d = result.data
    keys = {"key": ("key", "confidence"), "emotion": ("quadrant", "label", "valence", "arousal"),
            "perform": ("duration_sec",), "chords": ("key",), "harmonize": ("key", "style")}.get(result.task, ())
    return "  ".join(f"{k}={d[k]:.2f}" if isinstance(d.get(k), float) else f"{k}={d[k]}" for k in keys if k in d)


def _key_colour(name: str) -> tuple[float, float, float, float]:
    """A colour per key: hue from the tonic's place on the circle of fifths, lighter for minor."""
    from matplotlib import colormaps

    from .harmony import Key

    try:
        k = Key.parse(name)
    except InputError:
        return (0.5, 0.5, 0.5, 1.0)
    rgba: tuple[float, float, float, float] = colormaps["hsv"]((k.tonic * 7 % 12) / 12.0)
    return rgba if not k.minor else (min(1.0, rgba[0] + 0.3), min(1.0, rgba[1] + 0.3), min(1.0, rgba[2] + 0.3), 1.0)


def _quadrant_colour(label: str) -> str:
    return {"Q1": "gold", "Q2": "tab:red", "Q3": "tab:blue", "Q4": "tab:green"}.get(label[:2], "0.5")
