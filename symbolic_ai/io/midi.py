"""Standard MIDI files (type 0 and 1) ⇄ Piece, with mido. Ticks are converted here and nowhere else.

Reading: one Piece track per (MIDI track, channel) that has notes or a program change, in that
order, so a type-0 file is split by channel; channel 10 is a drum kit. A note_on with velocity 0
ends a note; overlapping notes of the same pitch and channel are paired first-in, first-out.

Annotations are written as marker meta events `"<kind>: <value>"` on the conductor track (what a
DAW shows) and read back from markers of that form; an annotation ends where the next one of its
kind starts. Files written here also carry one text meta event `symbolic_ai {json}` at tick 0 with
the exact annotations, the pickup and whether the Piece had beats; when present it wins over the
markers, so Piece → MIDI → Piece keeps them exactly.

The sustain pedal is the annotation kind `pedal`: one annotation per press (start = pedal down,
end = release), written as control change 64 (127 down, 0 up) on every track's channel rather than
as markers. A file without the sidecar gets `pedal` annotations from its CC64 events (value >= 64 is
down; the presses of all tracks and channels are merged).
"""
from __future__ import annotations

import io
import json
import math
import re
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

import mido
import numpy as np
from mido.midifiles.meta import KeySignatureError

from .. import limits
from ..channels import assign_channels
from ..errors import InputError
from ..metre import NOMINAL_QPM, nominal_beats
from ..piece import Annotation, KeySignature, Piece, Tempo, TimeSignature, Track, dedupe_by_start, empty_notes
from .wire import _clean

WRITE_TPQ = 480
SIDECAR = "symbolic_ai "  # prefix of the text meta event that carries what MIDI cannot say
_KEY_NAMES_MAJOR = ["Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"]
_KEY_NAMES_MINOR = ["Abm", "Ebm", "Bbm", "Fm", "Cm", "Gm", "Dm", "Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m"]


def _parse(data: bytes, name: str) -> mido.MidiFile:
    if data[:4] != b"MThd":
        raise InputError(f"{name}: not a MIDI file (it does not start with 'MThd')")
    try:
        try:
            return mido.MidiFile(file=io.BytesIO(data), clip=True)
        except KeySignatureError:  # an impossible key signature: read the file without it
            return mido.MidiFile(file=io.BytesIO(_BAD_KEY.sub(_drop_bad_key, data)), clip=True)
    except Exception as exc:  # mido raises many types (EOFError, ValueError, …) on bad bytes
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise InputError(f"{name}: not a readable MIDI file, it may be truncated or corrupt ({reason})") from None


_BAD_KEY = re.compile(rb"\xff\x59\x02(.)(.)", re.S)


def _drop_bad_key(m: re.Match[bytes]) -> bytes:
    """A key signature meta event with sharps outside -7..7 or a mode other than 0/1 becomes a
    sequencer-specific event of the same length, which the reader ignores."""
    sharps = int.from_bytes(m.group(1), "big", signed=True)
    ok = -7 <= sharps <= 7 and m.group(2) in (b"\x00", b"\x01")
    return m.group(0) if ok else b"\xff\x7f\x02" + m.group(1) + m.group(2)


