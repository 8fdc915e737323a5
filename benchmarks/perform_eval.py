"""perform evaluation (issue 17): agreement with the performers' mean, control, tempo, fermatas, pedal.

    python benchmarks/perform_eval.py [--split test] [--models perform-v5 OLD.onnx REG.onnx]
                                      [--renders 4] [--scores 24] [--out runs/perform_eval.json]

1. **Performers' mean** (ASAP, the split's folders with at least two staged performances; the
   data has two per test folder, see /work/shared/data/asap/SOURCE.md): notes present in every
   performance (same score onset and pitch) get the performers' mean beat period, velocity, timing
   and log articulation (`encode_performance`); each model renders the folder's score (seed 0,
   10 steps, the performers' mean tempo as the tempo input, then the task's tempo rules
   `shape_tempo`, keeping `--trend-share` of the model's slow tempo) once and as the mean of
   `--renders` seeded renders at `--temperature`; Pearson r per folder, averaged over folders.
   The beat period also per quarter note (`quarter_level`). Baselines: velocity rising with pitch
   (r of pitch itself), the tempo rules alone on a flat tempo, one performer against the other
   (the human ceiling), and any `--models` entry (a regression model has one render only).
   `--min-performers 1` (valid, where each piece has one performance) gives the selection proxy.
2. **Control** (`--scores` held-out score windows of 384 notes, one per folder of the split,
   ASAP then Batik): the task's `render` with each word vs the unconditioned render (same seed);
   a render passes when the body's mean tempo, the mean velocity and the mean log articulation
   all move in the word's direction (CONTROL_WORDS).
3. **Tempo**: the same windows rendered with qpm 60 and 120 and with none (default 80 notated
   beats per minute); the tempo is measured from the output notes' onsets (`mean_qpm` over the
   body: the score's quarters over the performed seconds, fermatas and the final ritardando excluded).
4. **Fermatas and pedal** on the examples and the windows: the fermata group's performed
   inter-onset interval over its score length times the median beat period of the 8 groups
   before it; pedal presses' lengths and count per minute.
Prints one JSON line (and writes it to --out).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from symbolic_ai import io  # noqa: E402
from symbolic_ai.perform_features import (  # noqa: E402
    CONTROL_DIMS,
    CONTROL_WORDS,
    encode_performance,
    onset_groups,
    score_features,
    targets_to_params,
)
from symbolic_ai.perform_rules import RIT_DEPTH, beat_quarters, body_groups, mean_qpm, shape_tempo  # noqa: E402
from symbolic_ai.piece import Annotation, Piece, TimeSignature, notes_from_columns  # noqa: E402
from symbolic_ai.runtime import load_model  # noqa: E402
from symbolic_ai.tasks.perform import (  # noqa: E402
    DEFAULT_GUIDANCE,
    DEFAULT_TEMPERATURE,
    TREND_SHARE,
    render,
    sample,
    tempo_curve,
)
from training.perform.data import load_cache  # noqa: E402

PARAMS = ("beat_period", "velocity", "timing", "articulation_log")
WORDS = ("happy", "tense", "sad", "calm", "brisk", "broad", "loud", "gentle", "legato", "staccato")


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def keys_of(a: dict) -> np.ndarray:
    return np.round(a["onset"] * 48).astype(np.int64) * 128 + a["pitch"].astype(np.int64)


def performers_mean(group: list[dict]) -> tuple[dict, np.ndarray, np.ndarray]:
    """The first performance's arrays, the indices of its notes every performer played, and their mean parameters."""
    base = group[0]["arrays"]
    common = set(keys_of(base).tolist())
    for r in group[1:]:
        common &= set(keys_of(r["arrays"]).tolist())
    k0 = keys_of(base)
    idx = np.array([i for i, k in enumerate(k0) if k in common and np.sum(k0 == k) == 1])
    stacks = []
    for r in group:
        a = r["arrays"]
        p = encode_performance(a["onset"], a["duration"], a["perf_onset"], a["perf_duration"], a["velocity"])
        pos = {k: i for i, k in enumerate(keys_of(a).tolist())}
        stacks.append(p[[pos[k] for k in k0[idx]]])
    mean = np.mean(stacks, axis=0)
    return base, idx, mean


