"""One command from `../shared/data` to the shipped encoder:

    python -m symbolic_ai.training.release            # corpus -> pre-training -> checkpoint -> ONNX

1. tokenizes the train splits into `runs/encoder/corpus-v1.npz` (skipped when present);
2. pre-trains (denoising + pianoroll, 512 tokens, batch 8, lr 5e-4, 33 min of training time, seed 0,
   1 torch thread) in `runs/encoder/main` (resumes there if interrupted);
3. writes the committed checkpoint `symbolic_ai/models/encoder-v1.pt`: weights stored
   as bfloat16 (half the size; loading casts back to float32), no optimizer state;
4. exports `symbolic_ai/models/encoder-v1.onnx` (+ int8) with cards and `tokens-v1.json`.
The shipped ONNX is exported from the bf16-rounded checkpoint, so the two agree.
A time budget makes the step count depend on the machine's speed: the card records the steps.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .model import CHECKPOINT, Encoder


def write_checkpoint(run_ckpt: Path, out: Path = CHECKPOINT) -> Path:
    """The release checkpoint: config, tokenizer, bf16 weights and the pre-training summary."""
    ck = torch.load(run_ckpt, map_location="cpu", weights_only=False)
    enc = Encoder.from_checkpoint(ck)
    keep = {k: ck[k] for k in ("objective", "step", "max_len", "heldout") if k in ck}
    rel = enc.checkpoint(**keep, weights_dtype="bfloat16")
    rel["state_dict"] = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v)
                         for k, v in rel["state_dict"].items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(rel, tmp)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> None:
    from symbolic_ai.exports.onnx import export_encoder
    from symbolic_ai.runtime import PACKAGE_MODELS

    from . import corpus, pretrain

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=33.0)
    ap.add_argument("--run", default="runs/encoder/main")
    ap.add_argument("--skip-training", action="store_true", help="only checkpoint + export an existing run")
    a = ap.parse_args(argv)
    corpus_path = Path("runs/encoder/corpus-v1.npz")
    if not corpus_path.exists():
        print(corpus.build(corpus_path), flush=True)
    if not a.skip_training:
        pretrain.main(["--run", a.run, "--objective", "denoise+roll", "--minutes", str(a.minutes),
                       "--max-len", "512", "--batch", "8", "--corpus", str(corpus_path)])
    ckpt = write_checkpoint(Path(a.run) / "encoder.pt")
    card = export_encoder(ckpt, PACKAGE_MODELS)
    print(card["name"], card["sha256"], card["metrics"])


if __name__ == "__main__":
    main()
