#!/bin/sh
# The equal-steps, second-seed objective ablation of docs/benchmarks.md (## encoder): MLM,
# denoising and denoising + pianoroll, 180 steps each at 512 tokens (seed 1), then the
# transposed local-key and chord-quality probes. Usage: sh benchmarks/encoder_ablation_steps.sh [SEED]
set -e
S=${1:-1}
PY=${PY:-.venv/bin/python}
R=runs/encoder
for obj in mlm denoise denoise+roll; do
  $PY -m training.encoder.pretrain --run $R/abl-$obj-512-s$S --objective $obj --steps 180 --minutes 30 \
      --max-len 512 --batch 8 --warmup-steps 20 --seed $S --threads 1 --quiet
done
$PY benchmarks/encoder_ablation.py --transpose-key --model mlm-512-s$S=$R/abl-mlm-512-s$S/encoder.pt \
    --model denoise-512-s$S=$R/abl-denoise-512-s$S/encoder.pt \
    --model denoise+roll-512-s$S=$R/abl-denoise+roll-512-s$S/encoder.pt > $R/ablation-s$S.json
