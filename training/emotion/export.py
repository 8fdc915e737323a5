"""Export an emotion checkpoint to `emotion-v<N>.onnx` + card through the shared export pipeline
(`symbolic_ai.exports.onnx`: dry run, torch vs onnxruntime parity on real windows, card).

    python -m training emotion export runs/emotion/film0.pt --out runs/emotion/export --metrics runs/emotion/film0.json
    python -m training emotion export --from-onnx runs/emotion-v4.onnx --out runs/emotion/export --compare

`--from-onnx` rebuilds the shipped int8 file from a released fp32 graph (the fine-tuned checkpoints
are not committed; the released fp32 emotion-v4 is in git history:
`git show 9d22df1:symbolic_ai/models/emotion-v4.onnx > runs/emotion-v4.onnx`).

The graph takes `tokens` int64 [batch, seq, 5], `mask` bool [batch, seq] and `guide` float32
[batch, n] (the card's `architecture.guide`: `mode` features or clip `stats`, see
`symbolic_ai.tasks.emotion.guide_features`) and gives `probabilities` [batch, 4].
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from symbolic_ai.tasks.emotion import (
    DEFAULT_MAX_TOKENS,
    GUIDES,
    HOP_BEATS,
    LABELS,
    QUADRANTS,
    WINDOW_BEATS,
    guide_features,
    pad_batch,
    windows,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRAINING_DATA = [
    {"dataset": "EMOPIA (symbolic clips)", "split": "train = official song-level split (split_song), 784 clips;"
     " selection on valid (206); test (88) reported once", "licence": "CC BY-NC-SA 4.0 (non-commercial, share-alike)"},
    {"dataset": "shared encoder pre-training (see encoder-v2 card)", "split": "train splits only",
     "licence": "see encoder-v2.json"},
]
HARMONY_DATA = {"dataset": "chords-v1, which reads the chords of the harmony guide", "split": "see chords-v1.json",
                "licence": "see chords-v1.json"}


def example_inputs(tok, guide: str = "mode", window_beats: float = WINDOW_BEATS, hop_beats: float = HOP_BEATS,
                   max_tokens: int = DEFAULT_MAX_TOKENS) -> list[dict[str, np.ndarray]]:
    """Real inputs: the example pieces' task windows, one window each and one padded batch."""
    from symbolic_ai import load

    wins = []
    for f in ("maple_leaf_rag.mid", "chorale_bwv66_6.musicxml", "folk_melody.mid"):
        wins += [c for _, _, c in windows(load(EXAMPLES / f), window_beats, hop_beats, max_tokens)]
    singles = [{"tokens": tok.encode(c)[None], "mask": np.ones((1, len(tok.encode(c))), dtype=bool),
                "guide": guide_features(c, guide)[None]} for c in wins[:3]]
    tokens, mask = pad_batch([tok.encode(c) for c in wins])
    return singles + [{"tokens": tokens, "mask": mask, "guide": np.stack([guide_features(c, guide) for c in wins])}]


