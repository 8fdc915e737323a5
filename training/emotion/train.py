"""Fine-tune the shared encoder for emotion (plain head or mode-guided FiLM), probe its layers,
run grouped cross-validation on VGMIDI. Fixed seeds; checkpoints and JSON logs in runs/emotion/.

    python -m training emotion train probe                       # which layer knows emotion
    python -m training emotion train fit --name base --film none --test
    python -m training emotion train fit --name film0 --film first --test
    python -m training emotion train fit --name vg_film0 --dataset vgmidi --init runs/emotion/film0.pt
    python -m training emotion train cv --dataset vgmidi --film first --init runs/emotion/film0.pt

CPU budget: only the top `--train-blocks` blocks (with FiLM and the head) are trained. The frozen
blocks below are run once over `--crops` augmented windows per clip and their output is cached
(runs/emotion/cache_*.pt, keyed by a hash of the frozen weights), so an epoch costs only the
trained blocks. Selection is on the valid split (4Q accuracy, then loss); `--test` evaluates the
selected model, uncached, on the test split once, with the windows and averaging of the task.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from symbolic_ai.tasks.emotion import DEFAULT_MAX_TOKENS, GUIDES, HOP_BEATS, WINDOW_BEATS, pad_batch
from symbolic_ai.tokens import Tokenizer
from training.emotion import data as emotion_data
from training.emotion import model as emotion_model
from training.emotion.data import Item, augment, deadpan, encode, eval_set, load_items, random_window
from training.emotion.eval import grouped_folds, metrics
from training.common.config import save_run_config
from training.encoder.model import Encoder

DEFAULT_OUT = Path("runs/emotion")


def set_threads(n: int = 0) -> int:
    """`n` torch threads (0: torch's default); returns the count in use."""
    if n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def log(path: Path, **rec) -> None:
    rec["time"] = time.strftime("%H:%M:%S")
    print(json.dumps(rec, default=str), flush=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(rec, default=str) + "\n")


def build(film: str, init: str, guide: str = "mode") -> emotion_model.EmotionModel:
    """A model on the pre-trained encoder ('pretrained'), a random one ('random': smoke tests only),
    an encoder checkpoint path, or an emotion checkpoint (its encoder and head; FiLM at the asked layer)."""
    prev = None
    if init == "random":
        enc = Encoder()
    elif init == "pretrained":
        enc = Encoder.from_pretrained()
    elif "emotion" not in (ckpt := torch.load(init, map_location="cpu", weights_only=False)):
        enc = Encoder.from_checkpoint(ckpt).eval()  # an encoder checkpoint (e.g. a pre-training run's)
    else:
        prev = emotion_model.load(init)
        enc = prev.encoder
    n = enc.config.n_layers
    layer = {"none": None, "first": 0, "middle": (n - 1) // 2, "last": n - 1}.get(film, film)
    model = emotion_model.EmotionModel(enc, None if layer is None else int(layer), guide=guide)
    if prev is not None:
        model.head.load_state_dict(prev.head.state_dict())
        if (model.film is not None and prev.film is not None and prev.film_layer == model.film_layer
                and prev.guide == guide):
            model.film.load_state_dict(prev.film.state_dict())
    return model


def frozen_key(model: emotion_model.EmotionModel, start: int) -> str:
    """A hash of the frozen weights that the output of block `start` depends on."""
    h = hashlib.sha1()
    names = ("encoder.embed.",) + tuple(f"encoder.blocks.{i}." for i in range(start + 1))
    for name, t in sorted(model.state_dict().items()):
        if name.startswith(names):
            h.update(name.encode())
            h.update(t.float().numpy().tobytes())
    return h.hexdigest()[:12]


@torch.no_grad()
def states(model: emotion_model.EmotionModel, windows: list[tuple[np.ndarray, np.ndarray]],
           batch: int = 32) -> list[list[torch.Tensor]]:
    """Per block, per (tokens, mode) window: the block's output [S, d] (bf16), FiLM left out."""
    model.eval()
    n = model.encoder.config.n_layers
    out: list[list] = [[None] * len(windows) for _ in range(n)]
    order = sorted(range(len(windows)), key=lambda j: len(windows[j][0]))
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        tokens, mask = pad_batch([windows[j][0] for j in idx])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hs = model.prefix(torch.from_numpy(tokens), torch.from_numpy(mask), n - 1)
        for layer, h in enumerate(hs):
            for k, j in enumerate(idx):
                out[layer][j] = h[k, :len(windows[j][0])].to(torch.bfloat16).clone()
    return out


def logits_of(model: emotion_model.EmotionModel, xs: list[torch.Tensor], modes: np.ndarray,
              start: int) -> torch.Tensor:
    """Logits of a batch of cached states (token arrays when start < 0), padded here."""
    n = max(len(x) for x in xs)
    mask = torch.zeros(len(xs), n, dtype=torch.bool)
    x = torch.zeros(len(xs), n, xs[0].shape[1], dtype=xs[0].dtype)
    for i, xi in enumerate(xs):
        mask[i, :len(xi)] = True
        x[i, :len(xi)] = xi
    mode = torch.from_numpy(np.asarray(modes, dtype=np.float32))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, mask, mode) if start < 0 else model.forward_from(x, mask, mode, start)
    return out.float()


def block_outputs(model, windows: list[tuple[np.ndarray, np.ndarray]], tag: str, out: Path = DEFAULT_OUT
                  ) -> list[list[torch.Tensor]]:
    """Every block's output for every window, computed once and kept on disk (keyed by a hash of
    the encoder's blocks) so that variants and the probe share it."""
    path = Path(out) / f"cache_{tag}_{frozen_key(model, model.encoder.config.n_layers - 1)}.pt"
    if tag and path.exists():
        return torch.load(path, weights_only=False)
    layers = states(model, windows)
    if tag:
        torch.save(layers, path)
    return layers


class Cached:
    """Windows (mode features, clip index, labels) as outputs of block `start` (tokens if start < 0)."""

    def __init__(self, model, windows: list[tuple[np.ndarray, np.ndarray]], clip_of: list[int],
                 labels: list[int], start: int, tag: str, out: Path = DEFAULT_OUT) -> None:
        if start < 0:
            self.x = [torch.from_numpy(t) for t, _ in windows]
        else:
            self.x = block_outputs(model, windows, tag, out)[start]
        self.mode = np.stack([m for _, m in windows])
        self.clip_of, self.labels, self.start = np.asarray(clip_of), np.asarray(labels), start

    @torch.no_grad()
    def predict(self, model, batch: int = 32) -> np.ndarray:
        """Per clip: the mean of its windows' probabilities (as the task computes it)."""
        model.eval()
        order = sorted(range(len(self.x)), key=lambda j: len(self.x[j]))
        probs = np.zeros((len(self.x), 4))
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            probs[idx] = logits_of(model, [self.x[j] for j in idx], self.mode[idx], self.start).softmax(-1).numpy()
        return np.stack([probs[self.clip_of == i].mean(0) for i in range(len(self.labels))])


def eval_windows(items: list[Item], tok: Tokenizer, window_beats: float, hop_beats: float, guide: str = "mode"):
    """The task's windows of every clip, flattened: [(tokens, guide)], their clip index, the clip labels."""
    data = eval_set(items, tok, window_beats, hop_beats, guide=guide)
    wins = [(t, m) for toks, modes, _ in data for t, m in zip(toks, modes)]
    clip_of = [i for i, (toks, _, _) in enumerate(data) for _ in toks]
    return wins, clip_of, [d[2] for d in data]


def train_windows(items: list[Item], tok: Tokenizer, crops: int, seed: int, window_beats: float,
                  augment_on: bool, guide: str = "mode", deadpan_p: float = 0.0) -> tuple[list, list[int]]:
    """`crops` random (augmented) windows of every clip, fixed by the seed; with probability
    `deadpan_p` a window's notes all get one velocity (see `emotion_data.deadpan`)."""
    rng = np.random.default_rng(seed)
    wins, labels = [], []
    for _ in range(crops):
        for it in items:
            p = random_window(augment(it.piece, rng) if augment_on else it.piece, rng, window_beats)
            if deadpan_p and rng.random() < deadpan_p:
                p = deadpan(p, rng)
            t, _, m = encode([p], tok, guide)
            wins.append((t[0], m[0]))
            labels.append(it.label)
    return wins, labels


def fit(model: emotion_model.EmotionModel, train: list[Item], valid: list[Item] | None, *, epochs: int,
        budget_min: float, seed: int, name: str, tag: str, train_blocks: int = 1, crops: int = 2,
        window_beats: float = WINDOW_BEATS, hop_beats: float = HOP_BEATS, lr: float = 1e-4, head_lr: float = 1e-3,
        batch: int = 16, balance: bool = False, augment_on: bool = True, fresh_crops: bool = False,
        average_from: int = 0, deadpan_p: float = 0.0, out: Path = DEFAULT_OUT) -> dict:
    """Train the top `train_blocks` blocks, FiLM and head on `crops` augmented windows per clip (one
    epoch = one pass over them); keep the state with the best valid accuracy (or the last one).

    `fresh_crops`: draw new augmented windows every epoch (only when nothing is cached, i.e. every
    block is trained). `average_from` K > 0: keep instead the mean of the weights at the end of
    epochs K, K+1, ... (weight averaging, no selection on valid). `deadpan_p`: the share of
    training windows flattened to one velocity."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tok = Tokenizer(model.encoder.tokenizer_config)
    n = model.encoder.config.n_layers
    first = model.freeze_below(train_blocks)
    start = min(first - 1, n if model.film_layer is None else model.film_layer)
    if not 0 <= average_from <= epochs:
        raise ValueError(f"average_from must be 0 (off) or an epoch in 1..{epochs}, got {average_from}")
    if not 0.0 <= deadpan_p <= 1.0:
        raise ValueError(f"deadpan_p is a probability in [0, 1], got {deadpan_p}")
    if fresh_crops and start >= 0:
        raise ValueError(f"fresh_crops needs every block trained (nothing cached); block {start}'s output is cached")
    t0 = time.time()
    wins, labels = train_windows(train, tok, crops, seed, window_beats, augment_on, model.guide, deadpan_p)
    tr = Cached(model, wins, list(range(len(wins))), labels, start,
                f"{tag}_train_c{crops}_s{seed}" + (f"_dp{deadpan_p:g}" if deadpan_p else ""), out)
    if model.film is not None:
        model.film.fit_norm(tr.mode)
    va = None
    if valid:
        va = Cached(model, *eval_windows(valid, tok, window_beats, hop_beats, model.guide), start, f"{tag}_valid", out)
    logp = Path(out) / f"{name}.log.jsonl"
    log(logp, name=name, cached_block=start, train_windows=len(wins), prep_min=round((time.time() - t0) / 60, 2))
    enc_params = [p for p in model.encoder.parameters() if p.requires_grad]
    other = [p for k, p in model.named_parameters() if not k.startswith("encoder.")]
    opt = torch.optim.AdamW([{"params": enc_params, "lr": lr}, {"params": other, "lr": head_lr}],
                            weight_decay=0.01)
    y_all = np.asarray(labels)
    steps_per_epoch = math.ceil(len(wins) / batch)
    total, warm = epochs * steps_per_epoch, max(1, steps_per_epoch // 4)
    base_lrs = [g["lr"] for g in opt.param_groups]
    weight = None
    if balance:
        counts = np.bincount(y_all, minlength=4).astype(float)
        weight = torch.tensor(counts.sum() / (4 * np.maximum(counts, 1)), dtype=torch.float32)
    best, best_key, step, history, avg, n_avg = None, None, 0, [], None, 0
    for epoch in range(epochs):
        if fresh_crops and epoch:
            wins, labels = train_windows(train, tok, crops, seed + 1000 * epoch, window_beats, augment_on, model.guide,
                                         deadpan_p)
            tr, y_all = Cached(model, wins, list(range(len(wins))), labels, start, ""), np.asarray(labels)
        model.train()
        model.encoder.embed.eval()
        for i, blk in enumerate(model.encoder.blocks):
            blk.train(i >= first)  # frozen blocks without dropout, as when they were cached
        losses = []
        order = rng.permutation(len(wins))
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            scale = min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0)))
            for g, b in zip(opt.param_groups, base_lrs):
                g["lr"] = b * scale
            logits = logits_of(model, [tr.x[j] for j in idx], tr.mode[idx], start)
            loss = F.cross_entropy(logits, torch.from_numpy(y_all[idx]), weight=weight)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            opt.step()
            losses.append(loss.item())
            step += 1
        rec = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "min": round((time.time() - t0) / 60, 2)}
        if va is not None:
            probs = va.predict(model)
            m = metrics(va.labels, probs)
            vloss = float(-np.log(probs[np.arange(len(va.labels)), va.labels] + 1e-9).mean())
            rec.update(valid_acc=m["acc_4q"], valid_f1=m["macro_f1"], valid_loss=vloss)
            key = (m["acc_4q"], -vloss)
            if best_key is None or key > best_key:
                best_key, rec["best"] = key, True
                best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if average_from and epoch + 1 >= average_from:
            n_avg += 1
            state = {k: v.detach().float().clone() for k, v in model.state_dict().items()}
            avg = state if avg is None else {k: avg[k] + (state[k] - avg[k]) / n_avg for k in avg}
        log(logp, name=name, **rec)
        history.append(rec)
        if (time.time() - t0) / 60 > budget_min:
            log(logp, name=name, note=f"time budget of {budget_min} min reached after epoch {epoch + 1}")
            break
    if avg is not None:
        model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in avg.items()})
        if va is not None:
            m = metrics(va.labels, va.predict(model))
            log(logp, name=name, averaged_epochs=n_avg, valid_acc=m["acc_4q"], valid_f1=m["macro_f1"])
    elif best is not None:
        model.load_state_dict(best)
    model.eval()
    return {"history": history, "epochs_run": len(history), "minutes": round((time.time() - t0) / 60, 2),
            "train_blocks": train_blocks, "crops": crops, "cached_block": start, "averaged_epochs": n_avg,
            "fresh_crops": fresh_crops}


def evaluate(model: emotion_model.EmotionModel, items: list[Item], window_beats: float, hop_beats: float) -> dict:
    """Metrics of the full model (uncached) on clips, windows averaged as in the task."""
    wins, clip_of, labels = eval_windows(items, Tokenizer(model.encoder.tokenizer_config), window_beats, hop_beats,
                                         model.guide)
    return metrics(labels, Cached(model, wins, clip_of, labels, -1, "").predict(model))


def probe(model: emotion_model.EmotionModel, train: list[Item], valid: list[Item], *, tag: str, crops: int,
          seed: int, window_beats: float, hop_beats: float, augment_on: bool = True, out: Path = DEFAULT_OUT) -> dict:
    """Logistic-regression probe of each block's mean-pooled output (frozen encoder, the training
    caches): valid 4Q accuracy. MoFi injects the mode where emotion is least decodable."""
    from training.emotion.baseline import LogisticRegression

    tok = Tokenizer(model.encoder.tokenizer_config)
    wins, labels = train_windows(train, tok, crops, seed, window_beats, augment_on)
    vw, vc, vl = eval_windows(valid, tok, window_beats, hop_beats)

    def pooled(layers: list[list[torch.Tensor]]) -> np.ndarray:  # [window, layer, d]
        return np.stack([[x.float().mean(0).numpy() for x in layer] for layer in layers], 1)

    Xtr = pooled(block_outputs(model, wins, f"{tag}_train_c{crops}_s{seed}", out))
    Xv = pooled(block_outputs(model, vw, f"{tag}_valid", out))
    vc = np.asarray(vc)
    Xva = np.stack([Xv[vc == i].mean(0) for i in range(len(vl))])
    ytr, yva = np.asarray(labels), np.asarray(vl)
    return {layer: metrics(yva, LogisticRegression(0.1).fit(Xtr[:, layer], ytr).predict_proba(Xva[:, layer]))["acc_4q"]
            for layer in range(Xtr.shape[1])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["fit", "probe", "cv"])
    ap.add_argument("--name", default="emotion")
    ap.add_argument("--dataset", default="emopia", choices=["emopia", "vgmidi"])
    ap.add_argument("--film", default="none", help="none, first, middle, last or a block index")
    ap.add_argument("--guide", default="mode", choices=sorted(GUIDES),
                    help="FiLM input: mode features (MoFi), clip statistics (mode + register, velocity, density) or harmony (statistics + chords-v1)")
    ap.add_argument("--init", default="pretrained", help="pretrained, random (smoke only) or a checkpoint")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--budget-min", type=float, default=10.0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--train-blocks", type=int, default=0, help="top encoder blocks to fine-tune")
    ap.add_argument("--crops", type=int, default=2, help="augmented windows per training clip")
    ap.add_argument("--window-beats", type=float, default=WINDOW_BEATS)
    ap.add_argument("--hop-beats", type=float, default=HOP_BEATS)
    ap.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help="notes per window (longer ones are cut)")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--fresh-crops", action="store_true", help="new augmented windows every epoch (all blocks trained)")
    ap.add_argument("--average-from", type=int, default=0,
                    help="K > 0: the model is the mean of the weights after epochs K.. (no selection on valid)")
    ap.add_argument("--balance", action="store_true", help="class-weighted loss")
    ap.add_argument("--deadpan", type=float, default=0.0,
                    help="share of training windows whose notes all get one velocity (robustness to scores)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N clips per split (smoke tests)")
    ap.add_argument("--test", action="store_true", help="evaluate the selected model on the test split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for logs, caches and checkpoints")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    save_run_config("emotion", f"train {args.command}", args, out)
    logp = out / f"{args.name}.log.jsonl"
    log(logp, name=args.name, threads=set_threads(args.threads), args=vars(args))
    items = load_items(args.dataset)
    split = {s: [it for it in items if it.split == s][: args.limit or None] for s in ("train", "valid", "test")}
    report: dict = {"name": args.name, "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    emotion_data.MAX_TOKENS = args.max_tokens
    tag = (f"{args.dataset}{args.limit or ''}_w{args.window_beats:g}" + ("" if not args.no_augment else "_noaug")
           + ("" if args.max_tokens == DEFAULT_MAX_TOKENS else f"_t{args.max_tokens}"))
    kw = dict(epochs=args.epochs, budget_min=args.budget_min, train_blocks=args.train_blocks, crops=args.crops,
              window_beats=args.window_beats, hop_beats=args.hop_beats, lr=args.lr, head_lr=args.head_lr,
              balance=args.balance, augment_on=not args.no_augment, fresh_crops=args.fresh_crops,
              average_from=args.average_from, deadpan_p=args.deadpan, out=out)
    if args.command == "probe":
        report["probe_valid_acc"] = probe(build("none", args.init).eval(), split["train"], split["valid"], tag=tag,
                                          crops=args.crops, seed=args.seed, window_beats=args.window_beats,
                                          hop_beats=args.hop_beats, augment_on=not args.no_augment, out=out)
    elif args.command == "fit":
        model = build(args.film, args.init, args.guide)
        report["film_layer"] = model.film_layer
        report["guide"] = model.guide
        report.update(fit(model, split["train"], split["valid"], seed=args.seed, name=args.name, tag=tag, **kw))
        report["valid"] = evaluate(model, split["valid"], args.window_beats, args.hop_beats)
        if args.test:
            report["test"] = evaluate(model, split["test"], args.window_beats, args.hop_beats)
        emotion_model.save(model, out / f"{args.name}.pt", report=report)
    else:  # grouped k-fold CV over every clip, fixed epochs (no selection inside a fold)
        pool = [it for s in ("train", "valid", "test") for it in split[s]]
        folds = []
        for f, (tr, te) in enumerate(grouped_folds([it.group for it in pool], np.array([it.label for it in pool]))):
            model = build(args.film, args.init, args.guide)
            fit(model, [pool[i] for i in tr], None, seed=args.seed + f, name=f"{args.name}_fold{f}",
                tag=f"{tag}_cv{f}", **kw)
            folds.append(evaluate(model, [pool[i] for i in te], args.window_beats, args.hop_beats))
            log(logp, name=args.name, fold=f, **{k: folds[-1][k] for k in ("n", "acc_4q", "macro_f1")})
        report["folds"] = folds
        report["cv"] = {k: [float(np.mean([m[k] for m in folds])), float(np.std([m[k] for m in folds]))]
                        for k in ("acc_4q", "acc_valence", "acc_arousal", "macro_f1")}
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    log(logp, name=args.name, done=True,
        **{k: report[k] for k in ("valid", "test", "cv", "probe_valid_acc") if k in report})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
