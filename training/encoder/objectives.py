"""Pre-training objectives on batches of compound-word tokens (torch).

- `mlm`: plain masked-token modelling (the baseline): 15% of notes, 80% MASK / 10% random / 10% kept,
  all fields reconstructed.
- `denoise`: restricted token denoising: 30% of notes get position +-4, pitch +-12 and duration
  +-12 buckets (clipped to the field's range) and are reconstructed (cross-entropy on those fields).
- `bar_roll`: the bar-level 16x86 pianoroll plus 12-d chroma of each note's bar, computed from the
  clean tokens; `loss` regresses it (L2) from the corrupted input.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from symbolic_ai.tokens import MASK, N_SPECIAL
from training.encoder.model import ROLL_PITCHES, ROLL_STEPS, Encoder

RANGES = {"position": 4, "pitch": 12, "duration": 12}
OBJECTIVES = ("mlm", "denoise", "denoise+roll")


def note_mask(tokens: torch.Tensor) -> torch.Tensor:
    """True on note tokens (not PAD/MASK/BOS/EOS)."""
    return (tokens >= N_SPECIAL).all(dim=-1)


def mlm(tokens: torch.Tensor, vocab: list[int], g: torch.Generator, rate: float = 0.15
        ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """(corrupted tokens, selected [B, S] bool, field indices to reconstruct)."""
    notes = note_mask(tokens)
    sel = (torch.rand(notes.shape, generator=g) < rate) & notes
    r = torch.rand(notes.shape, generator=g)
    x = tokens.clone()
    x[sel & (r < 0.8)] = MASK
    rnd = sel & (r >= 0.8) & (r < 0.9)
    for f, v in enumerate(vocab):
        vals = torch.randint(N_SPECIAL, v, notes.shape, generator=g)
        x[..., f] = torch.where(rnd, vals, x[..., f])
    return x, sel, list(range(len(vocab)))


def denoise(tokens: torch.Tensor, vocab: list[int], fields: list[str], g: torch.Generator,
            rate: float = 0.3) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Restricted denoising: attributes of `rate` of the notes moved within RANGES."""
    notes = note_mask(tokens)
    sel = (torch.rand(notes.shape, generator=g) < rate) & notes
    x = tokens.clone()
    idx = []
    for name, r in RANGES.items():
        f = fields.index(name)
        idx.append(f)
        shift = torch.randint(-r, r + 1, notes.shape, generator=g)
        moved = (x[..., f] + shift).clamp(N_SPECIAL, vocab[f] - 1)
        x[..., f] = torch.where(sel, moved, x[..., f])
    return x, sel, idx


def bar_roll(tokens: torch.Tensor, fields: list[str], duration_ticks: list[int],
             ticks_per_quarter: int = 12) -> torch.Tensor:
    """Per-token target [B, S, 16*86+12]: the pianoroll (16 steps of a 4-quarter bar) and
    duration-weighted chroma (max 1) of the token's bar, from clean tokens."""
    b, s, _ = tokens.shape
    notes = note_mask(tokens)
    delta = (tokens[..., fields.index("bar")] - N_SPECIAL).clamp(min=0) * notes
    bar = delta.cumsum(1)
    bar = (bar - bar[:, :1]).clamp(min=0)
    n_bars = int(bar.max()) + 1
    pos = (tokens[..., fields.index("position")] - N_SPECIAL).clamp(min=0)
    dur = torch.as_tensor(duration_ticks)[(tokens[..., fields.index("duration")] - N_SPECIAL).clamp(min=0)]
    pitch = tokens[..., fields.index("pitch")] - N_SPECIAL
    lo, hi = ROLL_PITCHES
    step = 4 * ticks_per_quarter // ROLL_STEPS
    starts = torch.arange(ROLL_STEPS) * step
    active = (starts < (pos + dur)[..., None]) & ((starts + step) > pos[..., None])  # [B, S, 16]
    inroll = notes & (pitch >= lo) & (pitch < hi)
    roll = torch.zeros(b, n_bars, ROLL_STEPS, hi - lo)
    bi, si = torch.nonzero(inroll, as_tuple=True)
    if len(bi):
        a = active[bi, si].float()  # [n, 16]
        n = len(bi)
        row = (bi * n_bars + bar[bi, si])[:, None].expand(n, ROLL_STEPS)
        col = (pitch[bi, si] - lo)[:, None].expand(n, ROLL_STEPS)
        t = torch.arange(ROLL_STEPS)[None, :].expand(n, ROLL_STEPS)
        roll.view(b * n_bars, ROLL_STEPS, hi - lo).index_put_((row, t, col), a, accumulate=True)
    roll = roll.clamp(max=1.0)
    chroma = torch.zeros(b * n_bars, 12)
    bi, si = torch.nonzero(notes, as_tuple=True)
    if len(bi):
        chroma.index_put_((bi * n_bars + bar[bi, si], pitch[bi, si] % 12), dur[bi, si].float(), accumulate=True)
    chroma = chroma / chroma.amax(dim=1, keepdim=True).clamp(min=1e-6)
    per_bar = torch.cat([roll.view(b * n_bars, -1), chroma], dim=1).view(b, n_bars, -1)
    return torch.gather(per_bar, 1, bar[..., None].expand(b, s, per_bar.shape[-1]))


def loss(model: Encoder, tokens: torch.Tensor, objective: str, g: torch.Generator,
         roll_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts for one batch of clean tokens [B, S, F] (PAD-padded)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    tc = model.tokenizer_config
    vocab = [tc.vocab_sizes[f] for f in tc.fields]
    if objective == "mlm":
        x, sel, idx = mlm(tokens, vocab, g)
    else:
        x, sel, idx = denoise(tokens, vocab, list(tc.fields), g)
    mask = tokens[..., 0] != 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = model(x, mask)["hidden"]
        hs = h[sel]
        parts = {}
        total = torch.zeros((), dtype=torch.float32)
        for f in idx:
            name = tc.fields[f]
            logits = model.heads[name](hs).float()
            ce = F.cross_entropy(logits, tokens[..., f][sel]) if len(hs) else total
            parts[name] = ce.item()
            parts[f"acc_{name}"] = float((logits.argmax(-1) == tokens[..., f][sel]).float().mean()) if len(hs) else 0.0
            total = total + ce
        total = total / len(idx)
        if objective == "denoise+roll":
            target = bar_roll(tokens, list(tc.fields), list(tc.duration_ticks), tc.ticks_per_quarter)
            notes = note_mask(tokens)
            pred = model.roll_head(h[notes]).float()
            mse = F.mse_loss(pred, target[notes]) * 10.0
            parts["roll"] = mse.item()
            total = total + roll_weight * mse
    parts["loss"] = total.item()
    return total, parts
