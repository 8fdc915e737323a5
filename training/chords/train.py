"""Train `chords-v1`: a dilated 1-D convolution network over beat frames → chord class and bass.

Input per frame: `tasks.chords.frame_features` (37 values). Output: 133 chord-class logits and
12 bass logits per frame. Trained on the train splits of POP909-CL, BPS-FH, Nottingham and
When-in-Rome (cached by `python -m training chords cache`), with random transposition; the checkpoint with the best
valid frame accuracy is kept, the chord-change cost is tuned on valid, and the model is exported
to ONNX with its card.

`python -m training chords train --steps 3000` (outputs in runs/chords/; `--out DIR` elsewhere)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from symbolic_ai import harmony
from symbolic_ai.tasks.chords import N_FEATURES, decode, frame_features
from training.common.chord_cache import load_cached
from training.common.chord_data import frame_targets
from training.common.frames import FrameNet, arguments, export, fit, transpose_classes, transpose_features

DATASETS = {"pop909_cl": 0.4, "bps_fh": 0.2, "when_in_rome": 0.2, "nottingham": 0.2}
LICENCES = {"pop909_cl": "MIT", "bps_fh": "GPL-3.0", "when_in_rome": "CC BY-SA 4.0 (+ sources')",
            "nottingham": "GPL-3.0"}


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


def main() -> None:
    args = arguments(__doc__, "chords", steps=3000, length=96)
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
    net = fit(net, gen, loss_fn, valid_score, args, Path(args.out) / "chords-v1.pt")
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
