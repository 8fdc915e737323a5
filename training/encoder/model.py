"""The shared symbolic encoder (torch): compound-word embeddings, pre-norm transformer, rotary positions.

Fine-tuning it (emotion, chords, harmonization)::

    from training.encoder.model import Encoder
    enc = Encoder.from_pretrained()                     # committed weights, config and tokenizer
    out = enc(tokens, mask)                             # tokens int64 [B, S, 5], mask bool [B, S]
    out["hidden"]   # [B, S, d] final layer (after the last LayerNorm)
    out["pooled"]   # [B, d] mean over real tokens
    out["layers"]   # with return_layers=True: list of [B, S, d], one per block (input of block i+1)

Conditioning: `film={i: (gamma, beta)}` scales and shifts the output of block i
(`h * (1 + gamma) + beta`, gamma/beta broadcastable to [B, S, d] e.g. [B, 1, d]); `hooks={i: fn}`
replaces block i's output with `fn(h)` (adapters). Freeze with `enc.requires_grad_(False)`, then
unfreeze the blocks you tune (`enc.blocks[-2:]`). Tokens come from `symbolic_ai.tokens.Tokenizer`
with the config stored in the checkpoint (`enc.tokenizer_config`).
The pre-training heads (`heads`, `roll_head`) are kept in the checkpoint but unused by `forward`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from symbolic_ai.tokens import TokenizerConfig

# The pre-training checkpoint the fine-tuning recipes start from (7.4 MB, bfloat16). It is kept in git
# history, not in the tree (only shipped models live in the tree): `pretrained_checkpoint()` restores
# it here (a git-ignored path) from the commit below on first use and checks its hash.
CHECKPOINT = Path(__file__).with_name("encoder-v2.pt")
CHECKPOINT_COMMIT = "9f8ad0d0c9bb89acbf678aeb8599c32078d5d3d9"
CHECKPOINT_SHA256 = "5ad951491413c6280f1526c8afd29611723bbb2b2dc12db014736e0141b86c74"


def pretrained_checkpoint() -> Path:
    """CHECKPOINT, restored from git history when it is not there yet; a one-line error if it cannot be."""
    import hashlib
    import subprocess

    if not CHECKPOINT.exists():
        spec = f"{CHECKPOINT_COMMIT}:training/encoder/{CHECKPOINT.name}"
        try:
            data = subprocess.run(["git", "show", spec], cwd=Path(__file__).parent, capture_output=True,
                                  check=True).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(f"{CHECKPOINT}: missing, and `git show {spec}` failed ({exc}); it needs a clone "
                             f"with history (not shallow): git fetch --unshallow") from None
        tmp = CHECKPOINT.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(CHECKPOINT)
    digest = hashlib.sha256(CHECKPOINT.read_bytes()).hexdigest()
    if digest != CHECKPOINT_SHA256:
        raise SystemExit(f"{CHECKPOINT}: sha256 {digest[:12]}… is not the release's {CHECKPOINT_SHA256[:12]}…; "
                         f"delete it to restore it from git history")
    return CHECKPOINT
ROLL_PITCHES = (22, 108)  # 86 pitches of the bar-level pianoroll target
ROLL_STEPS = 16


@dataclass
class EncoderConfig:
    vocab_sizes: dict = field(default_factory=lambda: TokenizerConfig().vocab_sizes)
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 1024
    dropout: float = 0.1
    max_len: int = 1024
    rope_base: float = 10000.0

    @property
    def roll_dim(self) -> int:
        return ROLL_STEPS * (ROLL_PITCHES[1] - ROLL_PITCHES[0]) + 12


def rotary(x: torch.Tensor, base: float) -> torch.Tensor:
    """Rotary position embedding of x [B, H, S, Dh]; cos/sin computed in the graph from positions."""
    s, dh = x.shape[-2], x.shape[-1]
    inv = base ** (-torch.arange(0, dh, 2, dtype=torch.float32, device=x.device) / dh)
    ang = torch.arange(s, dtype=torch.float32, device=x.device)[:, None] * inv[None, :]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class Block(nn.Module):
    fused = True  # scaled_dot_product_attention when training; ExportWrapper turns it off

    def __init__(self, c: EncoderConfig) -> None:
        super().__init__()
        self.c = c
        self.ln1, self.ln2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.ff = nn.Sequential(nn.Linear(c.d_model, c.d_ff), nn.GELU(), nn.Linear(c.d_ff, c.d_model))
        self.drop = nn.Dropout(c.dropout)

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, s, d = h.shape
        nh = self.c.n_heads
        q, k, v = self.qkv(self.ln1(h)).view(b, s, 3, nh, d // nh).permute(2, 0, 3, 1, 4)
        q, k = rotary(q, self.c.rope_base), rotary(k, self.c.rope_base)
        if self.fused:
            # no attention dropout: it would force the slow unfused path on CPU
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        else:  # plain ops: what the ONNX export traces
            att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(d // nh)) + bias
            y = att.softmax(dim=-1) @ v
        y = y.transpose(1, 2).reshape(b, s, d)
        h = h + self.drop(self.proj(y))
        return h + self.drop(self.ff(self.ln2(h)))


class Encoder(nn.Module):
    """CP-token encoder: sum of field embeddings -> n_layers pre-norm blocks -> LayerNorm."""

    def __init__(self, config: EncoderConfig | None = None,
                 tokenizer_config: TokenizerConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or EncoderConfig()
        self.tokenizer_config = tokenizer_config or TokenizerConfig()
        self.fields = list(self.tokenizer_config.fields)
        self.embed = nn.ModuleList(nn.Embedding(c.vocab_sizes[f], c.d_model) for f in self.fields)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.ln = nn.LayerNorm(c.d_model)
        self.heads = nn.ModuleDict({f: nn.Linear(c.d_model, c.vocab_sizes[f]) for f in self.fields})
        self.roll_head = nn.Linear(c.d_model, c.roll_dim)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None, *,
                film: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None,
                hooks: dict[int, Callable[[torch.Tensor], torch.Tensor]] | None = None,
                return_layers: bool = False) -> dict:
        """tokens int64 [B, S, n_fields]; mask [B, S] true on real tokens (None: all real)."""
        if mask is None:
            mask = tokens[..., 0] != 0
        mask = mask.bool()
        h = sum(emb(tokens[..., i]) for i, emb in enumerate(self.embed))
        bias = torch.zeros(mask.shape, dtype=h.dtype, device=h.device).masked_fill(~mask, -1e4)
        bias = bias[:, None, None, :]
        layers = []
        for i, blk in enumerate(self.blocks):
            h = blk(h, bias)
            if film and i in film:
                gamma, beta = film[i]
                h = h * (1 + gamma) + beta
            if hooks and i in hooks:
                h = hooks[i](h)
            if return_layers:
                layers.append(h)
        h = self.ln(h)
        m = mask.to(h.dtype)[..., None]
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        out = {"hidden": h, "pooled": pooled}
        if return_layers:
            out["layers"] = layers
        return out

    def predict(self, hidden: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pre-training heads: per-field logits and the bar pianoroll+chroma regression."""
        out = {f: self.heads[f](hidden) for f in self.fields}
        out["roll"] = self.roll_head(hidden)
        return out

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self, **extra) -> dict:
        return {"config": asdict(self.config), "tokenizer": self.tokenizer_config.to_dict(),
                "state_dict": self.state_dict(), **extra}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> "Encoder":
        c = ckpt["config"]
        enc = cls(EncoderConfig(**c), TokenizerConfig.from_dict(ckpt["tokenizer"]))
        enc.load_state_dict(ckpt["state_dict"])
        return enc

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> "Encoder":
        """The pre-trained encoder (default: `pretrained_checkpoint()`; eval mode; call .train() to fine-tune)."""
        ckpt = torch.load(path or pretrained_checkpoint(), map_location="cpu", weights_only=False)
        return cls.from_checkpoint(ckpt).eval()


class ExportWrapper(nn.Module):
    """What goes into the ONNX file: (tokens, mask) -> (hidden, pooled)."""

    def __init__(self, enc: Encoder) -> None:
        super().__init__()
        self.enc = enc
        for blk in enc.blocks:
            blk.fused = False

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.enc(tokens, mask)
        return out["hidden"], out["pooled"]

