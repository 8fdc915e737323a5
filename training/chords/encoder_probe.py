"""Chord recognition on the shared pre-trained encoder: frozen encoder + light adapter vs full fine-tuning.

Per-note encoder states are pooled onto beat frames (each frame averages the notes sounding in
it, weighted by overlap) and concatenated with `tasks.chords.frame_features`; a `FrameNet` head
(the adapter) maps them to chord and bass logits as in `training.chords.train`.
- `--mode frozen`: encoder states computed once under no_grad, only the head is trained;
- `--mode full`: crops of at most `--max-notes` notes, gradients through every encoder layer
  (encoder learning rate `--encoder-lr`).
Both report valid frame accuracy (after Viterbi, switch cost 0) per dataset, to compare with
chords-v1's chroma-only FrameNet (`training.common.frames`); nothing is exported (see docs/models/chords-v1.md).

`python -m training chords probe --mode frozen --steps 1500`
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from symbolic_ai import harmony
from symbolic_ai.tasks.chords import N_FEATURES, decode, frame_features, frame_grid
from symbolic_ai.tokens import Tokenizer
from training.common.chord_cache import load_cached
from training.common.chord_data import frame_targets
from training.chords.train import DATASETS
from training.common.frames import FrameNet
from training.encoder.model import Encoder


def pooling_matrix(piece, note_ids: np.ndarray, n_frames: int) -> np.ndarray:
    """(frames, notes in token order) overlap weights, rows normalised (zero rows for silence)."""
    notes = piece.pitched()
    on, off, _ = frame_grid(piece, 1.0)
    order = {int(i): k for k, i in enumerate(note_ids)}
    P = np.zeros((n_frames, len(note_ids)), dtype=np.float32)
    for j in range(len(notes)):
        k = order.get(int(notes["id"][j]))
        if k is None:
            continue
        for t in range(int(np.floor(on[j])), min(int(np.ceil(off[j] - 1e-9)), n_frames)):
            P[t, k] += min(off[j], t + 1) - max(on[j], t)
    s = P.sum(axis=1, keepdims=True)
    return np.divide(P, s, out=np.zeros_like(P), where=s > 0)


def note_states(enc: Encoder, tk: Tokenizer, piece, max_len: int, grad: bool = False) -> tuple[torch.Tensor, np.ndarray]:
    """Encoder states of every pitched note (token order) and the notes' ids."""
    seq = tk.encode(piece)
    wins = tk.windows(seq, max_len)
    n = max(len(w) for w in wins)
    tok = np.zeros((len(wins), n, seq.shape[1]), dtype=np.int64)
    mask = np.zeros((len(wins), n), dtype=bool)
    for i, w in enumerate(wins):
        tok[i, :len(w)], mask[i, :len(w)] = w, True
    with torch.set_grad_enabled(grad):
        h = enc(torch.tensor(tok), torch.tensor(mask))["hidden"]
    states = torch.cat([h[i, 1:len(w) - 1] for i, w in enumerate(wins)])
    return states, tk.note_grid(piece)["id"]


def crop(piece, start: int, frames: int, max_notes: int):
    """The notes sounding in frames [start, start + frames), at most `max_notes` of them."""
    n = piece.notes
    on, end = n["onset_beat"], n["onset_beat"] + n["duration_beat"]
    keep = np.flatnonzero((end > start) & (on < start + frames))[:max_notes]
    return piece.replace(notes=n[keep])


