#!/usr/bin/env bash
# The GPU check: one command for a borrowed GPU machine (Python 3.12 with torch, the scientific
# stack and pytest; no network; a few minutes), run from the repository root after
# benchmarks/gpu/prepare.sh has filled .gpu-carry/ where pip works and the call it printed has
# carried that folder there.
#
#   bash benchmarks/gpu/check.sh               # on the GPU machine, in CHECK_SECONDS (480)
#   bash benchmarks/gpu/check.sh --cpu-smoke   # the same steps on a tiny config on the CPU (CI)
#
# Steps, in order, each under its own time limit and all within the budget:
#   install      the carried wheels and the project (without dependencies) into a folder on
#                PYTHONPATH; pip check names what is missing or at a version the project refuses
#   tests        the test suite's GPU tests: the unit tests that touch CUDA, and the GPU jobs'
#   determinism  a tiny classifier and autoencoder trained twice: byte-identical weights
#   precision    `auto` is bf16 on sm80+ (the H100: sm90); `fp16` trains, its scaler running
#   speed        our training loops against a plain fp32 loop (benchmarks/speed.py)
#   fmnist-lt    one fold of FashionMNIST-LT, `none`, `ros`, `smote-ae`, `la-loss`, through
#                Snakemake with --resources gpu=4 (benchmarks/gpu/fmnist-lt-one-fold.yaml); its
#                table, and each rule's peak memory and time (reported, not limited)
# A step that fails or runs out of time is reported and the next one runs. Every figure is
# printed as it comes, and the run ends with one summary block (card, driver, torch, each step's
# result and seconds). --cpu-smoke reports the CUDA-only steps as skipped after running what of
# them a CPU can (collecting the tests, precision's CPU half), and runs FashionMNIST-LT tiny after
# a dry run of the GPU config.
#
# CHECK_STEPS runs only the steps it names (e.g. CHECK_STEPS="speed fmnist-lt" to rerun two on a
# machine that is still warm); the others are reported as skipped.
#
# Files: $OUT (default results/gpu-check/out) gets eight: check.log (all of the output),
# summary.txt, determinism.json, precision.json, speed.json, fmnist-lt.md (the table), jobs.md
# (per rule) and logs.tar.gz (every step's log and the workflow's job logs). The work folder is
# CHECK_WORK (default results/gpu-check/work). PYTHON (default python3) runs everything.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
self="$root/benchmarks/gpu/check.sh"
cd "$root"

# each step's limit in seconds (the budget caps it), and what the summary keeps for the reports
declare -A LIMITS=([install]=60 [tests]=120 [determinism]=45 [precision]=45 [speed]=60
    [fmnist-lt]=300)
RESERVE=35
STEPS=(install tests determinism precision speed fmnist-lt)

# --- the steps that are more than one command (run by `check.sh --step NAME`, under timeout) ---

