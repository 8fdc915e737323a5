"""Emotion classifiers on the shared encoder: a plain head (baseline) or guided FiLM (MoFi).

The guided model computes γ and β from the window's guide features with a small MLP and
scales/shifts the output of one encoder block: `h * (1 + γ) + β`. The guide is either the mode
(P(major), P(minor), key confidence, major−minor correlation margin; MoFi's input, see
`symbolic_ai.tasks.emotion.mode_features`) or the clip statistics, which add register, velocity,
density and articulation to the mode (`clip_statistics`). The features are standardised inside
the model (mean and std of the training windows are buffers), and the MLP's last layer starts at
zero, so training starts from the plain encoder.
"""
from __future__ import annotations

import torch
from torch import nn

from symbolic_ai.tasks.emotion import GUIDES, QUADRANTS
from training.encoder.model import Encoder


class FiLM(nn.Module):
    """γ, β [B, 1, d] from guide features [B, n_in] (standardised with the stored mean and std)."""

    def __init__(self, n_in: int, d_model: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, 2 * d_model))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))
        self.register_buffer("fitted", torch.zeros(()))

    def fit_norm(self, x) -> None:
        """Standardise with the mean and std of these training features (once; later calls keep it)."""
        if not bool(self.fitted):
            x = torch.as_tensor(x, dtype=torch.float32)
            self.mean.copy_(x.mean(0))
            self.std.copy_(x.std(0).clamp(min=1e-3))
            self.fitted.fill_(1.0)

    def forward(self, guide: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gamma, beta = self.net((guide - self.mean) / self.std).chunk(2, dim=-1)
        return gamma[:, None, :], beta[:, None, :]


class EmotionModel(nn.Module):
    """Encoder → (FiLM at block `film_layer`) → mean pooling → MLP head → 4 logits."""

    def __init__(self, encoder: Encoder, film_layer: int | None = None, dropout: float = 0.1,
                 guide: str = "mode") -> None:
        super().__init__()
        d = encoder.config.d_model
        n = encoder.config.n_layers
        if film_layer is not None and not 0 <= film_layer < n:
            raise ValueError(f"film_layer must be in 0..{n - 1} or None, got {film_layer!r}")
        if guide not in GUIDES:
            raise ValueError(f"guide must be one of {sorted(GUIDES)}, got {guide!r}")
        self.encoder, self.film_layer, self.guide = encoder, film_layer, guide
        self.film = FiLM(len(GUIDES[guide]), d) if film_layer is not None else None
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
        return {"film_layer": self.film_layer, "guide": self.guide}


class ExportWrapper(nn.Module):
    """What goes into the ONNX file: (tokens, mask, guide) → probabilities [B, 4]."""

    def __init__(self, model: EmotionModel) -> None:
        super().__init__()
        self.model = model
        for blk in model.encoder.blocks:
            blk.fused = False

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        logits = self.model(tokens, mask, guide)
        if self.model.film is None:  # keep the `guide` input in the graph so every variant has one signature
            logits = logits + 0.0 * guide.sum(dim=-1, keepdim=True)
        return logits.softmax(dim=-1)


class LinearGuide(nn.Module):
    """Multinomial logistic regression on standardised guide features (fitted outside torch:
    `training.emotion.baseline`), as a module so it can join the exported graph."""

    def __init__(self, mean, std, W, b) -> None:
        super().__init__()
        for name, v in (("mean", mean), ("std", std), ("W", W), ("b", b)):
            self.register_buffer(name, torch.as_tensor(v, dtype=torch.float32))
        if self.W.shape != (len(self.mean), len(QUADRANTS)):
            raise ValueError(f"LinearGuide: W must be [{len(self.mean)}, {len(QUADRANTS)}], got {tuple(self.W.shape)}")

    def forward(self, guide: torch.Tensor) -> torch.Tensor:
        return ((guide - self.mean) / self.std) @ self.W + self.b


class FusedExport(nn.Module):
    """(tokens, mask, guide) → probabilities: the weighted geometric mean of the encoder models'
    probabilities (their mean log-probability; weight 1 − w) and the linear model's (weight w).
    Each encoder model reads the first columns of `guide` (its own guide's features); the linear
    model reads all of them."""

    def __init__(self, models: list[EmotionModel], linear: LinearGuide, linear_weight: float) -> None:
        super().__init__()
        if not 0.0 <= linear_weight <= 1.0 or (not models and linear_weight != 1.0):
            raise ValueError(f"linear_weight must be in [0, 1] (1 without an encoder model), got {linear_weight!r}")
        self.models, self.linear, self.w = nn.ModuleList(models), linear, float(linear_weight)
        self.n_film = [len(GUIDES[m.guide]) for m in models]
        for m in models:
            for blk in m.encoder.blocks:
                blk.fused = False

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        z = self.w * self.linear(guide).log_softmax(-1)
        for m, n in zip(self.models, self.n_film):
            z = z + (1 - self.w) / len(self.models) * m(tokens, mask, guide[:, :n]).log_softmax(-1)
        if not self.models:  # keep `tokens` and `mask` in the graph so every emotion model has one signature
            z = z + 0.0 * mask.to(z.dtype).sum(-1, keepdim=True) + 0.0 * tokens[..., 0].to(z.dtype).sum(-1, keepdim=True)
        return z.softmax(dim=-1)


def save(model: EmotionModel, path, **extra) -> None:
    torch.save(model.encoder.checkpoint(emotion=model.spec(), head=model.head.state_dict(),
                                        film=model.film.state_dict() if model.film is not None else None,
                                        **extra), path)


def load(path) -> EmotionModel:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    spec = ckpt["emotion"]
    model = EmotionModel(Encoder.from_checkpoint(ckpt), spec["film_layer"], guide=spec.get("guide", "mode"))
    model.head.load_state_dict(ckpt["head"])
    if model.film is not None:
        missing, unexpected = model.film.load_state_dict(ckpt["film"], strict=False)
        if unexpected or set(missing) - {"mean", "std", "fitted"}:  # older checkpoints: no standardisation
            raise ValueError(f"{path}: FiLM weights do not match (missing {missing}, unexpected {unexpected})")
    return model.eval()
