"""Embeddings of a Piece from the shared pre-trained encoder, through onnxruntime (no torch).

    from symbolic_ai.encoder import encode
    e = encode(piece)               # Embeddings
    e.notes      # [n_notes, d] one vector per pitched note (e.note_ids: their Piece note ids)
    e.bars       # [n_bars, d] mean over each bar's notes (e.bar_numbers: the Piece's bar index)
    e.pooled     # [d] mean over all notes

The model's card carries the tokenizer config, so tokens always match the vocabulary the model
was trained on. Pieces longer than the model's `max_len` are cut into windows of whole notes
(BOS/EOS around each, like pre-training) and run as one padded batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError, ModelError, ParameterError
from .piece import Piece
from .runtime import Model, load_model
from .tokens import N_SPECIAL, PAD, Tokenizer, TokenizerConfig

DEFAULT_MODEL = "encoder-v2-int8"


@dataclass(frozen=True)
class Embeddings:
    notes: np.ndarray        # float32 [n_notes, d]
    note_ids: np.ndarray     # int [n_notes]: Piece note ids, in token order
    bars: np.ndarray         # float32 [n_bars, d]
    bar_numbers: np.ndarray  # int [n_bars]: Piece bar index of each row of `bars`
    pooled: np.ndarray       # float32 [d]
    tokens: np.ndarray       # int64 [n_notes, n_fields]: the note tokens (no BOS/EOS)
    model: str = DEFAULT_MODEL


def tokenizer_for(model: Model) -> Tokenizer:
    """The tokenizer described by a model's card (`vocabulary`)."""
    voc = model.card.get("vocabulary")
    if not isinstance(voc, dict):
        raise ModelError(f"{model.path}: the card has no tokenizer config under 'vocabulary'")
    return Tokenizer(TokenizerConfig.from_dict(voc))


def batch(windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """PAD-padded tokens [B, S, F] and a bool mask [B, S] from token sequences."""
    n = max(len(w) for w in windows)
    tok = np.full((len(windows), n, windows[0].shape[1]), PAD, dtype=np.int64)
    mask = np.zeros((len(windows), n), dtype=bool)
    for i, w in enumerate(windows):
        tok[i, :len(w)], mask[i, :len(w)] = w, True
    return tok, mask


def max_len_of(model: Model) -> int:
    return int(model.card.get("architecture", {}).get("max_len", 1024))


def encode(piece: Piece, model: Model | str = DEFAULT_MODEL, *, device: str = "auto",
           max_len: int | None = None) -> Embeddings:
    """Per-note, per-bar and pooled embeddings of `piece`'s pitched notes."""
    if not isinstance(piece, Piece):
        raise InputError(f"encode needs a Piece, got {type(piece).__name__}")
    m = load_model(model, device=device) if isinstance(model, str) else model
    limit = max_len_of(m)
    max_len = limit if max_len is None else int(max_len)
    if not 3 <= max_len <= limit:
        raise ParameterError(f"max_len must be in 3..{limit} for {m.name}, got {max_len!r}")
    tk = tokenizer_for(m)
    grid = tk.note_grid(piece)
    seq = tk.encode(piece)
    windows = tk.windows(seq, max_len)
    tok, mask = batch(windows)
    hidden = m.run(tokens=tok, mask=mask)["hidden"]
    notes = np.concatenate([hidden[i, 1:len(w) - 1] for i, w in enumerate(windows)]).astype(np.float32)
    body = seq[1:-1]
    assert len(notes) == len(body) == len(grid["id"])
    bars, inverse = np.unique(grid["bar"], return_inverse=True)
    sums = np.zeros((len(bars), notes.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, notes)
    per_bar = (sums / np.bincount(inverse)[:, None]).astype(np.float32)
    return Embeddings(notes=notes, note_ids=grid["id"], bars=per_bar, bar_numbers=bars,
                      pooled=notes.mean(axis=0), tokens=body, model=m.name)


def note_tokens_only(tokens: np.ndarray) -> np.ndarray:
    """Rows of `tokens` that are notes (no PAD/MASK/BOS/EOS)."""
    return tokens[(tokens >= N_SPECIAL).all(axis=1)]