step_install() {
    shopt -s nullglob
    # the CPU smoke mode runs in its own environment, which has every dependency
    local wheels=("$root"/.gpu-carry/wheels/*.whl)
    if [[ $mode == smoke ]]; then wheels=(); fi
    if (( ${#wheels[@]} == 0 )) && [[ $mode == gpu ]]; then
        echo "no wheels in .gpu-carry/wheels: run benchmarks/gpu/prepare.sh where pip works and" \
            "carry .gpu-carry in the call it prints"
        return 1
    fi
    rm -rf "$site"
    # the project editable (its config schema lives beside the package, in workflow/), built with
    # the setuptools already there (--no-build-isolation: there is no index to fetch one from)
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --no-build-isolation --disable-pip-version-check --root-user-action=ignore \
        --target "$site" "${wheels[@]}" -e . || return 1
    echo "installed ${#wheels[@]} carried wheels and latentbalance (editable) into $site"
    local versions
    versions="$(PYTHONPATH="$site:$root/workflow" "$PYTHON" -c 'import torch, torchvision
import imblearn, jsonschema, scikit_posthocs, snakemake, latentbalance.cli
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")')" || return 1
    echo "imports: the project, snakemake, imbalanced-learn, jsonschema; $versions"
    # pip check on the project's requirements and the carried wheels'. A missing package, or a
    # version the project refuses (torch, torchvision), fails the step; another version mismatch
    # is reported, and the steps after show whether it matters. pulp stays behind on purpose.
    local ours="latentbalance" wheel found failures
    for wheel in "${wheels[@]}"; do
        wheel="$(basename "$wheel")"
        ours+="|${wheel%%-*}"
    done
    found="$(PYTHONPATH="$site:$root/workflow" "$PYTHON" -m pip check \
        --disable-pip-version-check 2>&1 | grep -iE "^(${ours//_/[-_]}) " |
        grep -v "requires pulp, which is not installed")"
    if [[ -n $found ]]; then
        echo "pip check, the project and the carried wheels:"
        echo "$found"
    fi
    failures="$(grep -cE "which is not installed|^latentbalance " <<< "$found")"
    headline install "${#wheels[@]} wheels + the project; $versions; pip check:" \
        "$failures unmet, $(grep -c "but you have" <<< "$found") version mismatches"
    (( failures == 0 ))
}

step_tests() {
    # the unit tests that touch CUDA (they skip or stub it without a GPU) and the GPU jobs'
    local files
    mapfile -t files < <(grep -rlE "cuda" --include='test_*.py' tests/unit | sort)
    files+=(tests/workflow/test_gpu_jobs.py)
    if [[ $mode == gpu ]]; then
        "$PYTHON" -m pytest -q --tb=short -n 8 -p no:cacheprovider -p no:benchmark \
            "${files[@]}" 2>&1 | tee "$work/tests.txt"
        local status=${PIPESTATUS[0]}
        headline tests "$(grep -E "passed|failed|error" "$work/tests.txt" | tail -n 1)"
        return "$status"
    fi
    "$PYTHON" -m pytest -q -n 0 -p no:cacheprovider -p no:benchmark --collect-only "${files[@]}" |
        tee "$work/tests.txt" | tail -n 3
    local status=${PIPESTATUS[0]}
    headline tests "$(grep -E "collected|selected" "$work/tests.txt" | tail -n 1) from" \
        "${#files[@]} files (they run on the GPU machine)"
    return "$status"
}

step_fmnist() {
    local fm="$work/fmnist" copy="$root/.gpu-carry/fashion-mnist"
    if [[ $mode == smoke ]]; then copy="${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"; fi
    mkdir -p "$fm"
    printf 'datasets:\n  fmnist_lt:\n    local_copy: %s\n' "$copy" > "$fm/paths.yaml"
    local configs=(config/fmnist-lt.yaml benchmarks/gpu/fmnist-lt-one-fold.yaml "$fm/paths.yaml")
    local run=("$PYTHON" -m snakemake --snakefile Snakefile --directory "$fm" --cores all
        --resources gpu=4 --scheduler greedy --keep-going)
    if [[ $mode == smoke ]]; then
        # the GPU run's own config, planned in full; then a tiny version of it, run
        "${run[@]}" --dry-run --quiet rules --configfile "${configs[@]}" || return 1
        configs+=(benchmarks/gpu/cpu-smoke.yaml)
    fi
    "${run[@]}" --configfile "${configs[@]}"
}

# --- bookkeeping ------------------------------------------------------------------------------

headline() {  # headline STEP TEXT...: the step's figures for the summary
    echo "${*:2}" > "$work/headlines/$1"
}

record() {  # record STEP RESULT SECONDS
    local figures=""
    [[ -f "$work/headlines/$1" ]] && figures="$(< "$work/headlines/$1")"
    printf '%-12s %-26s %7s  %s\n' "$1" "$2" "$3" "$figures" >> "$work/steps.txt"
    echo "-- $1: $2 in $3 s${figures:+: $figures}"
}

# run_step NAME [--quiet] COMMAND...: COMMAND under the step's limit (capped by the budget left),
# its output on the screen and in logs/NAME.log (--quiet: in the log only, its tail on screen)
run_step() {
    local name="$1" quiet=false status=0
    shift
    if [[ $1 == --quiet ]]; then quiet=true; shift; fi
    local left=$(( budget - (SECONDS - started) - RESERVE )) limit=${LIMITS[$name]}
    if [[ " $selected " != *" $name "* ]]; then
        record "$name" "skipped: not in CHECK_STEPS" 0
        return 0
    fi
    if (( left < 10 )); then
        record "$name" "skipped: budget spent" 0
        return 0
    fi
    (( limit > left )) && limit=$left
    echo
    echo "== $name (limit $limit s; $(( budget - (SECONDS - started) )) s of the budget left)"
    local began=$SECONDS
    if $quiet; then
        timeout -k 10 "$limit" "$@" > "$logs/$name.log" 2>&1 || status=$?
        tail -n 12 "$logs/$name.log"
    else
        timeout -k 10 "$limit" "$@" 2>&1 | tee "$logs/$name.log"
        status=${PIPESTATUS[0]}
    fi
    # the step's figures for the summary, also from a step cut short
    if declare -F "figures_${name//-/_}" > /dev/null; then "figures_${name//-/_}"; fi
    local result=ok
    if (( status == 124 || status == 137 )); then
        result="TIMED OUT at $limit s"
    elif (( status != 0 )); then
        result="FAILED (exit $status)"
    elif [[ $mode == smoke && " tests precision " == *" $name "* ]]; then
        result="skipped (needs CUDA)"
    fi
    record "$name" "$result" $(( SECONDS - began ))
}

figures_of_checks() {  # the headline line checks.py prints last
    grep -h "^headline: " "$logs/$1.log" | tail -n 1 | cut -d' ' -f2- > "$work/headlines/$1"
}

figures_determinism() { figures_of_checks determinism; }

figures_precision() { figures_of_checks precision; }

environment() {
    "$PYTHON" - "$mode" <<'EOF'
import os
import platform
import sys

import torch

if sys.argv[1] == "gpu" and torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    print(f"card:    {props.name}, sm_{props.major}{props.minor}, "
          f"{props.total_memory // 2**20} MiB, {props.multi_processor_count} SMs")
else:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as info:
        cpu = next((l.split(":", 1)[1].strip() for l in info if l.startswith("model name")), cpu)
    print(f"card:    none: the CPU ({cpu}, {os.cpu_count()} cores)")
print(f"torch:   {torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
      f"{torch.backends.cudnn.version()}; Python {platform.python_version()}")
EOF
    local driver
    driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1)"
    echo "driver:  ${driver:-none}"
}

figures_speed() {
    [[ -f "$out/speed.json" ]] || return 0
    "$PYTHON" - "$out/speed.json" > "$work/headlines/speed" <<'EOF'
import json
import sys

run = json.load(open(sys.argv[1]))
cases = ", ".join(f"{r['case']} {r['ratio']}x ({r['ours_images_per_s']:.0f} img/s)"
                  for r in run["results"])
print(f"ours vs plain fp32 on {run['device']} ({run['precision']}): {cases}")
EOF
}

figures_fmnist_lt() {
    local results="$work/fmnist/results/fmnist_lt" done
    done="$(find "$results" -path '*/eval/*/metrics.json' 2>/dev/null | wc -l)"
    # methods x (test, test_imbalanced, holdout)
    local expected=$(( $([[ $mode == smoke ]] && echo 1 || echo 4) * 3 ))
    headline fmnist-lt "$done of $expected evaluations finished"
    [[ -f "$results/summary/headline.txt" ]] && cat "$results/summary/headline.txt"
    if (( done > 0 )); then
        timeout 20 "$PYTHON" benchmarks/fmnist_lt_table.py "$results" > "$out/fmnist-lt.md" 2>&1
        cat "$out/fmnist-lt.md"
    fi
    # each finished job's time and peak memory, for the record: no limit (CUDA adds ~1 GB)
    if [[ -d "$results/benchmarks" ]]; then
        timeout 20 "$PYTHON" benchmarks/memory.py "$results" --limit-mb 1000000 \
            > "$out/jobs.md" 2>&1
        cat "$out/jobs.md"
    fi
}

summary() {
    local total=$(( SECONDS - started ))
    {
        echo "==================== GPU check summary ===================="
        echo "mode:    $mode (budget $budget s)"
        cat "$work/environment.txt"
        printf '%-12s %-26s %7s  %s\n' step result seconds figures
        cat "$work/steps.txt"
        echo "total:   $(grep -c ' ok ' "$work/steps.txt") of ${#STEPS[@]} steps ok; $total s"
        echo "==========================================================="
    } | tee "$out/summary.txt"
}

main() {
    echo "GPU check ($mode): output in $out, work folder $work"
    environment | tee "$work/environment.txt"
    run_step install bash "$self" --step install
    # a --target folder is no site folder, so Python skips the .pth that points at workflow/
    export PYTHONPATH="$site:$root/workflow${PYTHONPATH:+:$PYTHONPATH}"
    run_step tests bash "$self" --step tests
    local checks=(--device cuda --images 1000) speed=(--device cuda --images 4096 --repeats 3)
    if [[ $mode == smoke ]]; then
        # one thread: on a busy small CPU more threads only wait for each other
        checks=(--device cpu --images 64 --threads 1)
        speed=(--device cpu --images 32 --repeats 1 --cases resnet18 --threads 1)
    fi
    run_step determinism "$PYTHON" benchmarks/gpu/checks.py determinism "${checks[@]}" \
        --out "$out/determinism.json"
    run_step precision "$PYTHON" benchmarks/gpu/checks.py precision "${checks[@]}" \
        --out "$out/precision.json"
    run_step speed "$PYTHON" benchmarks/speed.py "${speed[@]}" --out "$out/speed.json"
    run_step fmnist-lt --quiet bash "$self" --step fmnist
    # every step's log and the workflow's job logs and benchmark files, in one file
    tar -czf "$out/logs.tar.gz" -C "$work" logs \
        $(cd "$work" && ls -d fmnist/results/fmnist_lt/{logs,benchmarks} fmnist/.snakemake/log \
            2>/dev/null)
    summary
}

# --- entry ------------------------------------------------------------------------------------

mode=gpu
case "${1:-}" in
    "") ;;
    --cpu-smoke) mode=smoke ;;
    --step) ;;
    *)
        echo "usage: bash benchmarks/gpu/check.sh [--cpu-smoke]" >&2
        exit 2
        ;;
esac
if [[ ${1:-} == --step ]]; then
    # one step, run by main under its time limit; the settings come from main's environment
    mode="$CHECK_MODE"
    case "$2" in
        install) step_install ;;
        tests) step_tests ;;
        fmnist) step_fmnist ;;
    esac
    exit $?
fi

budget="${CHECK_SECONDS:-480}"
selected="${CHECK_STEPS:-${STEPS[*]}}"
export PYTHON="${PYTHON:-python3}" CHECK_MODE="$mode"
export out work site logs
out="$(realpath -m "${OUT:-results/gpu-check/out}")"
work="$(realpath -m "${CHECK_WORK:-results/gpu-check/work}")"
site="$work/site"
logs="$work/logs"
# progress bars would fill the 12,000 characters of output that come back
export TQDM_DISABLE=1 PYTHONUNBUFFERED=1
rm -rf "$logs" "$work/headlines" "$work/fmnist" "$work/steps.txt"
mkdir -p "$out" "$logs" "$work/headlines"
: > "$work/steps.txt"
started=$SECONDS
main 2>&1 | tee "$out/check.log"
# the check fails when a step failed or ran out of time; skipped steps do not fail it
! grep -qE "FAILED|TIMED OUT" "$work/steps.txt"