def features_of(a: dict) -> np.ndarray:
    return score_features(a["onset"], a["duration"], a["pitch"], a["pos_in_bar"], a["bar_len"], a["beat_unit"],
                          a["staff"], a["marks"])


def model_params(model, a: dict, qpm: float, samples: int, steps: int,
                 temperature: float = DEFAULT_TEMPERATURE, keep: Path | None = None) -> np.ndarray:
    """Codec parameters of `samples` seeded renders of the note model averaged (in model space).
    `keep`: an .npy file that holds them (read when it exists, else written)."""
    from symbolic_ai.tasks.perform import tempo_input

    if keep is not None and keep.exists():
        kept: np.ndarray = np.load(keep)
        return kept
    f = features_of(a)[:, :len(model.card["features"])]
    n, P = len(f), len(model.card["stats"]["mean"])
    x = np.mean([sample(model, f, np.zeros((n, P), np.float32), np.zeros(n, np.float32), steps=steps, seed=k,
                        temperature=temperature, tempo=tempo_input(qpm, model.card["stats"]))
                 for k in range(samples)], axis=0)
    out: np.ndarray = targets_to_params(x, model.card["stats"])
    if keep is not None:
        keep.parent.mkdir(parents=True, exist_ok=True)
        np.save(keep, out)
    return out


def kept_render(folder: str, model, samples: int, steps: int, temperature: float, renders_dir: str) -> Path | None:
    """Where `model_params` keeps one folder's render in `renders_dir` (None: nowhere)."""
    if not renders_dir:
        return None
    return Path(renders_dir) / (f"{model.name}.{'_'.join(Path(folder).parts[-3:])}."
                                f"{samples}x{temperature:g}.{steps}.{model.card.get('sha256', '')[:8]}.npy")


def task_tempo(model, a: dict, bp: np.ndarray, qpm: float, share: float = TREND_SHARE,
               weight: float | None = None) -> np.ndarray:
    """The task's beat periods from the note model's: the tempo-curve model mixed in (`tempo_curve`,
    `weight`, None: the card's), then the tempo rules keeping `share` of the slow tempo changes (perform-v3 on; a v2
    render is as it was)."""
    if "control_stats" not in model.card:
        return bp
    f = features_of(a)[:, :len(model.card["features"])]
    bp = tempo_curve(model, f, a["onset"], bp, weight)
    return shape_tempo(a["onset"], a["duration"], bp, np.full(len(bp), qpm), a["marks"][:, 3] > 0,
                       float(np.median(a["bar_len"])), RIT_DEPTH, share)


def render_arrays(model, a: dict, qpm: float, samples: int, steps: int, temperature: float = DEFAULT_TEMPERATURE,
                  share: float = TREND_SHARE, weight: float | None = None, keep: Path | None = None) -> np.ndarray:
    """`model_params`, then the task's tempo (`task_tempo`)."""
    p = model_params(model, a, qpm, samples, steps, temperature, keep)
    p[:, 0] = task_tempo(model, a, p[:, 0], qpm, share, weight)
    return p


def rules_only(a: dict, qpm: float) -> np.ndarray:
    """Beat periods of a flat tempo at `qpm` with only the task's tempo rules (fermatas, final ritardando)."""
    n = len(a["onset"])
    return shape_tempo(a["onset"], a["duration"], np.full(n, 60 / qpm), np.full(n, qpm), a["marks"][:, 3] > 0,
                       float(np.median(a["bar_len"])), RIT_DEPTH)


def quarter_level(onset: np.ndarray, bp: np.ndarray) -> np.ndarray:
    """Per note: the performed length (s) of the quarter note holding its onset, read from the tempo
    curve (onset groups at their cumulative beat-period times, interpolated at the quarter grid), so
    one onset's early or late placement does not count as a tempo change. After the last onset: its
    beat period."""
    groups = onset_groups(onset)
    gon = np.array([onset[g[0]] for g in groups])
    gbp = np.array([bp[g].mean() for g in groups])
    t = np.r_[0.0, np.cumsum(np.diff(gon) * gbp[:-1])]
    k0 = math.floor(gon[0])
    grid = np.arange(k0, math.ceil(gon[-1]) + 1)
    per = np.diff(np.interp(grid, gon, t))
    per = np.r_[per, per[-1:]] if len(per) else gbp[:1]
    q = per[np.clip(np.floor(onset - k0).astype(int), 0, len(per) - 1)]
    last = onset >= gon[-1] - 1e-9
    q[last] = bp[last]
    out: np.ndarray = q
    return out


