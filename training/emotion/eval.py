"""Metrics, grouped cross-validation folds and confusion-matrix plots for the emotion models.

numpy only (matplotlib for the plots): the benchmarks use it on the shipped ONNX model too.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from symbolic_ai.tasks.emotion import AROUSAL, VALENCE


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = 4) -> np.ndarray:
    """(n, n) counts, rows = true class, columns = predicted class."""
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return m


def macro_f1(cm: np.ndarray) -> float:
    tp = np.diag(cm).astype(float)
    prec = np.divide(tp, cm.sum(0), out=np.zeros_like(tp), where=cm.sum(0) > 0)
    rec = np.divide(tp, cm.sum(1), out=np.zeros_like(tp), where=cm.sum(1) > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    return float(f1[cm.sum(1) > 0].mean())


def metrics(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """4Q accuracy, valence and arousal accuracy (signs of the predicted quadrant), macro-F1, confusion."""
    y_true = np.asarray(y_true, dtype=int)
    if len(y_true) == 0:
        raise ValueError("metrics of an empty set")
    pred = np.asarray(probs).argmax(1)
    cm = confusion(y_true, pred)
    return {"n": int(len(y_true)), "acc_4q": float((pred == y_true).mean()),
            "acc_valence": float((VALENCE[pred] == VALENCE[y_true]).mean()),
            "acc_arousal": float((AROUSAL[pred] == AROUSAL[y_true]).mean()),
            "macro_f1": macro_f1(cm), "confusion": cm.tolist()}


def grouped_folds(groups: list, y: np.ndarray, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """k folds with no group in two folds: groups are dealt, largest first, to the fold with the fewest
    items (ties by a seeded hash), so folds are balanced in size. Returns (train_idx, test_idx) pairs."""
    groups = [str(g) for g in groups]
    names = sorted(set(groups), key=lambda g: (-groups.count(g),
                                               hashlib.md5(f"{seed}:{g}".encode()).hexdigest()))
    if len(names) < k:
        raise ValueError(f"{len(names)} groups cannot fill {k} folds")
    size, assign = [0] * k, {}
    for g in names:
        f = int(np.argmin(size))
        assign[g] = f
        size[f] += groups.count(g)
    fold = np.array([assign[g] for g in groups])
    idx = np.arange(len(groups))
    return [(idx[fold != f], idx[fold == f]) for f in range(k)]


def plot_confusion(cm: np.ndarray, title: str, path: str | Path) -> Path:
    """Save a row-normalised confusion matrix with counts as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(3.6, 3.4), dpi=120)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(4):
        for j in range(4):
            ax.text(j, i, f"{cm[i, j]}", ha="center", va="center",
                    color="white" if norm[i, j] > 0.6 else "black", fontsize=9)
    labels = ["Q1 happy", "Q2 tense", "Q3 sad", "Q4 calm"]
    ax.set_xticks(range(4), labels, rotation=30, fontsize=7)
    ax.set_yticks(range(4), labels, fontsize=7)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