def read_midi(data: bytes, name: str = "<midi>") -> Piece:
    """Parse the bytes of a .mid file into a Piece (one track per MIDI track and channel)."""
    mf = _parse(data, name)
    if mf.type == 2:
        raise InputError(f"{name}: MIDI type 2 (independent sequences) is not supported; save it as type 1")
    tpq = mf.ticks_per_beat
    if tpq & 0x8000:
        raise InputError(f"{name}: SMPTE time division is not supported; save it with ticks per beat")
    if tpq <= 0:
        raise InputError(f"{name}: the header says 0 ticks per beat; the file is corrupt (a MIDI file needs "
                         f"1..32767 ticks per beat)")
    max_tick = limits.MAX_BEATS * tpq

    tempos: list[Tempo] = []
    tsigs: list[TimeSignature] = []
    ksigs: list[KeySignature] = []
    markers: list[tuple[float, str]] = []
    sustain: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)  # (track, channel) → (tick, value)
    sidecar: dict[str, Any] = {}
    rows: list[tuple[int, int, int, int, int, int]] = []  # start, end, pitch, velocity, track, channel
    programs: dict[tuple[int, int], int] = {}
    names: dict[int, str] = {}

    for ti, track in enumerate(mf.tracks):
        tick = 0
        open_notes: dict[tuple[int, int], deque[tuple[int, int]]] = defaultdict(deque)
        for msg in track:
            tick += msg.time
            if tick > max_tick:
                raise InputError(f"{name}: track {ti} {(limits.check_span('', beats=tick / tpq) or '').strip()}")
            t = msg.type
            if t == "note_on" and msg.velocity > 0:
                open_notes[(msg.channel, msg.note)].append((tick, msg.velocity))
            elif t == "note_off" or (t == "note_on" and msg.velocity == 0):
                q = open_notes.get((msg.channel, msg.note))
                if q:
                    start, vel = q.popleft()
                    rows.append((start, tick, msg.note, vel, ti, msg.channel))
            elif t == "program_change":
                programs.setdefault((ti, msg.channel), msg.program)
            elif t == "control_change" and msg.control == 64:
                sustain[(ti, msg.channel)].append((tick, msg.value))
            elif t == "set_tempo":
                if msg.tempo <= 0:
                    raise InputError(f"{name}: track {ti} sets a tempo of 0 microseconds per beat at beat "
                                     f"{tick / tpq:g}; the file is corrupt")
                qpm = mido.tempo2bpm(msg.tempo)
                tempos.append(Tempo(tick / tpq, min(max(qpm, limits.MIN_QPM), limits.MAX_QPM)))
            elif t == "time_signature":
                try:
                    tsigs.append(TimeSignature(tick / tpq, msg.numerator, msg.denominator))
                except InputError:
                    pass  # a malformed signature is dropped, the notes are kept
            elif t == "key_signature":
                ksigs.append(_key_from_mido(tick / tpq, msg.key))
            elif t == "track_name":
                names.setdefault(ti, msg.name.strip())
            elif t == "marker":
                markers.append((tick / tpq, msg.text))
            elif t == "text" and msg.text.startswith(SIDECAR) and not sidecar:
                sidecar = _read_sidecar(msg.text, name)
        for (ch, pitch), q in open_notes.items():  # notes never released end at the track's end
            for start, vel in q:
                rows.append((start, max(tick, start), pitch, vel, ti, ch))

    # a track per (track, channel) with notes; one without notes only if it is alone in its MIDI
    # track (an empty Piece track written by write_midi), not the program changes of a GM setup
    with_notes = {(r[4], r[5]) for r in rows}
    per_track = defaultdict(list)
    for k in programs:
        per_track[k[0]].append(k)
    empty = {ks[0] for ti, ks in per_track.items() if len(ks) == 1 and not any(k[0] == ti for k in with_notes)}
    keys = sorted(with_notes | empty)
    index = {k: i for i, k in enumerate(keys)}
    # the name of a type-0 file's only track, or of a type-1 conductor track, is the title
    title_track = 0 if mf.type == 0 or not any(k[0] == 0 for k in keys) else None
    title = names.pop(title_track, "") if title_track is not None else ""
    tracks = tuple(Track(program=programs.get(k, 0), name=names.get(k[0], ""), is_drum=k[1] == 9) for k in keys)
    rows.sort(key=lambda r: (r[0], r[2], index[(r[4], r[5])]))
    notes = empty_notes(len(rows))
    if rows:
        a = np.asarray(rows, dtype=np.int64)
        notes["onset_beat"] = a[:, 0] / tpq
        notes["duration_beat"] = (a[:, 1] - a[:, 0]) / tpq
        notes["pitch"], notes["velocity"] = a[:, 2], a[:, 3]
        notes["track"] = [index[(r[4], r[5])] for r in rows]
    piece = Piece(
        notes=notes,
        tracks=tracks or (Track(),),
        tempos=tuple(dedupe_by_start([Tempo(0.0, 120.0)] + tempos)),  # 120 qpm until the first set_tempo
        time_signatures=tuple(dedupe_by_start(tsigs)) or (TimeSignature(0.0, 4, 4),),
        key_signatures=tuple(dedupe_by_start(ksigs)),
        metadata={"source": name, "title": title, "ticks_per_beat": tpq, "midi_type": mf.type,
                  **({} if tsigs else {"time_signature_assumed": True})},
        pickup_beats=sidecar.get("pickup_beats", 0.0),
    )
    if "annotations" in sidecar:
        piece = piece.annotate(sidecar["annotations"])
    else:
        piece = piece.annotate(_annotations_from_markers(markers, piece.duration_beat))
        piece = piece.annotate(_pedal_annotations(sustain, tpq, piece.duration_beat), replace_kinds=("pedal",))
    if sidecar.get("has_beats") is False:  # a performance written at the nominal 120 qpm
        n = piece.notes.copy()
        n["onset_beat"], n["duration_beat"], n["bar"], n["beat_in_bar"] = math.nan, math.nan, -1, math.nan
        piece = piece.replace(notes=n, tempos=(), time_signatures=())
    return piece