def agreement(rows: list[dict], models: dict, renders: int, steps: int, min_performers: int = 2,
              temperature: float = DEFAULT_TEMPERATURE, share: float = TREND_SHARE,
              weight: float | None = None, renders_dir: str = "") -> dict:
    """Per-note r with the performers' mean of each ASAP folder (`min_performers` 1: the valid split's
    proxy, one performer). Beat period twice: per note as the codec gives it (`beat_period`), and
    per quarter note (`beat_period_quarter`, `quarter_level` of both sides). Baselines: the pitch
    rule (velocity), the tempo rules alone on a flat tempo (beat period), and, where a folder has
    two performances, one performer against the other (the human ceiling; not against the mean,
    which holds that performer)."""
    folders: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["dataset"] == "asap":
            folders[str(Path(r["match"]).parent)].append(r)
    folders = {k: v for k, v in folders.items() if len(v) >= min_performers}
    res: dict = defaultdict(lambda: defaultdict(list))
    n_notes = 0
    for folder, group in sorted(folders.items()):
        a, idx, human = performers_mean(group)
        n_notes += len(idx)
        on = a["onset"][idx]
        human_q = quarter_level(on, human[:, 0])
        qpm = float(60 / np.exp(np.mean(np.log(human[:, 0]))))
        preds = {"pitch rule": {"velocity": a["pitch"].astype(float)}, "tempo rules alone": {"beat_period": rules_only(a, qpm)}}
        for name, m in models.items():
            reg = m.card.get("objective") == "regression"
            for k in ([1] if reg else sorted({1, renders})):
                p = render_arrays(m, a, qpm, k, steps, temperature, share, weight,
                                  kept_render(folder, m, k, steps, temperature, renders_dir))
                preds[f"{name}" + (f" mean of {k}" if k > 1 else "")] = dict(zip(PARAMS, p.T))
        for name, pr in preds.items():
            for j, key in enumerate(PARAMS):
                if key in pr:
                    res[name][key].append(pearson(np.asarray(pr[key])[idx], human[:, j]))
            if "beat_period" in pr:
                res[name]["beat_period_quarter"].append(pearson(quarter_level(on, np.asarray(pr["beat_period"])[idx]), human_q))
        if len(group) >= 2:  # one performer against the other, on the notes both played
            k0 = keys_of(a)[idx]
            each = []
            for r in group[:2]:
                b = r["arrays"]
                pos = {k: i for i, k in enumerate(keys_of(b).tolist())}
                p = encode_performance(b["onset"], b["duration"], b["perf_onset"], b["perf_duration"], b["velocity"])
                each.append(p[[pos[k] for k in k0]])
            for j, key in enumerate(PARAMS):
                res["one performer vs the other"][key].append(pearson(each[0][:, j], each[1][:, j]))
            res["one performer vs the other"]["beat_period_quarter"].append(
                pearson(quarter_level(on, each[0][:, 0]), quarter_level(on, each[1][:, 0])))
    out = {"n_folders": len(folders), "performers_per_folder": sorted({len(v) for v in folders.values()}),
           "n_notes": n_notes, "temperature": temperature, "trend_share": share, "curve_weight": weight}
    for name, d in res.items():
        out[name] = {f"r_{k}": round(float(np.mean([x for x in v if x is not None])), 3)
                     for k, v in d.items() if any(x is not None for x in v)}
    return out


