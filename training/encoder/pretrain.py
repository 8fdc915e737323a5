"""Pre-train the shared encoder on the tokenized corpus (CPU, bf16 autocast, resumable).

    python -m training encoder corpus                       # once: runs/encoder/corpus-v1.npz
    python -m training encoder pretrain --objective denoise+roll --minutes 45 --run runs/encoder/main

Reproduces the shipped weights (`make encoder` runs both). The run directory holds `ckpt.pt`
(model + optimizer + step + RNG, written every `--save-minutes`), `log.jsonl` and `loss.png`;
a run restarts from its `ckpt.pt`, or from `--init` (e.g. the committed weights). 2% of the
pieces (a fixed, seeded choice) are held out of training to monitor the loss; no valid or test
piece of any dataset is in the corpus at all.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from symbolic_ai.tokens import N_SPECIAL, PAD, TokenizerConfig
from training.encoder.model import CHECKPOINT, Encoder, EncoderConfig
from training.encoder.objectives import OBJECTIVES, loss


class Windows:
    """Random training windows from the cached corpus: BOS, up to max_len-2 notes, EOS."""

    def __init__(self, path: Path, max_len: int, pieces: np.ndarray | None = None, seed: int = 0,
                 transpose: int = 5) -> None:
        z = np.load(path)
        self.tokens, self.offsets = z["tokens"].astype(np.int64), z["offsets"]
        self.pieces = np.arange(len(self.offsets) - 1) if pieces is None else pieces
        lens = (self.offsets[1:] - self.offsets[:-1])[self.pieces] - 2
        self.weight = np.minimum(lens, max_len) / np.minimum(lens, max_len).sum()
        self.max_len, self.transpose = max_len, transpose
        self.rng = np.random.default_rng(seed)
        self.n_fields = self.tokens.shape[1]

    def sample(self, batch: int) -> torch.Tensor:
        out = np.full((batch, self.max_len, self.n_fields), PAD, dtype=np.int64)
        longest = 0
        for b, p in enumerate(self.rng.choice(self.pieces, size=batch, p=self.weight)):
            body = self.tokens[self.offsets[p] + 1:self.offsets[p + 1] - 1]
            n = self.max_len - 2
            s = int(self.rng.integers(0, max(len(body) - n, 0) + 1))
            w = body[s:s + n].copy()
            w[0, 0] = N_SPECIAL + 1
            if self.transpose:
                w[:, 2] = np.clip(w[:, 2] + self.rng.integers(-self.transpose, self.transpose + 1),
                                  N_SPECIAL, N_SPECIAL + 127)
            out[b, 0], out[b, len(w) + 1] = 2, 3  # BOS, EOS
            out[b, 1:len(w) + 1] = w
            longest = max(longest, len(w) + 2)
        return torch.from_numpy(out[:, :longest])


def split_pieces(path: Path, seed: int = 0, held_out: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    n = len(np.load(path)["offsets"]) - 1
    perm = np.random.default_rng(seed).permutation(n)
    k = max(1, int(n * held_out))
    return np.sort(perm[k:]), np.sort(perm[:k])


def lr_at(step: int, progress: float, peak: float, warmup: int = 200) -> float:
    """Linear warm-up over `warmup` steps, then cosine to 10% of `peak` as progress goes 0 -> 1."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def plot(log_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines()]
    tr = [r for r in rows if r["kind"] == "train"]
    ev = [r for r in rows if r["kind"] == "heldout"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in tr], [r["loss"] for r in tr], label="train", alpha=0.6)
    if ev:
        ax.plot([r["step"] for r in ev], [r["loss"] for r in ev], "o-", label="held-out train pieces")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title(log_path.parent.name)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


@torch.no_grad()
def evaluate(model: Encoder, data: Windows, objective: str, batches: int, batch: int) -> dict:
    model.eval()
    g = torch.Generator().manual_seed(1234)
    data.rng = np.random.default_rng(1234)
    parts: dict[str, list[float]] = {}
    for _ in range(batches):
        _, p = loss(model, data.sample(batch), objective, g)
        for k, v in p.items():
            parts.setdefault(k, []).append(v)
    model.train()
    return {k: float(np.mean(v)) for k, v in parts.items()}


