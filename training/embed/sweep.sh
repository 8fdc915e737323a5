#!/usr/bin/env bash
# The embeddings sweep (embed-v2): arms plain / desc / xattn, seeds 0..2, in an order that keeps the arms balanced
# if time runs out; WORKER i of N takes every N-th run. Usage: training/embed/sweep.sh STEPS [I N [HH:MM]]
# (HH:MM: no run trains past it, see train.py --stop-at)
set -u
steps=${1:?steps}; i=${2:-0}; n=${3:-1}; stop=${4:-}
k=0
for seed in 0 1 2; do
  for arm in desc plain xattn; do
    if [ $((k % n)) -eq "$i" ]; then
      OMP_NUM_THREADS=1 .venv/bin/python -m training embed train --arm "$arm" --seed "$seed" --steps "$steps" --stop-at "$stop"
    fi
    k=$((k + 1))
  done
done