def score_of(a: dict, n: int = 384) -> Piece:
    """A score Piece from cached arrays (first n notes): notes, metre, fermata and articulation marks."""
    s = {k: v[:n] for k, v in a.items() if k not in ("pedal_time", "pedal_value")}
    on = s["onset"] - s["onset"].min()
    bar_len = float(np.median(s["bar_len"]))
    den = int(round(4 / float(np.median(s["beat_unit"]))))
    num = max(1, int(round(bar_len * den / 4)))
    notes = notes_from_columns(onset_beat=on, duration_beat=np.maximum(s["duration"], 0.0), pitch=s["pitch"],
                               track=(s["staff"] == 1).astype(int), id=np.arange(len(on)))
    anns = [Annotation("fermata", float(o), float(o + d)) for o, d, m in zip(on, s["duration"], s["marks"]) if m[3]]
    names = {0: "staccato", 1: "accent", 2: "tenuto", 4: "ornament"}
    anns += [Annotation("articulation", float(o), float(o + max(d, 0)), {"mark": names[j], "pitch": int(p), "track": 0})
             for o, d, p, m in zip(on, s["duration"], s["pitch"], s["marks"]) for j in names if m[j]]
    from symbolic_ai.piece import Track
    try:
        sig = TimeSignature(0.0, num, den)
    except Exception:
        sig = TimeSignature(0.0, 4, 4)
    return Piece(notes=notes, tracks=(Track(), Track()), time_signatures=(sig,), annotations=tuple(anns),
                 metadata={"source": "score.musicxml"})


def measure(score: Piece, perf: Piece) -> dict:
    """Body mean tempo (from the output onsets), mean velocity, mean log articulation."""
    sn = score.notes[np.argsort(score.notes["id"])]
    pn = perf.notes[np.argsort(perf.notes["id"])]
    on = sn["onset_beat"]
    fermata = np.zeros(len(sn), bool)
    for a in score.annotations_of("fermata"):
        fermata |= np.abs(on - a.start_beat) < 1e-6
    bar = score.time_signatures[0].bar_beats
    groups, gb, _ioi, body = body_groups(on, sn["duration_beat"], fermata, bar)
    gt = np.array([pn["onset_sec"][g].mean() for g in groups])
    p = encode_performance(on, sn["duration_beat"], pn["onset_sec"], pn["duration_sec"], pn["velocity"])
    return {"tempo": mean_qpm(gb, gt, body), "loudness": float(pn["velocity"].mean()),
            "articulation": float(np.mean(p[np.isfinite(p[:, 3]), 3]))}


def control_and_tempo(rows: list[dict], model, n_scores: int, guidance: float = DEFAULT_GUIDANCE,
                      words: tuple[str, ...] = WORDS, tempo: bool = True) -> dict:
    seen, scores = set(), []
    for ds in ("asap", "batik_mozart"):
        for r in rows:
            key = str(Path(r["match"]).parent) if ds == "asap" else r["work_id"]
            if r["dataset"] == ds and key not in seen and len(scores) < n_scores:
                seen.add(key)
                scores.append(score_of(r["arrays"]))
    passed: dict = defaultdict(list)
    moved: dict = defaultdict(lambda: defaultdict(list))
    means: dict = defaultdict(lambda: defaultdict(list))
    tempo_err: dict = defaultdict(list)
    for i, sc in enumerate(scores):
        base = measure(sc, render(sc, model, seed=i, guidance=guidance)[0])
        for k, v in base.items():
            means["none"][k].append(v)
        for w in words:
            emo, sty = (w, "none") if w in ("happy", "tense", "sad", "calm") else ("none", w)
            got = measure(sc, render(sc, model, emotion=emo, style=sty, seed=i, guidance=guidance)[0])
            ok = True
            for d, z in zip(CONTROL_DIMS[:3], CONTROL_WORDS[w][:3]):
                means[w][d].append(got[d])
                if z is None:
                    continue
                sign = -1 if d == "tempo" else 1  # + tempo z = slower = fewer qpm
                hit = (got[d] - base[d]) * z * sign > 0
                moved[w][d].append(hit)
                ok &= bool(hit)
            passed[w].append(ok)
        for q in (60.0, 120.0) if tempo else ():
            got = measure(sc, render(sc, model, qpm=q, seed=i)[0])
            tempo_err[f"qpm {q:g}"].append(got["tempo"] / q - 1)
        ts = sc.time_signatures[0]
        tempo_err["default 80 bpm"].append(base["tempo"] / (80 * beat_quarters(ts.numerator, ts.denominator)) - 1)
    return {
        "n_scores": len(scores), "guidance": guidance,
        "control_pass": {w: round(float(np.mean(v)), 3) for w, v in passed.items()},
        "control_moved": {w: {d: round(float(np.mean(v)), 3) for d, v in dd.items()} for w, dd in moved.items()},
        "control_means": {w: {d: round(float(np.mean(v)), 3) for d, v in dd.items()} for w, dd in means.items()},
        "tempo_abs_error": {k: {"median": round(float(np.median(np.abs(v))), 4), "max": round(float(np.max(np.abs(v))), 4),
                                "within_5pct": round(float(np.mean(np.abs(np.array(v)) <= 0.05)), 3)}
                            for k, v in tempo_err.items()},
    }


