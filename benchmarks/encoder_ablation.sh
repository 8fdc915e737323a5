#!/bin/sh
# The objective / sequence-length ablation of docs/benchmarks.md (## encoder), end to end:
# four short pre-training runs with equal training-time budgets, then linear probes on frozen
# features of each (plus an untrained encoder, the pitch-class-histogram baseline and the shipped
# encoder in fp32 and int8). Needs runs/encoder/corpus-v1.npz (python -m training encoder corpus).
# Usage: sh benchmarks/encoder_ablation.sh [MINUTES_PER_RUN]   (default 6)
set -e
M=${1:-6}
PY=${PY:-.venv/bin/python}
R=runs/encoder
for obj in mlm denoise denoise+roll; do
  $PY -m training.encoder.pretrain --run $R/abl-$obj-512 --objective $obj --minutes $M \
      --max-len 512 --batch 8 --warmup-steps 20 --quiet
done
$PY -m training.encoder.pretrain --run $R/abl-denoise+roll-1024 --objective denoise+roll --minutes $M \
    --max-len 1024 --batch 4 --warmup-steps 20 --quiet
$PY benchmarks/encoder_ablation.py --hist --model random=random \
    --model mlm-512=$R/abl-mlm-512/encoder.pt --model denoise-512=$R/abl-denoise-512/encoder.pt \
    --model denoise+roll-512=$R/abl-denoise+roll-512/encoder.pt \
    --model denoise+roll-1024=$R/abl-denoise+roll-1024/encoder.pt \
    --onnx encoder-v2 encoder-v2-int8 > $R/ablation.json