def load_items(runs: Path, split: str, per_dataset: int) -> list:
    items = []
    for ds in DATASETS:
        for _, piece, spans in load_cached(runs, ds, split)[:per_dataset]:
            f = frame_features(piece)
            c, b = frame_targets(spans, len(f))
            items.append((ds, piece, f, c, b))
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mode", choices=("none", "frozen", "full"), default="frozen",
                    help="none = the same head and data without encoder states (zeros): the control")
    ap.add_argument("--checkpoint", default=None, help="encoder checkpoint (default: the committed one)")
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--per-dataset", type=int, default=150, help="train pieces per dataset")
    ap.add_argument("--valid-per-dataset", type=int, default=40)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--max-notes", type=int, default=400)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--encoder-lr", type=float, default=1e-4)
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    runs = Path(args.runs)
    enc = Encoder.from_pretrained(args.checkpoint) if args.checkpoint else Encoder.from_pretrained()
    tk = Tokenizer(enc.tokenizer_config)
    d = enc.config.d_model
    t0 = time.time()
    train = load_items(runs, "train", args.per_dataset)
    valid = load_items(runs, "valid", args.valid_per_dataset)

    def pooled(piece, n_frames: int, grad: bool) -> torch.Tensor:
        if args.mode == "none":
            return torch.zeros(n_frames, d)
        states, ids = note_states(enc, tk, piece, args.max_len, grad)
        return torch.tensor(pooling_matrix(piece, ids, n_frames)) @ states

    enc.eval()
    cache_valid = [pooled(p, len(f), False) for _, p, f, _, _ in valid]
    cache_train = [pooled(p, len(f), False) for _, p, f, _, _ in train] if args.mode != "full" else None
    print(f"encoder states for {len(train)} train / {len(valid)} valid pieces in {time.time() - t0:.0f}s", flush=True)
    head = FrameNet(n_in=N_FEATURES + d)
    params = [{"params": head.parameters(), "lr": args.lr}]
    if args.mode == "full":
        enc.train()
        params.append({"params": enc.parameters(), "lr": args.encoder_lr})
    opt = torch.optim.AdamW(params, weight_decay=1e-4)
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    w = np.array([DATASETS[it[0]] for it in train])
    w /= w.sum()

    def valid_acc() -> dict:
        head.eval()
        out: dict = {}
        with torch.no_grad():
            for (ds, _, f, c, _), e in zip(valid, cache_valid):
                lc, lb = head(torch.cat([torch.tensor(f), e], dim=1)[None])
                lp = torch.log_softmax(lc[0], -1).double().numpy()
                pred = np.empty(len(c), dtype=np.int64)
                for s, e_, k, _ in decode(lp, torch.log_softmax(lb[0], -1).double().numpy(), 0.0):
                    pred[s:e_] = k
                ok = c != harmony.N_CLASS
                h, n = out.get(ds, (0, 0))
                out[ds] = (h + int((pred[ok] == c[ok]).sum()), n + int(ok.sum()))
        return {ds: h / max(n, 1) for ds, (h, n) in out.items()}

    t0 = time.time()
    best, history = -1.0, []
    for step in range(1, args.steps + 1):
        head.train()
        xs, cs, bs = [], [], []
        for _ in range(args.batch if args.mode != "full" else max(args.batch // 4, 1)):
            i = int(rng.choice(len(train), p=w))
            ds, piece, f, c, b = train[i]
            s = int(rng.integers(max(len(f) - args.length, 0) + 1))
            L = min(args.length, len(f) - s)
            if args.mode != "full":
                e = cache_train[i][s:s + L]
            else:
                sub = crop(piece, s, L, args.max_notes)
                if not len(sub.pitched()):
                    continue
                e = pooled(sub, s + L, True)[s:s + L]
            # no transposition here: encoder states carry absolute pitch (training on the keys as they are)
            fx, cc = torch.tensor(f[s:s + L]), c[s:s + L]
            bb = np.where(b[s:s + L] < 0, -100, b[s:s + L])
            pad = args.length - L
            xs.append(nn.functional.pad(torch.cat([fx, e], dim=1), (0, 0, 0, pad)))
            cs.append(np.pad(cc, (0, pad), constant_values=-100))
            bs.append(np.pad(bb, (0, pad), constant_values=-100))
        lc, lb = head(torch.stack(xs))
        loss = ce(lc.reshape(-1, lc.shape[-1]), torch.tensor(np.stack(cs)).reshape(-1)) \
            + 0.5 * ce(lb.reshape(-1, 12), torch.tensor(np.stack(bs)).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        late = time.time() - t0 > 60 * args.minutes
        if step % 250 == 0 or step == args.steps or late:
            if args.mode == "full":
                enc.eval()
                cache_valid = [pooled(p, len(f), False) for _, p, f, _, _ in valid]
                enc.train()
            r = valid_acc()
            mean = float(np.mean(list(r.values())))
            best = max(best, mean)
            history.append({"step": step, "valid_mean": round(mean, 4), **{k: round(v, 4) for k, v in r.items()}})
            print(json.dumps(history[-1]), f"{time.time() - t0:.0f}s", flush=True)
            if late:
                break
    print(json.dumps({"mode": args.mode, "best_valid_mean": round(best, 4), "steps": step,
                      "train_pieces": len(train), "valid_pieces": len(valid)}), flush=True)


if __name__ == "__main__":
    main()