def export_emotion(checkpoint: Path | list[Path], out_dir: Path, *, version: int = 1, metrics: dict | None = None,
                   extra_training: list[dict] | None = None, int8: bool = False, linear: dict | None = None,
                   linear_weight: float = 0.0, window: dict | None = None) -> dict:
    """Export a fine-tuned checkpoint, or (with `linear`: logistic-regression parameters on the
    harmony guide) the late fusion of a list of checkpoints (possibly empty) with the linear model."""
    import torch
    from symbolic_ai.exports import card as cards
    from symbolic_ai.exports.onnx import export

    from symbolic_ai.tokens import Tokenizer, default_tokenizer
    from training.emotion.model import ExportWrapper, FusedExport, LinearGuide, load

    ckpts = [Path(c) for c in checkpoint] if isinstance(checkpoint, (list, tuple)) else [Path(checkpoint)]
    if linear is None and len(ckpts) != 1:
        raise ValueError(f"export_emotion: one checkpoint without a linear model, got {len(ckpts)}")
    models = [load(c) for c in ckpts]
    model = models[0] if models else None
    tok = Tokenizer(model.encoder.tokenizer_config) if model is not None else default_tokenizer()
    trained = (torch.load(ckpts[0], map_location="cpu", weights_only=False).get("report", {}).get("args", {})
               if ckpts else {})
    win = {"window_beats": float(trained.get("window_beats", WINDOW_BEATS)),
           "hop_beats": float(trained.get("hop_beats", HOP_BEATS)),
           "max_tokens": int(trained.get("max_tokens", DEFAULT_MAX_TOKENS))} | (window or {})
    guide = "harmony" if linear is not None else model.guide
    module = (FusedExport(models, LinearGuide(**linear), linear_weight) if linear is not None
              else ExportWrapper(model)).eval()
    inputs = example_inputs(tok, guide, **win)
    batch = inputs[-1]
    example = {k: torch.from_numpy(v[:2].copy()) for k, v in batch.items()}
    name = f"emotion-v{version}"
    path = Path(out_dir) / f"{name}.onnx"
    onnx_model, fig = export(module, example, path, output_names=["probabilities"],
                             dynamic={"tokens": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"},
                                      "guide": {0: "batch"}}, parity_inputs=inputs, tol=1e-3)
    reference = fig.pop("_reference")
    arch: dict = {"guide": guide, "guide_features": list(GUIDES[guide])}
    if model is not None:
        c = model.encoder.config
        arch |= {"encoder": {"d_model": c.d_model, "n_layers": c.n_layers, "n_heads": c.n_heads},
                 "film_layer": model.film_layer, "film_guide": model.guide,
                 "head": "mean pooling -> Linear-GELU-Linear", "encoder_models": len(models)}
    if linear is not None:
        arch["fusion"] = {"linear_model": "logistic regression on the standardised harmony guide",
                          "linear_weight": linear_weight,
                          "rule": "softmax(w * log p_linear + (1 - w) * mean log p_encoder) per window"}
    common = dict(
        task="emotion", version=version, vocabulary=tok.config.to_dict(), tokenizer=tok.config.to_dict(),
        labels={q: LABELS[q] for q in QUADRANTS},
        training_data=(TRAINING_DATA if model is not None else TRAINING_DATA[:1]) + ([HARMONY_DATA] if guide == "harmony"
                                                                                   else []) + (extra_training or []),
        splits={"emopia": "official song-level split (split_song): train 784 / valid 206 / test 88 clips",
                "vgmidi": "splits.csv (grouped by game + theme): 162 / 22 / 20 phrases; 5-fold grouped CV"},
        architecture=arch,
        **win,
        usage="symbolic_ai.run('emotion', piece): windows of window_beats, probabilities averaged",
        licence_note="trained on EMOPIA (CC BY-NC-SA 4.0): research and non-commercial use")
    card = cards.make_card(onnx_model, name=name, metrics={**(metrics or {}), **fig}, **common)
    cards.write(onnx_model, card, path)
    if int8:
        quantize_fp32(path, reference, inputs, "parity_max_abs_diff_vs_torch_fp32")
    return card


V5_TRAINING_DATA = [
    {"dataset": "EMOPIA (symbolic clips)", "split": "train = official song-level split (split_song), 784 clips, "
     "as performed, deadpan and augmented; valid (206) for selection; test (88) reported once",
     "licence": "CC BY-NC-SA 4.0 (non-commercial, share-alike)"},
    {"dataset": "VGMIDI (labelled phrases)", "split": "train = splits.csv train (162 phrases, grouped by game + theme), "
     "as performed, deadpan and augmented; valid (22) for selection; test (20) reported once",
     "licence": "not stated upstream (lucasnfe/vgmidi) — research use; arrangements of commercial game music"},
    {"dataset": "score check set (music21 corpus + ASAP score MIDI, arousal from tempo words)",
     "split": "valid half for selection only; test half reported; not trained on",
     "licence": "music21 corpus: BSD/LGPL code, public-domain scores; ASAP: CC BY-NC-SA 4.0"},
    HARMONY_DATA,
]
WEAK_DATA = {"dataset": "When in Rome scores (opening tempo words as weak arousal labels; words removed from the input)",
             "split": "train only; pieces sharing a composer and opus / Koechel number with the check set left out",
             "licence": "When in Rome: CC BY-SA 4.0 (new content); OpenScore Lieder scores CC0; quartet and sonata "
                        "scores per their sub-corpus (research use)"}
ENCODER_DATA = {"dataset": "encoder-v2 (the embedding in the guide), frozen", "split": "see encoder-v2-int8.json",
                "licence": "see encoder-v2-int8.json (EMOPIA, ASAP: CC BY-NC-SA 4.0; Nottingham: GPL-3.0; ...)"}


