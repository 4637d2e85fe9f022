#!/usr/bin/env bash
# The GPU checks as one script for a machine with CUDA: training speed ours vs plain, both loops on
# the GPU (AMP + channels_last vs an fp32 DataLoader loop), bf16 vs fp32 numerics, then
# config/fmnist-lt.yaml on all five folds (config/fmnist-lt-gpu.yaml), four training jobs sharing
# the GPU: `none` and `weighted` (their 40 epochs), then `ros` and `smote-ae` (their 14), each run
# stopped at half of FMNIST_SECONDS (the table counts the folds that finished); then the rivals
# (benchmarks/configs/fmnist-lt-rivals.yaml: class weights, losses, the heads, the oversamplers,
# one run) and the balanced ceiling on the five folds, each stopped at RIVALS_SECONDS; then the
# recipe screen on the holdouts, stopped at SCREEN_SECONDS.
# Everything it reports lands in $OUT (or results/gpu-check): JSON, the table of the
# finished evaluations (mean +- sd over folds), the verdict over the runs
# (benchmarks/pooled_verdict.py), the per-rule memory; every step's full output in its logs/
# folder, and the workflow's per-job logs in logs/jobs/. A step that fails stops the script with a
# message naming it and its log.
# FashionMNIST's idx files must be under resources/fashionmnist/FashionMNIST/raw/ or
# /usr/share/datasets/fashion-mnist (the machine has no internet).
set -euo pipefail
out="${OUT:-results/gpu-check}"
logs="$out/logs"
mkdir -p "$logs"
echo "gpu_check: results in $out, every step's log in $logs"

# the workflow's own per-job logs travel with the results, whatever happened
trap 'if [[ -d results/fmnist_lt/logs ]]; then cp -r results/fmnist_lt/logs "$logs/jobs"; fi' EXIT

# run NAME COMMAND...: COMMAND's stdout and stderr go to $logs/NAME.log; a failure stops here
run() {
    local name="$1" status=0
    shift
    echo "gpu_check: $name ..."
    "$@" > "$logs/$name.log" 2>&1 || status=$?
    if (( status == 124 )) && [[ "$1" == timeout ]]; then
        echo "gpu_check: $name stopped at its time limit (by design); log: $logs/$name.log"
    elif (( status != 0 )); then
        echo "gpu_check: FAILED at step '$name' (exit $status); its last lines:" >&2
        tail -n 25 "$logs/$name.log" >&2
        echo "gpu_check: FAILED at step '$name'; full log: $logs/$name.log" >&2
        exit "$status"
    fi
}

run gpu nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv
cp "$logs/gpu.log" "$out/gpu.txt"
cat "$out/gpu.txt"
run speed python benchmarks/speed.py --device cuda --images 4000 --repeats 3 --out "$out/speed.json"
run precision python benchmarks/precision.py --device cuda --train 5000 --epochs 5 \
    --stem compact --out "$out/precision.json"
configs=(config/fmnist-lt.yaml config/fmnist-lt-gpu.yaml)
half=$(( ${FMNIST_SECONDS:-420} / 2 ))
printf 'methods: [none, weighted]\n' > "$out/baselines.yaml"
run fmnist-lt-baselines timeout "$half" snakemake --cores all --resources gpu=4 --keep-going \
    --configfile "${configs[@]}" "$out/baselines.yaml"
printf 'methods: [ros, smote-ae]\n' > "$out/oversamplers.yaml"
configs+=("$out/oversamplers.yaml")
run fmnist-lt timeout "$half" snakemake --cores all --resources gpu=4 --keep-going \
    --configfile "${configs[@]}"
gpu_fmnist=(config/fmnist-lt.yaml config/fmnist-lt-gpu.yaml)
run fmnist-lt-rivals timeout "${RIVALS_SECONDS:-600}" snakemake --cores all --resources gpu=4 \
    --keep-going --configfile "${gpu_fmnist[@]}" benchmarks/configs/fmnist-lt-rivals.yaml
run fmnist-lt-ceiling timeout "${RIVALS_SECONDS:-600}" snakemake --cores all --resources gpu=4 \
    --keep-going results/fmnist_balanced_ceiling/summary/headline.txt \
    --configfile "${gpu_fmnist[@]}" benchmarks/configs/fmnist-lt-ceiling.yaml
# the recipe screen on the holdouts (benchmarks/recipe_screen.py), started from the rivals' run
# above; its folders stay out of $OUT (copies of results/), its table goes in
screen_configs=("${gpu_fmnist[@]}" benchmarks/configs/fmnist-lt-rivals-oversampled.yaml)
run fmnist-lt-screen timeout "${SCREEN_SECONDS:-1200}" python benchmarks/recipe_screen.py overlays \
    --out results/screens --reuse . --configfile "${screen_configs[@]}" --alternative recipe \
    no-cutmix=benchmarks/configs/fmnist-lt-screen-no-cutmix.yaml \
    share-half=benchmarks/configs/fmnist-lt-screen-share-half.yaml \
    epochs-20=benchmarks/configs/fmnist-lt-screen-epochs-20.yaml \
    target-2000=benchmarks/configs/fmnist-lt-screen-target-2000.yaml
if [[ -f results/screens/holdout.md ]]; then cp results/screens/{holdout.*,against_base.csv} "$out/"; fi
run memory python benchmarks/memory.py results/fmnist_lt --configfile "${configs[@]}"
cp "$logs/memory.log" "$out/memory.md"
ceiling=()
if [[ -d results/fmnist_balanced_ceiling ]]; then ceiling=(--ceiling results/fmnist_balanced_ceiling); fi
run fmnist-lt-table python benchmarks/fmnist_lt_table.py results/fmnist_lt "${ceiling[@]}"
cp "$logs/fmnist-lt-table.log" "$out/fmnist-lt-table.md"
cat "$out/fmnist-lt-table.md"
if [[ -f results/fmnist_lt/summary/metrics_per_fold.csv ]]; then
    cp results/fmnist_lt/summary/metrics_per_fold.csv "$out/"
fi
tail -n 5 "$logs/fmnist-lt.log"
# the verdict over the runs: selected on the holdouts, both intervals, on the folds all finished
run fmnist-lt-verdict python benchmarks/pooled_verdict.py results/fmnist_lt --out "$out/verdict" \
    --configfile config/fmnist-lt.yaml benchmarks/configs/fmnist-lt-rivals.yaml \
    --methods none none@crt none@smote-feat none@eos ros smote-ae ros@crt smote-ae@eos
cat "$out/verdict/headline.txt"
