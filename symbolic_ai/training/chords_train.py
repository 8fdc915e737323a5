"""Train `chords-v1`: a dilated 1-D convolution network over beat frames → chord class and bass.

Input per frame: `tasks.chords.frame_features` (37 values). Output: 133 chord-class logits and
12 bass logits per frame. Trained on the train splits of POP909-CL, BPS-FH, Nottingham and
When-in-Rome (cached by `chords_cache`), with random transposition; the checkpoint with the best
valid frame accuracy is kept, the chord-change cost is tuned on valid, and the model is exported
to ONNX with its card.

`python -m symbolic_ai.training.chords_train --steps 3000 --out symbolic_ai/models`
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .. import harmony
from ..tasks.chords import N_FEATURES, decode, frame_features
from .chords_cache import load_cached
from .chords_data import frame_targets

DATASETS = {"pop909_cl": 0.4, "bps_fh": 0.2, "when_in_rome": 0.2, "nottingham": 0.2}
LICENCES = {"pop909_cl": "MIT", "bps_fh": "GPL-3.0", "when_in_rome": "CC BY-SA 4.0 (+ sources')",
            "nottingham": "GPL-3.0"}


class FrameNet(nn.Module):
    """Residual dilated convolutions over frames; heads for chord class and bass pitch class."""

    def __init__(self, n_in: int = N_FEATURES, hidden: int = 128, n_classes: int = harmony.N_CLASSES,
                 dilations: tuple[int, ...] = (1, 2, 4, 8), n_aux: int = 12) -> None:
        super().__init__()
        self.inp = nn.Conv1d(n_in, hidden, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Conv1d(hidden, hidden, 3, padding=d, dilation=d) for d in dilations)
        self.drop = nn.Dropout(0.1)
        self.chord = nn.Conv1d(hidden, n_classes, 1)
        self.bass = nn.Conv1d(hidden, n_aux, 1)  # bass pitch class (chords) or chord change (harmonize)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.relu(self.inp(features.transpose(1, 2)))
        for conv in self.blocks:
            x = x + self.drop(torch.relu(conv(x)))
        return self.chord(x).transpose(1, 2), self.bass(x).transpose(1, 2)


def transpose_features(f: np.ndarray, k: int) -> np.ndarray:
    out = f.copy()
    for b in range(3):
        out[..., 12 * b:12 * b + 12] = np.roll(f[..., 12 * b:12 * b + 12], k, axis=-1)
    return out


def transpose_classes(c: np.ndarray, k: int) -> np.ndarray:
    q = harmony.N_QUALITIES
    return np.where(c == harmony.N_CLASS, c, ((c // q + k) % 12) * q + c % q)


def build(runs: Path, split: str) -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    out = {}
    for ds in DATASETS:
        items = []
        for _, piece, spans in load_cached(runs, ds, split):
            f = frame_features(piece)
            c, b = frame_targets(spans, len(f))
            items.append((f, c, b))
        out[ds] = items
        print(f"{ds} {split}: {len(items)} pieces, {sum(len(i[0]) for i in items)} frames", flush=True)
    return out


def batches(data: dict, rng: np.random.Generator, batch: int, length: int):
    names = [d for d in DATASETS if data.get(d)]
    w = np.array([DATASETS[d] for d in names])
    w /= w.sum()
    while True:
        fs, cs, bs = [], [], []
        for _ in range(batch):
            items = data[names[rng.choice(len(names), p=w)]]
            f, c, b = items[rng.integers(len(items))]
            s = rng.integers(max(len(f) - length, 0) + 1)
            f, c, b = f[s:s + length], c[s:s + length], b[s:s + length]
            pad = length - len(f)
            k = int(rng.integers(12))
            f = transpose_features(f, k)
            c = transpose_classes(c, k)
            b = np.where(b < 0, -100, (b + k) % 12)
            fs.append(np.pad(f, ((0, pad), (0, 0))))
            cs.append(np.pad(c, (0, pad), constant_values=-100))
            bs.append(np.pad(b, (0, pad), constant_values=-100))
        yield torch.tensor(np.stack(fs)), torch.tensor(np.stack(cs)), torch.tensor(np.stack(bs))


@torch.no_grad()
def predict(net: nn.Module, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    net.eval()
    c, b = net(torch.tensor(f[None]))
    return torch.log_softmax(c[0], -1).numpy().astype(np.float64), torch.log_softmax(b[0], -1).numpy().astype(np.float64)


def evaluate(net: nn.Module, data: dict, switch_costs: tuple[float, ...] = (0.0,)) -> dict:
    """Frame accuracy (chord class, root) per dataset after Viterbi with each switch cost."""
    res: dict = {}
    for ds, items in data.items():
        if not items:
            continue
        preds = [(predict(net, f), c) for f, c, _ in items]
        for cost in switch_costs:
            hit = root = n = 0
            for (lp, lb), c in preds:
                pred = np.empty(len(c), dtype=np.int64)
                for s, e, k, _ in decode(lp, lb, cost):
                    pred[s:e] = k
                ok = c != harmony.N_CLASS
                hit += int((pred[ok] == c[ok]).sum())
                root += int((pred[ok] // harmony.N_QUALITIES == c[ok] // harmony.N_QUALITIES).sum())
                n += int(ok.sum())
            res.setdefault(ds, {})[cost] = {"acc": hit / max(n, 1), "root": root / max(n, 1)}
    return res


def export(net: nn.Module, path: Path, *, aux_name: str, **card_fields) -> dict:
    """ONNX (dynamic batch and frame axes) through the shared exporter, parity-checked against
    torch on random inputs of 7, 123 and 400 frames, with its card (JSON + metadata_props)."""
    from symbolic_ai.exports.card import make_card, write
    from symbolic_ai.exports.onnx import export as onnx_export

    n_in = net.inp.in_channels
    rng = np.random.default_rng(0)
    parity_inputs = [{"features": rng.random((1, t, n_in), dtype=np.float32)} for t in (7, 123, 400)]
    model, figures = onnx_export(net.eval(), {"features": torch.randn(1, 50, n_in)}, path,
                                 output_names=["chord_logits", aux_name],
                                 dynamic={"features": {0: "batch", 1: "frames"}}, parity_inputs=parity_inputs)
    figures.pop("_reference", None)
    card = make_card(model, version=1, **card_fields, **figures)
    write(model, card, path)
    return card


def arguments(doc: str, steps: int, length: int) -> argparse.Namespace:
    """The command-line options both FrameNet trainers share."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--out", default="symbolic_ai/models")
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=length)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=25.0, help="stop (keeping the best checkpoint) after this")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return args


