"""Late fusion of fine-tuned emotion models with the whole-clip logistic regression (harmony guide).

    python -m training emotion fuse --nn runs/emotion4/harmony_last_w128.pt \\
        runs/emotion4/harmony_last_w128_s1.pt --linear runs/emotion4/lr_harmony.json --out runs/emotion4/fused.json
    ... --ship runs/emotion4/release --version 4      # export that fusion as emotion-v4 (+ int8)

Every EMOPIA valid/test clip is read as the task reads it (windows of the task's defaults, each
window's probabilities averaged). Per window the encoder models' log-probabilities are averaged
and combined with the linear model's as a weighted geometric mean, weight w on the linear model;
EMOPIA valid picks w from a fixed grid (w = 0: the encoder models alone, w = 1: the linear model
alone) and test is reported once. A shipped fusion is then run through the task itself
(`symbolic_ai.run`'s code path, task defaults) on valid and test, fp32 and int8; each card records
its own file's through-task figures (the int8 card also counts the clips whose quadrant differs
from fp32's), and the golden answers are written with the file the task uses by default.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from symbolic_ai.tasks.emotion import HOP_BEATS, WINDOW_BEATS, guide_features, pad_batch, windows
from training.emotion.eval import metrics

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def window_log_probs(nn_ckpts: list[Path], linear: dict, items: list, window_beats: float, hop_beats: float,
                     max_tokens: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Log-probabilities of every window of `items` from the encoder models (their mean; None
    without one) and the linear model, and each window's clip index."""
    import torch

    from symbolic_ai.tokens import Tokenizer
    from training.emotion.model import LinearGuide, load

    lin = LinearGuide(**linear)
    models = [load(c) for c in nn_ckpts]
    clips, clip_of = [], []
    for i, it in enumerate(items):
        for _, _, c in windows(it.piece, window_beats, hop_beats, max_tokens):
            clips.append(c)
            clip_of.append(i)
    guide = torch.tensor(np.stack([guide_features(c, "harmony") for c in clips]))
    with torch.no_grad():
        lp_lin = lin(guide).log_softmax(-1).numpy()
        per_model = []
        for model in models:
            tok = Tokenizer(model.encoder.tokenizer_config)
            n = guide.shape[1] if model.film is None else model.film.mean.shape[0]
            out = []
            for s in range(0, len(clips), 16):
                tokens, mask = pad_batch([tok.encode(c) for c in clips[s:s + 16]])
                out.append(model(torch.from_numpy(tokens), torch.from_numpy(mask), guide[s:s + 16, :n])
                           .log_softmax(-1).numpy())
            per_model.append(np.concatenate(out))
    return (np.mean(per_model, axis=0) if per_model else None), lp_lin, np.asarray(clip_of)


def fuse(lp_nn: np.ndarray | None, lp_lin: np.ndarray, clip_of: np.ndarray, w: float) -> np.ndarray:
    """Per clip: the mean over its windows of softmax(w·log p_linear + (1 − w)·log p_encoder)."""
    z = w * lp_lin + ((1 - w) * lp_nn if lp_nn is not None else 0.0)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return np.stack([p[clip_of == i].mean(0) for i in range(int(clip_of.max()) + 1)])


def through_task(onnx_path: Path, items: list) -> tuple[dict, list[str]]:
    """Metrics of one exported model run through the `emotion` task with its defaults, and its answers."""
    from symbolic_ai.registry import get
    from symbolic_ai.runtime import load_model
    from symbolic_ai.tasks.emotion import QUADRANTS

    spec, model = get("emotion"), load_model(str(onnx_path))
    probs = [spec.func(it.piece, **spec.validate({}), model=model).data["probabilities"] for it in items]
    p = np.array([[d[q] for q in QUADRANTS] for d in probs])
    return metrics(np.array([it.label for it in items]), p), [QUADRANTS[int(i)] for i in p.argmax(1)]


def record(onnx_path: Path, measured: dict) -> dict:
    """Merge `measured` into the card's metrics (card file and ONNX metadata) and return the card."""
    import onnx

    from symbolic_ai.exports import card as cards

    card = json.loads(onnx_path.with_suffix(".json").read_text())
    card["metrics"] = {**card["metrics"], **measured}
    cards.write(onnx.load(str(onnx_path)), card, onnx_path)
    return card


