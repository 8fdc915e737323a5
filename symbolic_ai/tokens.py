"""Compound-word (CP) tokens: one token per note with the fields bar, position, pitch, duration, velocity.

A token is a row of `len(FIELDS)` integer ids. Every field reserves ids 0..3 for the specials
PAD, MASK, BOS, EOS; real values start at `N_SPECIAL`:
- bar: bar delta to the previous note (0 = same bar, 1 = next bar, ... capped at `max_bar_delta`);
- position: onset within the bar on a grid of `ticks_per_quarter` (12: 16ths and triplets);
- pitch: MIDI pitch 0..127;
- duration: nearest of `duration_ticks` (50 buckets, 1 tick .. 8 whole notes, log-spaced);
- velocity: `velocity_bins` equal bins of 1..127 (scores carry their nominal 64).
A sequence is BOS, notes sorted by onset then pitch, EOS. Drum tracks are left out. A piece
without a beat grid (a performance in seconds only) is read on a nominal 120 qpm 4/4 grid.
The config is versioned and stored as JSON (`symbolic_ai/models/tokens-v1.json`), so the
runtime tokenizes without torch. `Tokenizer.encode` is lossless for notes on the grid whose
durations are bucket values, in bars no longer than `max_bar_quarters`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .metre import NOMINAL_QPM, nominal_beats
from .piece import Piece, TimeSignature, empty_notes

FIELDS = ("bar", "position", "pitch", "duration", "velocity")
SPECIALS = ("PAD", "MASK", "BOS", "EOS")
PAD, MASK, BOS, EOS = range(4)
N_SPECIAL = len(SPECIALS)
CONFIG_PATH = Path(__file__).parent / "models" / "tokens-v1.json"


def _duration_ticks() -> list[int]:
    out = list(range(1, 13))
    for start, stop, step in ((14, 24, 2), (27, 48, 3), (54, 96, 6), (108, 192, 12), (216, 384, 24)):
        out += list(range(start, stop + 1, step))
    return out


@dataclass(frozen=True)
class TokenizerConfig:
    """Everything that fixes the vocabulary; saved beside the model that was trained on it."""

    version: int = 1
    ticks_per_quarter: int = 12
    max_bar_quarters: int = 8
    max_bar_delta: int = 8
    velocity_bins: int = 32
    duration_ticks: tuple[int, ...] = field(default_factory=lambda: tuple(_duration_ticks()))
    fields: tuple[str, ...] = FIELDS
    specials: tuple[str, ...] = SPECIALS

    @property
    def n_positions(self) -> int:
        return self.ticks_per_quarter * self.max_bar_quarters

    @property
    def vocab_sizes(self) -> dict[str, int]:
        n = {"bar": self.max_bar_delta + 1, "position": self.n_positions, "pitch": 128,
             "duration": len(self.duration_ticks), "velocity": self.velocity_bins}
        return {f: N_SPECIAL + n[f] for f in self.fields}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["vocab_sizes"] = self.vocab_sizes
        d["duration_ticks"] = list(self.duration_ticks)
        d["fields"], d["specials"] = list(self.fields), list(self.specials)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TokenizerConfig:
        if d.get("version") != 1:
            raise InputError(f"tokenizer config version {d.get('version')!r} is not supported (expected 1)")
        keys = {"version", "ticks_per_quarter", "max_bar_quarters", "max_bar_delta", "velocity_bins"}
        cfg = cls(**{k: int(d[k]) for k in keys if k in d},
                  duration_ticks=tuple(int(t) for t in d.get("duration_ticks", _duration_ticks())),
                  fields=tuple(d.get("fields", FIELDS)), specials=tuple(d.get("specials", SPECIALS)))
        if "vocab_sizes" in d and d["vocab_sizes"] != cfg.vocab_sizes:
            raise InputError(f"tokenizer config vocab_sizes {d['vocab_sizes']} do not match its fields")
        return cfg

    def save(self, path: str | Path) -> Path:
        from .io import write_atomic

        return write_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path = CONFIG_PATH) -> TokenizerConfig:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read the tokenizer config ({exc})") from None


class Tokenizer:
    """Piece <-> compound-word tokens (int64 array [n_tokens, n_fields])."""

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        c = self.config
        self._dur = np.asarray(c.duration_ticks, dtype=np.float64)
        self._log_dur = np.log(self._dur)

    @property
    def vocab_sizes(self) -> dict[str, int]:
        return self.config.vocab_sizes

    def field(self, name: str) -> int:
        return self.config.fields.index(name)

    # -- Piece -> tokens ---------------------------------------------------------------------
    def note_grid(self, piece: Piece) -> dict[str, np.ndarray]:
        """Per pitched note, sorted as tokens are: absolute bar, position tick, pitch, duration
        bucket, velocity and the note's `id`."""
        notes = piece.pitched()
        if not len(notes):
            raise InputError(f"{piece!r}: no pitched notes to tokenize (drum tracks are left out)")
        tpq = self.config.ticks_per_quarter
        if piece.has_beats and np.isfinite(notes["onset_beat"]).all():
            onset, dur = notes["onset_beat"], notes["duration_beat"]
            bar, pos = notes["bar"].astype(np.int64), notes["beat_in_bar"]
            if (bar < 0).any() or not np.isfinite(pos).all():
                bar, pos = piece.bar_position(onset)
        else:  # performance in seconds only: nominal 120 qpm, 4/4
            onset, dur = nominal_beats(notes["onset_sec"]), nominal_beats(notes["duration_sec"])
            bar, pos = np.floor(onset / 4.0 + 1e-9), onset - 4.0 * np.floor(onset / 4.0 + 1e-9)
        pos_t = np.clip(np.round(np.asarray(pos) * tpq), 0, self.config.n_positions - 1).astype(np.int64)
        dur_t = np.maximum(np.asarray(dur, dtype=np.float64) * tpq, 1.0)
        dur_i = np.abs(np.log(dur_t)[:, None] - self._log_dur[None, :]).argmin(axis=1)
        order = np.lexsort((notes["pitch"], pos_t, np.asarray(bar)))
        return {"bar": np.asarray(bar, dtype=np.int64)[order], "position": pos_t[order],
                "pitch": notes["pitch"].astype(np.int64)[order], "duration": dur_i[order],
                "velocity": notes["velocity"].astype(np.int64)[order], "id": notes["id"][order]}

    def encode(self, piece: Piece, *, bos_eos: bool = True) -> np.ndarray:
        """Tokens [n, n_fields] (int64) for the pitched notes of `piece`, BOS/EOS around them."""
        g = self.note_grid(piece)
        c = self.config
        bar = g["bar"] - g["bar"][0]
        delta = np.clip(np.diff(bar, prepend=bar[0] - 1), 0, c.max_bar_delta)
        vel = np.clip((np.clip(g["velocity"], 1, 127) - 1) * c.velocity_bins // 127, 0, c.velocity_bins - 1)
        cols = {"bar": delta, "position": g["position"], "pitch": g["pitch"], "duration": g["duration"],
                "velocity": vel}
        toks = np.stack([cols[f] + N_SPECIAL for f in c.fields], axis=1).astype(np.int64)
        if bos_eos:
            n_f = len(c.fields)
            toks = np.concatenate([np.full((1, n_f), BOS), toks, np.full((1, n_f), EOS)])
        return toks

    def bar_index(self, tokens: np.ndarray) -> np.ndarray:
        """0-based bar of each token (specials get the bar of the note before them, or 0)."""
        d = tokens[..., self.field("bar")] - N_SPECIAL
        d = np.where(d >= 0, d, 0)
        first = np.argmax(tokens[..., self.field("bar")] >= N_SPECIAL, axis=-1)
        b = np.cumsum(d, axis=-1)
        out: np.ndarray = np.maximum(b - np.take_along_axis(b, np.expand_dims(first, -1), -1), 0)
        return out

    def windows(self, tokens: np.ndarray, max_len: int, hop: int | None = None) -> list[np.ndarray]:
        """Cut a BOS..EOS sequence into windows of at most `max_len` tokens, each BOS..EOS again."""
        if max_len < 3:
            raise InputError(f"max_len must be >= 3 (BOS, a note, EOS), got {max_len!r}")
        body = tokens[1:-1] if len(tokens) and tokens[0, 0] == BOS else tokens
        n = max_len - 2
        hop = hop or n
        out = []
        for s in range(0, max(len(body) - n, 0) + hop, hop):
            w = body[s:s + n].copy()
            if not len(w):
                break
            w[0, self.field("bar")] = N_SPECIAL + 1  # a window starts a bar
            edge = np.full((1, tokens.shape[1]), BOS), np.full((1, tokens.shape[1]), EOS)
            out.append(np.concatenate([edge[0], w, edge[1]]))
            if s + n >= len(body):
                break
        return out

    # -- tokens -> Piece ---------------------------------------------------------------------
    def decode(self, tokens: np.ndarray, *, bar_quarters: float = 4.0, qpm: float = NOMINAL_QPM) -> Piece:
        """A Piece (one track, `bar_quarters`-long bars) from tokens; specials are skipped."""
        t = np.asarray(tokens)
        if t.ndim != 2 or t.shape[1] != len(self.config.fields):
            raise InputError(f"tokens must have shape [n, {len(self.config.fields)}], got {t.shape}")
        t = t[(t >= N_SPECIAL).all(axis=1)] - N_SPECIAL
        c, tpq = self.config, self.config.ticks_per_quarter
        bar = np.cumsum(t[:, self.field("bar")]) - 1 if len(t) else np.zeros(0)
        bar = bar - (bar.min() if len(bar) else 0)
        notes = empty_notes(len(t))
        notes["onset_beat"] = bar * bar_quarters + t[:, self.field("position")] / tpq
        notes["duration_beat"] = self._dur[t[:, self.field("duration")]] / tpq
        notes["pitch"] = t[:, self.field("pitch")]
        if "velocity" in c.fields:
            notes["velocity"] = 1 + (2 * t[:, self.field("velocity")] + 1) * 127 // (2 * c.velocity_bins)
        num = int(round(bar_quarters * 2))
        from .piece import Tempo

        return Piece(notes=notes, tempos=(Tempo(0.0, qpm),), time_signatures=(TimeSignature(0.0, num, 8),)
                     if num % 2 else (TimeSignature(0.0, num // 2, 4),))


_default: Tokenizer | None = None


def default_tokenizer() -> Tokenizer:
    """The shipped tokenizer (config from `symbolic_ai/models/tokens-v1.json` when present)."""
    global _default
    if _default is None:
        _default = Tokenizer(TokenizerConfig.load() if CONFIG_PATH.exists() else TokenizerConfig())
    return _default
