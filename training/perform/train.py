"""Train the `perform` model: conditional flow matching (or direct regression) over score notes.

    python -m training perform train --run runs/perform-v4 --init-onnx symbolic_ai/models/perform-v3.onnx --d 128 --lr 3e-4 \
        --minutes 62 --steps 100000 --threads 1 --bp-weight 2 --bf16
    python -m training perform train --run runs/perform-reg --d 128 --objective regression --minutes 25
    python -m training perform train --run runs/perform-v4 --export runs/perform-v4/perform-v4.onnx

Data: the per-note cache of `python -m training perform data` (ASAP + Batik, train split; valid for selection).
Targets per note: the four codec parameters plus the sustain pedal (`perform_features.encode_pedal`).
Flow matching on the optimal-transport path: x_t = (1 - t) x0 + t x1, target x1 - x0, loss on the
notes the window does not give. Each window gets one inpainting mask (none, random notes, beats,
bars, a segment, or everything before a point = continuation). Conditions, dropped at random
for classifier-free guidance: the window's measured control properties (`perform_features.CONTROL_DIMS`:
tempo relative to the performance's mean, loudness, articulation, velocity spread; z values over
the training windows), and the intended tempo. Emotion and style words are fixed points in that
control space (`CONTROL_WORDS`), so no word label comes from another model. Score features include
the match files' markings (staccato, accent, tenuto, fermata, ornaments) and structure.
Resumable: checkpoints in the run directory.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from symbolic_ai.errors import require
from symbolic_ai.perform_features import (CONTROL_DIMS, CONTROL_WORDS, FEATURE_NAMES, N_FEATURES, TARGETS,
                                          encode_pedal, encode_performance, params_to_targets, score_features,
                                          window_control)
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
                               a["beat_unit"], a["staff"], a["marks"])
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


def window_controls(perfs: list[dict]) -> np.ndarray:
    """Raw control values (`window_control`) of every training window (256 notes, hop 128)."""
    out = []
    for p in perfs:
        for lo in range(0, max(len(p["x1"]) - WINDOW, 0) + 1, WINDOW // 2):
            out.append(window_control(p["x1"][lo:lo + WINDOW], p["tempo_mean"]))
    return np.array(out)


def control_stats(perfs: list[dict]) -> dict:
    """Mean and std of each control property over the training windows (the z scale of the words)."""
    v = window_controls(perfs)
    return {"dims": list(CONTROL_DIMS), "mean": v.mean(0).tolist(), "std": np.maximum(v.std(0), 1e-3).tolist()}


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


def make_batch(perfs: list[dict], rng: np.random.Generator, batch: int, cs: dict, drop_all: float = 0.2,
               drop_one: float = 0.3) -> dict:
    """Windows with their measured controls (z values; all dropped with `drop_all`, each with `drop_one`,
    for classifier-free guidance and for words that name only some properties)."""
    weights = np.array([len(p["x1"]) for p in perfs], dtype=float)
    pick = rng.choice(len(perfs), size=batch, p=weights / weights.sum())
    out: dict[str, list] = {k: [] for k in ("features", "x1", "mask", "control", "tempo")}
    k = len(CONTROL_DIMS)
    for i in pick:
        p = perfs[i]
        n = len(p["x1"])
        L = min(WINDOW, n)
        lo = int(rng.integers(0, n - L + 1))
        hi = lo + L
        z = np.clip((window_control(p["x1"][lo:hi], p["tempo_mean"]) - cs["mean"]) / cs["std"], -3, 3)
        known = (rng.random(k) > drop_one) & (rng.random() > drop_all)
        out["features"].append(p["features"][lo:hi])
        out["x1"].append(p["x1"][lo:hi])
        out["mask"].append(sample_mask(rng, p["onset"][lo:hi], p["pos_in_bar"][lo:hi]))
        out["control"].append(np.r_[z * known, known].astype(np.float32))
        out["tempo"].append([p["tempo_mean"], 1.0] if rng.random() < 0.5 else [0.0, 0.0])
    return {key: np.asarray(v) for key, v in out.items()}


def init_from_onnx(model, path: Path) -> dict:
    """Warm start from a released perform model's ONNX: its weights where the shapes allow and zero
    weights for the score features it did not read, so step 0 renders as that model did. From
    perform-v2 (emotion and style embeddings) its "none" embeddings become the bias of the control
    network (whose weights start at zero); from perform-v3 the control network is copied. Returns
    the model's card (its target stats, and control stats when it has them, are reused)."""
    import onnx
    import torch
    from onnx import numpy_helper

    m = onnx.load(str(path))
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    card = json.loads(Path(path).with_suffix(".json").read_text())
    state = model.state_dict()
    named = {k: v for k, v in init.items() if k in state and tuple(v.shape) == tuple(state[k].shape)}
    mats = [init[k] for k in sorted((k for k in init if k.startswith("onnx::MatMul_")),
                                    key=lambda k: int(k.rsplit("_", 1)[1]))]
    order = ["inp.weight"] + [f"blocks.{i}.{n}.weight" for i in range(len(model.blocks))
                              for n in ("qkv", "proj", "ff.0", "ff.2")] + ["out.weight"]
    if len(mats) != len(order):
        raise SystemExit(f"{path}: {len(mats)} matrices, expected {len(order)} (a different architecture)")
    for k, w in zip(order, mats):
        w = torch.from_numpy(w.T.copy())
        if k == "inp.weight":  # old columns: features (n_old), x, known, mask; new features in between
            n_old, k_p = len(card["features"]), model.out.out_features
            new = torch.zeros_like(state[k])
            nf = new.shape[1] - 2 * k_p - 1
            new[:, :n_old] = w[:, :n_old]
            new[:, nf:] = w[:, n_old:]
            w = new
        named[k] = w
    for k, v in named.items():
        state[k] = torch.as_tensor(v)
    with torch.no_grad():
        model.load_state_dict(state)
        if "emotion.weight" in init:  # perform-v2: its "none" embeddings become the control network's bias
            model.control[-1].weight.zero_()
            model.control[-1].bias.copy_(torch.from_numpy(init["emotion.weight"][0] + init["style.weight"][0]))
    return card


