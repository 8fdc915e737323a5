"""emotion-v5: a small head on the velocity-invariant guide, trained on EMOPIA + VGMIDI as performances and scores.

    python -m training emotion features            # guide features of every clip and rendering (runs/emotion5/, resumable)
    python -m training emotion head --out runs/emotion5/head.json [--test] [--ship DIR]

The guide (`symbolic_ai.tasks.emotion.invariant_features`, stored with the embedding: 'invariant+encoder'):
clip statistics with velocity read as ratios, the harmony chords-v1 hears, and the shared encoder's
pooled embedding (both read at one velocity).
Renderings of every clip (`RENDERINGS`): as is; deadpan (velocity 64, timing on a 16th grid); and two
seeded random augmentations (transposition by up to ±3 semitones, tempo ×0.85..1.15, velocity
×0.6..1.4, one of them deadpan). Training rows: the train split's renderings; the head is chosen on
valid by the rule in docs/benchmarks.md ("emotion on scores"), then test is read once with --test.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from symbolic_ai.tasks.emotion import ENCODER_FEATURES, GUIDES, HOP_BEATS, WINDOW_BEATS, windows
from training.emotion.eval import grouped_folds, metrics

OUT = Path("runs/emotion5")
MIN_UNCHANGED = 0.9  # the selection's constraint: velocity-invariance share on EMOPIA valid
RENDERINGS = ("asis", "deadpan", "aug1", "aug2")
CHANGED = ("vel0.7", "vel1.3")  # valid/test clips only: the velocity-invariance share on valid
MAX_TOKENS = 768
DATASETS = ("emopia", "vgmidi")


def rendering(piece: Any, name: str, seed: int) -> Any:
    """The rendering `name` of a clip (seeded per clip for the augmentations)."""
    from training.emotion.data import augment, scale_velocity, score_like

    if name == "asis":
        return piece
    if name == "deadpan":
        return score_like(piece)
    if name.startswith("vel"):
        return scale_velocity(piece, float(name[3:]))
    rng = np.random.default_rng(seed)
    p = scale_velocity(augment(piece, rng, transpose=3, stretch=0.15), float(rng.uniform(0.6, 1.4)))
    return score_like(p) if name == "aug2" else p


def clip_windows(piece: Any) -> list[Any]:
    return [c for _, _, c in windows(piece, WINDOW_BEATS, HOP_BEATS, MAX_TOKENS)]


def features(argv: list[str] | None = None) -> int:
    """Guide features of every window of every clip and rendering, one .npz per dataset and rendering."""
    import torch

    from symbolic_ai.registry import Models
    from symbolic_ai.tasks.emotion import CHORDS_MODEL, ENCODER_MODEL, invariant_features
    from training.emotion.checkset import load_checkset
    from training.emotion.data import load_items

    ap = argparse.ArgumentParser(description="emotion-v5 guide features")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    models = Models()
    chords, encoder = models.load(CHORDS_MODEL), models.load(ENCODER_MODEL)
    a.out.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, str]] = ([(ds, r) for r in RENDERINGS[:2] for ds in DATASETS] + [("emopia", r) for r in CHANGED]
                                   + [(ds, r) for r in RENDERINGS[2:] for ds in DATASETS] + [("checkset", "asis")])
    for ds, r in jobs:
        path = a.out / f"feats_{ds}_{r}.npz"
        if path.exists():
            continue
        if ds == "checkset":
            items = [(i.id, i.split, i.id, (i.arousal + 1) // 2, i.piece) for i in load_checkset()]
        else:
            items = [(i.id, i.split, i.group, i.label, i.piece) for i in load_items(ds)
                     if r not in CHANGED or i.split != "train"]
        X, clip_of = [], []
        for k, (_, _, _, _, piece) in enumerate(items):
            wins = clip_windows(rendering(piece, r, seed=k))
            X.append(invariant_features(wins, chords, encoder, embed=True))
            clip_of += [k] * len(wins)
        np.savez(path, X=np.concatenate(X), clip_of=np.array(clip_of), ids=np.array([i[0] for i in items]),
                 split=np.array([i[1] for i in items]), group=np.array([i[2] for i in items]),
                 y=np.array([i[3] for i in items]))
        print(json.dumps({"wrote": str(path), "clips": len(items), "windows": len(clip_of)}), flush=True)
    input_kinds(a.out)
    return 0


def load(out: Path, ds: str, r: str) -> dict[str, np.ndarray]:
    """The features of one dataset and rendering, with `score`: 1 where the clip reads as a score
    (`input_kind`): every deadpan rendering and check-set item, the quantized VGMIDI phrases."""
    f = dict(np.load(out / f"feats_{ds}_{r}.npz"))
    if r in ("deadpan", "aug2") or ds == "checkset":
        f["score"] = np.ones(len(f["y"]))
    elif r == "aug1":
        f["score"] = np.zeros(len(f["y"]))
    else:
        f["score"] = np.load(out / f"kind_{ds}.npy").astype(float) if r == "asis" else kinds(out, ds, f)
    return f


def kinds(out: Path, ds: str, f: dict[str, np.ndarray]) -> np.ndarray:
    """`score` flags of a valid/test-only rendering, looked up by clip id in the as-is rendering."""
    base = dict(np.load(out / f"feats_{ds}_asis.npz"))
    flags = dict(zip(base["ids"], np.load(out / f"kind_{ds}.npy")))
    return np.array([flags[i] for i in f["ids"]], dtype=float)


def input_kinds(out: Path = OUT) -> None:
    """<out>/kind_<ds>.npy: 1 where `input_kind` of the clip as is says 'score'."""
    from symbolic_ai.tasks.emotion import input_kind
    from training.emotion.data import load_items

    for ds in DATASETS:
        np.save(out / f"kind_{ds}.npy", np.array([input_kind(i.piece) == "score" for i in load_items(ds)]))


class Head:
    """Standardisation + (PCA of the embedding columns) + a linear or one-hidden-layer softmax head (torch)."""

    def __init__(self, hidden: int = 0, l2: float = 1e-2, epochs: int = 300, seed: int = 0,
                 columns: np.ndarray | None = None, pca: int = 0):
        self.hidden, self.l2, self.epochs, self.seed, self.columns, self.pca = hidden, l2, epochs, seed, columns, pca
        self.projection: np.ndarray | None = None

    def select(self, X: np.ndarray) -> np.ndarray:
        """The head's input: the chosen columns, the encoder's reduced to `pca` principal components."""
        X = X[:, self.columns] if self.columns is not None else X
        return X if self.projection is None else X @ self.projection

    def fit(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Head:
        import torch

        torch.manual_seed(self.seed)
        X = X[:, self.columns] if self.columns is not None else X
        if self.pca:  # principal components of the embedding columns (the last ENC of the selection)
            n_enc = len(ENCODER_FEATURES)
            enc = X[:, -n_enc:]
            _, _, vt = np.linalg.svd(enc - enc.mean(0), full_matrices=False)
            d = X.shape[1] - n_enc
            self.projection = np.zeros((X.shape[1], d + self.pca), dtype=np.float64)
            self.projection[:d, :d] = np.eye(d)
            self.projection[d:, d:] = vt[:self.pca].T
            X = X @ self.projection
        self.mean, self.std = X.mean(0), X.std(0) + 1e-4
        Xt = torch.tensor((X - self.mean) / self.std, dtype=torch.float32)
        yt = torch.tensor(y, dtype=torch.long)
        wt = torch.tensor(np.ones(len(y)) if w is None else w, dtype=torch.float32)
        d = X.shape[1]
        self.net = (torch.nn.Linear(d, 4) if not self.hidden else
                    torch.nn.Sequential(torch.nn.Linear(d, self.hidden), torch.nn.GELU(), torch.nn.Dropout(0.2),
                                        torch.nn.Linear(self.hidden, 4)))
        opt = torch.optim.AdamW(self.net.parameters(), lr=1e-2 if not self.hidden else 3e-3, weight_decay=0.0)
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = (self.row_loss(self.net(Xt), yt) * wt).sum() / wt.sum()
            loss = loss + self.l2 * sum((p ** 2).sum() for n, p in self.net.named_parameters() if "weight" in n)
            loss.backward()
            opt.step()
        self.net.eval()
        return self

    @staticmethod
    def row_loss(z: Any, y: Any) -> Any:
        """Cross-entropy per row; label 4 (5) is arousal only: −log(P(Q1) + P(Q2)) (−log(P(Q3) + P(Q4)))."""
        import torch

        four = torch.nn.functional.cross_entropy(z, y.clamp(max=3), reduction="none")
        total = torch.logsumexp(z, -1)
        high, low = torch.logsumexp(z[:, :2], -1), torch.logsumexp(z[:, 2:], -1)
        weak = total - torch.where(y == 4, high, low)
        return torch.where(y >= 4, weak, four)

    def predict_proba(self, X: np.ndarray, score: np.ndarray | None = None) -> np.ndarray:
        import torch

        X = self.select(X)
        with torch.no_grad():
            z = self.net(torch.tensor((X - self.mean) / self.std, dtype=torch.float32))
        return z.softmax(-1).numpy().astype(float)


class TwoHeads:
    """A head for performances and one for scores, chosen per window by `input_kind` (score = 1)."""

    def __init__(self, performance: Head, score: Head):
        self.performance, self.score = performance, score

    def predict_proba(self, X: np.ndarray, score: np.ndarray | None = None) -> np.ndarray:
        s = np.zeros(len(X)) if score is None else np.asarray(score, dtype=float)
        return (s[:, None] * self.score.predict_proba(X) + (1 - s[:, None]) * self.performance.predict_proba(X))


def per_clip(p: np.ndarray, clip_of: np.ndarray) -> np.ndarray:
    """The task's answer per clip: the mean of its windows' probabilities."""
    return np.stack([p[clip_of == i].mean(0) for i in range(int(clip_of.max()) + 1)])


def rows(f: dict[str, np.ndarray], split: str | None = None, groups: set | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Window rows and labels of the clips in `split` (or whose group is in `groups`)."""
    keep = np.ones(len(f["y"]), bool) if split is None else f["split"] == split
    if groups is not None:
        keep = np.isin(f["group"], list(groups))
    sel = keep[f["clip_of"]]
    return f["X"][sel], f["y"][f["clip_of"][sel]]


