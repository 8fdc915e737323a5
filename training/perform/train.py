"""Train the `perform` model: conditional flow matching (or direct regression) over score notes.

    python -m training perform train --run runs/perform-v2 --d 128 --minutes 58 --steps 100000
    python -m training perform train --run runs/perform-reg --d 128 --objective regression --minutes 14
    python -m training perform train --run runs/perform-v2 --export runs/perform-v2/perform-v2.onnx

Data: the per-note cache of `python -m training perform data` (ASAP + Batik, train split; valid for selection).
Targets per note: the four codec parameters plus the sustain pedal (`perform_features.encode_pedal`).
Flow matching on the optimal-transport path: x_t = (1 - t) x0 + t x1, target x1 - x0, loss on the
notes the window does not give. Each window gets one inpainting mask (none, random notes, beats,
bars, a segment, or everything before a point = continuation). Conditions, each dropped at random
for classifier-free guidance: a style word derived from the performance, an emotion quadrant from
the `emotion` model's reading of the performance (`emotion_timelines`; `--emotion-labels proxy`
for perform-v1's proxy; see `window_conditions`), and the intended tempo. Resumable: checkpoints in the run directory.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from symbolic_ai.errors import require
from symbolic_ai.perform_features import (FEATURE_NAMES, N_FEATURES, TARGETS, encode_pedal, encode_performance,
                                params_to_targets, score_features)
from training.common.config import save_run_config
from training.perform.data import load_cache

if TYPE_CHECKING:
    import torch

WINDOW = 256
MASK_KINDS = ("none", "notes", "beats", "bars", "segment", "continue")
MASK_P = (0.3, 0.14, 0.1, 0.16, 0.15, 0.15)


# -- data --------------------------------------------------------------------------------------
def prepare(rows: list[dict]) -> list[dict]:
    """Features and raw codec parameters for each cached performance."""
    out = []
    for r in rows:
        a = r["arrays"]
        feats = score_features(a["onset"], a["duration"], a["pitch"], a["pos_in_bar"], a["bar_len"],
                               a["beat_unit"], a["staff"])
        params = encode_performance(a["onset"], a["duration"], a["perf_onset"], a["perf_duration"], a["velocity"])
        pedal = encode_pedal(a["onset"], a["perf_onset"], a["perf_duration"], a["pedal_time"], a["pedal_value"])
        params = np.concatenate([params, pedal[:, None]], axis=1)
        ok = np.isfinite(params).all(axis=1) & (params[:, 0] > 0)
        if ok.sum() < 64:
            continue
        out.append({**r, "features": feats[ok], "params": params[ok],
                    "onset": a["onset"][ok], "duration": a["duration"][ok], "pitch": a["pitch"][ok],
                    "pos_in_bar": a["pos_in_bar"][ok], "perf_onset": a["perf_onset"][ok]})
    return out


def target_stats(perfs: list[dict]) -> dict:
    k = perfs[0]["params"].shape[1]
    x = params_to_targets(np.concatenate([p["params"] for p in perfs]), {"mean": [0] * k, "std": [1] * k})
    return {"mean": x.mean(0).tolist(), "std": np.maximum(x.std(0), 1e-3).tolist()}


def _window_stats(p: dict, lo: int, hi: int) -> tuple[float, float, float, float, float]:
    x = p["x1"][lo:hi]
    span = max(p["perf_onset"][lo:hi].max() - p["perf_onset"][lo:hi].min(), 0.5)
    return (float(x[:, 0].mean() - p["tempo_mean"]), float(x[:, 1].mean()), float(x[:, 3].mean()),
            float(np.log((hi - lo) / span)), float(p["x1"][lo:hi, 0].mean()))


def condition_thresholds(perfs: list[dict]) -> dict:
    """Terciles of window loudness and articulation and medians of the arousal proxies (train)."""
    rel, vel, art, nps = [], [], [], []
    for p in perfs:
        for lo in range(0, max(len(p["x1"]) - WINDOW, 0) + 1, WINDOW // 2):
            s = _window_stats(p, lo, min(lo + WINDOW, len(p["x1"])))
            rel.append(s[0]); vel.append(s[1]); art.append(s[2]); nps.append(s[3])
    q = lambda v, a: [float(x) for x in np.quantile(v, a)]  # noqa: E731
    return {"velocity": q(vel, [1 / 3, 2 / 3]), "articulation": q(art, [1 / 3, 2 / 3]),
            "tempo_rel": q(rel, [1 / 4, 3 / 4]), "vel_mean": float(np.mean(vel)), "vel_std": float(np.std(vel)),
            "nps_mean": float(np.mean(nps)), "nps_std": float(np.std(nps))}


def emotion_timelines(cache: Path, rows: list[dict], model: str | None = None) -> dict:
    """{performance id: [[start_sec, end_sec, pQ1, pQ2, pQ3, pQ4], ...]} from an `emotion` model.

    Each performance (performed onsets, durations, velocities; no beat grid) is read by the
    `emotion` task in 16-second windows (32 nominal beats, no overlap) with `model` (default: the task's model);
    cached in the cache directory as `<model name>.json`. perform-v2 was trained on emotion-v1's
    labels (the file is in git history, commit 949bc6f: pass its path to reproduce exactly).
    """
    from symbolic_ai.piece import Piece, notes_from_columns
    from symbolic_ai.registry import get, run

    model = model or get("emotion").model
    path = cache / f"{Path(model).stem}.json"
    done = json.loads(path.read_text()) if path.exists() else {}
    todo = [r for r in rows if r["id"] not in done]
    for k, r in enumerate(todo):
        a = r["arrays"]
        nan = np.full(len(a["pitch"]), math.nan)
        perf = Piece(notes=notes_from_columns(onset_sec=a["perf_onset"], duration_sec=a["perf_duration"],
                                              pitch=a["pitch"], velocity=a["velocity"], onset_beat=nan,
                                              duration_beat=nan))
        done[r["id"]] = [[w["start_sec"], w["end_sec"], *[w["probabilities"][q] for q in ("Q1", "Q2", "Q3", "Q4")]]
                         for w in run("emotion", perf, model=model, window_beats=32.0, hop_beats=32.0).data["timeline"]]
        if k % 20 == 19 or k == len(todo) - 1:
            path.write_text(json.dumps(done))
            print(f"emotion labels {k + 1}/{len(todo)}", flush=True)
    return done


def window_conditions(p: dict, lo: int, hi: int, th: dict) -> tuple[list[int], int]:
    """Style words that fit the window (indices into STYLE_WORDS) and its emotion quadrant.

    Words: brisk/broad = faster/slower than the performance's own mean tempo (outer quartiles),
    loud/gentle and legato/staccato = outer terciles of the training windows. Emotion: the quadrant
    of the `emotion` model's mean probabilities over its 16-second windows that overlap the window's
    performed time span (`emotion_timelines`), when the performance has them. Otherwise a proxy:
    arousal = loudness plus notes per second above their means; valence = the window's key is
    major (Krumhansl–Kessler correlation via the key task). Q1 = +v+a, Q2 = -v+a, Q3 = -v-a, Q4 = +v-a.
    """
    from symbolic_ai.tasks.key import correlations, window_histograms

    rel, vel, art, nps, _ = _window_stats(p, lo, hi)
    words = []
    if rel < th["tempo_rel"][0]:
        words.append(1)  # brisk (shorter beat period)
    elif rel > th["tempo_rel"][1]:
        words.append(2)  # broad
    if vel > th["velocity"][1]:
        words.append(3)
    elif vel < th["velocity"][0]:
        words.append(4)
    if art > th["articulation"][1]:
        words.append(5)
    elif art < th["articulation"][0]:
        words.append(6)
    tl = p.get("emotion_timeline")
    if tl is not None and len(tl):
        t0, t1 = p["perf_onset"][lo:hi].min(), p["perf_onset"][lo:hi].max()
        hit = (tl[:, 0] <= t1) & (tl[:, 1] > t0)
        if hit.any():
            return words, int(np.argmax(tl[hit, 2:].mean(axis=0))) + 1
    arousal = (vel - th["vel_mean"]) / th["vel_std"] + (nps - th["nps_mean"]) / th["nps_std"] > 0
    on = p["onset"][lo:hi]
    h = window_histograms(on, p["duration"][lo:hi], p["pitch"][lo:hi].astype(int), np.array([on.min()]),
                          float(on.max() - on.min() + 1))
    major = int(np.argmax(correlations(h)[0])) < 12
    quadrant = (1 if major else 2) if arousal else (4 if major else 3)
    return words, quadrant


def sample_mask(rng: np.random.Generator, onset: np.ndarray, pos_in_bar: np.ndarray) -> np.ndarray:
    """1 where the window's performance is given, by one randomly chosen inpainting scheme."""
    n = len(onset)
    kind = MASK_KINDS[rng.choice(len(MASK_KINDS), p=MASK_P)]
    m = np.zeros(n, dtype=np.float32)
    if kind == "notes":
        m = (rng.random(n) < rng.uniform(0.1, 0.9)).astype(np.float32)
    elif kind in ("beats", "bars"):
        unit = np.floor(onset + 1e-6) if kind == "beats" else np.round(onset - pos_in_bar, 3)
        ids, inv = np.unique(unit, return_inverse=True)
        m = (rng.random(len(ids)) < rng.uniform(0.2, 0.8))[inv].astype(np.float32)
    elif kind == "segment":
        a = rng.integers(0, n - 16)
        b = min(n, a + rng.integers(16, max(17, n // 2)))
        m[:] = 1.0
        m[a:b] = 0.0
    elif kind == "continue":
        m[: rng.integers(16, n - 16)] = 1.0
    if m.min() > 0:  # something must be left to predict
        m[rng.integers(0, n)] = 0.0
    return m


def make_batch(perfs: list[dict], rng: np.random.Generator, batch: int, th: dict, drop: float = 0.3) -> dict:
    weights = np.array([len(p["x1"]) for p in perfs], dtype=float)
    pick = rng.choice(len(perfs), size=batch, p=weights / weights.sum())
    out = {k: [] for k in ("features", "x1", "mask", "emotion", "style", "tempo")}
    for i in pick:
        p = perfs[i]
        n = len(p["x1"])
        L = min(WINDOW, n)
        lo = int(rng.integers(0, n - L + 1))
        hi = lo + L
        words, quadrant = window_conditions(p, lo, hi, th)
        out["features"].append(p["features"][lo:hi])
        out["x1"].append(p["x1"][lo:hi])
        out["mask"].append(sample_mask(rng, p["onset"][lo:hi], p["pos_in_bar"][lo:hi]))
        out["style"].append(int(rng.choice(words)) if words and rng.random() > drop else 0)
        out["emotion"].append(quadrant if rng.random() > drop else 0)
        out["tempo"].append([p["tempo_mean"], 1.0] if rng.random() < 0.5 else [0.0, 0.0])
    return {k: np.asarray(v) for k, v in out.items()}


# -- training ----------------------------------------------------------------------------------
def loss_on(model, b: dict, objective: str, gen) -> torch.Tensor:
    import torch

    f = torch.from_numpy(b["features"]).float()
    x1 = torch.from_numpy(b["x1"]).float()
    m = torch.from_numpy(b["mask"]).float().unsqueeze(-1)
    emo, sty = torch.from_numpy(b["emotion"]).long(), torch.from_numpy(b["style"]).long()
    tempo = torch.from_numpy(b["tempo"]).float()
    B = f.shape[0]
    if objective == "flow":
        x0 = torch.randn(x1.shape, generator=gen)
        t = torch.rand(B, generator=gen) if "t" not in b else torch.from_numpy(b["t"]).float()
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * x1
        xt = m * x1 + (1 - m) * xt
        pred = model(f, xt, x1, m, t, emo, sty, tempo)
        target = x1 - x0
    else:
        zeros = torch.zeros_like(x1)
        pred = model(f, zeros, x1, m, torch.zeros(B), emo, sty, tempo)
        target = x1
    w = 1 - m
    return (((pred - target) ** 2) * w).sum() / (w.sum() * x1.shape[-1]).clamp(min=1)


def train(args: argparse.Namespace) -> None:
    torch = require("torch", "train")
    from training.perform.model import PerformNet

    torch.set_num_threads(args.threads)
    run = Path(args.run)
    save_run_config("perform", "train", args, run)
    log = open(run / "log.txt", "a")

    def say(msg: str) -> None:
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    from symbolic_ai.registry import get as get_task

    cache = Path(args.cache)
    train_rows, valid_rows = load_cache(cache, "train"), load_cache(cache, "valid")
    timelines = (emotion_timelines(cache, train_rows + valid_rows, args.emotion_model)
                 if args.emotion_labels == "model" else {})
    train_p, valid_p = prepare(train_rows), prepare(valid_rows)
    for p in train_p + valid_p:
        if p["id"] in timelines:
            p["emotion_timeline"] = np.asarray(timelines[p["id"]], dtype=float).reshape(-1, 6)
    stats = target_stats(train_p)
    for p in train_p + valid_p:
        p["x1"] = params_to_targets(p["params"], stats)
        p["tempo_mean"] = float(p["x1"][:, 0].mean())
    th = condition_thresholds(train_p)
    say(f"train {len(train_p)} performances / {sum(len(p['x1']) for p in train_p)} notes; "
        f"valid {len(valid_p)} / {sum(len(p['x1']) for p in valid_p)}")
    n_params = train_p[0]["params"].shape[1]
    model = PerformNet(N_FEATURES, d=args.d, layers=args.layers, heads=args.heads, n_params=n_params)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    ckpt = run / "last.pt"
    step, best, spent = 0, math.inf, 0.0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"]), opt.load_state_dict(state["opt"])
        step, best, spent = state["step"], state["best"], state.get("spent_sec", 0.0)
        say(f"resumed at step {step} (best valid {best:.4f})")
    config = {"objective": args.objective, "d": args.d, "layers": args.layers, "heads": args.heads,
              "n_params": n_params, "window": WINDOW, "emotion_labels": args.emotion_labels,
              "emotion_model": Path(args.emotion_model or get_task("emotion").model).stem, "stats": stats, "thresholds": th}
    vrng = np.random.default_rng(1234)
    vbatches = []
    for _ in range(args.valid_batches):
        b = make_batch(valid_p, vrng, args.batch, th)
        b["t"] = vrng.random(args.batch).astype(np.float32)
        vbatches.append(b)
    rng = np.random.default_rng(args.seed + step)
    gen = torch.Generator().manual_seed(args.seed + step)
    budget = args.minutes * 60
    t0, running = time.time() - spent, 0.0
    t_end = t0 + budget
    while time.time() < t_end and step < args.steps:
        if step % 50 == 0:
            torch.set_num_threads(args.threads)
        model.train()
        frac = min(1.0, max(step / args.steps, (time.time() - t0) / budget))  # cosine over steps or time
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        loss = loss_on(model, make_batch(train_p, rng, args.batch, th), args.objective, gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % args.every == 0 or time.time() >= t_end:
            model.eval()
            vgen = torch.Generator().manual_seed(99)
            with torch.no_grad():
                vloss = float(np.mean([loss_on(model, b, args.objective, vgen).item() for b in vbatches]))
            if vloss < best:
                best = vloss
                torch.save({"model": model.state_dict(), "config": config, "step": step, "valid": vloss}, run / "best.pt")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                        "config": config, "spent_sec": time.time() - t0}, ckpt)
            say(f"step {step} loss {running:.4f} valid {vloss:.4f} best {best:.4f} lr {lr:.2e} "
                f"{(time.time() - t0) / 60:.1f} min")
    say(f"done at step {step}, best valid {best:.4f}")


# -- export ------------------------------------------------------------------------------------
INPUTS = ("features", "x", "known", "mask", "t", "emotion", "style", "tempo")


def export(run: Path, out: Path, version: str = "v1") -> dict:
    """best.pt → ONNX (opset 17, dynamic batch and length) + model card; parity checked."""
    torch = require("torch", "train")
    import onnxruntime as ort

    from training.perform.model import EMOTIONS, STYLE_WORDS, PerformNet

    state = torch.load(run / "best.pt", weights_only=False)
    cfg = state["config"]
    k = cfg.get("n_params", 4)
    model = PerformNet(N_FEATURES, d=cfg["d"], layers=cfg["layers"], heads=cfg["heads"], n_params=k)
    model.load_state_dict(state["model"])
    model.eval()
    B, N = 2, 37
    g = torch.Generator().manual_seed(0)
    ex = (torch.randn(B, N, N_FEATURES, generator=g), torch.randn(B, N, k, generator=g),
          torch.randn(B, N, k, generator=g), (torch.rand(B, N, 1, generator=g) > 0.5).float(),
          torch.rand(B, generator=g), torch.tensor([0, 3]), torch.tensor([2, 0]), torch.tensor([[0.3, 1.0], [0.0, 0.0]]))
    dyn = {k: {0: "batch", 1: "notes"} for k in ("features", "x", "known", "mask")}
    dyn.update({k: {0: "batch"} for k in ("t", "emotion", "style", "tempo")})
    dyn["v"] = {0: "batch", 1: "notes"}
    torch.onnx.export(model, ex, str(out), input_names=list(INPUTS), output_names=["v"], dynamic_axes=dyn,
                      opset_version=17, dynamo=False)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = model(*ex).numpy()
    got = sess.run(None, {k: v.numpy() for k, v in zip(INPUTS, ex)})[0]
    parity = float(np.abs(ref - got).max())
    fields = {
        "objective": cfg["objective"], "architecture": f"transformer {cfg['layers']} layers, d={cfg['d']}, "
                                                       f"{cfg['heads']} heads, adaptive-norm conditioning",
        "window_notes": cfg["window"], "features": list(FEATURE_NAMES), "targets": list(TARGETS[:k]),
        "target_space": "log2 beat period (s/quarter), velocity/127, timing (s, clipped ±0.5), "
                        "articulation log2 ratio (clipped -5..3)" + (", pedal fraction of the onset span "
                        "(0..1)" if k > 4 else "") + "; standardised by stats",
        "emotion_labels": (f"the {cfg.get('emotion_model', 'emotion-v1')} model on each training performance (16 s windows)"
                           if cfg.get("emotion_labels") == "model" else "loudness/density/key proxy"),
        "stats": cfg["stats"], "thresholds": cfg["thresholds"], "emotions": list(EMOTIONS),
        "style_words": list(STYLE_WORDS), "train_step": state["step"], "valid_loss": state["valid"],
        "training_data": [
            {"dataset": "(n)ASAP (CPJKU/asap-dataset @4097b45)", "licence": "CC BY-NC-SA 4.0", "split": "train"},
            {"dataset": "Batik-plays-Mozart (huispaty/batik_plays_mozart @e1b7001)",
             "licence": "not stated (research use)", "split": "train"}],
        "selection": "valid split loss (ASAP valid + Batik valid)",
        "parity_max_abs": parity,
    }
    return write_card(out, fields, version=int(version.lstrip("v")))


def write_card(onnx_path: Path, fields: dict, *, version: int, metrics: dict | None = None) -> dict:
    """The house model card (exports.card): JSON beside the model and the same keys in metadata_props."""
    import onnx

    from symbolic_ai.exports.card import make_card, write

    model = onnx.load(str(onnx_path))
    card = make_card(model, name=f"perform-v{version}", task="perform", version=version,
                     vocabulary={"emotions": fields["emotions"], "style_words": fields["style_words"]},
                     labels=fields["targets"],
                     splits={"train": "ASAP + Batik train", "selection": "ASAP + Batik valid",
                             "report": "ASAP + Batik test (benchmarks/perform_metrics.py)"},
                     metrics=metrics or {"valid_loss": fields["valid_loss"], "parity_max_abs": fields["parity_max_abs"]},
                     **{k: v for k, v in fields.items() if k not in ("emotions", "style_words", "targets")})
    write(model, card, onnx_path)
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/perform")
    ap.add_argument("--cache", default="runs/perform_cache")
    ap.add_argument("--objective", choices=("flow", "regression"), default="flow")
    ap.add_argument("--minutes", type=float, default=38.0)
    ap.add_argument("--steps", type=int, default=3000, help="schedule length (the run may stop earlier)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--d", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--valid-batches", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--emotion-model", default=None, help="emotion model for the labels (name or .onnx path; "
                    "default: the task's model; perform-v2 used emotion-v1)")
    ap.add_argument("--emotion-labels", choices=("model", "proxy"), default="model",
                    help="training windows' emotion: the `emotion` model on the performance, or the "
                         "loudness/density/key proxy of perform-v1")
    ap.add_argument("--export", metavar="ONNX", help="export the run's best checkpoint and exit")
    args = ap.parse_args(argv)
    if args.export:
        version = Path(args.export).stem.split("-")[-1]
        print(json.dumps(export(Path(args.run), Path(args.export), version=version), indent=1)[:2000])
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