def train(args: argparse.Namespace) -> Path:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    train_ids, held_ids = split_pieces(args.corpus, args.seed)
    data = Windows(args.corpus, args.max_len, train_ids, seed=args.seed)
    held = Windows(args.corpus, args.max_len, held_ids, seed=1234)
    ckpt_path = run / "ckpt.pt"
    g = torch.Generator().manual_seed(args.seed)
    step, elapsed = 0, 0.0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model = Encoder.from_checkpoint(ck)
        step, elapsed = ck["step"], ck["elapsed_s"]
        g.set_state(ck["gen"])
        data.rng = np.random.default_rng(ck["seed_np"] + step)
        print(f"resumed {ckpt_path} at step {step}", flush=True)
    elif args.init:
        model = Encoder.from_pretrained(args.init)
        model.train()
        print(f"initialised from {args.init}", flush=True)
    else:
        model = Encoder(EncoderConfig(n_layers=args.layers, d_model=args.d_model, d_ff=4 * args.d_model,
                                      n_heads=args.d_model // 64, max_len=max(1024, args.max_len),
                                      dropout=args.dropout),
                        TokenizerConfig())
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    if ckpt_path.exists():
        opt.load_state_dict(ck["optimizer"])
    budget_s = args.minutes * 60
    est_total = args.steps or 10**9
    log = open(run / "log.jsonl", "a")
    last_save = time.time()
    try:
        from tqdm import tqdm
        bar = tqdm(total=int(budget_s), initial=int(elapsed), unit="s", mininterval=30, disable=args.quiet)
    except ImportError:
        bar = None
    t_prev = time.time()
    tokens_seen, elapsed0 = 0, elapsed  # tokens of this process (a resumed run starts at elapsed0)
    while elapsed < budget_s and step < est_total:
        progress = step / args.steps if args.steps else elapsed / budget_s
        for group in opt.param_groups:
            group["lr"] = lr_at(step, progress, args.lr, args.warmup_steps)
        batch = data.sample(args.batch)
        l, parts = loss(model, batch, args.objective, g)
        opt.zero_grad(set_to_none=True)
        l.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens_seen += int((batch[..., 0] != PAD).sum())
        now = time.time()
        elapsed += now - t_prev
        if bar:
            bar.update(int(elapsed) - bar.n)
        t_prev = now
        if step % 20 == 0:
            log.write(json.dumps({"kind": "train", "step": step, "elapsed_s": round(elapsed, 1),
                                  "tok_per_s": round(tokens_seen / max(elapsed - elapsed0, 1e-9)), **parts}) + "\n")
            log.flush()
        if now - last_save > args.save_minutes * 60 or elapsed >= budget_s:
            ev = evaluate(model, held, args.objective, args.eval_batches, args.batch)
            log.write(json.dumps({"kind": "heldout", "step": step, "elapsed_s": round(elapsed, 1), **ev}) + "\n")
            log.flush()
            print(f"step {step} {elapsed:.0f}s held-out {json.dumps(ev)}", flush=True)
            save(model, opt, step, elapsed, g, args, ckpt_path)
            plot(run / "log.jsonl", run / "loss.png")
            last_save = time.time()
            t_prev = time.time()
    save(model, opt, step, elapsed, g, args, ckpt_path)
    ev = evaluate(model, held, args.objective, args.eval_batches, args.batch)
    log.write(json.dumps({"kind": "heldout", "step": step, "elapsed_s": round(elapsed, 1), **ev}) + "\n")
    log.close()
    plot(run / "log.jsonl", run / "loss.png")
    torch.save(model.checkpoint(objective=args.objective, step=step, max_len=args.max_len,
                                heldout=ev), run / "encoder.pt")
    print(f"done: step {step}, {elapsed:.0f} s, held-out {json.dumps(ev)}", flush=True)
    return run / "encoder.pt"


def save(model: Encoder, opt, step: int, elapsed: float, g: torch.Generator, args, path: Path) -> None:
    ck = model.checkpoint(optimizer=opt.state_dict(), step=step, elapsed_s=elapsed, gen=g.get_state(),
                          seed_np=args.seed, args=vars(args) | {"corpus": str(args.corpus)})
    tmp = path.with_suffix(".tmp")
    torch.save(ck, tmp)
    tmp.replace(path)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("runs/encoder/corpus-v1.npz"))
    ap.add_argument("--run", default="runs/encoder/main")
    ap.add_argument("--objective", choices=OBJECTIVES, default="denoise+roll")
    ap.add_argument("--minutes", type=float, default=45.0, help="training-time budget")
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: time budget)")
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup-steps", type=int, default=200)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on a shared, oversubscribed CPU 2 threads ran 3x slower)")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-minutes", type=float, default=5.0)
    ap.add_argument("--eval-batches", type=int, default=8)
    ap.add_argument("--init", default=None, help=f"start from these weights (e.g. {CHECKPOINT})")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> None:
    train(parser().parse_args(argv))


if __name__ == "__main__":
    main()
