"""Export the encoder checkpoint to `encoder-v<N>.onnx` + `-int8` with cards and `tokens-v1.json`,
through `symbolic_ai.exports` (dry run, parity against torch, dynamic int8):

    python -m training encoder export --out runs/encoder/export     # from training/encoder/encoder-v2.pt

Compare the rebuilt int8 file with the shipped one: `python -m training encoder export --out DIR --compare`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from symbolic_ai import load
from symbolic_ai.exports import card as cards
from symbolic_ai.exports.onnx import _ort, export, parity, quantize
from training.encoder.model import pretrained_checkpoint

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def parity_examples(tokenizer, max_len: int = 1024) -> list[dict[str, np.ndarray]]:
    """Real inputs: the repository's example pieces at their own lengths, one padded batch, and
    one window of `max_len` tokens."""
    from symbolic_ai import load

    ex_dir = EXAMPLES
    seqs = []
    for f in ("chorale_bwv66_6.musicxml", "maple_leaf_rag.mid", "folk_melody.abc"):
        seqs.append(tokenizer.encode(load(ex_dir / f)))
    out = [{"tokens": s[None], "mask": np.ones((1, len(s)), dtype=bool)} for s in seqs]
    n = max(len(s) for s in seqs)
    tok = np.zeros((len(seqs), n, seqs[0].shape[1]), dtype=np.int64)
    mask = np.zeros((len(seqs), n), dtype=bool)
    for i, s in enumerate(seqs):
        tok[i, :len(s)], mask[i, :len(s)] = s, True
    out.append({"tokens": tok, "mask": mask})
    long = np.concatenate([seqs[1][:-1]] + [seqs[1][1:-1]] * (max_len // len(seqs[1]) + 1))[:max_len]
    out.append({"tokens": long[None], "mask": np.ones((1, len(long)), dtype=bool)})
    return out


TRAINING_DATA = [
    {"dataset": "EMOPIA", "split": "train (split_song)", "licence": "CC BY-NC-SA 4.0"},
    {"dataset": "VGMIDI (labelled phrases)", "split": "train", "licence": "not stated (research use)"},
    {"dataset": "POP909", "split": "train (MidiBERT split)", "licence": "MIT"},
    {"dataset": "Nottingham", "split": "train", "licence": "GPL-3.0"},
    {"dataset": "chord_melody_dataset", "split": "train", "licence": "MIT"},
    {"dataset": "ASAP (score MIDI)", "split": "train", "licence": "CC BY-NC-SA 4.0"},
    {"dataset": "Batik Mozart (performance MIDI)", "split": "train", "licence": "not stated (research use)"},
    {"dataset": "music21 corpus: Bach chorales in the When-in-Rome train split", "split": "train",
     "licence": "music21 corpus (BSD/LGPL; public-domain scores)"},
]


def export_encoder(checkpoint: Path, out_dir: Path, *, version: int = 1, int8: bool = True,
                   metrics: dict | None = None, tol: float = 1e-3) -> dict:
    """Export the encoder checkpoint to `encoder-v<version>.onnx` (+ int8) with cards and the
    tokenizer config `tokens-v1.json`; returns the fp32 card."""
    import torch

    from symbolic_ai.tokens import Tokenizer
    from training.encoder.model import Encoder, ExportWrapper

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    enc = Encoder.from_checkpoint(ckpt).eval()
    tk = Tokenizer(enc.tokenizer_config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tk.config.save(out_dir / f"tokens-v{tk.config.version}.json")
    wrapper = ExportWrapper(enc).eval()
    seq = tk.encode(load(EXAMPLES / "chorale_bwv66_6.musicxml"))[:64]
    example = {"tokens": torch.from_numpy(np.stack([seq, seq])),
               "mask": torch.ones(2, len(seq), dtype=torch.bool)}
    example["mask"][1, 40:] = False
    inputs = parity_examples(tk, enc.config.max_len)
    name = f"encoder-v{version}"
    path = out_dir / f"{name}.onnx"
    model, fig = export(wrapper, example, path, output_names=["hidden", "pooled"],
                        dynamic={"tokens": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}},
                        parity_inputs=inputs, tol=tol)
    reference = fig.pop("_reference")
    info = {k: ckpt.get(k) for k in ("objective", "step", "max_len", "heldout") if k in ckpt}
    common = dict(task="encoder", version=version, vocabulary=tk.config.to_dict(), labels=None,
                  training_data=TRAINING_DATA,
                  splits={"pretraining": "train splits only of every dataset; no valid/test piece",
                          "monitoring": "2% of the train pieces held out (seeded)"},
                  architecture={"d_model": enc.config.d_model, "n_layers": enc.config.n_layers,
                                "n_heads": enc.config.n_heads, "d_ff": enc.config.d_ff,
                                "positions": "rotary", "norm": "pre-norm", "max_len": enc.config.max_len},
                  pretraining=info, tokenizer_config=f"tokens-v{tk.config.version}.json",
                  usage="symbolic_ai.encoder.encode(piece) -> per-token, per-bar and pooled embeddings")
    card = cards.make_card(model, name=name, metrics={**(metrics or {}), **fig}, **common)
    cards.write(model, card, path)
    if int8:
        import onnx

        qpath = out_dir / f"{name}-int8.onnx"
        quantize(path, qpath)
        qdiff = parity(qpath, reference, inputs)
        pooled_cos = _pooled_cosine(qpath, reference, inputs)
        qmodel = onnx.load(str(qpath))
        qcard = cards.make_card(qmodel, name=f"{name}-int8", metrics={
            **(metrics or {}).get("int8", {}), "parity_max_abs_diff_vs_torch_fp32": qdiff,
            "pooled_cosine_min_vs_torch_fp32": pooled_cos, "quantization": "dynamic int8 (MatMul/Gemm weights)"},
            **common)
        cards.write(qmodel, qcard, qpath)
    return card


def _pooled_cosine(path: Path, reference: list[dict], inputs: list[dict]) -> float:
    sess = _ort(path)
    worst = 1.0
    for ref, inp in zip(reference, inputs):
        got = sess.run(["pooled"], inp)[0].astype(np.float64)
        r = ref["pooled"]
        cos = (got * r).sum(-1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(r, axis=-1))
        worst = min(worst, float(cos.min()))
    return worst


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=None, help="default: the pre-training checkpoint")
    ap.add_argument("--out", type=Path, required=True, help="directory for the .onnx files, cards and tokens-v1.json")
    ap.add_argument("--version", type=int, default=2)
    ap.add_argument("--metrics", type=Path, default=None, help="JSON file of metrics to put in the card")
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--compare", action="store_true",
                    help="compare the rebuilt int8 file with the shipped one (outputs within the parity tolerance, sha256)")
    a = ap.parse_args(argv)
    metrics = json.loads(a.metrics.read_text()) if a.metrics else None
    card = export_encoder(a.checkpoint or pretrained_checkpoint(), a.out, version=a.version, int8=not a.no_int8, metrics=metrics)
    print(json.dumps({k: card[k] for k in ("name", "sha256", "opset")}, indent=1))
    if a.compare and not a.no_int8:
        from symbolic_ai.tokens import Tokenizer, TokenizerConfig
        from training.common.export import compare, shipped

        name = f"encoder-v{a.version}-int8"
        inputs = parity_examples(Tokenizer(TokenizerConfig.load(a.out / "tokens-v1.json")))
        print(json.dumps(compare(a.out / f"{name}.onnx", shipped(name), inputs, card["metrics"]["parity_tolerance"])))


if __name__ == "__main__":
    main()
