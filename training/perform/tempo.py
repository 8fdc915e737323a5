"""Train the tempo-curve model of `perform`: a bidirectional GRU over a score's onset groups that
predicts each group's log2 beat period relative to the performance's mean (the tempo curve).

    python -m training perform tempo --run runs/perform-tempo --minutes 40 --threads 1
    python -m training perform tempo --run runs/perform-tempo --export runs/perform-tempo/perform-v5-tempo.onnx

Data: the per-note cache of `python -m training perform data` (ASAP + Batik; train split to fit,
valid to select). Inputs per onset group: `perform_features.group_features` (the mean and the max
of its notes' score features and its size). Target: the group's beat period (the codec's, as the
note model's first parameter), log2, minus the performance's note-weighted mean, clipped to ±2.
Loss: note-weighted squared error of the curve, both sides centred over each training crop (only
the shape of the curve counts: the task's tempo rules set the level). The checkpoint kept is the
one with the best valid selection figure: per-note r of the beat period, after the task's tempo
rules (`shape_tempo`, the performer's mean tempo as target), with the ASAP valid performer, mean
over performances. Resumable: checkpoints in the run directory.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from symbolic_ai.errors import require
from symbolic_ai.perform_features import N_GROUP_FEATURES, group_features
from symbolic_ai.perform_rules import RIT_DEPTH, shape_tempo
from training.perform.data import load_cache
from training.perform.train import add_run_args, descend, prepare, set_lr, start_run

CROP = 384  # onset groups per training crop
CLIP = 2.0  # log2 relative beat periods beyond ±CLIP are clipped (a pause 4× the mean tempo)


def curve_rows(rows: list[dict]) -> list[dict]:
    """Per performance: group features, the relative log2 beat period per group, note counts."""
    out = []
    for p in prepare(rows):
        gf, groups = group_features(p["features"], p["onset"])
        lbp = np.log2(np.array([p["params"][g[0], 0] for g in groups]))
        size = np.array([len(g) for g in groups], dtype=np.float32)
        y = np.clip(lbp - np.sum(size * lbp) / size.sum(), -CLIP, CLIP).astype(np.float32)
        a = p["arrays"]
        out.append({**p, "groups_x": gf, "groups": groups, "y": y, "size": size,
                    "bar_len": float(np.median(a["bar_len"]))})
    return out


def make_model(d: int, layers: int, dropout: float):
    torch = require("torch", "train")
    from torch import nn

    class TempoNet(nn.Module):
        """(B, G, N_GROUP_FEATURES) → (B, G) relative log2 beat period."""

        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Sequential(nn.Linear(N_GROUP_FEATURES, d), nn.GELU(), nn.Dropout(dropout))
            self.gru = nn.GRU(d, d, num_layers=layers, batch_first=True, bidirectional=True,
                              dropout=dropout if layers > 1 else 0.0)
            self.out = nn.Linear(2 * d, 1)

        def forward(self, groups: torch.Tensor) -> torch.Tensor:
            h, _ = self.gru(self.inp(groups))
            return self.out(h).squeeze(-1)

    return TempoNet()


def make_batch(perfs: list[dict], rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """`batch` crops of one common length (at most CROP groups), performances weighted by length."""
    w = np.array([len(p["y"]) for p in perfs], dtype=float)
    pick = rng.choice(len(perfs), size=batch, p=w / w.sum())
    L = min(CROP, min(len(perfs[i]["y"]) for i in pick))
    xs, ys, ws = [], [], []
    for i in pick:
        p = perfs[i]
        lo = int(rng.integers(0, len(p["y"]) - L + 1))
        xs.append(p["groups_x"][lo:lo + L])
        ys.append(p["y"][lo:lo + L])
        ws.append(p["size"][lo:lo + L])
    return {"x": np.stack(xs), "y": np.stack(ys), "w": np.stack(ws)}


def centred_loss(pred, y, w):
    """Note-weighted squared error of the curves, each centred on its own weighted mean."""
    def centre(v):
        return v - (v * w).sum(1, keepdim=True) / w.sum(1, keepdim=True)
    return ((centre(pred) - centre(y)) ** 2 * w).sum() / w.sum()


def note_bp(p: dict, curve: np.ndarray) -> np.ndarray:
    """Per-note beat periods (s/quarter) of a group curve (log2, any level)."""
    out = np.empty(len(p["onset"]))
    for g, v in zip(p["groups"], 2.0 ** curve):
        out[g] = v
    return out


def selection_r(p: dict, curve: np.ndarray, share: float) -> float:
    """Per-note r of the beat period after the task's tempo rules with the performer's."""
    human = p["params"][:, 0]
    qpm = 60.0 / float(np.exp(np.mean(np.log(human))))
    n = len(human)
    bp = shape_tempo(p["onset"], p["duration"], note_bp(p, curve), np.full(n, qpm), p["features"][:, 36] > 0,
                     p["bar_len"], RIT_DEPTH, share)
    return float(np.corrcoef(bp, human)[0, 1])


def evaluate(model, perfs: list[dict], share: float) -> tuple[float, float]:
    """Valid loss (whole performances) and the selection figure (ASAP performances)."""
    import torch

    model.eval()
    losses, rs = [], []
    with torch.no_grad():
        for p in perfs:
            x = torch.from_numpy(p["groups_x"][None])
            pred = model(x)
            losses.append(float(centred_loss(pred, torch.from_numpy(p["y"][None]), torch.from_numpy(p["size"][None]))))
            if p["dataset"] == "asap":
                rs.append(selection_r(p, pred[0].numpy(), share))
    return float(np.mean(losses)), float(np.mean(rs))


def train(args: argparse.Namespace) -> None:
    torch = require("torch", "train")
    run, say = start_run(args, "tempo")
    cache = Path(args.cache)
    train_p, valid_p = curve_rows(load_cache(cache, "train")), curve_rows(load_cache(cache, "valid"))
    say(f"train {len(train_p)} performances / {sum(len(p['y']) for p in train_p)} groups; "
        f"valid {len(valid_p)} / {sum(len(p['y']) for p in valid_p)}")
    config = {"d": args.d, "layers": args.layers, "crop": CROP, "clip": CLIP, "share": args.share}
    model = make_model(args.d, args.layers, args.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    ckpt = run / "last.pt"
    step, best, spent = 0, -math.inf, 0.0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"]), opt.load_state_dict(state["opt"])
        step, best, spent = state["step"], state["best"], state.get("spent_sec", 0.0)
        say(f"resumed at step {step} (best valid r {best:.4f})")
    rng = np.random.default_rng(args.seed + step)
    budget = args.minutes * 60
    t0 = time.time() - spent
    t_end = t0 + budget
    while time.time() < t_end and step < args.steps:
        model.train()
        lr = set_lr(opt, args, step, (time.time() - t0) / budget, warmup=50)
        b = make_batch(train_p, rng, args.batch)
        descend(model, opt, centred_loss(model(torch.from_numpy(b["x"])), torch.from_numpy(b["y"]),
                                         torch.from_numpy(b["w"])))
        step += 1
        if step % args.every == 0 or time.time() >= t_end or step >= args.steps:
            vloss, vr = evaluate(model, valid_p, args.share)
            if vr > best:
                best = vr
                torch.save({"model": model.state_dict(), "config": config, "step": step, "valid_loss": vloss,
                            "valid_r": vr}, run / "best.pt")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                        "config": config, "spent_sec": time.time() - t0}, ckpt)
            say(f"step {step} valid loss {vloss:.4f} r {vr:.4f} best r {best:.4f} "
                f"lr {lr:.2e} {(time.time() - t0) / 60:.1f} min")
    say(f"done at step {step}, best valid r {best:.4f}")


def export(run: Path, out: Path, name: str) -> dict:
    """best.pt → ONNX (opset 17, dynamic group count) + the house card; parity checked."""
    torch = require("torch", "train")
    import onnxruntime as ort

    from symbolic_ai.perform_features import FEATURE_NAMES
    from training.perform.train import write_card

    state = torch.load(run / "best.pt", weights_only=False)
    cfg = state["config"]
    model = make_model(cfg["d"], cfg["layers"], 0.0)
    model.load_state_dict(state["model"])
    model.eval()
    ex = torch.randn(1, 53, N_GROUP_FEATURES, generator=torch.Generator().manual_seed(0))
    torch.onnx.export(model, (ex,), str(out), input_names=["groups"], output_names=["curve"],
                      dynamic_axes={"groups": {0: "batch", 1: "groups"}, "curve": {0: "batch", 1: "groups"}},
                      opset_version=17, dynamo=False)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    longer = torch.randn(1, 301, N_GROUP_FEATURES, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        parity = max(float(np.abs(model(v).numpy() - sess.run(None, {"groups": v.numpy()})[0]).max())
                     for v in (ex, longer))
    fields = {
        "objective": "regression (tempo curve)",
        "architecture": f"bidirectional GRU over onset groups, {cfg['layers']} layers, d={cfg['d']}",
        "features": [f"{s}_{n}" for s in ("mean", "max") for n in FEATURE_NAMES] + ["log2_group_size"],
        "targets": ["log2_beat_period_relative"],
        "target_space": "log2 beat period (s/quarter) of each onset group minus the performance's "
                        f"note-weighted mean, clipped ±{CLIP:g}; only the curve's shape is trained",
        "train_step": state["step"], "valid_loss": state["valid_loss"], "valid_r": state["valid_r"],
        "training_data": [
            {"dataset": "(n)ASAP (CPJKU/asap-dataset @4097b45)", "licence": "CC BY-NC-SA 4.0", "split": "train"},
            {"dataset": "Batik-plays-Mozart (huispaty/batik_plays_mozart @e1b7001)",
             "licence": "not stated (research use)", "split": "train"}],
        "selection": "ASAP valid: per-note r of the beat period after the task's tempo rules with the performer",
        "parity_max_abs": parity,
    }
    return write_card(out, fields, version=int(name.rsplit("-v", 1)[1].split("-")[0]), name=name,
                      metrics={"valid_loss": state["valid_loss"], "valid_r": state["valid_r"], "parity_max_abs": parity})


def release(note_onnx: Path, run: Path, out_dir: Path, version: int, metrics: dict | None = None,
            weight: float = 1.0) -> dict:
    """perform-v<version>: the note model's graph from `note_onnx` under a new card that names its
    tempo-curve model, and perform-v<version>-tempo exported from `run`. Returns the note card."""
    import onnx

    from exports.card import make_card, write

    name = f"perform-v{version}"
    curve = export(run, out_dir / f"{name}-tempo.onnx", f"{name}-tempo")
    old = json.loads(note_onnx.with_suffix(".json").read_text())
    computed = {"name", "task", "version", "inputs", "outputs", "sha256", "opset", "library_versions",
                "file_sha256", "vocabulary", "labels", "training_data", "splits", "metrics"}
    model = onnx.load(str(note_onnx))
    card = make_card(model, name=name, task="perform", version=version, vocabulary=old["vocabulary"],
                     labels=old["labels"], training_data=old["training_data"], splits=old["splits"],
                     metrics=metrics or old["metrics"], **{k: v for k, v in old.items() if k not in computed},
                     note_model_from=old["name"], tempo_model=curve["name"], curve_weight=weight)
    write(model, card, out_dir / f"{name}.onnx")
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap, run="runs/perform-tempo", minutes=40.0, steps=20000, lr=2e-3, threads=1, every=200)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--share", type=float, default=0.5, help="trend share of the selection figure (shape_tempo)")
    ap.add_argument("--export", metavar="ONNX", help="export the run's best checkpoint and exit")
    ap.add_argument("--release", nargs=2, metavar=("NOTE_ONNX", "VERSION"),
                    help="write perform-vVERSION (NOTE_ONNX's graph) and perform-vVERSION-tempo (this run) "
                         "to --out-dir, then exit")
    ap.add_argument("--out-dir", default="symbolic_ai/models")
    ap.add_argument("--metrics", help="with --release: a JSON file of figures for the cards' metrics")
    ap.add_argument("--weight", type=float, default=1.0, help="with --release: the curve weight chosen on valid")
    args = ap.parse_args(argv)
    if args.release:
        metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
        card = release(Path(args.release[0]), Path(args.run), Path(args.out_dir), int(args.release[1]), metrics,
                       args.weight)
        print(json.dumps(card, indent=1)[:2000])
        return 0
    if args.export:
        print(json.dumps(export(Path(args.run), Path(args.export), Path(args.export).stem), indent=1)[:2000])
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
