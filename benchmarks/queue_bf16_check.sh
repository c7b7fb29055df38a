#!/usr/bin/env bash
# Issue 15's bf16 accuracy check: the same seeded 10-epoch run in fp32, then with bf16 autocast, each on both
# cores (recipes fer2013-bf16check-{fp32,bf16}-v1 in src/ferkit/recipes/cpu_hour.toml). Only meaningful on a CPU
# with native bf16 (AVX512-BF16 or AMX); elsewhere the bf16 run is emulated and about 10x slower. Resumable like
# every queue here (a finished recipe, one with its result JSON, is skipped):
#   nohup bash benchmarks/queue_bf16_check.sh >> runs/queue_bf16_check.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
source benchmarks/queue_lib.sh
grep -q avx512_bf16 /proc/cpuinfo || grep -q amx_bf16 /proc/cpuinfo || { echo "this CPU has no native bf16: not run"; exit 1; }
train fer2013-bf16check-fp32-v1
train fer2013-bf16check-bf16-v1
