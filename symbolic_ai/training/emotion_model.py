"""Emotion classifiers on the shared encoder: a plain head (baseline) or mode-guided FiLM (MoFi).

The mode-guided model computes γ and β from the window's mode features (P(major), P(minor), key
confidence, major−minor correlation margin; see `symbolic_ai.tasks.emotion.mode_features`) with a
small MLP and scales/shifts the output of one encoder block: `h * (1 + γ) + β`. The MLP's last
layer starts at zero, so training starts from the plain encoder.
"""
from __future__ import annotations

import torch
from torch import nn

from ..tasks.emotion import MODE_FEATURES, QUADRANTS
from .model import Encoder


class FiLM(nn.Module):
    """γ, β [B, 1, d] from mode features [B, n_in]."""

    def __init__(self, n_in: int, d_model: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, 2 * d_model))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, mode: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gamma, beta = self.net(mode).chunk(2, dim=-1)
        return gamma[:, None, :], beta[:, None, :]


class EmotionModel(nn.Module):
    """Encoder → (FiLM at block `film_layer`) → mean pooling → MLP head → 4 logits."""

    def __init__(self, encoder: Encoder, film_layer: int | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        d = encoder.config.d_model
        n = encoder.config.n_layers
        if film_layer is not None and not 0 <= film_layer < n:
            raise ValueError(f"film_layer must be in 0..{n - 1} or None, got {film_layer!r}")
        self.encoder, self.film_layer = encoder, film_layer
        self.film = FiLM(len(MODE_FEATURES), d) if film_layer is not None else None
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(d, d), nn.GELU(), nn.Dropout(dropout),
                                  nn.Linear(d, len(QUADRANTS)))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, mode: torch.Tensor) -> torch.Tensor:
        film = {self.film_layer: self.film(mode)} if self.film is not None else None
        return self.head(self.encoder(tokens, mask, film=film)["pooled"])

    def prefix(self, tokens: torch.Tensor, mask: torch.Tensor, upto: int) -> list[torch.Tensor]:
        """Outputs of blocks 0..upto without FiLM (what `forward_from` starts from; cached in
        training, where those blocks are frozen)."""
        enc = self.encoder
        h = sum(emb(tokens[..., i]) for i, emb in enumerate(enc.embed))
        out = []
        for i in range(upto + 1):
            h = self._blocks(h, mask, None, i, i)
            out.append(h)
        return out

    def forward_from(self, h: torch.Tensor, mask: torch.Tensor, mode: torch.Tensor, start: int) -> torch.Tensor:
        """Logits from the output of block `start` (equal to `forward` when h = prefix(..., start))."""
        film = self.film(mode) if self.film is not None else None
        if film is not None and self.film_layer == start:
            h = h * (1 + film[0]) + film[1]
        h = self._blocks(h, mask, film, start + 1, self.encoder.config.n_layers - 1)
        h = self.encoder.ln(h)
        m = mask.to(h.dtype)[..., None]
        return self.head((h * m).sum(1) / m.sum(1).clamp(min=1.0))

    def _blocks(self, h, mask, film, first: int, last: int) -> torch.Tensor:
        """Blocks first..last as in `Encoder.forward` (same attention bias and FiLM placement)."""
        bias = torch.zeros(mask.shape, dtype=h.dtype, device=h.device).masked_fill(~mask.bool(), -1e4)
        bias = bias[:, None, None, :]
        for i in range(first, last + 1):
            h = self.encoder.blocks[i](h, bias)
            if film is not None and i == self.film_layer:
                h = h * (1 + film[0]) + film[1]
        return h

    def freeze_below(self, n_train_blocks: int) -> int:
        """Freeze the embeddings and all blocks but the top `n_train_blocks`; returns the first trained block."""
        enc = self.encoder
        first = enc.config.n_layers - n_train_blocks
        enc.embed.requires_grad_(False)
        for i, blk in enumerate(enc.blocks):
            blk.requires_grad_(i >= first)
        return first

    def spec(self) -> dict:
        """What is needed to rebuild it (with the encoder's own checkpoint fields)."""
        return {"film_layer": self.film_layer}


class ExportWrapper(nn.Module):
    """What goes into the ONNX file: (tokens, mask, mode) → probabilities [B, 4]."""

    def __init__(self, model: EmotionModel) -> None:
        super().__init__()
        self.model = model
        for blk in model.encoder.blocks:
            blk.fused = False

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, mode: torch.Tensor) -> torch.Tensor:
        logits = self.model(tokens, mask, mode)
        if self.model.film is None:  # keep the `mode` input in the graph so every version has one signature
            logits = logits + 0.0 * mode.sum(dim=-1, keepdim=True)
        return logits.softmax(dim=-1)


def save(model: EmotionModel, path, **extra) -> None:
    torch.save(model.encoder.checkpoint(emotion=model.spec(), head=model.head.state_dict(),
                                        film=model.film.state_dict() if model.film is not None else None,
                                        **extra), path)


def load(path) -> EmotionModel:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = EmotionModel(Encoder.from_checkpoint(ckpt), ckpt["emotion"]["film_layer"])
    model.head.load_state_dict(ckpt["head"])
    if model.film is not None:
        model.film.load_state_dict(ckpt["film"])
    return model.eval()