def export_head(head, candidate: dict, out_dir: Path, *, version: int = 5, metrics: dict | None = None,
                guide: str | None = None) -> dict:
    """Export an emotion-v5/v6 head (`training.emotion.v5.Head`): one graph from the full guide
    [batch, n] to `probabilities` [batch, 4] (column selection and standardisation inside). `guide`:
    the guide its columns index (default: `invariant`, or `invariant+encoder` when it reads the embedding)."""
    import torch
    from symbolic_ai.exports import card as cards
    from symbolic_ai.exports.onnx import export

    from symbolic_ai.tasks.emotion import CHORDS_MODEL, ENCODER_MODEL, FLAT_VELOCITY, invariant_features

    if not hasattr(head, "net"):
        raise SystemExit(f"export_head: {candidate['name']} has two heads; only one-head candidates export")

    full = len(GUIDES["invariant+encoder"])
    cols = np.asarray(head.columns if head.columns is not None else np.arange(full))
    guide = guide or ("invariant" if cols.max() < len(GUIDES["invariant"]) else "invariant+encoder")
    proj = np.eye(len(cols)) if head.projection is None else head.projection

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("cols", torch.tensor(cols, dtype=torch.long))
            self.register_buffer("proj", torch.tensor(proj, dtype=torch.float32))
            self.register_buffer("mean", torch.tensor(head.mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(head.std, dtype=torch.float32))
            self.net = head.net

        def forward(self, guide):
            x = guide.index_select(1, self.cols) @ self.proj
            return self.net((x - self.mean) / self.std).softmax(-1)

    from symbolic_ai import load

    wins = []
    for f in ("maple_leaf_rag.mid", "chorale_bwv66_6.musicxml", "folk_melody.mid"):
        wins += [c for _, _, c in windows(load(EXAMPLES / f), WINDOW_BEATS, HOP_BEATS, 768)]
    feats = invariant_features(wins, embed=guide == "invariant+encoder", notation=guide == "invariant+notation")
    inputs = [{"guide": feats[i:i + 1]} for i in range(3)] + [{"guide": feats}]
    name = f"emotion-v{version}"
    path = Path(out_dir) / f"{name}.onnx"
    module = Graph().eval()
    onnx_model, fig = export(module, {"guide": torch.from_numpy(feats[:2].copy())}, path,
                             output_names=["probabilities"], dynamic={"guide": {0: "batch"}},
                             parity_inputs=inputs, tol=1e-4)
    fig.pop("_reference")
    arch = {"guide": guide, "guide_features": list(GUIDES[guide]),
            "guide_models": {"chords": CHORDS_MODEL} | ({"encoder": ENCODER_MODEL} if guide == "invariant+encoder" else {}),
            "flat_velocity_for_harmony_and_encoder": FLAT_VELOCITY,
            "head": (f"Linear({proj.shape[1]} -> 4)" if not candidate["hidden"]
                     else f"Linear({proj.shape[1]} -> {candidate['hidden']})-GELU-Linear(-> 4)"),
            "columns": candidate["cols"], "candidate": candidate}
    card = cards.make_card(
        onnx_model, name=name, task="emotion", version=version, vocabulary=None,
        labels={q: LABELS[q] for q in QUADRANTS},
        training_data=V5_TRAINING_DATA + ([ENCODER_DATA] if guide == "invariant+encoder" else [])
        + ([WEAK_DATA] if candidate.get("weak") else []),
        splits={"emopia": "official song-level split (split_song): train 784 / valid 206 / test 88 clips",
                "vgmidi": "splits.csv (grouped by game + theme): 162 / 22 / 20 phrases; 5-fold grouped CV",
                "checkset": "hash of the piece: valid half (selection) / test half (reported)"},
        metrics={**(metrics or {}), **fig}, architecture=arch, window_beats=WINDOW_BEATS, hop_beats=HOP_BEATS,
        max_tokens=768, usage="symbolic_ai.run('emotion', piece): windows of window_beats, probabilities averaged",
        licence_note="trained on EMOPIA (CC BY-NC-SA 4.0) and VGMIDI (no licence stated): research and "
                     "non-commercial use")
    cards.write(onnx_model, card, path)
    return json.loads(path.with_suffix(".json").read_text())


def quantize_fp32(path: Path, reference: list[dict], inputs: list[dict], parity_key: str) -> dict:
    """`<name>-int8.onnx` beside the fp32 `path` (dynamic int8), its card: the fp32 card's fields,
    this file's inputs/outputs, sha256 and parity against `reference` outputs on `inputs`."""
    import onnx
    from symbolic_ai.exports import card as cards
    from symbolic_ai.exports.onnx import parity, quantize

    fp32 = json.loads(path.with_suffix(".json").read_text())
    qpath = path.with_name(f"{fp32['name']}-int8.onnx")
    quantize(path, qpath)
    qmodel = onnx.load(str(qpath))
    keep = {k: v for k, v in fp32.items() if k not in ("name", "metrics", "inputs", "outputs", "sha256", "opset",
                                                         "library_versions", "file_sha256")}
    qcard = cards.make_card(qmodel, name=f"{fp32['name']}-int8",
                            metrics={parity_key: parity(qpath, reference, inputs),
                                     "quantization": "dynamic int8 (MatMul/Gemm weights)"}, **keep)
    cards.write(qmodel, qcard, qpath)
    return qcard


def from_onnx(fp32: Path, out_dir: Path) -> dict:
    """Rebuild the int8 model from a released fp32 graph: copy it (with its card from its
    metadata_props) into `out_dir`, quantize, parity of int8 against the fp32 graph on the examples."""
    import onnx
    from symbolic_ai.exports import card as cards
    from symbolic_ai.exports.onnx import _ort

    from symbolic_ai.tokens import Tokenizer, TokenizerConfig

    model = onnx.load(str(fp32))
    card = {p.key: json.loads(p.value) for p in model.metadata_props}
    if not card.get("name", "").startswith("emotion-"):
        raise SystemExit(f"{fp32}: not an exported emotion model (its metadata_props carry no emotion card)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{card['name']}.onnx"
    cards.write(model, card, path)
    tok = Tokenizer(TokenizerConfig.from_dict(card["tokenizer"]))
    inputs = example_inputs(tok, card["architecture"].get("guide", "mode"), card.get("window_beats", WINDOW_BEATS),
                            card.get("hop_beats", HOP_BEATS), card.get("max_tokens", DEFAULT_MAX_TOKENS))
    sess = _ort(path)
    names = [o.name for o in sess.get_outputs()]
    reference = [{n: o.astype(np.float64) for n, o in zip(names, sess.run(None, inp))} for inp in inputs]
    qcard = quantize_fp32(path, reference, inputs, "parity_max_abs_diff_vs_onnx_fp32")
    return {"inputs": inputs, "card": qcard, "path": path.with_name(f"{qcard['name']}.onnx")}


def write_golden(onnx_path: Path | None, out: Path) -> Path:
    """The task's answers on the example files, for tests/golden: {file: {model, probabilities}}, by the
    models it chooses itself (`onnx_path` None: the installed emotion-v5 / emotion-v6 by input_kind), or
    by the model at `onnx_path` for every file."""
    import symbolic_ai as sai
    from symbolic_ai.io import write_atomic

    got = {}
    for f in ("folk_melody.mid", "maple_leaf_rag.mid", "chorale_bwv66_6.musicxml"):
        d = sai.run("emotion", sai.load(EXAMPLES / f), model=None if onnx_path is None else str(onnx_path)).data
        got[f] = {"model": d["model"], "probabilities": d["probabilities"]}
    return write_atomic(out, json.dumps(got, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", type=Path, nargs="?", help="a fine-tuned emotion checkpoint (or use --from-onnx)")
    ap.add_argument("--from-onnx", type=Path, default=None, help="a released fp32 emotion graph: quantize it to int8 + card")
    ap.add_argument("--compare", action="store_true", help="--from-onnx: compare the int8 file with the shipped one")
    ap.add_argument("--out", type=Path, required=True, help="directory for the .onnx files and cards")
    ap.add_argument("--version", type=int, default=4)
    ap.add_argument("--metrics", type=Path, default=None, help="JSON with the metrics to put in the card")
    ap.add_argument("--int8", action="store_true")
    ap.add_argument("--golden", type=Path, default=None, help="write the examples' answers here (tests/golden)")
    a = ap.parse_args(argv)
    if a.from_onnx is not None:
        got = from_onnx(a.from_onnx, a.out)
        print(json.dumps({k: got["card"][k] for k in ("name", "sha256")} | {"parity": got["card"]["metrics"]}))
        if a.compare:
            from training.common.export import compare, shipped

            print(json.dumps(compare(got["path"], shipped(got["card"]["name"]), got["inputs"], 1e-3)))
        return 0
    if a.checkpoint is None:
        ap.error("give a checkpoint or --from-onnx PATH")
    metrics = json.loads(a.metrics.read_text()) if a.metrics else None
    card = export_emotion(a.checkpoint, a.out, version=a.version, metrics=metrics, int8=a.int8)
    if a.golden:
        write_golden(a.out / f"emotion-v{a.version}.onnx", a.golden)
    print(json.dumps({k: card[k] for k in ("name", "sha256", "opset")} | {"parity": card["metrics"].get(
        "parity_max_abs_diff")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