def fit(net: nn.Module, gen, loss_fn: Callable, valid_score: Callable[[nn.Module], tuple[float, str]],
        args: argparse.Namespace, checkpoint: Path) -> nn.Module:
    """AdamW + one-cycle schedule; every `eval_every` steps score on valid, keep the best weights."""
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    best, best_state, t0 = -1.0, None, time.time()
    for step in range(1, args.steps + 1):
        net.train()
        loss = loss_fn(net, next(gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        late = time.time() - t0 > 60 * args.minutes
        if step % args.eval_every == 0 or step == args.steps or late:
            score, text = valid_score(net)
            print(f"step {step} loss {loss.item():.3f} valid {score:.4f} {text} {time.time() - t0:.0f}s", flush=True)
            if score > best:
                best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
                torch.save(best_state, checkpoint)
            if late:
                print(f"time limit of {args.minutes} min reached at step {step}", flush=True)
                break
    net.load_state_dict(best_state)
    return net


def main() -> None:
    args = arguments(__doc__, steps=3000, length=96)
    runs = Path(args.runs)
    train, valid = build(runs, "train"), build(runs, "valid")
    net = FrameNet(hidden=args.hidden)
    ce = nn.CrossEntropyLoss(ignore_index=-100)

    def loss_fn(net: nn.Module, batch) -> torch.Tensor:
        f, c, b = batch
        lc, lb = net(f)
        return ce(lc.reshape(-1, lc.shape[-1]), c.reshape(-1)) + 0.5 * ce(lb.reshape(-1, 12), b.reshape(-1))

    def valid_score(net: nn.Module) -> tuple[float, str]:
        r = evaluate(net, valid)
        return (float(np.mean([v[0.0]["acc"] for v in r.values()])),
                " ".join(f"{d}={v[0.0]['acc']:.3f}" for d, v in r.items()))

    gen = batches(train, np.random.default_rng(args.seed), args.batch, args.length)
    net = fit(net, gen, loss_fn, valid_score, args, runs / "chords-v1.pt")
    costs = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0)
    r = evaluate(net, valid, costs)
    mean = {c: float(np.mean([r[d][c]["acc"] for d in r])) for c in costs}
    cost = max(mean, key=mean.get)
    print("switch cost on valid:", {c: round(v, 4) for c, v in mean.items()}, "→", cost, flush=True)
    n_params = sum(p.numel() for p in net.parameters())
    export(net, Path(args.out) / "chords-v1.onnx", aux_name="bass_logits", name="chords-v1", task="chords",
           vocabulary={"features": "symbolic_ai.tasks.chords.frame_features: per beat, 12 chroma + 12 bass "
                                   "one-hot + 12 onset chroma + sounding flag", "n_features": N_FEATURES,
                       "qualities": list(harmony.QUALITIES), "class": "root * 11 + quality; 132 = no chord"},
           labels=[str(harmony.from_index(i) or "N") for i in range(harmony.N_CLASSES)],
           training_data=[{"dataset": d, "licence": LICENCES[d], "split": "train"} for d in DATASETS],
           splits={"train": "train", "selection": "valid (best mean frame accuracy; switch cost)",
                   "test": "BPS-FH and POP909-CL test, reported once in docs/benchmarks.md"},
           metrics={"valid_frame_accuracy": {d: r[d][cost] for d in r}},
           architecture=f"FrameNet: 1-D dilated residual CNN (hidden {args.hidden}, dilations 1,2,4,8) over "
                        f"beat frames; {n_params} parameters",
           resolution_beats=1.0, switch_cost=cost, steps=args.steps, seed=args.seed)

    print(json.dumps({"valid": {d: r[d][cost] for d in r}, "switch_cost": cost}), flush=True)


if __name__ == "__main__":
    main()
