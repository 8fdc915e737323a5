"""The dual encoder of embed-v1 (torch): audio and MIDI encoders into one space, with the A4/D4 descriptors.

Arms: "plain" (no descriptors), "desc" (A4 added after the audio front end, D4 after the MIDI note
embedding, each through a linear map) and "xattn" (the reverse cross-attention variant: the
descriptor sequence is the query and attends over the encoder's own tokens, keys and values; the
result is added back to the tokens). Both encoders: a small pre-norm transformer (width 64, two
layers), mean pooling ("mean"; "bins" keeps the order in BINS time bins: worse on valid after 300
steps, S 0.73 against 0.98), a linear map to DIM, then each modality's expander (Linear, BatchNorm,
ReLU, Linear to 256). VICReg pairs the expander outputs, so the embedding that is exported and
compared is the expander output, L2-normalised (the encoders' own DIM outputs sit in unrelated
coordinates: S 0.03, chance, on valid).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from symbolic_ai.embed import N_MEL, SEG_FRAMES

ARMS = ("plain", "desc", "xattn")
DIM = 128
BINS = 16  # the pooled sequence keeps its order: tokens are averaged into BINS equal time bins


def time_pool(x: torch.Tensor, pos: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, T, d) tokens at positions `pos` (B, T) in 0..1, weighted by `weight` (B, T), averaged into
    BINS time bins and concatenated: (B, BINS * d)."""
    edges = torch.arange(BINS, device=x.device, dtype=pos.dtype) / BINS
    onehot = ((pos[..., None] >= edges) & (pos[..., None] < edges + 1.0 / BINS)).to(x.dtype) * weight[..., None].to(x.dtype)
    pooled = onehot.transpose(1, 2) @ x / (onehot.sum(dim=1)[..., None] + 1e-3)
    return pooled.flatten(1)


class Block(nn.Module):
    """Pre-norm attention + MLP; `kv` given: cross-attention from x to kv."""

    def __init__(self, d: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.n1, self.n2, self.nkv = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.kv, self.o = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, kv: torch.Tensor | None = None
                ) -> torch.Tensor:
        b, t, d = x.shape
        h = self.n1(x)
        src = h if kv is None else self.nkv(kv)
        q = self.q(h).view(b, t, self.heads, -1).transpose(1, 2)
        k, v = self.kv(src).view(b, src.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None, None, :])
        x = x + self.o(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.n2(x))


