"""One command from `../shared/data` to the shipped encoder:

    python -m training encoder release --version 2 --out runs/encoder/release   # corpus -> pre-training -> checkpoint -> ONNX

1. tokenizes the train splits into `runs/encoder/corpus-v1.npz` (skipped when present);
2. pre-trains with denoising + pianoroll, seed 0, 1 torch thread, in stages (each resumes from its
   run directory's `ckpt.pt` if interrupted; a later stage starts from the previous stage's
   `ckpt.pt`, optimizer state included):
   - stage 1 (v1): 512 tokens, batch 8, lr 5e-4, 33 min of training time, in `runs/encoder/main`;
   - stage 2 (v2): 1024 tokens, batch 4, peak lr 3e-4 on the same cosine schedule stretched to
     113 min (a warm restart at about 0.8 of the peak), in `runs/encoder/v2`;
3. writes the checkpoint `<out>/encoder-v<N>.pt`: weights stored as bfloat16 (half the size;
   loading casts back to float32), no optimizer state (the released one is in git history at
   `training/encoder/encoder-v2.pt`, commit 9f8ad0d, restored by `model.pretrained_checkpoint()`);
4. exports `<out>/encoder-v<N>.onnx` (+ int8) with cards and `tokens-v1.json`.
The shipped ONNX is exported from the bf16-rounded checkpoint, so the two agree.
A time budget makes the step count depend on the machine's speed: the card records the steps.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from training.encoder.model import Encoder


def write_checkpoint(run_ckpt: Path, out: Path) -> Path:
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


STAGES = [  # (run directory, pretrain arguments); version N runs stages 1..N
    ("runs/encoder/main", ["--max-len", "512", "--batch", "8", "--minutes", "33"]),
    ("runs/encoder/v2", ["--max-len", "1024", "--batch", "4", "--lr", "3e-4", "--minutes", "113",
                         "--save-minutes", "10"]),
]


def main(argv: list[str] | None = None) -> None:
    from training.encoder import corpus, pretrain
    from training.encoder.export import export_encoder

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--version", type=int, default=len(STAGES), choices=range(1, len(STAGES) + 1))
    ap.add_argument("--skip-training", action="store_true", help="only checkpoint + export an existing run")
    ap.add_argument("--out", type=Path, required=True, help="directory for the checkpoint, the ONNX files and cards")
    a = ap.parse_args(argv)
    corpus_path = Path("runs/encoder/corpus-v1.npz")
    if not corpus_path.exists():
        print(corpus.build(corpus_path), flush=True)
    run = Path(STAGES[a.version - 1][0])
    for i, (stage_run, args) in enumerate(STAGES[:a.version]):
        if a.skip_training:
            break
        if i and not (Path(stage_run) / "ckpt.pt").exists():  # continue from the previous stage
            Path(stage_run).mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(STAGES[i - 1][0]) / "ckpt.pt", Path(stage_run) / "ckpt.pt")
        pretrain.main(["--run", stage_run, "--objective", "denoise+roll", "--threads", "1",
                       "--corpus", str(corpus_path), *args])
    ckpt = write_checkpoint(run / "encoder.pt", a.out / f"encoder-v{a.version}.pt")
    card = export_encoder(ckpt, a.out, version=a.version)
    print(card["name"], card["sha256"], card["metrics"])


if __name__ == "__main__":
    main()