def fermata_and_pedal(pieces: dict[str, Piece], model) -> dict:
    out = {}
    for name, sc in pieces.items():
        perf, data = render(sc, model)
        sn = sc.pitched()
        sn = sn[np.lexsort((sn["pitch"], sn["onset_beat"]))]
        pn = {int(i): k for k, i in enumerate(perf.notes["id"])}
        on_sec = perf.notes["onset_sec"][[pn[int(i)] for i in sn["id"]]]
        groups = onset_groups(sn["onset_beat"])
        gb = np.array([sn["onset_beat"][g[0]] for g in groups])
        gt = np.array([on_sec[g].mean() for g in groups])
        ratios = []
        for a in sc.annotations_of("fermata"):
            j = int(np.argmin(np.abs(gb - a.start_beat)))
            if 0 < j < len(gb) - 1:
                bp = np.diff(gt[max(0, j - 8):j + 1]) / np.maximum(np.diff(gb[max(0, j - 8):j + 1]), 1e-6)
                ratios.append(float((gt[j + 1] - gt[j]) / (gb[j + 1] - gb[j]) / np.median(bp)))
        ev = data["pedal"]
        presses = np.array([u["time_sec"] - d["time_sec"] for d, u in zip(ev[0::2], ev[1::2])])
        dur = max(perf.duration_sec, 1e-3)
        out[name] = {"fermata_hold": [round(r, 2) for r in ratios], "tempo": data["tempo"],
                     "pedal_presses": len(presses), "pedal_per_min": round(60 * len(presses) / dur, 1),
                     "pedal_median_press_sec": round(float(np.median(presses)), 2) if len(presses) else None,
                     "pedal_min_press_sec": round(float(presses.min()), 2) if len(presses) else None,
                     "pedal_down_fraction": round(float(presses.sum() / dur), 2),
                     "duration_sec": data["duration_sec"]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default="runs/perform_cache")
    ap.add_argument("--split", default="test")
    ap.add_argument("--models", nargs="+", default=["perform-v5"])
    ap.add_argument("--renders", type=int, default=4)
    ap.add_argument("--min-performers", type=int, default=2,
                    help="ASAP folders with at least this many performances (1 on valid: a proxy, one performer)")
    ap.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    ap.add_argument("--trend-share", type=float, default=TREND_SHARE)
    ap.add_argument("--curve-weight", type=float,
                    help="weight of the tempo-curve model's curve (models with one; 0 = the note model's; "
                         "default: the card's)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--scores", type=int, default=24)
    ap.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    ap.add_argument("--words", nargs="+", default=list(WORDS), choices=WORDS)
    ap.add_argument("--skip", nargs="*", default=[], choices=("agreement", "control", "tempo", "examples"))
    ap.add_argument("--renders-dir", default="", help="keep the note models' renders here (reused when present)")
    ap.add_argument("--out")
    args = ap.parse_args()
    rows = load_cache(Path(args.cache), args.split)
    models = {Path(m).stem: load_model(m) for m in args.models}
    first = next(iter(models.values()))
    result: dict = {"split": args.split, "models": list(models), "steps": args.steps}
    if "agreement" not in args.skip:
        result["performers_mean"] = agreement(rows, models, args.renders, args.steps, args.min_performers,
                                              args.temperature, args.trend_share, args.curve_weight,
                                              args.renders_dir)
    if "control" not in args.skip:
        result["control_tempo"] = control_and_tempo(rows, first, args.scores, args.guidance, tuple(args.words),
                                                    tempo="tempo" not in args.skip)
    if "examples" not in args.skip:
        ex = {p.stem: io.load(p) for p in sorted((ROOT / "examples").glob("*.musicxml"))}
        result["examples"] = fermata_and_pedal(ex, first)
    line = json.dumps(result)
    if args.out:
        Path(args.out).write_text(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
