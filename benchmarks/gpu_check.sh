#!/usr/bin/env bash
# The GPU checks as one script for a machine with CUDA: training speed ours vs plain (AMP bf16 +
# channels_last vs an fp32 DataLoader loop), bf16 vs fp32 numerics, then config/fmnist-lt.yaml on
# all five folds (config/fmnist-lt-gpu.yaml), four training jobs sharing the GPU: `none` and
# `weighted` with 40 epochs (benchmarks/configs/fmnist-lt-baselines-40epochs.yaml), then `ros` and
# `smote-ae`, each step within half of FMNIST_SECONDS. Everything it reports lands in $OUT (or
# ./gpu-check): JSON, the table of the evaluations that finished (mean +- sd over folds), the
# per-rule memory.
# FashionMNIST's idx files must be under resources/fashionmnist/FashionMNIST/raw/ or
# /usr/share/datasets/fashion-mnist (the machine has no internet).
set -euo pipefail
out="${OUT:-gpu-check}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
python benchmarks/speed.py --images 4000 --repeats 3 --out "$out/speed.json" 2>/dev/null
python benchmarks/precision.py --device cuda --train 5000 --epochs 5 --stem compact \
    --out "$out/precision.json" 2>/dev/null
configs=(config/fmnist-lt.yaml config/fmnist-lt-gpu.yaml)
half=$(( ${FMNIST_SECONDS:-420} / 2 ))
timeout "$half" snakemake --cores all --resources gpu=4 --keep-going \
    --configfile "${configs[@]}" benchmarks/configs/fmnist-lt-baselines-40epochs.yaml \
    > "$out/fmnist-lt-baselines.log" 2>&1 || true
printf 'methods: [ros, smote-ae]\n' > "$out/oversamplers.yaml"
configs+=("$out/oversamplers.yaml")
timeout "$half" snakemake --cores all --resources gpu=4 --keep-going \
    --configfile "${configs[@]}" > "$out/fmnist-lt.log" 2>&1 || true
python benchmarks/memory.py results/fmnist_lt --configfile "${configs[@]}" > "$out/memory.md" || true
python benchmarks/fmnist_lt_table.py results/fmnist_lt | tee "$out/fmnist-lt-table.md" || true
cp results/fmnist_lt/summary/metrics_per_fold.csv "$out/" 2>/dev/null || true
tail -5 "$out/fmnist-lt.log"
