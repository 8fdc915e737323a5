"""Export a trained torch model to `<name>-v<N>.onnx` with its card: dry run, parity, int8.

`export()` is generic (any module with named tensor inputs/outputs): it exports with the dynamo
exporter (one file, dynamic axes), runs the file once in onnxruntime (dry run), compares torch and
onnxruntime on real inputs (max abs difference recorded in the card; fails above `tol`), and can
add a dynamically quantized int8 copy `<name>-v<N>-int8.onnx` with its own parity figures.
`export_encoder()` does this for the shared encoder:

    python -m symbolic_ai.exports.onnx --checkpoint symbolic_ai/models/encoder-v2.pt
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from symbolic_ai.errors import ModelError

from . import card as cards

OPSET = 18


def _ort(path: Path, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def parity(path: Path, reference: Sequence[dict[str, np.ndarray]], inputs: Sequence[dict[str, np.ndarray]],
           ) -> dict[str, float]:
    """Max abs difference per output between `reference` outputs and onnxruntime on `inputs`."""
    sess = _ort(path)
    names = [o.name for o in sess.get_outputs()]
    worst = {n: 0.0 for n in names}
    for ref, inp in zip(reference, inputs):
        got = dict(zip(names, sess.run(None, inp)))
        for n in names:
            worst[n] = max(worst[n], float(np.abs(got[n].astype(np.float64) - ref[n]).max()))
    return worst


def export(module, example: dict[str, Any], path: Path, *, output_names: list[str],
           dynamic: dict[str, dict[int, str]], parity_inputs: Sequence[dict[str, np.ndarray]],
           tol: float = 1e-3) -> tuple[Any, dict]:
    """Export `module` (called with the keyword tensors of `example`) to `path`; returns
    (onnx.ModelProto, figures) after the dry run and the parity check."""
    import onnx
    import torch

    module.eval()
    names = list(example)
    dims = {}
    shapes = {}
    for k, axes in dynamic.items():
        shapes[k] = {i: dims.setdefault(n, torch.export.Dim(n, min=1, max=8192)) for i, n in axes.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        prog = torch.onnx.export(module, tuple(example.values()), input_names=names, output_names=output_names,
                                 dynamic_shapes=tuple(shapes.get(k) for k in names), dynamo=True,
                                 opset_version=OPSET, external_data=False, optimize=True)
    prog.save(str(path), external_data=False)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    # dry run on the export example
    sess = _ort(path)
    sess.run(None, {k: v.numpy() for k, v in example.items()})
    # parity on real inputs
    reference = []
    with torch.no_grad():
        for inp in parity_inputs:
            out = module(**{k: torch.from_numpy(v) for k, v in inp.items()})
            out = out if isinstance(out, (tuple, list)) else (out,)
            reference.append({n: o.double().numpy() for n, o in zip(output_names, out)})
    diff = parity(path, reference, parity_inputs)
    if max(diff.values()) > tol:
        path.unlink()
        raise ModelError(f"{path.name}: torch vs onnxruntime max abs difference {diff} exceeds {tol}")
    return model, {"parity_max_abs_diff": diff, "parity_tolerance": tol, "parity_inputs": len(parity_inputs),
                   "_reference": reference}


def quantize(src: Path, dst: Path) -> Path:
    """Dynamic int8 quantization of the MatMul/Gemm weights (onnxruntime.quantization).
    The exporter's value_info (stale intermediate shapes) is dropped first: it can break the
    quantizer's shape inference."""
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    plain = onnx.load(str(src))
    del plain.graph.value_info[:]
    del plain.metadata_props[:]
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(plain, f"{tmp}/plain.onnx")
        quantize_dynamic(f"{tmp}/plain.onnx", str(dst), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"])
    return dst


# -- the shared encoder -----------------------------------------------------------------------
def parity_examples(tokenizer, max_len: int = 1024) -> list[dict[str, np.ndarray]]:
    """Real inputs: the repository's example pieces at their own lengths, one padded batch, and
    one window of `max_len` tokens."""
    from symbolic_ai import load

    ex_dir = Path(__file__).resolve().parents[1] / "examples"
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
    from symbolic_ai.training.model import Encoder, ExportWrapper

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    enc = Encoder.from_checkpoint(ckpt).eval()
    tk = Tokenizer(enc.tokenizer_config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tk.config.save(out_dir / f"tokens-v{tk.config.version}.json")
    wrapper = ExportWrapper(enc).eval()
    seq = tk.encode(__import__("symbolic_ai").load(Path(__file__).resolve().parents[1] / "examples" /
                                                   "chorale_bwv66_6.musicxml"))[:64]
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
    from symbolic_ai.runtime import PACKAGE_MODELS
    from symbolic_ai.training.model import CHECKPOINT

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    ap.add_argument("--out-dir", type=Path, default=PACKAGE_MODELS)
    ap.add_argument("--version", type=int, default=1)
    ap.add_argument("--metrics", type=Path, default=None, help="JSON file of metrics to put in the card")
    ap.add_argument("--no-int8", action="store_true")
    a = ap.parse_args(argv)
    metrics = json.loads(a.metrics.read_text()) if a.metrics else None
    card = export_encoder(a.checkpoint, a.out_dir, version=a.version, int8=not a.no_int8, metrics=metrics)
    print(json.dumps({k: card[k] for k in ("name", "sha256", "opset", "metrics")}, indent=1))


if __name__ == "__main__":
    main()