def _read_sidecar(text: str, name: str) -> dict[str, Any]:
    """The `symbolic_ai {json}` text event written by write_midi; {} (markers are used) if unreadable."""
    try:
        d = json.loads(text[len(SIDECAR):])
        anns = [Annotation(str(a[0]), float(a[1]), float(a[2]), a[3]) for a in d.get("annotations", [])]
        out: dict[str, Any] = {"annotations": anns, "pickup_beats": float(d.get("pickup_beats", 0.0))}
        if d.get("has_beats") is False:
            out["has_beats"] = False
        return out
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, InputError):
        return {}


def _key_from_mido(beat: float, key: str) -> KeySignature:
    minor = key.endswith("m")
    table = _KEY_NAMES_MINOR if minor else _KEY_NAMES_MAJOR
    return KeySignature(beat, table.index(key) - 7, "minor" if minor else "major")


def _pedal_annotations(sustain: dict[tuple[int, int], list[tuple[int, int]]], tpq: int, end_beat: float) -> list[Annotation]:
    """`pedal` annotations (one per press, in beats) from CC64 events; presses of all channels merged."""
    from ..perform_features import pedal_spans

    spans = []
    for events in sustain.values():
        ticks, values = zip(*sorted(events, key=lambda e: e[0]))
        for down, up in pedal_spans(np.asarray(ticks), np.asarray(values)):  # up = inf: never released, held to the end
            spans.append((down, up if up != math.inf else max(down, end_beat * tpq)))
    merged: list[list[float]] = []
    for a, b in sorted(set(spans)):
        if b <= a:
            continue
        if merged and a < merged[-1][1]:  # overlapping presses (e.g. the same pedal on two channels)
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [Annotation("pedal", a / tpq, b / tpq) for a, b in merged]


def _annotations_from_markers(markers: list[tuple[float, str]], end: float) -> list[Annotation]:
    parsed = []
    for beat, text in markers:
        kind, sep, value = text.partition(": ")
        if not sep or not kind.isidentifier():
            kind, value = "marker", text
        try:
            value = json.loads(value) if value[:1] in "{[" else value
        except json.JSONDecodeError:
            pass
        parsed.append((beat, kind, value))
    out = []
    for i, (beat, kind, value) in enumerate(parsed):
        nxt = [b for b, k, _ in parsed[i + 1:] if k == kind and b > beat]
        out.append(Annotation(kind, beat, nxt[0] if nxt else max(end, beat), value))
    return out


