"""Numerics the tasks share: softmax, log-softmax, log-sum-exp and the Viterbi dynamic program.

Viterbi: `viterbi(emit, moves)` finds the best path through (T, K) per-step scores. At each step
every state either keeps its previous state or moves in from another; `moves` says what each
costs. Two kinds of moves cover the tasks: `switch_moves` (one constant cost for any change of
state: the key and chords tasks, O(K) a step) and `hmm_moves` (a (K, K) transition matrix plus
per-step log-probabilities of keeping / changing: harmonize's HMM, O(K²) a step). Ties prefer
keeping the state, then the lowest source state; among equally good final states, the lowest.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

# moves(t, acc) → (kept, moved, source): per state, the score of keeping it from step t - 1, the
# score of the best move into it, and that move's source state (acc: the scores at step t - 1).
Moves = Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def logsumexp(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(x))) along `axis`, computed without overflow."""
    m = x.max(axis=axis, keepdims=True)
    out: np.ndarray = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return out if keepdims else out.squeeze(axis)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Log-probabilities (float64) from logits along `axis`."""
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=axis, keepdims=True)
    out: np.ndarray = x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Probabilities from logits along `axis`."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    out: np.ndarray = e / e.sum(axis=axis, keepdims=True)
    return out


def viterbi(emit: np.ndarray, moves: Moves) -> tuple[np.ndarray, float]:
    """Best path through (T, K) scores `emit` under `moves` (see the module docstring); returns the
    path (T state indices) and its total score."""
    T, K = emit.shape
    states = np.arange(K)
    back = np.zeros((T, K), dtype=np.int64)
    acc = emit[0].copy()
    for t in range(1, T):
        kept, moved, source = moves(t, acc)
        back[t] = np.where(kept >= moved, states, source)
        acc = np.maximum(kept, moved) + emit[t]
    path = np.empty(T, dtype=np.int64)
    path[-1] = int(np.argmax(acc))
    for t in range(T - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path, float(acc.max())


def runs(path: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, value) of each run of equal consecutive values in `path`, ends exclusive."""
    path = np.asarray(path)
    if not len(path):
        return []
    changes = np.flatnonzero(path[1:] != path[:-1]) + 1
    starts = [0, *changes.tolist()]
    ends = [*changes.tolist(), len(path)]
    return [(a, b, int(path[a])) for a, b in zip(starts, ends)]


def switch_moves(cost: float) -> Moves:
    """Moves with one constant `cost` for any change of state."""

    def moves(t: int, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        best = int(np.argmax(acc))
        return acc, np.full(len(acc), acc[best] - cost), np.full(len(acc), best)

    return moves


def hmm_moves(trans: np.ndarray, stay: np.ndarray, change: np.ndarray) -> Moves:
    """Moves of an HMM: `trans[a, b]` the log-probability of going from a to b given a change, and
    `stay[t]` / `change[t]` the log-probabilities of keeping / changing the state entering step t."""
    K = len(trans)

    def moves(t: int, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        into = acc[:, None] + trans  # (from, to)
        source = np.argmax(into, axis=0)
        return acc + stay[t], into[source, np.arange(K)] + change[t], source

    return moves
