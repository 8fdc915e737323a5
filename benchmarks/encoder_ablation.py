"""Do the pre-training objectives matter? Linear probes on frozen encoder features (valid + test).

Probe tasks (segment = one labelled span; feature = mean of the encoder's note vectors whose onset
falls in the span):
- chord quality on POP909-CL (`chord` spans, label = quality of 'Root:quality[/bass]', 'N' skipped);
- local key on BPS-FH (its chord spans, label = the 24-class key annotated at the span's start; mode
  accuracy read off the same predictions).
A multinomial logistic regression (torch, L-BFGS, L2 chosen on valid) is fitted on train segments and
reported on valid and test. Baselines: the same probe on a 12-d duration-weighted pitch-class
histogram, and on a randomly initialised (untrained) encoder. Each encoder encodes with windows
of its own pre-training length.

    python benchmarks/encoder_ablation.py --model mlm=runs/encoder/abl-mlm/encoder.pt ... > out.json
    python benchmarks/encoder_ablation.py --onnx encoder-v2 encoder-v2-int8    # fp32 vs int8 features
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the workbench, training/, is at the repo root

CACHE = Path("runs/encoder/probe_pieces.pkl")


def load_pieces(train_songs: int, seed: int = 0) -> dict:
    """{task: {split: [Piece]}}: POP909-CL (a seeded subset of train songs) and BPS-FH, cached."""
    if CACHE.exists():
        return pickle.loads(CACHE.read_bytes())
    from symbolic_ai.data import iter_examples

    out: dict = {"chord_quality": {}, "local_key": {}}
    rng = np.random.default_rng(seed)
    for split in ("train", "valid", "test"):
        exs = [e for e in iter_examples("pop909_cl", split=split) if e.id not in ("367", "658")]
        if split == "train":
            exs = [exs[i] for i in sorted(rng.choice(len(exs), size=min(train_songs, len(exs)), replace=False))]
        out["chord_quality"][split] = [_try(e) for e in exs]
        out["local_key"][split] = [_try(e) for e in iter_examples("bps_fh", split=split)]
    for t in out.values():
        for s in t:
            t[s] = [p for p in t[s] if p is not None]
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_bytes(pickle.dumps(out))
    return out


def _try(ex):
    try:
        return ex.load()
    except Exception as exc:  # noqa: BLE001 - a broken file is reported and skipped
        print(f"skip {ex.id}: {exc}", file=sys.stderr)
        return None


def segments(piece, task: str, max_notes: int) -> tuple[list[tuple[float, float]], list[str]]:
    """(spans, labels) of `piece` for `task`, limited to the first `max_notes` pitched notes."""
    from symbolic_ai.tasks.key import parse_key

    notes = piece.pitched()[:max_notes]
    end = float(notes["onset_beat"].max()) if len(notes) else 0.0
    spans, labels = [], []
    if task == "chord_quality":
        for a in piece.annotations_of("chord"):
            if a.value != "N" and a.start_beat <= end:
                spans.append((a.start_beat, a.end_beat))
                labels.append(str(a.value).split(":")[1].split("/")[0])
    else:
        keys = piece.annotations_of("key")
        for a in piece.annotations_of("roman"):
            k = [x for x in keys if x.start_beat <= a.start_beat < x.end_beat + 1e-9]
            if k and a.start_beat <= end:
                spans.append((a.start_beat, a.end_beat))
                labels.append(str(parse_key(k[-1].value)))
    return spans, labels


def pooled_by_span(vectors: np.ndarray, onsets: np.ndarray, spans: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    feats, keep = [], []
    for i, (s, e) in enumerate(spans):
        m = (onsets >= s - 1e-6) & (onsets < max(e, s + 1e-3) - 1e-6)
        if m.any():
            feats.append(vectors[m].mean(0))
            keep.append(i)
    return np.asarray(feats, dtype=np.float32).reshape(len(keep), -1), np.asarray(keep, dtype=int)


def pc_histogram(piece, order_ids: np.ndarray) -> np.ndarray:
    """Per note (token order): one-hot pitch class weighted by duration (the non-neural baseline)."""
    n = piece.pitched()
    by_id = {int(i): k for k, i in enumerate(n["id"])}
    idx = np.asarray([by_id[int(i)] for i in order_ids])
    v = np.zeros((len(idx), 12), dtype=np.float32)
    v[np.arange(len(idx)), n["pitch"][idx] % 12] = np.minimum(n["duration_beat"][idx], 4.0)
    return v


def transposed(piece, k: int):
    """`piece` moved by k semitones, its key annotations with it (for the transposed key probe)."""
    from symbolic_ai.piece import Annotation
    from symbolic_ai.tasks.key import key_name, parse_key

    n = piece.notes.copy()
    n["pitch"] = np.clip(n["pitch"].astype(int) + k, 0, 127)
    anns = tuple(Annotation(a.kind, a.start_beat, a.end_beat,
                            key_name((parse_key(a.value) % 12 + k) % 12 + 12 * (parse_key(a.value) >= 12)))
                 if a.kind == "key" else a for a in piece.annotations)
    return piece.replace(notes=n, annotations=anns)


def features(pieces: dict, embed, max_notes: int, transpose_key: bool = False) -> dict:
    """{task: {split: (X, y)}} with `embed(piece) -> (vectors [n, d], note_ids)`. With
    `transpose_key`, the local-key probe trains on all 12 transpositions of its train pieces (so it
    cannot learn keys from which piece a span comes from)."""
    out: dict = {}
    for task, splits in pieces.items():
        out[task] = {}
        for split, ps in splits.items():
            if transpose_key and task == "local_key" and split == "train":
                ps = [transposed(p, k) for p in ps for k in range(-5, 7)]
            xs, ys = [], []
            for p in ps:
                spans, labels = segments(p, task, max_notes)
                if not spans:
                    continue
                vec, ids = embed(p)
                by_id = {int(i): o for i, o in zip(p.pitched()["id"], p.pitched()["onset_beat"])}
                onsets = np.asarray([by_id[int(i)] for i in ids])
                f, keep = pooled_by_span(vec, onsets, spans)
                xs.append(f)
                ys += [labels[k] for k in keep]
            out[task][split] = (np.concatenate(xs), np.asarray(ys))
    return out


def torch_embedder(path: str | None, max_notes: int, seed: int = 0):
    import torch

    from symbolic_ai.tokens import Tokenizer
    from training.encoder.model import Encoder, EncoderConfig

    torch.set_num_threads(1)
    if path:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        enc, max_len = Encoder.from_checkpoint(ck).eval(), int(ck.get("max_len", 512))
    else:
        torch.manual_seed(seed)
        enc, max_len = Encoder(EncoderConfig(dropout=0.0)).eval(), 512
    tk = Tokenizer(enc.tokenizer_config)

    def embed(piece):
        full = tk.encode(piece)
        seq = np.concatenate([full[:1], full[1:-1][:max_notes], full[-1:]])
        grid_ids = tk.note_grid(piece)["id"][:max_notes]
        wins = tk.windows(seq, max_len)
        from symbolic_ai.encoder import batch

        tok, mask = batch(wins)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            h = enc(torch.from_numpy(tok), torch.from_numpy(mask))["hidden"].float().numpy()
        vec = np.concatenate([h[i, 1:len(w) - 1] for i, w in enumerate(wins)])
        return vec, grid_ids
    return embed


def onnx_embedder(name: str, max_notes: int):
    from symbolic_ai import runtime
    from symbolic_ai.encoder import encode

    runtime.set_threads(1)
    model = runtime.load_model(name, device="cpu")

    def embed(piece):
        from symbolic_ai.piece import Piece

        keep = piece.pitched()[:max_notes]
        e = encode(Piece(notes=keep, tracks=piece.tracks, tempos=piece.tempos,
                         time_signatures=piece.time_signatures, pickup_beats=piece.pickup_beats), model)
        return e.notes, e.note_ids
    return embed


def hist_embedder(max_notes: int):
    from symbolic_ai.tokens import default_tokenizer

    def embed(piece):
        ids = default_tokenizer().note_grid(piece)["id"][:max_notes]
        return pc_histogram(piece, ids), ids
    return embed


def probe(feats: dict, l2_grid=(1e-4, 1e-3, 1e-2, 1e-1)) -> dict:
    """Logistic-regression probe per task: L2 chosen on valid; accuracy on valid and test."""
    import torch

    res = {}
    for task, s in feats.items():
        (xtr, ytr), (xva, yva), (xte, yte) = s["train"], s["valid"], s["test"]
        classes = sorted(set(ytr))
        cid = {c: i for i, c in enumerate(classes)}
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        X = {k: torch.from_numpy((x - mu) / sd) for k, x in (("tr", xtr), ("va", xva), ("te", xte))}
        Y = {k: torch.tensor([cid.get(c, -1) for c in y]) for k, y in (("tr", ytr), ("va", yva), ("te", yte))}
        best = None
        for l2 in l2_grid:
            torch.manual_seed(0)
            lin = torch.nn.Linear(X["tr"].shape[1], len(classes))
            opt = torch.optim.LBFGS(lin.parameters(), max_iter=200, line_search_fn="strong_wolfe")

            def closure():
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(lin(X["tr"]), Y["tr"]) + l2 * lin.weight.pow(2).sum()
                loss.backward()
                return loss
            opt.step(closure)
            with torch.no_grad():
                pred = {k: lin(X[k]).argmax(1) for k in ("va", "te")}
            acc = {k: float((pred[k] == Y[k]).float().mean()) for k in ("va", "te")}
            if best is None or acc["va"] > best["valid_acc"]:
                best = {"valid_acc": round(acc["va"], 4), "test_acc": round(acc["te"], 4), "l2": l2}
                if task == "local_key":  # mode accuracy from the same predictions (keys 12..23 = minor)
                    for k, name in (("va", "valid_mode_acc"), ("te", "test_mode_acc")):
                        pk = torch.tensor([int(classes[i]) for i in pred[k]])
                        tk = torch.tensor([int(c) for c in (yva if k == "va" else yte)])
                        best[name] = round(float(((pk >= 12) == (tk >= 12)).float().mean()), 4)
        best.update({"classes": len(classes), "n_train": len(ytr), "n_valid": len(yva), "n_test": len(yte)})
        res[task] = best
    return res


def markdown(result: dict) -> str:
    """The results JSON as the table in docs/benchmarks.md."""
    lines = ["| features | chord quality valid | chord quality test | local key valid | local key test "
             "| mode valid | mode test |", "|---|---|---|---|---|---|---|"]
    for name, r in result["results"].items():
        c, k = r["chord_quality"], r["local_key"]
        lines.append(f"| {name} | {c['valid_acc']:.3f} | {c['test_acc']:.3f} | {k['valid_acc']:.3f} | "
                     f"{k['test_acc']:.3f} | {k['valid_mode_acc']:.3f} | {k['test_mode_acc']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", default=[], metavar="NAME=CHECKPOINT",
                    help="a torch checkpoint to probe ('random' = untrained encoder)")
    ap.add_argument("--onnx", nargs="*", default=[], help="runtime model names to probe (e.g. encoder-v2-int8)")
    ap.add_argument("--hist", action="store_true", help="also the pitch-class-histogram baseline")
    ap.add_argument("--markdown", type=Path, help="print the table of a results JSON file and exit")
    ap.add_argument("--transpose-key", action="store_true",
                    help="train the local-key probe on all 12 transpositions of the train pieces")
    ap.add_argument("--train-songs", type=int, default=150)
    ap.add_argument("--max-notes", type=int, default=768)
    ap.add_argument("--limit", type=int, nargs=2, default=[60, 43], metavar=("TRAIN", "VALID"),
                    help="POP909-CL songs used for train and valid (test: all 86)")
    a = ap.parse_args(argv)
    if a.markdown:
        print(markdown(json.loads(a.markdown.read_text())))
        return
    pieces = load_pieces(a.train_songs)
    cq = pieces["chord_quality"]
    cq["train"], cq["valid"] = cq["train"][:a.limit[0]], cq["valid"][:a.limit[1]]
    runs = []
    if a.hist:
        runs.append(("pc-histogram", hist_embedder(a.max_notes)))
    for spec in a.model:
        name, _, path = spec.partition("=")
        runs.append((name, torch_embedder(None if path == "random" else path, a.max_notes)))
    for name in a.onnx:
        runs.append((f"onnx:{name}", onnx_embedder(name, a.max_notes)))
    results = {}
    for name, emb in runs:
        t0 = time.time()
        results[name] = probe(features(pieces, emb, a.max_notes, a.transpose_key))
        results[name]["seconds"] = round(time.time() - t0, 1)
        print(name, json.dumps(results[name]), file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "encoder-ablation-probes",
                      "pop909_cl_songs": {s: len(v) for s, v in cq.items()},
                      "bps_fh_pieces": {s: len(v) for s, v in pieces["local_key"].items()},
                      "max_notes_per_piece": a.max_notes, "transpose_key": a.transpose_key,
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
