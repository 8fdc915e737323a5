#!/bin/sh
# The transposed-key probes of docs/benchmarks.md (## encoder): the ablation runs of
# encoder_ablation.sh, the untrained encoder, the histogram, and the two released encoders
# (stage 1 = encoder-v1, stage 2 = encoder-v2 of `python -m training encoder release`).
set -e
PY=${PY:-.venv/bin/python}
R=runs/encoder
$PY benchmarks/encoder_ablation.py --transpose-key --hist --model random=random \
    --model mlm-512=$R/abl-mlm-512/encoder.pt --model denoise-512=$R/abl-denoise-512/encoder.pt \
    --model denoise+roll-512=$R/abl-denoise+roll-512/encoder.pt \
    --model denoise+roll-1024=$R/abl-denoise+roll-1024/encoder.pt \
    --model encoder-v1=$R/main/encoder.pt --model encoder-v2=$R/v2/encoder.pt \
    --onnx encoder-v2 encoder-v2-int8 > $R/ablation-transposed.json