def write_midi(piece: Piece) -> bytes:
    """Encode a Piece as a type-1 MIDI file: conductor track, then one track per Piece track."""
    p = piece if piece.has_beats else _with_nominal_tempo(piece)
    tpq = _write_tpq(p.metadata.get("ticks_per_beat"))

    def tick(beat: float) -> int:
        return int(round(beat * tpq))

    sidecar = {"version": 1, "pickup_beats": p.pickup_beats, "has_beats": piece.has_beats,
               "annotations": [[a.kind, a.start_beat, a.end_beat, a.value] for a in p.annotations]}
    conductor: list[tuple[int, int, mido.MetaMessage]] = [
        (0, -1, mido.MetaMessage("text", text=SIDECAR + json.dumps(_clean(sidecar), separators=(",", ":"))))]
    for t in p.tempos:
        conductor.append((tick(t.start_beat), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(t.qpm))))
    for ts in p.time_signatures:
        conductor.append((tick(ts.start_beat), 0, mido.MetaMessage(
            "time_signature", numerator=ts.numerator, denominator=ts.denominator)))
    for ks in p.key_signatures:
        table = _KEY_NAMES_MINOR if ks.mode == "minor" else _KEY_NAMES_MAJOR
        conductor.append((tick(ks.start_beat), 0, mido.MetaMessage("key_signature", key=table[ks.fifths + 7])))
    for a in p.annotations:
        if a.kind == "pedal":  # written as CC64 below, not as markers
            continue
        value = a.value if isinstance(a.value, str) else json.dumps(_clean(a.value), separators=(",", ":"))
        conductor.append((tick(a.start_beat), 1, mido.MetaMessage("marker", text=_latin1(f"{a.kind}: {value}"))))
    tracks = [_to_track(conductor, _latin1(str(p.metadata.get("title") or "")))]

    channels = assign_channels(p.tracks)
    for ti, tr in enumerate(p.tracks):
        ch = channels[ti]
        n = p.notes[p.notes["track"] == ti]
        events: list[tuple[int, int, mido.Message]] = [
            (0, 1, mido.Message("program_change", channel=ch, program=tr.program))]
        for note in n:
            on = tick(note["onset_beat"])
            off = max(tick(note["onset_beat"] + note["duration_beat"]), on)
            pitch, vel = int(note["pitch"]), max(1, int(note["velocity"]))
            events.append((on, 3, mido.Message("note_on", channel=ch, note=pitch, velocity=vel)))
            # at one tick, note-offs go before note-ons, except the off of a zero-length note
            events.append((off, 2 if off > on else 4, mido.Message("note_off", channel=ch, note=pitch, velocity=0)))
        for a in p.annotations_of("pedal") if not tr.is_drum else ():  # sustain pedal presses (e.g. from `perform`)
            events.append((tick(a.start_beat), 2, mido.Message("control_change", channel=ch, control=64, value=127)))
            events.append((tick(a.end_beat), 1, mido.Message("control_change", channel=ch, control=64, value=0)))
        tracks.append(_to_track(events, _latin1(tr.name)))
    mf = mido.MidiFile(type=1, ticks_per_beat=tpq)
    mf.tracks.extend(tracks)
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()


def _write_tpq(source_tpq: object) -> int:
    """480 ticks per quarter, or a multiple of it that also holds the source file's grid exactly."""
    if isinstance(source_tpq, int) and source_tpq > 0:
        both = math.lcm(WRITE_TPQ, source_tpq)
        if both <= 0x7FFF:
            return both
    return WRITE_TPQ


def _latin1(text: str) -> str:
    """MIDI text events are Latin-1 in mido: other characters become '?' (the sidecar keeps them)."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _to_track(events: list[tuple[int, int, mido.Message]], name: str = "") -> mido.MidiTrack:
    events.sort(key=lambda e: (e[0], e[1]))
    tr = mido.MidiTrack()
    if name:
        tr.append(mido.MetaMessage("track_name", name=name, time=0))
    now = 0
    for t, _order, msg in events:
        tr.append(msg.copy(time=t - now))
        now = t
    return tr


def _with_nominal_tempo(piece: Piece) -> Piece:
    """A seconds-only performance written at 120 qpm so that beats = seconds × 2."""
    n = piece.notes.copy()
    n["onset_beat"], n["duration_beat"] = nominal_beats(n["onset_sec"]), nominal_beats(n["duration_sec"])
    n["bar"], n["beat_in_bar"] = -1, math.nan
    return piece.replace(notes=n, tempos=(Tempo(0.0, NOMINAL_QPM),))


def read_midi_file(path: Path) -> Piece:
    return read_midi(path.read_bytes(), str(path))
