"""Evaluation segments and the retrieval protocol of the embeddings (numpy; the torch side is in train.py).

Segments: each valid/test rendering's first EVAL_SEC seconds cut into SEG_SEC windows every HOP_SEC
seconds (overlapping), each holding at least one note onset. Conditions: "base" (FluidR3 program 0, a
training soundfont), "unseen" (MuseScore_General_Lite, never used in training), "transpose" (the FluidR3
audio resampled by 2^(±1/12): one semitone up for even-numbered performances, down for odd ones, the
notes moved with it), "velocity" (the MIDI's velocities × VELOCITY_SCALE, audio unchanged).

Protocol (the study's): QUERIES queries, each against a pool of POOL candidates of the other modality:
its own pair; HARD segments of the same piece that do not overlap it (start SEG_SEC or more away); up to
SEMI segments of other pieces by the same composer (ASAP's composers, Mozart for Batik; POP909 and
EMOPIA name none); the rest drawn at random from pieces by other composers (or none). Queries are drawn
only among segments whose piece offers HARD such negatives, so every pool holds exactly HARD hard
negatives. Both directions (audio → MIDI and MIDI → audio) over the same pools; R@1, R@10 and MRR per
direction; S = the smaller R@10 of the two directions (R1, MRR likewise the smaller).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from symbolic_ai.embed import FPS, SEG_FRAMES, SEG_SEC, audio_frames, audio_inputs, midi_inputs

QUERIES, POOL, HARD, SEMI = 500, 256, 64, 32
HOP_SEC = 2.0
EVAL_SEC = 150.0  # (the first valid renderings were 240 s long)
VELOCITY_SCALE = 0.6
CONDITIONS = ("base", "unseen", "transpose", "velocity")
VALID_CONDITIONS = CONDITIONS[:2]  # the valid split: the two soundfonts
FONT = {"unseen": "musescore"}  # the rest: FluidR3
KEYS = ("mel", "a4", "pitch", "num", "d4", "piece", "composer", "start")


def _segments(mel: np.ndarray, bands: np.ndarray, notes: dict[str, np.ndarray], meta: tuple[str, str],
              out: dict[str, list]) -> None:
    for t0 in np.arange(0.0, min(len(mel) / FPS, EVAL_SEC), HOP_SEC):
        s = int(round(t0 * FPS))
        if s + SEG_FRAMES > len(mel):
            break
        p, num, d4 = midi_inputs(notes["pitch"], notes["onset"], notes["offset"] - notes["onset"],
                                 notes["velocity"], t0)
        if not p.any():
            continue
        m, a4 = audio_inputs(mel[s:s + SEG_FRAMES].astype(np.float32), bands[s:s + SEG_FRAMES].astype(np.float32))
        for k, v in zip(KEYS, (m, a4, p, num, d4, *meta, t0)):
            out[k].append(v)


def load_segments(folder: Path, condition: str = "base") -> dict[str, np.ndarray]:
    """Every segment of the renderings in `folder` under `condition` (see the module docstring)."""
    out: dict[str, list] = {k: [] for k in KEYS}
    font = FONT.get(condition, "fluidr3")
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


def pools(piece: np.ndarray, composer: np.ndarray, start: np.ndarray, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    """(queries, (Q, POOL) candidate indices, the query's own pair first); see the module docstring."""
    rng = np.random.default_rng(seed)
    n = len(piece)
    idx = np.arange(n)

    def hard_of(q: int) -> np.ndarray:
        return idx[(piece == piece[q]) & (np.abs(start - start[q]) >= SEG_SEC - 1e-6)]

    eligible = np.array([q for q in range(n) if len(hard_of(q)) >= HARD], dtype=np.int64)
    if not len(eligible):
        raise ValueError(f"no segment has {HARD} non-overlapping segments of its piece: windows too short")
    queries = rng.choice(eligible, size=min(QUERIES, len(eligible)), replace=False)
    rows = []
    for q in queries:
        hard = rng.permutation(hard_of(int(q)))[:HARD]
        kin = (composer == composer[q]) & (composer[q] != "") & (piece != piece[q])
        semi = rng.permutation(idx[kin])[:SEMI]
        rest = idx[(piece != piece[q]) & ~kin]
        fill = rng.choice(rest, size=min(len(rest), POOL - 1 - len(hard) - len(semi)), replace=False)
        rows.append(np.concatenate([[q], hard, semi, fill]).astype(np.int64))
    return queries, np.stack(rows)


def pool_stats(piece: np.ndarray, composer: np.ndarray, start: np.ndarray, seed: int = 0) -> dict[str, float]:
    """What the pools hold: queries, eligible pieces, mean hard / semi-hard / random candidates per pool."""
    queries, pool = pools(piece, composer, start, seed)
    same = piece[pool[:, 1:]] == piece[queries][:, None]
    semi = (composer[pool[:, 1:]] == composer[queries][:, None]) & (composer[queries][:, None] != "") & ~same
    return {"queries": len(queries), "pool": int(pool.shape[1]), "query_pieces": len(set(piece[queries])),
            "hard": round(float(same.sum(1).mean()), 2), "semi": round(float(semi.sum(1).mean()), 2),
            "random": round(float((~same & ~semi).sum(1).mean()), 2), "segments": len(piece),
            "pieces": len(set(piece))}


def retrieval(ea: np.ndarray, em: np.ndarray, piece: np.ndarray, composer: np.ndarray, start: np.ndarray,
              seed: int = 0) -> dict[str, float]:
    """R@1, R@10, MRR both ways and S, for unit embeddings ea (audio) and em (MIDI) of the same segments."""
    queries, pool = pools(piece, composer, start, seed)
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

