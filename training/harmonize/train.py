"""Train `harmonize-v1`: per-beat chord and chord-change probabilities from a melody and a style.

The network is `training.common.frames.FrameNet` over `tasks.harmonize.melody_features` (43 values per
beat), with a 133-class chord head and a 1-logit change head. Chord-to-chord bigrams (relative
to the first root, so transposition-invariant) and the probability of keeping the chord from one
slot to the next at each harmonic rhythm are counted on the same training melodies and stored in
the card for the HMM decoder. Data: `python -m training harmonize data` caches (pop, folk, chorale train splits);
the checkpoint with the best mean valid beat accuracy is kept.

`python -m training harmonize train --steps 2500` (outputs in runs/harmonize/; `--out DIR` elsewhere)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from symbolic_ai import harmony
from symbolic_ai.tasks.harmonize import N_FEATURES, STYLES, melody_features, slot_bounds
from training.common.chord_data import frame_targets
from training.common.frames import FrameNet, arguments, export, fit, transpose_classes
from training.harmonize.data import load_style

WEIGHTS = {"pop": 0.4, "folk": 0.3, "chorale": 0.3}
SOURCES = {"pop": "POP909 melody (MIT) + POP909-CL chords (MIT); Chord Melody Dataset lead sheets (MIT)", "folk": "Nottingham (GPL-3.0)",
           "chorale": "Bach chorales, music21 corpus + When-in-Rome analyses (CC BY-SA 4.0)"}


def build(runs: Path, split: str) -> dict[str, list]:
    out = {}
    for style in STYLES:
        items = []
        for _, mel, spans in load_style(style, split, runs):
            if not len(mel.notes):
                continue
            f = melody_features(mel, style)
            c, _ = frame_targets(spans, len(f))
            change = np.concatenate([[1.0], (c[1:] != c[:-1]).astype(np.float64)])
            items.append((f, c, change, mel))
        out[style] = items
        print(f"{style} {split}: {len(items)} melodies, {sum(len(i[0]) for i in items)} beats", flush=True)
    return out


def transitions(data: dict) -> dict:
    """Relative bigram log-probabilities of chord changes and slot-level stay probabilities."""
    q = harmony.N_QUALITIES
    rel = np.ones((12, q, q))  # add-one smoothing
    to_n = 1.0
    n_changes = 0
    stay = {r: [0, 0] for r in ("bar", "half", "beat")}
    for items in data.values():
        for f, c, _, mel in items:
            seq = [int(x) for i, x in enumerate(c) if i == 0 or x != c[i - 1]]
            for a, b in zip(seq[:-1], seq[1:]):
                n_changes += 1
                if harmony.N_CLASS in (a, b):
                    to_n += 1
                    continue
                rel[(b // q - a // q) % 12, a % q, b % q] += 1
            for r in stay:
                bounds = slot_bounds(mel, r, len(c))
                at = c[np.clip(bounds[:-1], 0, len(c) - 1)]
                stay[r][0] += int((at[1:] == at[:-1]).sum())
                stay[r][1] += max(len(at) - 1, 0)
    total = rel.sum() + to_n
    # log P(next = b | current = a, change): normalise per (a quality) over 12 × 11 targets
    per_from = rel.sum(axis=(0, 2), keepdims=True)
    rel_lp = np.log(rel / per_from)
    return {"relative": np.round(rel_lp.transpose(0, 1, 2), 4).tolist(),
            "to_or_from_n": round(float(np.log(to_n / total)), 4), "changes_counted": n_changes,
            "stay": {r: round(a / max(b, 1), 4) for r, (a, b) in stay.items()}}


def batches(data: dict, rng: np.random.Generator, batch: int, length: int):
    names = [s for s in STYLES if data.get(s)]
    w = np.array([WEIGHTS[s] for s in names])
    w /= w.sum()
    while True:
        fs, cs, hs = [], [], []
        for _ in range(batch):
            items = data[names[rng.choice(len(names), p=w)]]
            f, c, h, _ = items[rng.integers(len(items))]
            s = rng.integers(max(len(f) - length, 0) + 1)
            f, c, h = f[s:s + length].copy(), c[s:s + length], h[s:s + length]
            k = int(rng.integers(12))
            for a in (0, 12, 31):
                f[:, a:a + 12] = np.roll(f[:, a:a + 12], k, axis=1)
            c = transpose_classes(c, k)
            pad = length - len(f)
            fs.append(np.pad(f, ((0, pad), (0, 0))))
            cs.append(np.pad(c, (0, pad), constant_values=-100))
            hs.append(np.pad(h, (0, pad), constant_values=-1.0))
        yield (torch.tensor(np.stack(fs)), torch.tensor(np.stack(cs)),
               torch.tensor(np.stack(hs), dtype=torch.float32))


@torch.no_grad()
def beat_accuracy(net: nn.Module, data: dict) -> dict:
    net.eval()
    out = {}
    for style, items in data.items():
        hit = n = 0
        nll = 0.0
        for f, c, _, _ in items:
            logits, _ = net(torch.tensor(f[None]))
            lp = torch.log_softmax(logits[0], -1).numpy()
            hit += int((lp.argmax(1) == c).sum())
            nll += float(-lp[np.arange(len(c)), c].sum())
            n += len(c)
        out[style] = {"acc": hit / max(n, 1), "perplexity": float(np.exp(nll / max(n, 1))), "n": n}
    return out


def main() -> None:
    args = arguments(__doc__, "harmonize", steps=2500, length=64)
    runs = Path(args.runs)
    train, valid = build(runs, "train"), build(runs, "valid")
    trans = transitions(train)
    net = FrameNet(n_in=N_FEATURES, hidden=args.hidden, n_aux=1)
    ce = nn.CrossEntropyLoss(ignore_index=-100)

    def loss_fn(net: nn.Module, batch) -> torch.Tensor:
        f, c, h = batch
        lc, lh = net(f)
        mask = h >= 0
        bce = nn.functional.binary_cross_entropy_with_logits(lh[..., 0][mask], h[mask])
        return ce(lc.reshape(-1, lc.shape[-1]), c.reshape(-1)) + 0.5 * bce

    def valid_score(net: nn.Module) -> tuple[float, str]:
        r = beat_accuracy(net, valid)
        return (float(np.mean([v["acc"] for v in r.values() if v["n"]])),
                " ".join(f"{s}={v['acc']:.3f}/ppl {v['perplexity']:.1f}" for s, v in r.items()))

    gen = batches(train, np.random.default_rng(args.seed), args.batch, args.length)
    net = fit(net, gen, loss_fn, valid_score, args, Path(args.out) / "harmonize-v1.pt")
    r = beat_accuracy(net, valid)
    n_params = sum(p.numel() for p in net.parameters())
    export(net, Path(args.out) / "harmonize-v1.onnx", aux_name="change_logits", name="harmonize-v1",
           task="harmonize",
           vocabulary={"features": "symbolic_ai.tasks.harmonize.melody_features: per beat, 12 melody chroma + "
                                   "12 onset chroma + 4 metre + 3 style one-hot + 12 whole-melody chroma",
                       "n_features": N_FEATURES, "styles": list(STYLES), "qualities": list(harmony.QUALITIES),
                       "class": "root * 11 + quality; 132 = no chord"},
           labels=[str(harmony.from_index(i) or "N") for i in range(harmony.N_CLASSES)],
           training_data=[{"style": s, "source": SOURCES[s], "split": "train"} for s in STYLES],
           splits={"train": "train", "selection": "valid (best mean beat accuracy)",
                   "held_out": "POP909 test; Nottingham and When-in-Rome valid (their test splits are reserved)"},
           metrics={"valid_beat": r},
           architecture=f"FrameNet: 1-D dilated residual CNN (hidden {args.hidden}, dilations 1,2,4,8) over "
                        f"melody beats; {n_params} parameters; HMM decoding with the card's transitions",
           transitions={k: trans[k] for k in ("relative", "to_or_from_n", "changes_counted")},
           stay=trans["stay"], emission_weight={r: 1.0 for r in ("bar", "half", "beat", "learned")},
           steps=args.steps, seed=args.seed)

    print(json.dumps({"valid": r, "stay": trans["stay"]}), flush=True)


if __name__ == "__main__":
    main()
