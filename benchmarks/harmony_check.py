"""A musician's check set for `chords` and `harmonize` (issue 15); prints one JSON object.

Rules and targets, written down before any figure was looked at (session 6, 13:55):

Grid. Bars and beats are counted from the barlines (`Piece.bar_starts`, which follows the pickup
and every time signature); a *beat* is a quarter note in x/4, a half note in x/2, a dotted
quarter in 6/8, 9/8, 12/8 (an eighth in other x/8); a *half bar* exists in bars of an even
number of beats. With default settings:
- `grid.chords_off` — chord symbols of `harmonize` starting neither on a barline nor a half bar;
- `grid.acc_off_beat` — accompaniment onsets (default pattern) not on a beat;
- `grid.acc_across_bar` — accompaniment notes that sound across a barline (tied in MusicXML);
counted over the pickup cases: fiddle tunes and chorale sopranos of the music21 corpus (with
and without pickups, 2/4, 2/2, 6/8, 9/8, 3/4, 4/4) and built melodies with pickups of an eighth,
a quarter and a dotted quarter in 2/4, 3/4, 4/4 and 6/8 plus one with a time-signature change.
Target: 0 on all three.

Named cases (`cases`, each true or false; target all true): Haste to the Wedding and BWV 269
chords start on the grid; K. 545 bar 2 has V43 (G7/D) and bar 3 IV64 (F/C); BWV 351 labels its
F#-bass diminished seventh `F#dim7` (root F#); the final chord of BWV 40.8, 65.2 and 351 reads
`I` (Picardy third), and BWV 40.8 beat 0 is F minor; the Maple Leaf Rag's first Eb7 starts on a
barline; a slightly polyphonic one-part melody is harmonized with a warning, not refused; the
four n-best progressions of Soldier's Joy are distinct and carry timing.

Harmonize sets (default settings; `nottingham` = Nottingham valid, 97 tunes with their chords;
`chorale` = When-in-Rome valid Bach chorale sopranos with their analyses; `fiddle` = the corpus
fiddle tunes above, no reference):
- `on_beat_tone` — melody notes starting on a beat that are tones of the chord sounding there
  (pooled). Target on Nottingham >= 0.80; elsewhere: higher is better.
- `changes_on_grid` — chord changes on a barline or half bar (higher is better);
- `cadence` — phrase ends with a cadence: the chord on the last downbeat of a phrase is the tonic
  (of the `key` task's key of the melody) reached from V, V7, vii°, IV or ii, or at an inner
  phrase end the dominant (half cadence). Phrases: the whole piece, and 8-bar phrases in pieces of
  8k full bars. Higher is better;
- `change_rate` — output chord changes / reference chord changes (pooled); better = closer to 1;
- `longest_held_bars` — mean over pieces of the longest held chord in bars (better = closer to the
  reference's value, `ref_longest_held_bars`);
- `held4_vs_ref` — share of pieces where one output chord is held 4+ bars while the reference
  changes inside it (lower is better; target 0).

Chords sets (BPS-FH valid, When-in-Rome valid; `chords` default settings): frame accuracy every
1/8 quarter note of root, quality, bass, inversion, Roman figure in the reference key, local key.
Better = higher; no line may drop by more than 0.5 points.

    python benchmarks/harmony_check.py [--runs runs] [--skip-chords]
Needs /work/shared/data (Nottingham, When-in-Rome, BPS-FH) and the music21 corpus; datasets are
read through `training.common.chord_data` (cached in runs/chord_examples_*.pkl when present).
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the workbench, training/, is at the repo root

import symbolic_ai as sai
from symbolic_ai import harmony
from symbolic_ai.errors import SymbolicAIError
from symbolic_ai.piece import Piece, Tempo, TimeSignature, Track, notes_from_columns

FIDDLE = ("HasteToTheWeddingJig", "SoldiersJoy", "AcrobatsHornpipe", "AndrewCareysSlipjig", "BanishMisfortune",
          "ArkansasTravellerReel", "BlackberryBlossomReel", "AnnieHughesJig")
CHORALES = ("bwv269", "bwv351", "bwv40.8", "bwv65.2")
EPS = 1e-6


def corpus(name: str) -> Piece:
    from music21 import corpus as m21

    return sai.load(str(m21.getWork(name)))


def soprano(piece: Piece) -> Piece:
    n = piece.notes[piece.notes["track"] == 0].copy()
    n["track"] = 0
    return piece.replace(notes=n, tracks=(Track(0, "soprano"),), annotations=())


# -- the check set's own grid (independent of the code under test) -----------------------------
def sig_at(piece: Piece, beat: float) -> TimeSignature:
    sigs = piece.time_signatures or (TimeSignature(0.0, 4, 4),)
    k = max([i for i, s in enumerate(sigs) if s.start_beat <= beat + EPS] or [0])
    return sigs[k]


def beat_len(ts: TimeSignature) -> float:
    if ts.denominator == 8 and ts.numerator % 3 == 0:
        return 1.5
    return 4.0 / ts.denominator


def position(piece: Piece, t: float) -> tuple[float, float, TimeSignature]:
    """(bar start, offset in bar, signature) of beat t."""
    starts = piece.bar_starts(max(t, 0.0) + 8.0)
    i = int(np.clip(np.searchsorted(starts, t + EPS, side="right") - 1, 0, len(starts) - 1))
    return float(starts[i]), t - float(starts[i]), sig_at(piece, t)


def on_beat(piece: Piece, t: float) -> bool:
    _, off, ts = position(piece, t)
    b = beat_len(ts)
    return abs(off / b - round(off / b)) < 1e-3


def on_bar_or_half(piece: Piece, t: float) -> bool:
    start, off, ts = position(piece, t)
    if off < 1e-3:
        return True
    n_beats = round(ts.bar_beats / beat_len(ts))
    return n_beats % 2 == 0 and abs(off - ts.bar_beats / 2) < 1e-3


# -- harmonize figures ---------------------------------------------------------------------------
def chord_rows(data: dict[str, Any]) -> list[tuple[float, float, harmony.Chord | None]]:
    return [(r["start_beat"], r["end_beat"], None if r["symbol"] == "N" else harmony.parse_symbol(r["symbol"]))
            for r in data["chords"]]


def chord_at(rows: list, t: float) -> harmony.Chord | None:
    for s, e, c in rows:
        if s - EPS <= t < e - EPS:
            return c
    return None


def n_changes(rows: list) -> int:
    cs = [c for _, _, c in rows]
    return sum(1 for a, b in zip(cs, cs[1:]) if (a.index if a else -1) != (b.index if b else -1))


def longest_bars(piece: Piece, rows: list) -> float:
    best = 0.0
    for s, e, _ in merge(rows):
        starts = piece.bar_starts(e + 8)
        inside = starts[(starts >= s - EPS) & (starts < e - EPS)]
        best = max(best, float(len(inside)))
    return best


def merge(rows: list) -> list:
    out: list = []
    for s, e, c in rows:
        if out and (out[-1][2].index if out[-1][2] else -1) == (c.index if c else -1):
            out[-1] = (out[-1][0], e, c)
        else:
            out.append((s, e, c))
    return out


def cadences(piece: Piece, rows: list, tonic: int) -> tuple[int, int]:
    """(phrase ends with a cadence, phrase ends) — see the module docstring."""
    end = max(e for _, e, _ in rows)
    starts = [float(b) for b in piece.bar_starts(end) if b < end - EPS]
    full = [b for b in starts if b >= piece.pickup_beats - EPS] if piece.pickup_beats > 0 else starts
    ends = [len(full) - 1]  # index of the last downbeat of each phrase
    if len(full) % 8 == 0 and len(full) > 8:
        ends = [k * 8 + 7 for k in range(len(full) // 8)]
    ok = 0
    rows = merge(rows)
    for i in ends:
        t = full[min(i, len(full) - 1)]
        k = next((j for j, (s, e, _) in enumerate(rows) if s - EPS <= t < e - EPS), len(rows) - 1)
        c = rows[k][2]
        prev = rows[k - 1][2] if k > 0 else None
        if c is None:
            continue
        rel = (c.root - tonic) % 12
        if i == ends[-1] or rel == 0:
            pre = None if prev is None else (prev.root - tonic) % 12
            ok += rel == 0 and pre is not None and (pre in (7, 5, 2) or (pre == 11 and prev.quality.startswith(("dim", "hdim"))))
        else:
            ok += rel == 7
    return ok, len(ends)


def harmonized(name: str, piece: Piece, tot: dict[str, Any]) -> sai.Result | None:
    """`harmonize` with default settings; an error is counted in `tot` and named on stderr."""
    try:
        return sai.run("harmonize", piece)
    except SymbolicAIError as e:
        tot["errors"] += 1
        print(f"# {name}: {e}", file=sys.stderr)
        return None


def harmonize_set(items: list[tuple[str, Piece, list | None]]) -> dict[str, Any]:
    tot = {"tone": 0, "tone_n": 0, "grid": 0, "grid_n": 0, "cad": 0, "cad_n": 0, "chg": 0, "ref_chg": 0,
           "held4": 0, "errors": 0}
    longest, ref_longest = [], []
    t0 = time.perf_counter()
    for name, mel, spans in items:
        res = harmonized(name, mel, tot)
        if res is None:
            continue
        rows = chord_rows(res.data)
        n = mel.notes
        for o, p in zip(n["onset_beat"], n["pitch"]):
            if on_beat(mel, float(o)):
                c = chord_at(rows, float(o))
                tot["tone_n"] += 1
                tot["tone"] += c is not None and int(p) % 12 in c.pitch_classes
        m = merge(rows)
        for s, _, _ in m[1:]:
            tot["grid_n"] += 1
            tot["grid"] += on_bar_or_half(mel, s)
        tonic = harmony.Key.parse(sai.run("key", mel).data["key"]).tonic
        a, b = cadences(mel, rows, tonic)
        tot["cad"] += a
        tot["cad_n"] += b
        longest.append(longest_bars(mel, rows))
        if spans is not None:
            ref = [(s, e, c) for s, e, c, _ in spans]
            tot["chg"] += n_changes(rows)
            tot["ref_chg"] += n_changes(ref)
            ref_longest.append(longest_bars(mel, ref))
            for s, e, _ in m:
                starts = mel.bar_starts(e + 8)
                if ((starts >= s - EPS) & (starts < e - EPS)).sum() >= 4:
                    inner = merge([r for r in ref if s - EPS <= r[0] < e - EPS])
                    if len(inner) > 1:
                        tot["held4"] += 1
                        break
    pieces = len(items) - tot["errors"]
    out: dict[str, Any] = {
        "pieces": pieces, "errors": tot["errors"],
        "on_beat_tone": round(tot["tone"] / max(tot["tone_n"], 1), 3),
        "changes_on_grid": round(tot["grid"] / max(tot["grid_n"], 1), 3),
        "cadence": round(tot["cad"] / max(tot["cad_n"], 1), 3),
        "longest_held_bars": round(float(np.mean(longest)) if longest else 0.0, 2),
        "ms_per_piece": round(1000 * (time.perf_counter() - t0) / max(len(items), 1), 1)}
    if ref_longest:
        out.update(change_rate=round(tot["chg"] / max(tot["ref_chg"], 1), 3),
                   ref_longest_held_bars=round(float(np.mean(ref_longest)), 2),
                   held4_vs_ref=round(tot["held4"] / max(pieces, 1), 3))
    return out


# -- the grid (pickup) cases ---------------------------------------------------------------------
def built_melody(num: int, den: int, pickup: float, change: bool = False) -> Piece:
    """A tonic–subdominant–dominant–tonic arpeggio melody in C, one chord per bar, after a pickup."""
    bar = num * 4.0 / den
    step = 1.5 if den == 8 and num % 3 == 0 else 4.0 / den
    progression = [(60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67)] * 2
    on, pitch, dur = [], [], []
    if pickup:
        on.append(0.0), pitch.append(67), dur.append(pickup)
    t = pickup
    sigs = [TimeSignature(0.0, num, den)]
    for k, tones in enumerate(progression):
        if change and k == 4:
            sigs.append(TimeSignature(t, 3, 4))
            bar, step = 3.0, 1.0
        beats = int(round(bar / step))
        for j in range(beats):
            on.append(t + j * step), pitch.append(tones[j % 3]), dur.append(step)
        t += bar
    notes = notes_from_columns(onset_beat=on, duration_beat=dur, pitch=pitch, velocity=[80] * len(on))
    return Piece(notes=notes, tempos=(Tempo(0.0, 100.0),), time_signatures=tuple(sigs), pickup_beats=pickup,
                 metadata={"source": f"built {num}/{den} pickup {pickup}{' change' if change else ''}"})


def grid_cases() -> tuple[dict[str, int], dict[str, bool]]:
    pieces = [(f, corpus(f"ryansMammoth/{f}")) for f in FIDDLE[:3]]
    pieces += [(c, soprano(corpus(f"bach/{c}"))) for c in ("bwv269", "bwv65.2")]
    for num, den in ((2, 4), (3, 4), (4, 4), (6, 8)):
        for pickup in (0.5, 1.0, 1.5):
            if pickup < num * 4 / den:
                p = built_melody(num, den, pickup)
                pieces.append((p.metadata["source"], p))
    p = built_melody(4, 4, 1.0, change=True)
    pieces.append((p.metadata["source"], p))
    tot = {"pieces": 0, "chords": 0, "chords_off": 0, "acc_notes": 0, "acc_off_beat": 0, "acc_across_bar": 0,
           "errors": 0}
    per: dict[str, bool] = {}
    for name, piece in pieces:
        res = harmonized(name, piece, tot)
        if res is None:
            continue
        tot["pieces"] += 1
        off = sum(not on_bar_or_half(piece, r["start_beat"]) for r in res.data["chords"])
        tot["chords"] += len(res.data["chords"])
        tot["chords_off"] += off
        per[name] = off == 0
        acc = res.piece.notes[res.piece.notes["track"] == len(res.piece.tracks) - 1]
        tot["acc_notes"] += len(acc)
        for o, d in zip(acc["onset_beat"], acc["duration_beat"]):
            tot["acc_off_beat"] += not on_beat(piece, float(o))
            bars = piece.bar_starts(float(o + d) + 8)
            tot["acc_across_bar"] += bool(((bars > o + 1e-3) & (bars < o + d - 1e-3)).any())
    return tot, per


# -- named chord cases ---------------------------------------------------------------------------
def chords_of(piece: Piece) -> list[dict[str, Any]]:
    return list(sai.run("chords", piece).data["chords"])


def at(rows: list[dict[str, Any]], t: float) -> dict[str, Any]:
    return next((r for r in rows if r["start_beat"] - EPS <= t < r["end_beat"] - EPS), rows[-1])


def named_cases(grid: dict[str, bool]) -> dict[str, bool]:
    out = {"haste_grid": grid.get("HasteToTheWeddingJig", False), "bwv269_grid": grid.get("bwv269", False)}
    k545 = corpus("mozart/k545/movement1_exposition")
    rows = chords_of(k545)
    bar2 = [r for r in rows if r["start_beat"] < 8 - EPS and r["end_beat"] > 4 + EPS]
    bar3 = [r for r in rows if r["start_beat"] < 12 - EPS and r["end_beat"] > 8 + EPS]
    out["k545_V43"] = any(r["roman"] == "V43" for r in bar2)
    out["k545_IV64"] = any(r["roman"] == "IV64" for r in bar3)
    b351 = corpus("bach/bwv351")
    r351 = chords_of(b351)
    dims = [r for r in r351 if r["quality"] == "dim7" and r["bass"] in ("F#", "Gb")]
    out["bwv351_F#dim7"] = bool(dims) and all(r["symbol"].startswith("F#dim7") for r in dims)
    for name in ("bach/bwv40.8", "bach/bwv65.2", "bach/bwv351"):
        rows = r351 if name.endswith("351") else chords_of(corpus(name))
        last = [r for r in rows if r["symbol"] != "N"][-1]
        out[f"{name[5:]}_picardy_I"] = last["roman"] == "I"
        if name.endswith("40.8"):
            out["bwv40.8_beat0_Fm"] = at(rows, 0.0)["symbol"] == "Fm"
    maple = corpus("joplin/maple_leaf_rag")
    rows = chords_of(maple)
    eb7 = next((r for r in rows if r["symbol"] == "Eb7"), None)
    out["maple_Eb7_on_barline"] = eb7 is not None and on_bar_or_half(maple, eb7["start_beat"]) and \
        position(maple, eb7["start_beat"])[1] < 1e-3
    # a one-part melody with a few overlapping notes (a second voice)
    joy = corpus("ryansMammoth/SoldiersJoy")
    n = joy.notes
    extra = n[::6].copy()
    extra["pitch"] = np.maximum(extra["pitch"] - 12, 21)
    extra["id"] = np.arange(len(extra)) + int(n["id"].max()) + 1
    extra["bar"] = -1
    poly = joy.replace(notes=np.concatenate([n, extra]))
    try:
        res = sai.run("harmonize", poly)
        out["overlapping_melody_warned"] = bool(res.data.get("warnings"))
    except SymbolicAIError:
        out["overlapping_melody_warned"] = False
    res = sai.run("harmonize", joy, n_best=4)
    alts = res.data["alternatives"]
    keys = [json.dumps(a.get("chords") or a.get("symbols")) for a in alts]
    out["n_best_distinct_timed"] = len(alts) == 4 and len(set(keys)) == 4 and all("chords" in a for a in alts)
    return out


# -- chords figures ------------------------------------------------------------------------------
def load_examples(dataset: str, split: str, runs: Path) -> list:
    p = runs / f"chord_examples_{dataset}_{split}.pkl"
    if p.exists():
        return list(pickle.loads(p.read_bytes()))
    from training.common.chord_data import examples

    return list(examples(dataset, split))


def chords_set(items: list) -> dict[str, Any]:
    fields = ("root", "quality", "bass", "inversion", "roman", "key")
    hits = {f: 0 for f in fields}
    n = 0
    for _, piece, spans in items:
        rows = chords_of(piece)
        starts = np.array([r["start_beat"] for r in rows])
        for s, e, chord, key in spans:
            if chord is None or not key:
                continue
            ref_key = harmony.Key.parse(key)
            ref_rn = harmony.roman(chord, ref_key.tonic, ref_key.minor)["figure"]
            for t in np.arange(s, e, 0.125):
                r = rows[int(np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(rows) - 1))]
                n += 1
                if r["symbol"] == "N":
                    continue
                c = harmony.parse_symbol(r["symbol"])
                hits["root"] += c.root == chord.root
                hits["quality"] += c.quality == chord.quality
                hits["bass"] += c.bass == chord.bass
                hits["inversion"] += c.inversion == chord.inversion
                k = harmony.Key.parse(r["key"]) if r.get("key") else None
                hits["key"] += k == ref_key
                hits["roman"] += k == ref_key and r["roman"] == ref_rn
    return {"pieces": len(items), "frames": n, **{f: round(100 * hits[f] / max(n, 1), 1) for f in fields}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--skip-chords", action="store_true")
    args = ap.parse_args()
    runs = Path(args.runs)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    out: dict[str, Any] = {"benchmark": "harmony_check"}
    grid, per = grid_cases()
    out["grid"] = grid
    out["cases"] = named_cases(per)
    from training.harmonize.data import melody_only

    nott = [(i, melody_only(p), s) for i, p, s in load_examples("nottingham", "valid", runs)]
    wir = [(i, melody_only(p, 0, "soprano"), s) for i, p, s in load_examples("when_in_rome", "valid", runs)
           if "Chorales" in i and len(p.tracks) >= 4]
    fiddle = [(f, corpus(f"ryansMammoth/{f}"), None) for f in FIDDLE]
    out["harmonize"] = {"nottingham": harmonize_set(nott), "chorale": harmonize_set(wir),
                        "fiddle": harmonize_set(fiddle)}
    if not args.skip_chords:
        out["chords"] = {"bps_fh_valid": chords_set(load_examples("bps_fh", "valid", runs)),
                         "when_in_rome_valid": chords_set(load_examples("when_in_rome", "valid", runs))}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
