"""Evaluation segments and the retrieval protocol of embed-v1 (numpy; the torch side is in train.py).

Segments: each valid/test rendering cut into back-to-back SEG_SEC windows holding at least one note
onset. Conditions: "base" (FluidR3, as in training), "unseen" (TimGM6mb), "transpose" (the FluidR3
audio resampled by 2^(±1/12): one semitone up for even-numbered performances, down for odd ones, the
notes moved with it), "velocity" (the MIDI's velocities × VELOCITY_SCALE, audio unchanged).

Protocol (the study's): QUERIES queries, each against a pool of POOL candidates of the other
modality: its own pair, up to HARD others from the same piece, up to SEMI from other pieces of the
same composer, the rest drawn at random; both directions (audio → MIDI and MIDI → audio) over the
same pools. R@1, R@10 and MRR per direction; S = the smaller R@10 of the two directions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from symbolic_ai.embed import FPS, SEG_FRAMES, audio_frames, audio_inputs, midi_inputs

QUERIES, POOL, HARD, SEMI = 500, 256, 64, 32
VELOCITY_SCALE = 0.6
CONDITIONS = ("base", "unseen", "transpose", "velocity")


def _segments(mel: np.ndarray, bands: np.ndarray, notes: dict[str, np.ndarray], meta: tuple[str, str],
              out: dict[str, list]) -> None:
    for s in range(0, len(mel) - SEG_FRAMES + 1, SEG_FRAMES):
        t0 = s / FPS
        p, num, d4 = midi_inputs(notes["pitch"], notes["onset"], notes["offset"] - notes["onset"],
                                 notes["velocity"], t0)
        if not p.any():
            continue
        m, a4 = audio_inputs(mel[s:s + SEG_FRAMES].astype(np.float32), bands[s:s + SEG_FRAMES].astype(np.float32))
        for k, v in zip(("mel", "a4", "pitch", "num", "d4", "piece", "composer"), (m, a4, p, num, d4, *meta)):
            out[k].append(v)


def load_segments(folder: Path, condition: str = "base") -> dict[str, np.ndarray]:
    """Every segment of the renderings in `folder` under `condition` (see the module docstring)."""
    out: dict[str, list] = {k: [] for k in ("mel", "a4", "pitch", "num", "d4", "piece", "composer")}
    font = "timgm6mb" if condition == "unseen" else "fluidr3"
    for i, path in enumerate(sorted(folder.glob(f"*.{font}.npz"))):
        z = np.load(path)
        notes = {k: z[k].astype(np.float64) for k in ("onset", "offset", "pitch", "velocity")}
        mel, bands = z["mel"], z["bands"]
        if condition == "velocity":
            notes["velocity"] = np.maximum(1.0, np.round(notes["velocity"] * VELOCITY_SCALE))
        elif condition == "transpose":
            if not len(z["audio"]):
                raise ValueError(f"{path}: no audio stored (transpose needs the test split's renderings)")
            shift = 1 if i % 2 == 0 else -1
            r = 2.0 ** (shift / 12)
            y = z["audio"].astype(np.float32) / 32767
            t = np.arange(int(len(y) / r)) * r
            mel, bands = audio_frames(np.interp(t, np.arange(len(y)), y).astype(np.float32))
            notes = {**notes, "onset": notes["onset"] / r, "offset": notes["offset"] / r, "pitch": notes["pitch"] + shift}
        _segments(mel, bands, notes, (str(z["piece"]), str(z["composer"])), out)
    return {k: np.stack(v) for k, v in out.items()}


def cached_segments(folder: Path, condition: str = "base") -> dict[str, np.ndarray]:
    """`load_segments`, kept in `folder`/../segments-<split>-<condition>.npz after the first call."""
    cache = folder.parent / f"segments-{folder.name}-{condition}.npz"
    if cache.exists():
        z = np.load(cache)
        return {k: z[k] for k in z.files}
    seg = load_segments(folder, condition)
    part = cache.with_suffix(".part.npz")
    np.savez(part, **seg)
    part.replace(cache)
    return seg


def pools(piece: np.ndarray, composer: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(queries, (Q, POOL) candidate indices, the query's own pair first)."""
    rng = np.random.default_rng(seed)
    n = len(piece)
    queries = rng.choice(n, size=min(QUERIES, n), replace=False)
    rows = []
    for q in queries:
        others = np.delete(np.arange(n), q)
        same = others[piece[others] == piece[q]]
        semi = others[(composer[others] == composer[q]) & (composer[q] != "") & (piece[others] != piece[q])]
        hard = rng.permutation(same)[:HARD]
        semi = rng.permutation(semi)[:SEMI]
        rest = np.setdiff1d(others, np.concatenate([hard, semi]))
        fill = rng.choice(rest, size=min(len(rest), POOL - 1 - len(hard) - len(semi)), replace=False)
        rows.append(np.concatenate([[q], hard, semi, fill]).astype(np.int64))
    return queries, np.stack(rows)


def retrieval(ea: np.ndarray, em: np.ndarray, piece: np.ndarray, composer: np.ndarray, seed: int = 0
              ) -> dict[str, float]:
    """R@1, R@10, MRR both ways and S, for unit embeddings ea (audio) and em (MIDI) of the same segments."""
    queries, pool = pools(piece, composer, seed)
    out: dict[str, float] = {}
    for name, qe, ce in (("a2m", ea, em), ("m2a", em, ea)):
        sims = np.einsum("qd,qpd->qp", qe[queries], ce[pool])
        rank = (sims[:, 1:] > sims[:, :1]).sum(axis=1) + 1
        out[f"{name}_r1"] = float(np.mean(rank <= 1))
        out[f"{name}_r10"] = float(np.mean(rank <= 10))
        out[f"{name}_mrr"] = float(np.mean(1.0 / rank))
    out["S"] = min(out["a2m_r10"], out["m2a_r10"])
    out["R1"] = min(out["a2m_r1"], out["m2a_r1"])
    out["MRR"] = min(out["a2m_mrr"], out["m2a_mrr"])
    return {k: round(v, 4) for k, v in out.items()}