def clip_probs(head: Head | TwoHeads, f: dict[str, np.ndarray], keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip probabilities and labels of the clips where `keep`."""
    p = per_clip(head.predict_proba(f["X"], f["score"][f["clip_of"]]), f["clip_of"])
    return p[keep], f["y"][keep]


def arousal_agreement(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """y: 1 high / 0 low. Agreement of the sign of the expected arousal, plain and balanced."""
    a = p @ np.array([1, 1, -1, -1]) >= 0
    hi = y == 1
    return {"agreement": float((a == hi).mean()), "balanced": float(np.mean([(a[hi]).mean(), (~a[~hi]).mean()])),
            "p_sad_calm_low": float(p[~hi][:, 2:].sum(1).mean())}


def train_set(F: dict, renderings: tuple[str, ...], split: str = "train",
              groups: dict[str, set] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of EMOPIA and VGMIDI `split` (or of `groups`) over `renderings`; the weights give each
    dataset and rendering the same total (VGMIDI's 162 phrases count as much as EMOPIA's 784 clips)."""
    X, y, w = [], [], []
    for ds in DATASETS:
        for r in renderings:
            xs, ys = rows(F[ds, r], split, None if groups is None else groups[ds])
            X.append(xs)
            y.append(ys)
            w.append(np.full(len(ys), 1.0 / len(ys)))
    return np.concatenate(X), np.concatenate(y), np.concatenate(w) * sum(len(v) for v in y) / len(y)


COLUMN_SETS = ("all", "no_absvel", "no_encoder", "no_encoder_no_absvel")
CANDIDATES: list[dict[str, Any]] = (
    [{"name": f"linear_l2_{l2:g}_{cols}", "hidden": 0, "l2": l2, "cols": cols}
     for cols in COLUMN_SETS for l2 in (1e-3, 3e-3, 1e-2, 3e-2)]
    + [{"name": f"mlp64_l2_{l2:g}_{cols}", "hidden": 64, "l2": l2, "cols": cols}
       for cols in COLUMN_SETS for l2 in (1e-3, 1e-2)])


PERFORMANCE_HEADS = [{"hidden": 0, "l2": 1e-3, "cols": "no_encoder"}, {"hidden": 0, "l2": 3e-3, "cols": "no_encoder"},
                     {"hidden": 64, "l2": 1e-2, "cols": "no_encoder"}]
SCORE_HEADS = [{"hidden": 0, "l2": 3e-3, "cols": "no_encoder_no_absvel"},
               {"hidden": 64, "l2": 1e-2, "cols": "no_encoder_no_absvel"}]
CANDIDATES += [{"name": f"two_heads_p{i}_s{j}", "hidden": max(p["hidden"], q["hidden"]), "cols": "no_encoder",
                "performance": p, "score": q}
               for i, p in enumerate(PERFORMANCE_HEADS) for j, q in enumerate(SCORE_HEADS)]


def columns(cols: str) -> np.ndarray | None:
    """Column indices of a column set of the `invariant+encoder` guide (None: all)."""
    names = GUIDES["invariant+encoder"]
    drop = set()
    if "no_encoder" in cols:
        drop |= {n for n in names if n.startswith("enc_")}
    if "no_absvel" in cols:
        drop |= {"vel_level", "vel_loud_frac"}
    return None if not drop else np.array([i for i, n in enumerate(names) if n not in drop])


def unchanged(head: Head, F: dict, split: str) -> float:
    """Share of EMOPIA `split` clips whose quadrant is the same under velocity ×0.7 and ×1.3 (both counted)."""
    base = F["emopia", "asis"]
    p0 = clip_probs(head, base, base["split"] == split)[0].argmax(1)
    same = []
    for r in CHANGED:
        f = F["emopia", r]
        same.append(clip_probs(head, f, f["split"] == split)[0].argmax(1) == p0)
    return float(np.concatenate(same).mean())


def evaluate(head: Head, F: dict, split: str, check: dict | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ds in DATASETS:
        for r in ("asis", "deadpan"):
            f = F[ds, r]
            p, y = clip_probs(head, f, f["split"] == split)
            out[f"{ds}_{r}"] = metrics(y, p)
    if check is not None:
        p, y = clip_probs(head, check, check["split"] == split)
        out["checkset"] = arousal_agreement(p, y)
    out["velocity_unchanged"] = unchanged(head, F, split)
    return out


def score(ev: dict[str, Any]) -> float:
    """The selection rule: mean of EMOPIA 4Q as is, EMOPIA 4Q deadpan, VGMIDI 4Q, check-set arousal agreement."""
    return float(np.mean([ev["emopia_asis"]["acc_4q"], ev["emopia_deadpan"]["acc_4q"], ev["vgmidi_asis"]["acc_4q"],
                          ev["checkset"]["agreement"]]))


def fit(c: dict[str, Any], F: dict, renderings: tuple[str, ...] = RENDERINGS, seed: int = 0,
        groups: dict[str, set] | None = None) -> Head | TwoHeads:
    """One head on every rendering, or (`performance` and `score` in `c`) a performance head on the
    renderings as played and a score head on the deadpan ones."""
    if "performance" in c:
        return TwoHeads(fit(c["performance"], F, ("asis", "aug1"), seed, groups),  # type: ignore[arg-type]
                        fit(c["score"], F, ("deadpan", "aug2"), seed, groups))  # type: ignore[arg-type]
    X, y, w = train_set(F, renderings, groups=groups)
    return Head(c["hidden"], c["l2"], seed=seed, columns=columns(c["cols"])).fit(X, y, w)


def vgmidi_cv(c: dict[str, Any], F: dict, k: int = 5, fit: Any = None) -> list[float]:
    """5-fold grouped CV over all of VGMIDI (as is), EMOPIA train always in the training folds
    (`fit(c, F, groups=...)`: how a candidate is trained; default emotion-v5's)."""
    fit = fit or globals()["fit"]
    v = F["vgmidi", "asis"]
    accs = []
    for tr, te in grouped_folds(list(v["group"]), v["y"], k=k):
        groups = {"emopia": set(F["emopia", "asis"]["group"][F["emopia", "asis"]["split"] == "train"]),
                  "vgmidi": set(v["group"][tr])}
        head = fit(c, F, groups=groups)
        keep = np.zeros(len(v["y"]), bool)
        keep[te] = True
        p, yy = clip_probs(head, v, keep)
        accs.append(float((p.argmax(1) == yy).mean()))
    return accs


def head_main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description="emotion-v5 head: select on valid, --test reads test once")
    ap.add_argument("--feats", type=Path, default=OUT)
    ap.add_argument("--out", type=Path, default=OUT / "head.json")
    ap.add_argument("--test", action="store_true", help="report the chosen candidate's test figures (once)")
    ap.add_argument("--ship", type=Path, default=None, metavar="DIR", help="export the chosen head as emotion-v5")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    F = {(ds, r): load(a.feats, ds, r) for ds in DATASETS for r in RENDERINGS} | {
        ("emopia", r): load(a.feats, "emopia", r) for r in CHANGED}
    check = load(a.feats, "checkset", "asis")
    results = {}
    for c in CANDIDATES:
        ev = evaluate(fit(c, F), F, "valid", check)
        results[c["name"]] = {"score": score(ev), **{k: (v["acc_4q"] if isinstance(v, dict) and "acc_4q" in v else v)
                                                      for k, v in ev.items()}}
        print(json.dumps({c["name"]: results[c["name"]]}), flush=True)
    ok = [c for c in CANDIDATES if results[c["name"]]["velocity_unchanged"] >= MIN_UNCHANGED] or CANDIDATES
    best = max(ok, key=lambda c: (results[c["name"]]["score"], -c["hidden"], "no_encoder" in c["cols"]))
    report: dict[str, Any] = {"valid": results, "chosen": best}
    head = fit(best, F)
    report["chosen_valid"] = evaluate(head, F, "valid", check)
    if a.test:
        report["test"] = evaluate(head, F, "test", check)
        cv = vgmidi_cv(best, F)
        report["vgmidi_cv5"] = [float(np.mean(cv)), float(np.std(cv))]
        print(json.dumps({"test": {k: (v["acc_4q"] if isinstance(v, dict) and "acc_4q" in v else v)
                                   for k, v in report["test"].items()},
                          "vgmidi_cv5": report["vgmidi_cv5"]}))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1))
    if a.ship:
        from training.emotion.export import export_head

        card = export_head(head, best, a.ship, metrics={"selection_valid": report["chosen_valid"]}
                           | ({"test": report["test"], "vgmidi_cv5": report["vgmidi_cv5"]} if a.test else {}))
        print(json.dumps({"shipped": card["name"], "file_sha256": card.get("file_sha256")}))
    return 0


main = features

if __name__ == "__main__":
    raise SystemExit(features())
