"""A light emotion baseline that needs no encoder: multinomial logistic regression on clip statistics.

Like the EMOPIA paper's logistic-regression baseline (0.581 on its split), it looks only at
global statistics of a clip: register, key-relative pitch-class profile, mode and key confidence
(from the `key` task), velocity, density, polyphony and note lengths. It gives the results table
a floor that we measured ourselves.

    python -m training emotion baseline --out runs/emotion/baseline.json
    python -m training emotion baseline --guide harmony --out runs/emotion4/lr_harmony.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from symbolic_ai.tasks.emotion import GUIDES, QUADRANTS, guide_features


class LogisticRegression:
    """Multinomial logistic regression with L2, fitted by Newton-free full-batch L-BFGS (torch)."""

    def __init__(self, l2: float = 1e-2, n_classes: int = 4):
        self.l2, self.n_classes = l2, n_classes
        self.mean = self.std = self.W = self.b = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> "LogisticRegression":
        import torch

        self.mean, self.std = X.mean(0), X.std(0) + 1e-6
        Xt = torch.tensor((X - self.mean) / self.std, dtype=torch.float64)
        yt = torch.tensor(y, dtype=torch.long)
        W = torch.zeros(X.shape[1], self.n_classes, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(self.n_classes, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([W, b], max_iter=500, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(Xt @ W + b, yt) + self.l2 * (W ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.W, self.b = W.detach().numpy(), b.detach().numpy()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = ((X - self.mean) / self.std) @ self.W + self.b
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)


def load_features(dataset: str, split: str | None = None, guide: str = "stats", deadpan_seed: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Whole-clip guide features, labels (0..3), splits and groups (work ids) of every clip of `dataset`
    (with `deadpan_seed`: of each clip flattened to one random velocity, see `emotion_data.deadpan`)."""
    from symbolic_ai.data import iter_examples
    from training.emotion.data import deadpan

    rng = np.random.default_rng(deadpan_seed)
    X, y, splits, groups = [], [], [], []
    for ex in iter_examples(dataset, split=split):
        piece = ex.load()
        X.append(guide_features(piece if deadpan_seed is None else deadpan(piece, rng), guide))
        y.append(QUADRANTS.index(ex.labels["quadrant"]))
        splits.append(ex.split)
        groups.append(ex.work_id)
    return np.stack(X), np.asarray(y), splits, groups


def cv5(X: np.ndarray, y: np.ndarray, groups: list, l2: float, seed: int = 0, X_extra: np.ndarray | None = None) -> dict:
    """Mean and std over 5 grouped folds (no work in two folds) of each headline metric (`X_extra`:
    more training rows per clip, e.g. deadpan copies, used in the training folds only)."""
    from training.emotion.eval import grouped_folds, metrics

    folds = [metrics(y[b], fit_lr(X, y, a, l2, X_extra).predict_proba(X[b]))
             for a, b in grouped_folds(groups, y, k=5, seed=seed)]
    return {k: [float(np.mean([f[k] for f in folds])), float(np.std([f[k] for f in folds]))]
            for k in ("acc_4q", "acc_valence", "acc_arousal", "macro_f1")}


def fit_lr(X: np.ndarray, y: np.ndarray, rows: np.ndarray, l2: float, X_extra: np.ndarray | None = None
           ) -> LogisticRegression:
    """The LR fitted on `rows` of X (and the same rows of X_extra, with the same labels, if given)."""
    if X_extra is None:
        return LogisticRegression(l2).fit(X[rows], y[rows])
    return LogisticRegression(l2).fit(np.concatenate([X[rows], X_extra[rows]]), np.concatenate([y[rows], y[rows]]))


def main(argv: list[str] | None = None) -> int:
    from training.emotion.eval import metrics

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/emotion/baseline.json")
    ap.add_argument("--guide", default="stats", choices=["stats", "harmony"],
                    help="features: clip statistics, or clip statistics + harmony (chords-v1)")
    ap.add_argument("--l2", type=float, nargs="*", default=[1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0])
    ap.add_argument("--deadpan", action="store_true",
                    help="also train on a copy of every training clip flattened to one velocity")
    args = ap.parse_args(argv)
    report: dict = {"model": f"logistic regression on whole-clip {args.guide} features", "guide": args.guide,
                    "deadpan_copies": args.deadpan,
                    "features": list(GUIDES[args.guide])}
    for ds in ("emopia", "vgmidi"):
        X, y, splits, groups = load_features(ds, guide=args.guide)
        Xd = load_features(ds, guide=args.guide, deadpan_seed=0)[0] if args.deadpan else None
        sp, groups = np.asarray(splits), np.asarray(groups)
        tr, va, te = sp == "train", sp == "valid", sp == "test"
        tr_rows = np.flatnonzero(tr)
        valid = {l2: metrics(y[va], fit_lr(X, y, tr_rows, l2, Xd).predict_proba(X[va]))["acc_4q"] for l2 in args.l2}
        best = max(valid, key=lambda k: (valid[k], k))
        fit = fit_lr(X, y, tr_rows, best, Xd)
        entry = {"valid_acc_by_l2": valid, "l2": best, "valid": metrics(y[va], fit.predict_proba(X[va])),
                 "test": metrics(y[te], fit.predict_proba(X[te])),
                 "params": {k: getattr(fit, k).tolist() for k in ("mean", "std", "W", "b")}}
        tv = np.flatnonzero(tr | va)  # 5-fold grouped CV over train + valid: how much valid's 206 clips say
        entry["cv5_train_valid" if ds == "emopia" else "cv5"] = (
            cv5(X[tv], y[tv], list(groups[tv]), best, X_extra=None if Xd is None else Xd[tv]) if ds == "emopia"
            else cv5(X, y, list(groups), best, X_extra=Xd))
        if Xd is not None:
            entry["deadpan"] = {"valid": metrics(y[va], fit.predict_proba(Xd[va])),
                                "test": metrics(y[te], fit.predict_proba(Xd[te]))}
        report[ds] = entry
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({ds: {"l2": report[ds]["l2"], "valid": round(report[ds]["valid"]["acc_4q"], 3),
                           "test": round(report[ds]["test"]["acc_4q"], 3)} for ds in ("emopia", "vgmidi")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