# -- training ----------------------------------------------------------------------------------
def loss_on(model, b: dict, objective: str, gen, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Masked mean squared error; `weights` (P,) weigh the parameters (beat period first)."""
    import torch

    f = torch.from_numpy(b["features"]).float()
    x1 = torch.from_numpy(b["x1"]).float()
    m = torch.from_numpy(b["mask"]).float().unsqueeze(-1)
    control = torch.from_numpy(b["control"]).float()
    tempo = torch.from_numpy(b["tempo"]).float()
    B = f.shape[0]
    if objective == "flow":
        x0 = torch.randn(x1.shape, generator=gen)
        t = torch.rand(B, generator=gen) if "t" not in b else torch.from_numpy(b["t"]).float()
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * x1
        xt = m * x1 + (1 - m) * xt
        pred = model(f, xt, x1, m, t, control, tempo)
        target = x1 - x0
    else:
        zeros = torch.zeros_like(x1)
        pred = model(f, zeros, x1, m, torch.zeros(B), control, tempo)
        target = x1
    w = 1 - m
    err = (pred.float() - target) ** 2 * (w if weights is None else w * weights)
    return err.sum() / (w.sum() * x1.shape[-1]).clamp(min=1)


def set_lr(opt, args: argparse.Namespace, step: int, time_frac: float, warmup: int) -> float:
    """Linear warm-up, then cosine to 5 % over `args.steps` or the time budget, whichever ends first."""
    frac = min(1.0, max(step / args.steps, time_frac))
    lr: float = args.lr * min(1.0, (step + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
    for g in opt.param_groups:
        g["lr"] = lr
    return lr


def descend(model, opt, loss) -> None:
    """One optimiser step on `loss` (gradients clipped to norm 1)."""
    import torch

    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def start_run(args: argparse.Namespace, step: str) -> tuple[Path, Callable[[str], None]]:
    """Torch threads set, the run directory with its config, and a function that prints and logs a line."""
    torch = require("torch", "train")
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    save_run_config("perform", step, args, run)
    log = open(run / "log.txt", "a")

    def say(msg: str) -> None:
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    return run, say


def train(args: argparse.Namespace) -> None:
    torch = require("torch", "train")
    from training.perform.model import PerformNet

    run, say = start_run(args, "train")
    cache = Path(args.cache)
    train_p, valid_p = prepare(load_cache(cache, "train")), prepare(load_cache(cache, "valid"))
    model = PerformNet(N_FEATURES, d=args.d, layers=args.layers, heads=args.heads, n_params=5)
    warm = init_from_onnx(model, Path(args.init_onnx)) if args.init_onnx and not (run / "last.pt").exists() else None
    ckpt = run / "last.pt"
    stats = (warm["stats"] if warm else torch.load(ckpt, weights_only=False)["config"]["stats"] if ckpt.exists()
             else target_stats(train_p))
    for p in train_p + valid_p:
        p["x1"] = params_to_targets(p["params"], stats)
        p["tempo_mean"] = float(p["x1"][:, 0].mean())
    th = (torch.load(ckpt, weights_only=False)["config"]["control_stats"] if ckpt.exists()
          else warm["control_stats"] if warm and "control_stats" in warm else control_stats(train_p))
    say(f"train {len(train_p)} performances / {sum(len(p['x1']) for p in train_p)} notes; "
        f"valid {len(valid_p)} / {sum(len(p['x1']) for p in valid_p)}")
    n_params = train_p[0]["params"].shape[1]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    ckpt = run / "last.pt"
    step, best, spent = 0, math.inf, 0.0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"]), opt.load_state_dict(state["opt"])
        step, best, spent = state["step"], state["best"], state.get("spent_sec", 0.0)
        say(f"resumed at step {step} (best valid {best:.4f})")
    config = {"objective": args.objective, "d": args.d, "layers": args.layers, "heads": args.heads,
              "n_params": n_params, "window": WINDOW, "stats": stats, "control_stats": th,
              "init": Path(args.init_onnx).stem if args.init_onnx else None}
    weights = torch.tensor([args.bp_weight] + [1.0] * (n_params - 1))
    weights = weights * n_params / weights.sum()  # the same total scale as unweighted
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
        lr = set_lr(opt, args, step, (time.time() - t0) / budget, warmup=100)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = loss_on(model, make_batch(train_p, rng, args.batch, th), args.objective, gen, weights)
        descend(model, opt, loss)
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
INPUTS = ("features", "x", "known", "mask", "t", "control", "tempo")


def export(run: Path, out: Path, version: str = "v1", metrics: dict | None = None) -> dict:
    """best.pt → ONNX (opset 17, dynamic batch and length) + model card; parity checked."""
    torch = require("torch", "train")
    import onnxruntime as ort

    from training.perform.model import PerformNet

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
          torch.rand(B, generator=g), torch.randn(B, 2 * len(CONTROL_DIMS), generator=g),
          torch.tensor([[0.3, 1.0], [0.0, 0.0]]))
    dyn = {k: {0: "batch", 1: "notes"} for k in ("features", "x", "known", "mask")}
    dyn.update({k: {0: "batch"} for k in ("t", "control", "tempo")})
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
        "control_labels": "measured per training window (perform_features.window_control), z over train windows",
        "stats": cfg["stats"], "control_stats": cfg["control_stats"],
        "control_words": {w: list(v) for w, v in CONTROL_WORDS.items()}, "train_step": state["step"], "valid_loss": state["valid"],
        "training_data": [
            {"dataset": "(n)ASAP (CPJKU/asap-dataset @4097b45)", "licence": "CC BY-NC-SA 4.0", "split": "train"},
            {"dataset": "Batik-plays-Mozart (huispaty/batik_plays_mozart @e1b7001)",
             "licence": "not stated (research use)", "split": "train"}],
        "selection": "valid split loss (ASAP valid + Batik valid); guidance default by the valid control test",
        "init": cfg.get("init"),
        "parity_max_abs": parity,
    }
    if metrics:
        metrics = {"valid_loss": fields["valid_loss"], "parity_max_abs": parity, **metrics}
    return write_card(out, fields, version=int(version.lstrip("v")), metrics=metrics)


def write_card(onnx_path: Path, fields: dict, *, version: int, metrics: dict | None = None,
               name: str | None = None) -> dict:
    """The house model card (exports.card): JSON beside the model and the same keys in metadata_props
    (`name` defaults to perform-v<version>)."""
    import onnx

    from exports.card import make_card, write

    model = onnx.load(str(onnx_path))
    card = make_card(model, name=name or f"perform-v{version}", task="perform", version=version,
                     vocabulary={"control_dims": list(CONTROL_DIMS), "words": list(CONTROL_WORDS)},
                     labels=fields["targets"],
                     splits={"train": "ASAP + Batik train", "selection": "ASAP + Batik valid",
                             "report": "ASAP + Batik test (benchmarks/perform_eval.py)"},
                     metrics=metrics or {"valid_loss": fields["valid_loss"], "parity_max_abs": fields["parity_max_abs"]},
                     **{k: v for k, v in fields.items() if k != "targets"})
    write(model, card, onnx_path)
    return card


def add_run_args(ap: argparse.ArgumentParser, *, run: str, minutes: float, steps: int, lr: float, threads: int,
                 every: int) -> None:
    """The options every perform training run has (run directory, cache, budget, schedule, seed)."""
    ap.add_argument("--run", default=run)
    ap.add_argument("--cache", default="runs/perform_cache")
    ap.add_argument("--minutes", type=float, default=minutes)
    ap.add_argument("--steps", type=int, default=steps, help="schedule length (the run may stop earlier)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--every", type=int, default=every, help="steps between validations and checkpoints")
    ap.add_argument("--seed", type=int, default=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap, run="runs/perform", minutes=38.0, steps=3000, lr=5e-4, threads=2, every=100)
    ap.add_argument("--objective", choices=("flow", "regression"), default="flow")
    ap.add_argument("--d", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--valid-batches", type=int, default=8)
    ap.add_argument("--bp-weight", type=float, default=1.0, help="loss weight of the beat period (others 1)")
    ap.add_argument("--bf16", action="store_true", help="train under torch.autocast('cpu', bfloat16)")
    ap.add_argument("--init-onnx", help="warm start from a released model's ONNX (+ its .json card): perform-v2")
    ap.add_argument("--metrics", help="with --export: a JSON file of figures for the card's metrics")
    ap.add_argument("--export", metavar="ONNX", help="export the run's best checkpoint and exit")
    args = ap.parse_args(argv)
    if args.export:
        tail = Path(args.export).stem.split("-")[-1]
        version = tail if tail.lstrip("v").isdigit() else "v0"  # a baseline (perform-reg.onnx): version 0
        metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
        print(json.dumps(export(Path(args.run), Path(args.export), version=version, metrics=metrics), indent=1)[:2000])
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
