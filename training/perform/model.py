"""The `perform` networks (torch): a transformer over score notes, as a flow-matching vector field
or as a direct regressor, with the same inputs so one ONNX signature serves both.

Inputs, per window of N notes (batch B):
  features (B, N, F)  score features (`perform_features.score_features`)
  x        (B, N, P)  the flow state x_t in standardised parameter space (zeros for regression);
                      P = 5 (beat period, velocity, timing, articulation, pedal), 4 in perform-v1
  known    (B, N, P)  given values where `mask` is 1 (inpainting / continuation), else 0
  mask     (B, N, 1)  1 for notes whose performance is given
  t        (B,)       flow time in [0, 1]
  control  (B, 2K)    K window properties asked for (z values, `perform_features.CONTROL_DIMS`)
                      then K known flags (0 = left to the model)
  tempo    (B, 2)     [log2 seconds per quarter of the intended tempo (standardised), known flag]
Output: v (B, N, P), the velocity field (flow) or the parameters themselves (regression).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from symbolic_ai.perform_features import CONTROL_DIMS

N_PARAMS = 5  # perform-v1 had 4 (no pedal); PerformNet(n_params=4) rebuilds it


def sinusoid(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(…,) → (…, dim) sinusoidal embedding."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=x.device) / half)
    a = x.float().unsqueeze(-1) * freqs
    return torch.cat([torch.sin(a), torch.cos(a)], dim=-1)


class Block(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.cond = nn.Linear(d, 2 * d)
        self.drop = nn.Dropout(dropout)
        nn.init.zeros_(self.cond.weight)
        nn.init.zeros_(self.cond.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        B, N, D = h.shape
        scale, shift = self.cond(c).unsqueeze(1).chunk(2, dim=-1)
        x = self.n1(h) * (1 + scale) + shift
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)
        h = h + self.drop(self.proj(a.transpose(1, 2).reshape(B, N, D)))
        return h + self.drop(self.ff(self.n2(h)))


class PerformNet(nn.Module):
    def __init__(self, n_features: int, d: int = 192, layers: int = 4, heads: int = 4,
                 dropout: float = 0.1, n_params: int = N_PARAMS) -> None:
        super().__init__()
        self.d = d
        self.inp = nn.Linear(n_features + 2 * n_params + 1, d)
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.control = nn.Sequential(nn.Linear(2 * len(CONTROL_DIMS), d), nn.SiLU(), nn.Linear(d, d))
        self.tempo = nn.Linear(2, d)
        self.blocks = nn.ModuleList(Block(d, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, n_params)

    def forward(self, features: torch.Tensor, x: torch.Tensor, known: torch.Tensor, mask: torch.Tensor,
                t: torch.Tensor, control: torch.Tensor, tempo: torch.Tensor) -> torch.Tensor:
        n = features.shape[1]
        pos = sinusoid(torch.arange(n, device=features.device), self.d).unsqueeze(0)
        h = self.inp(torch.cat([features, x, known * mask, mask], dim=-1)) + pos
        c = self.t_mlp(sinusoid(t * 1000.0, self.d)) + self.control(control) + self.tempo(tempo)
        h = h + c.unsqueeze(1)
        for blk in self.blocks:
            h = blk(h, c)
        return self.out(self.norm(h))