def main(argv: list[str] | None = None) -> int:
    import torch

    from symbolic_ai.registry import get
    from training.emotion.data import load_items

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nn", type=Path, nargs="*", default=[],
                    help="fine-tuned emotion checkpoints, averaged (omit: linear model only)")
    ap.add_argument("--linear", type=Path, required=True, help="the report of `python -m training emotion baseline --guide harmony`")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--window-beats", type=float, default=WINDOW_BEATS)
    ap.add_argument("--hop-beats", type=float, default=HOP_BEATS)
    ap.add_argument("--ship", type=Path, default=None, metavar="MODELS_DIR")
    ap.add_argument("--version", type=int, default=4)
    ap.add_argument("--golden", type=Path, default=Path("tests/golden/emotion_examples.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    lr = json.loads(a.linear.read_text())
    if lr.get("guide") != "harmony":
        raise SystemExit(f"{a.linear}: the linear model must use the harmony guide, got {lr.get('guide')!r}")
    max_tokens = 768
    if a.nn:
        max_tokens = min(int(torch.load(c, map_location="cpu", weights_only=False)["report"]["args"]["max_tokens"])
                         for c in a.nn)
    items = {s: [i for i in load_items("emopia") if i.split == s] for s in ("valid", "test")}
    logp = {s: window_log_probs(a.nn, lr["emopia"]["params"], its, a.window_beats, a.hop_beats, max_tokens)
            for s, its in items.items()}
    y = {s: np.array([i.label for i in its]) for s, its in items.items()}
    weights = WEIGHTS if a.nn else (1.0,)
    valid = {w: metrics(y["valid"], fuse(*logp["valid"], w)) for w in weights}
    best = max(weights, key=lambda w: (valid[w]["acc_4q"], valid[w]["macro_f1"], w))
    report = {"nn": [str(c) for c in a.nn], "linear": str(a.linear), "window_beats": a.window_beats,
              "hop_beats": a.hop_beats, "max_tokens": max_tokens,
              "valid_acc_by_weight": {str(w): valid[w]["acc_4q"] for w in weights}, "linear_weight": best,
              "valid": valid[best], "test": metrics(y["test"], fuse(*logp["test"], best)),
              "test_components": {"encoder_model": metrics(y["test"], fuse(*logp["test"], 0.0))["acc_4q"] if a.nn else None,
                                  "linear_model": metrics(y["test"], fuse(*logp["test"], 1.0))["acc_4q"]}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("valid_acc_by_weight", "linear_weight", "test_components")}
                     | {"test": round(report["test"]["acc_4q"], 4)}))
    if a.ship:
        from training.emotion.export import export_emotion, write_golden

        metrics_card = {"selection": {"by": "EMOPIA valid 4Q accuracy", "linear_weight": best,
                                      "valid_acc_by_weight": report["valid_acc_by_weight"]},
                        "emopia_valid": report["valid"], "emopia_test": report["test"],
                        "linear_model": {k: lr["emopia"][k] for k in ("l2", "cv5_train_valid")},
                        "vgmidi_linear_model": {k: lr["vgmidi"][k] for k in ("test", "cv5")}}
        card = export_emotion(a.nn, a.ship, version=a.version, metrics=metrics_card, int8=bool(a.nn),
                              linear=lr["emopia"]["params"], linear_weight=best,
                              window={"window_beats": a.window_beats, "hop_beats": a.hop_beats,
                                      "max_tokens": max_tokens})
        fp32 = a.ship / f"emotion-v{a.version}.onnx"
        paths = [fp32] + ([fp32.with_name(f"emotion-v{a.version}-int8.onnx")] if a.nn else [])
        answers = {}
        for path in paths:
            got = {s: through_task(path, its) for s, its in items.items()}
            answers[path] = [q for s in items for q in got[s][1]]
            measured = {"through_task": {f"emopia_{s}": got[s][0] for s in items}}
            if path != fp32:
                measured |= {f"emopia_{s}": got[s][0] for s in items} | {"answers_equal_fp32": {
                    "clips": len(answers[fp32]), "same_quadrant": sum(
                        x == y for x, y in zip(answers[fp32], answers[path]))}}
            record(path, measured)
            print(json.dumps({"model": path.name} | {s: round(got[s][0]["acc_4q"], 4) for s in items}))
        default = next((p for p in paths if p.stem == get("emotion").model), fp32)
        write_golden(default, a.golden)
        print(json.dumps({"shipped": card["name"], "sha256": card["sha256"], "golden_written_with": default.name}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
