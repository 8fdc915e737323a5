"""The frame network both chord trainers share (chords-v1, harmonize-v1): model, transposition,
command-line options, training loop and ONNX export through `symbolic_ai.exports`."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from symbolic_ai import harmony
from symbolic_ai.tasks.chords import N_FEATURES
from training.common.config import save_run_config


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


def arguments(doc: str, model: str, steps: int, length: int) -> argparse.Namespace:
    """The command-line options both FrameNet trainers share."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--out", default=f"runs/{model}", help="directory for the checkpoint, the ONNX file, its card and run-config.json")
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
    save_run_config(model, "train", args, Path(args.out))
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