class Injection(nn.Module):
    """Descriptors into a token sequence: added through a linear map ("desc"), or by reverse
    cross-attention ("xattn"); "plain" ignores them."""

    def __init__(self, arm: str, n_desc: int, d: int) -> None:
        super().__init__()
        self.arm = arm
        self.proj = nn.Linear(n_desc, d) if arm != "plain" else None
        self.cross = Block(d) if arm == "xattn" else None

    def forward(self, x: torch.Tensor, desc: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.proj is None:
            return x
        e = self.proj(desc)
        if self.cross is None:
            return x + e
        return x + self.cross(e, mask=mask, kv=x) - e  # the descriptor queries' update, added to the tokens


class AudioEncoder(nn.Module):
    def __init__(self, arm: str, d: int = 64, layers: int = 2, pool: str = "mean") -> None:
        super().__init__()
        self.pool = pool
        self.front = nn.Sequential(nn.Conv1d(N_MEL, d, 5, stride=2, padding=2), nn.GELU(),
                                   nn.Conv1d(d, d, 3, stride=2, padding=1), nn.GELU())
        self.inject = Injection(arm, 16, d)
        self.pos = nn.Parameter(torch.zeros(1, SEG_FRAMES // 4 + 8, d))
        self.blocks = nn.ModuleList(Block(d) for _ in range(layers))
        self.norm, self.out = nn.LayerNorm(d), nn.Linear(BINS * d if pool == "bins" else d, DIM)

    def forward(self, mel: torch.Tensor, a4: torch.Tensor) -> torch.Tensor:
        x = self.front(mel.transpose(1, 2)).transpose(1, 2)           # (B, T/4, d)
        t = x.shape[1]
        desc = F.avg_pool1d(a4.transpose(1, 2), 4, 4, ceil_mode=True).transpose(1, 2)[:, :t]
        x = self.inject(x, desc) + self.pos[:, :t]
        for blk in self.blocks:
            x = blk(x)
        if self.pool == "mean":
            return self.out(self.norm(x).mean(dim=1))
        pos = ((torch.arange(t, dtype=torch.float32) + 0.5) / t)[None].expand(x.shape[0], -1)
        return self.out(time_pool(self.norm(x), pos, torch.ones_like(pos)))


class MidiEncoder(nn.Module):
    def __init__(self, arm: str, d: int = 64, layers: int = 2, pool: str = "mean") -> None:
        super().__init__()
        self.pool = pool
        self.pitch = nn.Embedding(129, d)
        self.num = nn.Linear(3, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.inject = Injection(arm, 2, d)
        self.blocks = nn.ModuleList(Block(d) for _ in range(layers))
        self.norm, self.out = nn.LayerNorm(d), nn.Linear(BINS * d if pool == "bins" else d, DIM)

    def forward(self, pitch: torch.Tensor, num: torch.Tensor, d4: torch.Tensor) -> torch.Tensor:
        valid = pitch > 0
        mask = torch.cat([torch.ones_like(valid[:, :1]), valid], dim=1)   # the CLS token always attends
        x = self.pitch(pitch) + self.num(num)
        x = self.inject(x, d4, mask=valid | ~valid.any(dim=1, keepdim=True))
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        for blk in self.blocks:
            x = blk(x, mask=mask)
        if self.pool == "mean":
            w = mask.to(x.dtype)[..., None]
            return self.out((self.norm(x) * w).sum(dim=1) / w.sum(dim=1))
        h = self.norm(x[:, 1:])
        return self.out(time_pool(h, num[..., 0].float(), valid.float()))


class AudioOut(nn.Module):
    """The audio encoder and its expander, output L2-normalised (what is exported): the space where
    VICReg's invariance term pairs the two modalities (each has its own expander, so the encoders'
    own outputs need not share coordinates)."""

    def __init__(self, enc: AudioEncoder, head: nn.Module) -> None:
        super().__init__()
        self.enc, self.head = enc, head

    def forward(self, mel: torch.Tensor, a4: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.enc(mel, a4)).float(), dim=-1)


class MidiOut(nn.Module):
    """The MIDI encoder and its expander, output L2-normalised (what is exported)."""

    def __init__(self, enc: MidiEncoder, head: nn.Module) -> None:
        super().__init__()
        self.enc, self.head = enc, head

    def forward(self, pitch: torch.Tensor, num: torch.Tensor, d4: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.enc(pitch, num, d4)).float(), dim=-1)


class DualEncoder(nn.Module):
    def __init__(self, arm: str, expander: int = 256, pool: str = "mean") -> None:
        super().__init__()
        if arm not in ARMS:
            raise ValueError(f"arm {arm!r}: one of {ARMS}")
        self.arm, self.pool = arm, pool
        self.audio, self.midi = AudioEncoder(arm, pool=pool), MidiEncoder(arm, pool=pool)

        def head() -> nn.Module:
            return nn.Sequential(nn.Linear(DIM, expander), nn.BatchNorm1d(expander), nn.ReLU(),
                                 nn.Linear(expander, expander))
        self.head_a, self.head_m = head(), head()


def vicreg(za: torch.Tensor, zm: torch.Tensor, inv: float = 25.0, var: float = 25.0, cov: float = 1.0
           ) -> tuple[torch.Tensor, dict[str, float]]:
    """VICReg loss between paired expander outputs (B, E)."""
    za, zm = za.float(), zm.float()
    li = F.mse_loss(za, zm)
    lv = lc = za.new_zeros(())
    for z in (za, zm):
        z = z - z.mean(dim=0)
        std = torch.sqrt(z.var(dim=0) + 1e-4)
        lv = lv + F.relu(1.0 - std).mean() / 2
        c = (z.T @ z) / (z.shape[0] - 1)
        off = c - torch.diag(torch.diag(c))
        lc = lc + off.pow(2).sum() / z.shape[1] / 2
    loss = inv * li + var * lv + cov * lc
    return loss, {"inv": float(li), "var": float(lv), "cov": float(lc)}

