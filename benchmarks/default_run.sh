#!/usr/bin/env bash
# Wall time of the default run from nothing, and of a no-op rerun, in a fresh copy of the
# workflow (results of the working tree stay untouched). Prints the leaderboard, the time per rule
# (from the Snakemake benchmark files) and a line for RESULTS.md's table.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$repo/Snakefile" "$repo/workflow" "$repo/config" "$repo/envs" "$repo/profiles" "$work/"
cd "$work"
start=$(date +%s%N)
snakemake --cores all > run.log 2>&1
full_ms=$(( ($(date +%s%N) - start) / 1000000 ))
start=$(date +%s%N)
snakemake --cores all > rerun.log 2>&1
noop_ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "Nothing to be done" rerun.log
cat results/mnist5k/summary/leaderboard.md
python "$repo/benchmarks/memory.py" results/mnist5k
line="| $(date -u +%F) | $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) | default run $((full_ms / 1000)) s | no-op rerun $((noop_ms / 1000)).$(( (noop_ms % 1000) / 100 )) s |"
echo "$line"
